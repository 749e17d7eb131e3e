#include "runtime/admin_protocol.hpp"

#include <cmath>
#include <cstdio>

#include <msgpack.hpp>

#include "runtime/msgpack_map.hpp"

namespace holo::proto {

using namespace detail;

access access_of(std::string_view kind) {
  if (kind == "kill" || kind == "drain" || kind == "checkpoint" || kind == "backup") return access::admin;
  if (kind == "actors" || kind == "requests" || kind == "trace") return access::read_only;
  return access::open;  // health, nodes, models, placement, generate, ...
}

std::string encode_admin_request(const admin_request& r) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(static_cast<std::uint32_t>(3 + !r.node.empty() + !r.admin_key.empty() + r.args.size()));
  pack_header(pk, r.kind, r.id);
  if (!r.node.empty()) {
    pk.pack("node");
    pk.pack(r.node);
  }
  if (!r.admin_key.empty()) {
    pk.pack("admin_key");
    pk.pack(r.admin_key);
  }
  for (auto& [k, v] : r.args) {
    pk.pack(k);
    pk.pack(v);
  }
  return {buf.data(), buf.size()};
}

result<admin_request> decode_admin_request(std::string_view frame) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  admin_request r;
  get_str(m, "kind", r.kind);
  get_str(m, "id", r.id);
  get_str(m, "node", r.node);
  get_str(m, "admin_key", r.admin_key);
  for (std::uint32_t i = 0; i < m.via.map.size; ++i) {
    auto& kv = m.via.map.ptr[i];
    std::string k, v;
    if (!as_str(kv.key, k) || !as_str(kv.val, v)) continue;
    if (k == "v" || k == "kind" || k == "id" || k == "node" || k == "admin_key") continue;
    if (v.size() > admin_arg_bytes_max)
      return status::invalid_argument("field '" + k + "' has more than " + std::to_string(admin_arg_bytes_max) + " bytes");
    r.args[k] = v;
  }
  return r;
}

std::string to_text(const cell& c) {
  if (auto* i = std::get_if<std::int64_t>(&c)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&c)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", *d);
    return buf;
  }
  return std::get<std::string>(c);
}

std::string encode_table_reply(std::string_view id, std::string_view kind, const table& t) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(6);
  pack_header(pk, kind, id);
  pk.pack("node");
  pk.pack(t.node);
  pk.pack("columns");
  pk.pack(t.columns);
  const auto n = std::min(t.rows.size(), table_rows_max);
  pk.pack("rows");
  pk.pack_array(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    auto& row = t.rows[i];
    pk.pack_array(static_cast<std::uint32_t>(row.size()));
    for (auto& c : row) std::visit([&](auto& v) { pk.pack(v); }, c);
  }
  return {buf.data(), buf.size()};
}

std::string encode_ok_detail(std::string_view id, std::string_view what, std::string_view detail) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(5);
  pack_header(pk, "ok", id);
  pk.pack("what");
  pk.pack(what);
  pk.pack("detail");
  pk.pack(detail);
  return {buf.data(), buf.size()};
}

namespace {

status_code code_of(const std::string& name) {
  for (int c = 1; c <= static_cast<int>(status_code::permission_denied); ++c)
    if (to_string(static_cast<status_code>(c)) == name) return static_cast<status_code>(c);
  return status_code::failed_precondition;
}

}  // namespace

result<admin_reply> decode_admin_reply(std::string_view frame, std::string_view expected_id) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  admin_reply r;
  std::string id;
  if (!get_str(m, "kind", r.kind) || !get_str(m, "id", id)) return status::invalid_argument("reply without kind/id");
  if (id != expected_id) return status::invalid_argument("reply for another request id '" + id + "'");
  if (r.kind == "error") {
    std::string code, message;
    get_str(m, "code", code);
    get_str(m, "message", message);
    return status{code_of(code), message.empty() ? "node answered " + code : message};
  }
  if (r.kind == "ok") {
    get_str(m, "what", r.what);
    get_str(m, "detail", r.detail);
    return r;
  }
  get_str(m, "node", r.t.node);
  auto cols = find(m, "columns");
  auto rows = find(m, "rows");
  if (!cols || cols->type != msgpack::type::ARRAY || !rows || rows->type != msgpack::type::ARRAY)
    return status::invalid_argument("reply '" + r.kind + "' is not a table");
  for (std::uint32_t i = 0; i < cols->via.array.size; ++i) {
    std::string c;
    if (!as_str(cols->via.array.ptr[i], c)) return status::invalid_argument("a column name is not a string");
    r.t.columns.push_back(std::move(c));
  }
  for (std::uint32_t i = 0; i < rows->via.array.size; ++i) {
    auto& row = rows->via.array.ptr[i];
    if (row.type != msgpack::type::ARRAY || row.via.array.size != r.t.columns.size())
      return status::invalid_argument("a row does not match the columns");
    std::vector<cell> out;
    for (std::uint32_t k = 0; k < row.via.array.size; ++k) {
      auto& o = row.via.array.ptr[k];
      std::int64_t iv = 0;
      std::string sv;
      if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) out.emplace_back(o.via.f64);
      else if (as_int(o, iv)) out.emplace_back(iv);
      else if (as_str(o, sv)) out.emplace_back(std::move(sv));
      else return status::invalid_argument("a cell is neither a number nor a string");
    }
    r.t.rows.push_back(std::move(out));
  }
  return r;
}

}  // namespace holo::proto
