#include "runtime/serving_protocol.hpp"

#include <cmath>

#include <msgpack.hpp>

#include "runtime/msgpack_map.hpp"

namespace holo::proto {

using namespace detail;

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

std::string bytes(const msgpack::sbuffer& b) { return {b.data(), b.size()}; }

status bad(const std::string& m) { return status::invalid_argument(m); }

// Optional numeric option: absent is fine, present must be a finite number.
status read_double(const msgpack::object& opts, const char* key, std::optional<double>& out) {
  auto o = find(opts, key);
  if (!o || o->type == msgpack::type::NIL) return {};
  double v = 0;
  if (!as_double(*o, v) || !std::isfinite(v)) return bad(std::string("options.") + key + " must be a number");
  out = v;
  return {};
}

status read_int(const msgpack::object& opts, const char* key, std::optional<std::int64_t>& out) {
  auto o = find(opts, key);
  if (!o || o->type == msgpack::type::NIL) return {};
  std::int64_t v = 0;
  if (!as_int(*o, v)) return bad(std::string("options.") + key + " must be an integer");
  out = v;
  return {};
}

void pack_ids(packer& pk, const std::vector<std::int32_t>& ids) {
  pk.pack_array(static_cast<std::uint32_t>(ids.size()));
  for (auto id : ids) pk.pack(id);
}

bool read_ids(const msgpack::object& m, const char* key, std::vector<std::int32_t>& out) {
  auto o = find(m, key);
  if (!o) return true;
  if (o->type != msgpack::type::ARRAY) return false;
  out.clear();
  for (std::uint32_t i = 0; i < o->via.array.size; ++i) {
    std::int64_t v = 0;
    if (!as_int(o->via.array.ptr[i], v) || v < INT32_MIN || v > INT32_MAX) return false;
    out.push_back(static_cast<std::int32_t>(v));
  }
  return true;
}

// Events a client reads: like unpack_map, but a non-streamed `done` carries every generated token in
// one array, which may exceed unpack_limits::array_elems_max (4096). The frame cap (1 MiB) still
// bounds it: at least one byte per element.
inline constexpr std::size_t event_array_elems_max = client_frame_bytes_max;

result<msgpack::object_handle> unpack_event(std::string_view frame) {
  if (frame.size() > client_frame_bytes_max)
    return bad("frame of " + std::to_string(frame.size()) + " bytes exceeds " + std::to_string(client_frame_bytes_max));
  const unpack_limits l;
  try {
    std::size_t off = 0;
    auto oh = msgpack::unpack(frame.data(), frame.size(), off, nullptr, nullptr,
                              msgpack::unpack_limit(event_array_elems_max, l.map_entries_max, l.str_bytes_max,
                                                    l.bin_bytes_max, l.ext_bytes_max, l.depth_max));
    if (off != frame.size()) return bad("trailing bytes after the message");
    if (oh.get().type != msgpack::type::MAP) return bad("message is not a map");
    return oh;
  } catch (const std::exception& e) {
    return bad(std::string("malformed MessagePack: ") + e.what());
  }
}

}  // namespace

// ---- client side ---------------------------------------------------------------------------------

std::string encode_generate(const generate_request& r) {
  msgpack::sbuffer buf;
  packer pk(buf);
  const auto& o = r.options;
  // v, kind, id, model, prompt|messages, stream, options [, session]
  std::uint32_t n = 3 + 4 + (r.session.empty() ? 0 : 1);
  pk.pack_map(n);
  pack_header(pk, "generate", r.id);
  pk.pack("model");
  pk.pack(r.model);
  if (r.prompt) {
    pk.pack("prompt");
    pk.pack(*r.prompt);
  } else {
    pk.pack("messages");
    pk.pack_array(static_cast<std::uint32_t>(r.messages.size()));
    for (auto& t : r.messages) {
      pk.pack_map(2);
      pk.pack("role");
      pk.pack(t.role);
      pk.pack("content");
      pk.pack(t.content);
    }
  }
  pk.pack("stream");
  pk.pack(r.stream);
  std::uint32_t on = (o.temperature ? 1 : 0) + (o.top_p ? 1 : 0) + (o.min_p ? 1 : 0) + (o.repeat_penalty ? 1 : 0) +
                     (o.frequency_penalty ? 1 : 0) + (o.presence_penalty ? 1 : 0) + (o.top_k ? 1 : 0) +
                     (o.repeat_last_n ? 1 : 0) + (o.max_tokens ? 1 : 0) + (o.seed ? 1 : 0) + (o.stop.empty() ? 0 : 1) +
                     (o.ignore_eos ? 1 : 0);
  pk.pack("options");
  pk.pack_map(on);
  auto put = [&](const char* k, const auto& v) {
    if (v) {
      pk.pack(k);
      pk.pack(*v);
    }
  };
  put("temperature", o.temperature);
  put("top_p", o.top_p);
  put("min_p", o.min_p);
  put("repeat_penalty", o.repeat_penalty);
  put("frequency_penalty", o.frequency_penalty);
  put("presence_penalty", o.presence_penalty);
  put("top_k", o.top_k);
  put("repeat_last_n", o.repeat_last_n);
  put("max_tokens", o.max_tokens);
  put("seed", o.seed);
  if (!o.stop.empty()) {
    pk.pack("stop");
    pk.pack(o.stop);
  }
  if (o.ignore_eos) {
    pk.pack("ignore_eos");
    pk.pack(true);
  }
  if (!r.session.empty()) {
    pk.pack("session");
    pk.pack(r.session);
  }
  return bytes(buf);
}

namespace {
std::string encode_id_only(std::string_view kind, std::string_view id) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(3);
  pack_header(pk, kind, id);
  return bytes(buf);
}
}  // namespace

std::string encode_cancel(std::string_view id) { return encode_id_only("cancel", id); }
std::string encode_models_request(std::string_view id) { return encode_id_only("models", id); }

std::string encode_resume(std::string_view id, std::int64_t from_index) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(4);
  pack_header(pk, "resume", id);
  pk.pack("from_index");
  pk.pack(from_index);
  return bytes(buf);
}

result<stream_event> decode_stream_event(std::string_view frame) {
  auto oh = unpack_event(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  std::string kind, id;
  if (!get_str(m, "kind", kind) || !get_str(m, "id", id)) return bad("event without kind/id");
  stream_event ev;
  if (kind == "token") {
    ev.what = stream_event::kind::token;
    ev.token.id = id;
    if (!get_int(m, "index", ev.token.index) || ev.token.index < 0) return bad("token event without an index");
    if (!read_ids(m, "tokens", ev.token.tokens) || ev.token.tokens.empty()) return bad("token event without tokens");
    get_str(m, "text", ev.token.text);
    return ev;
  }
  if (kind == "done") {
    ev.what = stream_event::kind::done;
    auto& d = ev.done;
    d.id = id;
    if (!get_str(m, "reason", d.reason)) return bad("done event without a reason");
    get_str(m, "text", d.text);
    if (!read_ids(m, "tokens", d.tokens)) return bad("done event with bad tokens");
    get_int(m, "prompt_tokens", d.prompt_tokens);
    get_int(m, "generated_tokens", d.generated_tokens);
    get_str(m, "model", d.model);
    get_str(m, "node", d.node);
    get_int(m, "attempts", d.attempts);
    if (auto t = find(m, "timings")) {
      get_double(*t, "queue_ms", d.timings.queue_ms);
      get_double(*t, "ttft_ms", d.timings.ttft_ms);
      get_double(*t, "total_ms", d.timings.total_ms);
      get_double(*t, "decode_ms", d.timings.decode_ms);
      get_double(*t, "prefill_ms", d.timings.prefill_ms);
    }
    return ev;
  }
  if (kind == "error") {
    ev.what = stream_event::kind::error;
    ev.token.id = id;
    get_str(m, "code", ev.error_code);
    get_str(m, "message", ev.error_message);
    return ev;
  }
  return bad("unexpected event kind '" + kind + "'");
}

result<std::vector<model_info>> decode_models_reply(std::string_view frame, std::string_view expected_id) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  std::string kind, id;
  if (!get_str(m, "kind", kind) || !get_str(m, "id", id)) return bad("reply without kind/id");
  if (id != expected_id) return bad("reply for another request id '" + id + "'");
  if (kind == "error") {
    std::string code, message;
    get_str(m, "code", code);
    get_str(m, "message", message);
    return status::failed_precondition("node answered " + code + ": " + message);
  }
  if (kind != "models") return bad("unexpected reply kind '" + kind + "'");
  std::vector<model_info> out;
  auto a = find(m, "models");
  if (!a || a->type != msgpack::type::ARRAY) return bad("models reply without models");
  for (std::uint32_t i = 0; i < a->via.array.size; ++i) {
    auto& e = a->via.array.ptr[i];
    model_info mi;
    get_str(e, "name", mi.name);
    get_str(e, "fallback", mi.fallback);
    if (auto al = find(e, "aliases"); al && al->type == msgpack::type::ARRAY)
      for (std::uint32_t k = 0; k < al->via.array.size; ++k) {
        std::string s;
        if (as_str(al->via.array.ptr[k], s)) mi.aliases.push_back(s);
      }
    if (auto rs = find(e, "replicas"); rs && rs->type == msgpack::type::ARRAY)
      for (std::uint32_t k = 0; k < rs->via.array.size; ++k) {
        replica_info ri;
        get_str(rs->via.array.ptr[k], "node", ri.node);
        get_str(rs->via.array.ptr[k], "state", ri.state);
        mi.replicas.push_back(ri);
      }
    out.push_back(std::move(mi));
  }
  return out;
}

// ---- node side -----------------------------------------------------------------------------------

result<generate_request> decode_generate(std::string_view frame) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  generate_request r;
  get_str(m, "id", r.id);
  if (!get_str(m, "model", r.model) || r.model.empty() || r.model.size() > model_name_bytes_max)
    return bad("field 'model' must name a model (1 to " + std::to_string(model_name_bytes_max) + " bytes)");
  auto prompt = find(m, "prompt");
  auto messages = find(m, "messages");
  if ((prompt != nullptr) == (messages != nullptr)) return bad("give exactly one of 'prompt' and 'messages'");
  if (prompt) {
    std::string p;
    if (!as_str(*prompt, p)) return bad("field 'prompt' must be a string");
    if (p.size() > prompt_bytes_max)
      return status::out_of_range("prompt of " + std::to_string(p.size()) + " bytes exceeds " +
                                  std::to_string(prompt_bytes_max));
    r.prompt = std::move(p);
  } else {
    if (messages->type != msgpack::type::ARRAY || messages->via.array.size == 0)
      return bad("field 'messages' must be a non-empty array of {role, content}");
    if (messages->via.array.size > messages_max)
      return status::out_of_range("more than " + std::to_string(messages_max) + " messages");
    std::size_t total = 0;
    for (std::uint32_t i = 0; i < messages->via.array.size; ++i) {
      chat_turn t;
      auto& e = messages->via.array.ptr[i];
      if (!get_str(e, "role", t.role) || !get_str(e, "content", t.content) || t.role.empty() || t.role.size() > 32)
        return bad("messages[" + std::to_string(i) + "] must be {role, content} strings");
      total += t.content.size();
      r.messages.push_back(std::move(t));
    }
    if (total > prompt_bytes_max)
      return status::out_of_range("messages of " + std::to_string(total) + " bytes exceed " +
                                  std::to_string(prompt_bytes_max));
  }
  if (auto s = find(m, "stream")) {
    if (s->type != msgpack::type::BOOLEAN) return bad("field 'stream' must be a boolean");
    r.stream = s->via.boolean;
  }
  if (auto s = find(m, "session")) {
    if (!as_str(*s, r.session) || r.session.size() > session_bytes_max) return bad("field 'session' must be a short string");
  }
  if (auto o = find(m, "options")) {
    if (o->type != msgpack::type::MAP) return bad("field 'options' must be a map");
    auto& op = r.options;
    HOLO_TRY(read_double(*o, "temperature", op.temperature));
    HOLO_TRY(read_double(*o, "top_p", op.top_p));
    HOLO_TRY(read_double(*o, "min_p", op.min_p));
    HOLO_TRY(read_double(*o, "repeat_penalty", op.repeat_penalty));
    HOLO_TRY(read_double(*o, "frequency_penalty", op.frequency_penalty));
    HOLO_TRY(read_double(*o, "presence_penalty", op.presence_penalty));
    HOLO_TRY(read_int(*o, "top_k", op.top_k));
    HOLO_TRY(read_int(*o, "repeat_last_n", op.repeat_last_n));
    HOLO_TRY(read_int(*o, "max_tokens", op.max_tokens));
    if (auto s = find(*o, "ignore_eos"); s && s->type != msgpack::type::NIL) {
      if (s->type != msgpack::type::BOOLEAN) return bad("options.ignore_eos must be a boolean");
      op.ignore_eos = s->via.boolean;
    }
    if (auto s = find(*o, "seed"); s && s->type != msgpack::type::NIL) {
      if (s->type != msgpack::type::POSITIVE_INTEGER) return bad("options.seed must be a non-negative integer");
      op.seed = s->via.u64;
    }
    if (auto s = find(*o, "stop"); s && s->type != msgpack::type::NIL) {
      if (s->type == msgpack::type::STR) {
        op.stop.emplace_back(s->via.str.ptr, s->via.str.size);
      } else if (s->type == msgpack::type::ARRAY) {
        for (std::uint32_t i = 0; i < s->via.array.size; ++i) {
          std::string x;
          if (!as_str(s->via.array.ptr[i], x)) return bad("options.stop must be strings");
          op.stop.push_back(std::move(x));
        }
      } else {
        return bad("options.stop must be a string or an array of strings");
      }
    }
  }
  return r;
}

result<resume_request> decode_resume(std::string_view frame) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  resume_request r;
  get_str(m, "id", r.id);
  if (!get_int(m, "from_index", r.from_index) || r.from_index < 0)
    return bad("field 'from_index' must be a non-negative integer");
  return r;
}

std::string encode_token_event(const token_event& e) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(6);
  pack_header(pk, "token", e.id);
  pk.pack("index");
  pk.pack(e.index);
  pk.pack("tokens");
  pack_ids(pk, e.tokens);
  pk.pack("text");
  pk.pack(e.text);
  return bytes(buf);
}

std::string encode_done_event(const done_event& e) {
  msgpack::sbuffer buf;
  packer pk(buf);
  // v, kind, id, reason, text, prompt_tokens, generated_tokens, model, node, attempts, timings [, tokens]
  pk.pack_map(3 + 8 + (e.tokens.empty() ? 0 : 1));
  pack_header(pk, "done", e.id);
  pk.pack("reason");
  pk.pack(e.reason);
  pk.pack("text");
  pk.pack(e.text);
  if (!e.tokens.empty()) {
    pk.pack("tokens");
    pack_ids(pk, e.tokens);
  }
  pk.pack("prompt_tokens");
  pk.pack(e.prompt_tokens);
  pk.pack("generated_tokens");
  pk.pack(e.generated_tokens);
  pk.pack("model");
  pk.pack(e.model);
  pk.pack("node");
  pk.pack(e.node);
  pk.pack("attempts");
  pk.pack(e.attempts);
  pk.pack("timings");
  pk.pack_map(5);
  pk.pack("queue_ms");
  pk.pack(e.timings.queue_ms);
  pk.pack("ttft_ms");
  pk.pack(e.timings.ttft_ms);
  pk.pack("total_ms");
  pk.pack(e.timings.total_ms);
  pk.pack("decode_ms");
  pk.pack(e.timings.decode_ms);
  pk.pack("prefill_ms");
  pk.pack(e.timings.prefill_ms);
  return bytes(buf);
}

std::string encode_models_reply(std::string_view id, const std::vector<model_info>& models) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(4);
  pack_header(pk, "models", id);
  pk.pack("models");
  pk.pack_array(static_cast<std::uint32_t>(models.size()));
  for (auto& mi : models) {
    pk.pack_map(4);
    pk.pack("name");
    pk.pack(mi.name);
    pk.pack("aliases");
    pk.pack(mi.aliases);
    pk.pack("fallback");
    pk.pack(mi.fallback);
    pk.pack("replicas");
    pk.pack_array(static_cast<std::uint32_t>(mi.replicas.size()));
    for (auto& r : mi.replicas) {
      pk.pack_map(2);
      pk.pack("node");
      pk.pack(r.node);
      pk.pack("state");
      pk.pack(r.state);
    }
  }
  return bytes(buf);
}

}  // namespace holo::proto
