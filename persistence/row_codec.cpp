#include "persistence/row_codec.hpp"

#include <chrono>
#include <cstring>

#include <msgpack.hpp>

namespace holo::persist {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

status too_big(const char* field, std::size_t n, std::size_t max) {
  return status::invalid_argument(std::string(field) + ": " + std::to_string(n) + " bytes exceeds " +
                                  std::to_string(max));
}

// PostgreSQL text cannot hold NUL (and libpq would cut the value there): refused in both backends,
// so the two behave alike.
status check_nul(const char* field, const std::string& v) {
  if (v.find('\0') != std::string::npos) return status::invalid_argument(std::string(field) + ": contains a NUL byte");
  return {};
}

status check_id(const char* field, const std::string& v, bool required = true) {
  if (required && v.empty()) return status::invalid_argument(std::string(field) + ": required");
  if (v.size() > id_bytes_max) return too_big(field, v.size(), id_bytes_max);
  return check_nul(field, v);
}

status check_text(const char* field, const std::string& v) {
  return v.size() > text_bytes_max ? too_big(field, v.size(), text_bytes_max) : check_nul(field, v);
}

}  // namespace

status validate(const write_op& w) {
  struct visitor {
    status operator()(const journal_entry& j) const {
      HOLO_TRY(check_id("journal.request_id", j.request_id));
      for (auto [f, v] : {std::pair{"journal.owner", &j.owner}, {"journal.client_id", &j.client_id},
                          {"journal.router_node", &j.router_node}, {"journal.model", &j.model},
                          {"journal.served_model", &j.served_model}, {"journal.session_id", &j.session_id},
                          {"journal.status", &j.status}, {"journal.finish_reason", &j.finish_reason}})
        HOLO_TRY(check_id(f, *v, false));
      if (j.prompt) HOLO_TRY(check_text("journal.prompt", *j.prompt));
      std::size_t msg_bytes = 0;
      for (auto& m : j.messages) msg_bytes += m.content.size() + m.role.size();
      if (msg_bytes > text_bytes_max) return too_big("journal.messages", msg_bytes, text_bytes_max);
      if (j.delivered_tokens.size() > delivered_tokens_max)
        return status::invalid_argument("journal.delivered_tokens: more than " + std::to_string(delivered_tokens_max));
      if (j.delivered_texts.size() != j.delivered_tokens.size())
        return status::invalid_argument("journal.delivered_texts: " + std::to_string(j.delivered_texts.size()) +
                                        " texts for " + std::to_string(j.delivered_tokens.size()) + " tokens");
      std::size_t text_bytes = 0;
      for (auto& t : j.delivered_texts) text_bytes += t.size();
      if (text_bytes > text_bytes_max) return too_big("journal.delivered_texts", text_bytes, text_bytes_max);
      if (j.max_tokens < 0 || j.attempts < 0 || j.revision < 0)
        return status::invalid_argument("journal: max_tokens, attempts and revision must be >= 0");
      if (j.seed > static_cast<std::uint64_t>(INT64_MAX))
        return status::invalid_argument("journal.seed: above 2^63-1 (stored as a signed 64-bit integer)");
      return {};
    }
    status operator()(const session_message& s) const {
      HOLO_TRY(check_id("session.session_id", s.session_id));
      HOLO_TRY(check_id("session.role", s.role, false));
      HOLO_TRY(check_id("session.request_id", s.request_id, false));
      if (s.seq < 0) return status::invalid_argument("session.seq: must be >= 0");
      return check_text("session.content", s.content);
    }
    status operator()(const checkpoint_record& c) const {
      HOLO_TRY(check_id("checkpoint.actor", c.actor));
      HOLO_TRY(check_id("checkpoint.key", c.key));
      if (c.sequence < 0) return status::invalid_argument("checkpoint.sequence: must be >= 0");
      return c.blob.size() > blob_bytes_max ? too_big("checkpoint.blob", c.blob.size(), blob_bytes_max) : status{};
    }
    status operator()(const membership_event& e) const {
      HOLO_TRY(check_id("event.event_id", e.event_id));
      HOLO_TRY(check_id("event.observer", e.observer, false));
      HOLO_TRY(check_id("event.peer", e.peer, false));
      if (e.incarnation > static_cast<std::uint64_t>(INT64_MAX))
        return status::invalid_argument("event.incarnation: above 2^63-1");
      return check_id("event.state", e.state, false);
    }
    status operator()(const backup_entry& b) const {
      HOLO_TRY(check_id("backup.backup_id", b.backup_id));
      for (auto [f, v] : {std::pair{"backup.node", &b.node}, {"backup.path", &b.path}, {"backup.sha256", &b.sha256},
                          {"backup.status", &b.status}})
        HOLO_TRY(check_id(f, *v, false));
      return check_text("backup.note", b.note);
    }
  };
  return std::visit(visitor{}, w);
}

namespace codec {

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

msgpack::unpack_limit limits() {
  // Arrays up to the token cap, maps small, strings up to the text cap, no ext, shallow.
  return msgpack::unpack_limit(delivered_tokens_max, 64, text_bytes_max, text_bytes_max, 0, 4);
}

result<msgpack::object_handle> unpack(std::string_view b, const char* what) {
  try {
    std::size_t off = 0;
    auto oh = msgpack::unpack(b.data(), b.size(), off, nullptr, nullptr, limits());
    if (off != b.size()) return status::data_loss(std::string(what) + ": trailing bytes");
    return oh;
  } catch (const std::exception& e) {
    return status::data_loss(std::string(what) + ": malformed MessagePack: " + e.what());
  }
}

bool as_string(const msgpack::object& o, std::string& out) {
  if (o.type != msgpack::type::STR) return false;
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

std::string packed(const msgpack::sbuffer& buf) { return {buf.data(), buf.size()}; }

}  // namespace

std::string encode_tokens(const std::vector<std::int32_t>& t) {
  std::string out(t.size() * 4, '\0');
  for (std::size_t i = 0; i < t.size(); ++i) {
    auto v = static_cast<std::uint32_t>(t[i]);
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((v >> (8 * b)) & 0xff);
  }
  return out;
}

result<std::vector<std::int32_t>> decode_tokens(std::string_view b) {
  if (b.size() % 4 != 0) return status::data_loss("delivered_tokens: " + std::to_string(b.size()) + " bytes is not a multiple of 4");
  if (b.size() / 4 > delivered_tokens_max) return status::data_loss("delivered_tokens: too many");
  std::vector<std::int32_t> out(b.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= std::uint32_t(static_cast<unsigned char>(b[i * 4 + k])) << (8 * k);
    out[i] = static_cast<std::int32_t>(v);
  }
  return out;
}

std::string encode_texts(const std::vector<std::string>& t) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(static_cast<std::uint32_t>(t.size()));
  for (auto& s : t) pk.pack(s);
  return packed(buf);
}

result<std::vector<std::string>> decode_texts(std::string_view b) {
  if (b.empty()) return std::vector<std::string>{};
  auto oh = unpack(b, "delivered_texts");
  if (!oh) return oh.error();
  auto& o = oh->get();
  if (o.type != msgpack::type::ARRAY) return status::data_loss("delivered_texts: not an array");
  std::vector<std::string> out(o.via.array.size);
  for (std::uint32_t i = 0; i < o.via.array.size; ++i)
    if (!as_string(o.via.array.ptr[i], out[i])) return status::data_loss("delivered_texts: element not a string");
  return out;
}

std::string encode_messages(const std::vector<chat_message>& m) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(static_cast<std::uint32_t>(m.size()));
  for (auto& x : m) {
    pk.pack_array(2);
    pk.pack(x.role);
    pk.pack(x.content);
  }
  return packed(buf);
}

result<std::vector<chat_message>> decode_messages(std::string_view b) {
  if (b.empty()) return std::vector<chat_message>{};
  auto oh = unpack(b, "messages");
  if (!oh) return oh.error();
  auto& o = oh->get();
  if (o.type != msgpack::type::ARRAY) return status::data_loss("messages: not an array");
  std::vector<chat_message> out(o.via.array.size);
  for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
    auto& e = o.via.array.ptr[i];
    if (e.type != msgpack::type::ARRAY || e.via.array.size != 2 || !as_string(e.via.array.ptr[0], out[i].role) ||
        !as_string(e.via.array.ptr[1], out[i].content))
      return status::data_loss("messages: element " + std::to_string(i) + " is not [role, content]");
  }
  return out;
}

std::string encode_sampling(const sampling_options& s) {
  std::uint32_t n = 0;
  for (bool present : {s.temperature.has_value(), s.top_p.has_value(), s.min_p.has_value(), s.repeat_penalty.has_value(),
                       s.frequency_penalty.has_value(), s.presence_penalty.has_value(), s.top_k.has_value(),
                       s.repeat_last_n.has_value(), !s.stop.empty(), s.client_seed, !s.stream, s.ignore_eos})
    n += present ? 1 : 0;
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(n);
  auto d = [&](const char* k, const std::optional<double>& v) {
    if (!v) return;
    pk.pack(std::string(k));
    pk.pack(*v);
  };
  auto i = [&](const char* k, const std::optional<std::int64_t>& v) {
    if (!v) return;
    pk.pack(std::string(k));
    pk.pack(*v);
  };
  d("temperature", s.temperature);
  d("top_p", s.top_p);
  d("min_p", s.min_p);
  d("repeat_penalty", s.repeat_penalty);
  d("frequency_penalty", s.frequency_penalty);
  d("presence_penalty", s.presence_penalty);
  i("top_k", s.top_k);
  i("repeat_last_n", s.repeat_last_n);
  if (!s.stop.empty()) {
    pk.pack(std::string("stop"));
    pk.pack_array(static_cast<std::uint32_t>(s.stop.size()));
    for (auto& x : s.stop) pk.pack(x);
  }
  // Flags only when not the default: rows of older writers read the same.
  if (s.client_seed) {
    pk.pack(std::string("client_seed"));
    pk.pack(true);
  }
  if (!s.stream) {
    pk.pack(std::string("stream"));
    pk.pack(false);
  }
  if (s.ignore_eos) {
    pk.pack(std::string("ignore_eos"));
    pk.pack(true);
  }
  return packed(buf);
}

result<sampling_options> decode_sampling(std::string_view b) {
  sampling_options s;
  if (b.empty()) return s;
  auto oh = unpack(b, "sampling");
  if (!oh) return oh.error();
  auto& o = oh->get();
  if (o.type != msgpack::type::MAP) return status::data_loss("sampling: not a map");
  for (std::uint32_t k = 0; k < o.via.map.size; ++k) {
    std::string key;
    if (!as_string(o.via.map.ptr[k].key, key)) return status::data_loss("sampling: key not a string");
    auto& v = o.via.map.ptr[k].val;
    auto num = [&](std::optional<double>& out) {
      if (v.type == msgpack::type::FLOAT32 || v.type == msgpack::type::FLOAT64) out = v.via.f64;
      else if (v.type == msgpack::type::POSITIVE_INTEGER) out = double(v.via.u64);
      else if (v.type == msgpack::type::NEGATIVE_INTEGER) out = double(v.via.i64);
      else return false;
      return true;
    };
    auto integer = [&](std::optional<std::int64_t>& out) {
      if (v.type == msgpack::type::POSITIVE_INTEGER && v.via.u64 <= std::uint64_t(INT64_MAX)) out = std::int64_t(v.via.u64);
      else if (v.type == msgpack::type::NEGATIVE_INTEGER) out = v.via.i64;
      else return false;
      return true;
    };
    bool ok = true;
    if (key == "temperature") ok = num(s.temperature);
    else if (key == "top_p") ok = num(s.top_p);
    else if (key == "min_p") ok = num(s.min_p);
    else if (key == "repeat_penalty") ok = num(s.repeat_penalty);
    else if (key == "frequency_penalty") ok = num(s.frequency_penalty);
    else if (key == "presence_penalty") ok = num(s.presence_penalty);
    else if (key == "top_k") ok = integer(s.top_k);
    else if (key == "repeat_last_n") ok = integer(s.repeat_last_n);
    else if (key == "client_seed" || key == "stream" || key == "ignore_eos") {
      ok = v.type == msgpack::type::BOOLEAN;
      if (ok) (key == "stream" ? s.stream : key == "ignore_eos" ? s.ignore_eos : s.client_seed) = v.via.boolean;
    } else if (key == "stop") {
      ok = v.type == msgpack::type::ARRAY;
      for (std::uint32_t x = 0; ok && x < v.via.array.size; ++x) {
        s.stop.emplace_back();
        ok = as_string(v.via.array.ptr[x], s.stop.back());
      }
    }
    // An unknown key is an option of a newer writer: kept out, not an error.
    if (!ok) return status::data_loss("sampling: '" + key + "' has the wrong type");
  }
  return s;
}

std::string session_key(const std::string& session_id, std::int64_t seq) {
  return session_id + "\x1f" + std::to_string(seq);
}

}  // namespace codec

}  // namespace holo::persist
