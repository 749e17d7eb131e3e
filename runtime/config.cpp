// Loading the cluster TOML. Every table is read through a table_reader that records which keys it
// consumed; whatever is left over is an unknown key. Errors are collected, not thrown at the first
// one, so an operator fixes a file in one pass.
#include "runtime/config.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace holo::config {

bool node_config::has_role(const std::string& r) const {
  return std::find(roles.begin(), roles.end(), r) != roles.end();
}

const node_config* cluster_config::find_node(const std::string& n) const {
  for (auto& x : nodes)
    if (x.name == n) return &x;
  return nullptr;
}

const model_config* cluster_config::find_model(const std::string& n) const {
  for (auto& m : models) {
    if (m.name == n) return &m;
    for (auto& a : m.aliases)
      if (a == n) return &m;
  }
  return nullptr;
}

std::string cluster_config::resolve_path(const std::string& p) const {
  if (p.empty() || p.rfind("ollama:", 0) == 0) return p;
  std::filesystem::path fp(p);
  if (fp.is_absolute() || base_dir.empty()) return p;
  return (std::filesystem::path(base_dir) / fp).lexically_normal().string();
}

namespace {

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date/time";
    default: return "nothing";
  }
}

class error_list {
 public:
  explicit error_list(std::string file) : file_(std::move(file)) {}
  void add(const toml::source_region& where, const std::string& key, const std::string& msg) {
    std::ostringstream os;
    os << file_ << ':' << where.begin.line << ':' << where.begin.column << ": " << key << ": " << msg;
    lines_.push_back(os.str());
  }
  bool empty() const { return lines_.empty(); }
  std::string joined() const {
    std::string s;
    for (auto& l : lines_) s += (s.empty() ? "" : "\n") + l;
    return s;
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

// Reads the keys of one TOML table into a struct, checking types; finish() reports unread keys.
class table_reader {
 public:
  table_reader(const toml::table& t, std::string path, error_list& errs)
      : t_(t), path_(std::move(path)), errs_(errs) {}

  std::string key_path(std::string_view k) const {
    return path_.empty() ? std::string(k) : path_ + "." + std::string(k);
  }

  const toml::node* get(std::string_view k, bool required) {
    seen_.insert(std::string(k));
    const toml::node* n = t_.get(k);
    if (!n && required) errs_.add(t_.source(), key_path(k), "required value is missing");
    return n;
  }

  template <class T>
  bool typed(const toml::node* n, std::string_view k, toml::node_type want, T& out) {
    if (auto v = n->value<T>(); v && n->type() == want) {
      out = *v;
      return true;
    }
    // An integer is a fine number: `memory_gib = 16`.
    if constexpr (std::is_same_v<T, double>) {
      if (n->type() == toml::node_type::integer) {
        out = static_cast<double>(*n->value<std::int64_t>());
        return true;
      }
    }
    errs_.add(n->source(), key_path(k),
              "expected " + std::string(type_name(want)) + ", got " + std::string(type_name(n->type())));
    return false;
  }

  void str(std::string_view k, std::string& out, bool required = false) {
    if (auto n = get(k, required)) {
      if (typed(n, k, toml::node_type::string, out) && required && out.empty())
        errs_.add(n->source(), key_path(k), "must not be empty");
    }
  }
  void integer(std::string_view k, std::int64_t& out, std::int64_t lo, std::int64_t hi) {
    if (auto n = get(k, false); n && typed(n, k, toml::node_type::integer, out)) range(n, k, out, lo, hi);
  }
  void integer(std::string_view k, std::optional<std::int64_t>& out, std::int64_t lo, std::int64_t hi) {
    std::int64_t v = 0;
    if (auto n = get(k, false); n && typed(n, k, toml::node_type::integer, v)) {
      range(n, k, v, lo, hi);
      out = v;
    }
  }
  void number(std::string_view k, double& out, double lo, double hi) {
    if (auto n = get(k, false); n && typed(n, k, toml::node_type::floating_point, out))
      range(n, k, out, lo, hi);
  }
  void number(std::string_view k, std::optional<double>& out, double lo, double hi) {
    double v = 0;
    if (auto n = get(k, false); n && typed(n, k, toml::node_type::floating_point, v)) {
      range(n, k, v, lo, hi);
      out = v;
    }
  }
  void boolean(std::string_view k, bool& out) {
    if (auto n = get(k, false)) typed(n, k, toml::node_type::boolean, out);
  }
  void str_list(std::string_view k, std::vector<std::string>& out, bool required = false) {
    auto n = get(k, required);
    if (!n) return;
    auto arr = n->as_array();
    if (!arr) {
      errs_.add(n->source(), key_path(k),
                "expected an array of strings, got " + std::string(type_name(n->type())));
      return;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto& e = (*arr)[i];
      if (auto s = e.value<std::string>(); s && e.is_string())
        out.push_back(*s);
      else
        errs_.add(e.source(), key_path(k) + "[" + std::to_string(i) + "]",
                  "expected a string, got " + std::string(type_name(e.type())));
    }
  }
  // A sub-table ([x] or x = {..}); nullptr when absent or of the wrong type (reported).
  const toml::table* table(std::string_view k) {
    auto n = get(k, false);
    if (!n) return nullptr;
    if (auto t = n->as_table()) return t;
    errs_.add(n->source(), key_path(k), "expected a table, got " + std::string(type_name(n->type())));
    return nullptr;
  }
  // An array of tables ([[x]] or x = [{..}]); each element reported if not a table.
  std::vector<const toml::table*> tables(std::string_view k, bool required = false) {
    std::vector<const toml::table*> out;
    auto n = get(k, required);
    if (!n) return out;
    auto arr = n->as_array();
    if (!arr) {
      errs_.add(n->source(), key_path(k),
                "expected an array of tables ([[" + std::string(k) + "]]), got " +
                    std::string(type_name(n->type())));
      return out;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      if (auto t = (*arr)[i].as_table())
        out.push_back(t);
      else
        errs_.add((*arr)[i].source(), key_path(k) + "[" + std::to_string(i) + "]",
                  "expected a table, got " + std::string(type_name((*arr)[i].type())));
    }
    return out;
  }
  void one_of(std::string_view k, const std::string& v, std::initializer_list<std::string_view> allowed) {
    for (auto a : allowed)
      if (v == a) return;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    auto n = t_.get(k);
    errs_.add(n ? n->source() : t_.source(), key_path(k), "'" + v + "' is not one of: " + list);
  }
  void fail(std::string_view k, const std::string& msg) {
    auto n = t_.get(k);
    errs_.add(n ? n->source() : t_.source(), key_path(k), msg);
  }
  void finish() {
    for (auto&& [key, node] : t_) {
      if (!seen_.count(std::string(key.str())))
        errs_.add(key.source().begin.line ? key.source() : node.source(), key_path(key.str()),
                  "unknown key");
    }
  }

 private:
  template <class T>
  void range(const toml::node* n, std::string_view k, T v, T lo, T hi) {
    if (v < lo || v > hi) {
      std::ostringstream os;
      os << "value " << v << " is out of range [" << lo << ", " << hi << "]";
      errs_.add(n->source(), key_path(k), os.str());
    }
  }

  const toml::table& t_;
  std::string path_;
  error_list& errs_;
  std::set<std::string> seen_;
};

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool valid_zmq_endpoint(const std::string& s) {
  return s.rfind("tcp://", 0) == 0 || s.rfind("ipc://", 0) == 0;
}

bool valid_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) return false;
  auto port = s.substr(colon + 1);
  return std::all_of(port.begin(), port.end(), ::isdigit) && port.size() <= 5 && std::stoi(port) > 0 &&
         std::stoi(port) < 65536;
}

void read_node(const toml::table& t, std::size_t i, node_config& n, error_list& errs) {
  table_reader r(t, "node[" + std::to_string(i) + "]", errs);
  r.str("name", n.name, true);
  if (!n.name.empty() && !valid_name(n.name))
    r.fail("name", "'" + n.name + "' is not a valid name (letters, digits, '-', '_', '.'; at most 64)");
  r.str("host", n.host);
  r.str("cluster_endpoint", n.cluster_endpoint, true);
  if (!n.cluster_endpoint.empty() && !valid_zmq_endpoint(n.cluster_endpoint))
    r.fail("cluster_endpoint", "'" + n.cluster_endpoint + "' is not a ZeroMQ endpoint (tcp://HOST:PORT)");
  r.str("client_endpoint", n.client_endpoint);
  if (!n.client_endpoint.empty() && !valid_zmq_endpoint(n.client_endpoint))
    r.fail("client_endpoint", "'" + n.client_endpoint + "' is not a ZeroMQ endpoint (tcp://HOST:PORT)");
  r.str("http_endpoint", n.http_endpoint);
  if (!n.http_endpoint.empty() && !valid_host_port(n.http_endpoint))
    r.fail("http_endpoint", "'" + n.http_endpoint + "' is not HOST:PORT");
  r.str("metrics_endpoint", n.metrics_endpoint);
  if (!n.metrics_endpoint.empty() && !valid_host_port(n.metrics_endpoint))
    r.fail("metrics_endpoint", "'" + n.metrics_endpoint + "' is not HOST:PORT");
  r.str_list("roles", n.roles);
  if (n.roles.empty()) n.roles = {"router", "shard", "store"};
  for (auto& role : n.roles) r.one_of("roles", role, {"router", "shard", "store", "sync", "backup"});
  r.str("data_dir", n.data_dir);
  if (n.data_dir.empty()) n.data_dir = "var/" + n.name;
  if (auto hw = r.table("hardware")) {
    table_reader h(*hw, r.key_path("hardware"), errs);
    h.integer("cores", n.cores, 1, 4096);
    h.number("memory_gib", n.memory_gib, 0.0, 1e6);
    h.number("speed", n.speed, 0.001, 1e9);
    auto gpus = h.tables("gpus");
    for (std::size_t g = 0; g < gpus.size(); ++g) {
      table_reader gr(*gpus[g], h.key_path("gpus[" + std::to_string(g) + "]"), errs);
      gpu_hint gh;
      gr.str("name", gh.name, true);
      gr.number("memory_gib", gh.memory_gib, 0.0, 1e5);
      gr.finish();
      n.gpus.push_back(gh);
    }
    h.finish();
  }
  r.integer("engine_threads", n.engine_threads, 0, 4096);
  r.integer("client_queue_frames", n.client_queue_frames, 1, 1 << 20);
  r.integer("client_send_buffer_bytes", n.client_send_buffer_bytes, 0, 1 << 30);
  r.str("client_auth", n.client_auth);
  if (!n.client_auth.empty()) r.one_of("client_auth", n.client_auth, {"curve", "none"});
  if (auto keys = r.table("keys")) {
    table_reader k(*keys, r.key_path("keys"), errs);
    k.str("public_key", n.public_key);
    if (!n.public_key.empty() && n.public_key.size() != 40)
      k.fail("public_key", "a Z85 CURVE public key has 40 characters, this has " +
                               std::to_string(n.public_key.size()));
    k.str("secret_key_file", n.secret_key_file);
    k.finish();
  }
  r.finish();
}

void read_model(const toml::table& t, std::size_t i, model_config& m, error_list& errs) {
  table_reader r(t, "model[" + std::to_string(i) + "]", errs);
  r.str("name", m.name, true);
  if (!m.name.empty() && m.name.size() > 128) r.fail("name", "longer than 128 characters");
  r.str("path", m.path, true);
  r.str_list("aliases", m.aliases);
  r.str("fallback", m.fallback);
  r.integer("context_length", m.context_length, 0, 1 << 24);
  r.integer("parallel", m.parallel, 1, 256);
  r.integer("queue", m.queue, 0, 1 << 16);
  r.integer("step_timeout_ms", m.step_timeout_ms, 100, 24 * 3600 * 1000);
  r.finish();
}

void read_placement(const toml::table& t, std::size_t i, placement_config& p, error_list& errs) {
  table_reader r(t, "placement[" + std::to_string(i) + "]", errs);
  r.str("model", p.model, true);
  const bool staged = t.contains("stages");
  // Neither `nodes` nor `stages`: the placement plan decides (actors/planned_shard.hpp).
  r.str_list("nodes", p.nodes);
  auto stages = r.tables("stages");
  for (std::size_t k = 0; k < stages.size(); ++k) {
    table_reader sr(*stages[k], r.key_path("stages[" + std::to_string(k) + "]"), errs);
    stage_config sc;
    sr.str("node", sc.node, true);
    sr.integer("layers", sc.layers, 1, 1024);
    sr.str_list("standby", sc.standby);
    if (k == 0 && !sc.standby.empty())
      sr.fail("standby", "the first stage is the pipeline's head: give the model a whole replica elsewhere instead");
    sr.finish();
    p.stages.push_back(std::move(sc));
  }
  r.str_list("spares", p.spares);
  r.integer("replicas", p.replicas, 1, 64);
  if (p.replicas != 1 && (staged || !p.nodes.empty()))
    r.fail("replicas", "replicas is for a model the plan places (no `nodes`, no `stages`): each pinned node already "
                       "holds one replica");
  if (!staged && !p.spares.empty()) r.fail("spares", "spares stand in for pipeline stages: give `stages` too");
  if (staged && !p.nodes.empty()) r.fail("stages", "give `nodes` (whole replicas) or `stages` (one pipeline), not both");
  if (staged && p.stages.size() < 2) r.fail("stages", "a pipeline needs at least 2 stages");
  if (!p.stages.empty()) {
    std::size_t counted = 0;
    for (auto& sc : p.stages) counted += sc.layers > 0;
    if (counted != 0 && counted != p.stages.size())
      r.fail("stages", "give `layers` on every stage, or on none (then the layers are split evenly)");
    std::vector<std::string> all;
    for (auto& sc : p.stages) {
      all.push_back(sc.node);
      for (auto& s : sc.standby) all.push_back(s);
    }
    for (auto& s : p.spares) all.push_back(s);
    std::sort(all.begin(), all.end());
    for (std::size_t a = 1; a < all.size(); ++a)
      if (all[a] == all[a - 1])
        r.fail("stages", "node '" + all[a] + "' holds two stages (or a stage and a standby or spare): give each node one");
  }
  r.str("backend", p.backend);
  if (p.backend != "auto" && p.backend != "cpu" && p.backend.rfind("cuda:", 0) != 0)
    r.fail("backend", "'" + p.backend + "' is not one of: auto, cpu, cuda:N");
  r.finish();
}

void read_routing(const toml::table& t, routing_config& c, error_list& errs) {
  table_reader r(t, "routing", errs);
  r.str("policy", c.policy);
  r.one_of("policy", c.policy, {"least_loaded", "latency", "affinity"});
  r.integer("max_prompt_tokens", c.max_prompt_tokens, 1, 1 << 24);
  r.integer("max_tokens", c.max_tokens, 1, 1 << 24);
  r.integer("max_concurrent_per_client", c.max_concurrent_per_client, 1, 1 << 20);
  r.integer("max_pending_requests", c.max_pending_requests, 1, 1 << 20);
  r.integer("stall_timeout_ms", c.stall_timeout_ms, 100, 3600 * 1000);
  r.integer("resume_grace_ms", c.resume_grace_ms, 0, 24 * 3600 * 1000);
  auto canaries = r.tables("canary");
  for (std::size_t i = 0; i < canaries.size(); ++i) {
    table_reader cr(*canaries[i], "routing.canary[" + std::to_string(i) + "]", errs);
    canary_config cc;
    cr.str("model", cc.model, true);
    cr.str("target", cc.target, true);
    cr.number("percent", cc.percent, 0.0, 100.0);
    cr.finish();
    c.canaries.push_back(cc);
  }
  r.finish();
}

void read_sections(const toml::table& root, cluster_config& c, error_list& errs) {
  table_reader r(root, "", errs);
  if (auto cl = r.table("cluster")) {
    table_reader cr(*cl, "cluster", errs);
    cr.str("name", c.name, true);
    cr.finish();
  }
  auto nodes = r.tables("node", true);
  c.nodes.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) read_node(*nodes[i], i, c.nodes[i], errs);
  auto clients = r.tables("client");
  for (std::size_t i = 0; i < clients.size(); ++i) {
    table_reader cr(*clients[i], "client[" + std::to_string(i) + "]", errs);
    client_config cc;
    cr.str("name", cc.name, true);
    cr.str("public_key", cc.public_key, true);
    if (!cc.public_key.empty() && cc.public_key.size() != 40)
      cr.fail("public_key", "a Z85 CURVE public key has 40 characters, this has " + std::to_string(cc.public_key.size()));
    cr.finish();
    c.clients.push_back(cc);
  }
  auto http_keys = r.tables("http_key");
  for (std::size_t i = 0; i < http_keys.size(); ++i) {
    table_reader kr(*http_keys[i], "http_key[" + std::to_string(i) + "]", errs);
    http_key_config k;
    kr.str("name", k.name, true);
    kr.str("key", k.key);
    kr.str("key_file", k.key_file);
    if (k.key.empty() == k.key_file.empty()) kr.fail("key", "give exactly one of key and key_file");
    else if (!k.key.empty() && (k.key.size() < 16 || k.key.size() > 256))
      kr.fail("key", "an API key has 16 to 256 characters");
    else if (!std::all_of(k.key.begin(), k.key.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; }))
      kr.fail("key", "an API key is printable ASCII without spaces");
    kr.finish();
    c.http_keys.push_back(k);
  }
  auto models = r.tables("model");
  c.models.resize(models.size());
  for (std::size_t i = 0; i < models.size(); ++i) read_model(*models[i], i, c.models[i], errs);
  auto places = r.tables("placement");
  c.placements.resize(places.size());
  for (std::size_t i = 0; i < places.size(); ++i) read_placement(*places[i], i, c.placements[i], errs);
  if (auto t = r.table("routing")) read_routing(*t, c.routing, errs);
  if (auto t = r.table("persistence")) {
    table_reader p(*t, "persistence", errs);
    p.str("backend", c.persistence.backend);
    p.one_of("backend", c.persistence.backend, {"sqlite", "postgres"});
    p.str("sqlite_path", c.persistence.sqlite_path);
    p.str("postgres_dsn", c.persistence.postgres_dsn);
    p.str("sqlite_synchronous", c.persistence.sqlite_synchronous);
    p.one_of("sqlite_synchronous", c.persistence.sqlite_synchronous, {"full", "normal"});
    p.integer("checkpoint_every_tokens", c.persistence.checkpoint_every_tokens, 1, 1 << 20);
    p.integer("checkpoint_every_ms", c.persistence.checkpoint_every_ms, 0, 3600 * 1000);
    p.integer("buffer_rows", c.persistence.buffer_rows, 1, 1 << 24);
    p.integer("reconnect_min_ms", c.persistence.reconnect_min_ms, 1, 60000);
    p.integer("reconnect_max_ms", c.persistence.reconnect_max_ms, 1, 3600 * 1000);
    if (c.persistence.reconnect_max_ms < c.persistence.reconnect_min_ms)
      p.fail("reconnect_max_ms", "must be >= reconnect_min_ms (" + std::to_string(c.persistence.reconnect_min_ms) + ")");
    p.finish();
  }
  if (auto t = r.table("sync")) {
    table_reader y(*t, "sync", errs);
    y.str("central_dsn", c.sync.central_dsn);
    y.str("central_schema", c.sync.central_schema);
    y.integer("interval_ms", c.sync.interval_ms, 10, 3600 * 1000);
    y.integer("batch_rows", c.sync.batch_rows, 1, 100000);
    y.integer("reconnect_min_ms", c.sync.reconnect_min_ms, 1, 60000);
    y.integer("reconnect_max_ms", c.sync.reconnect_max_ms, 1, 3600 * 1000);
    if (c.sync.reconnect_max_ms < c.sync.reconnect_min_ms)
      y.fail("reconnect_max_ms", "must be >= reconnect_min_ms (" + std::to_string(c.sync.reconnect_min_ms) + ")");
    y.finish();
  }
  if (auto t = r.table("backup")) {
    table_reader b(*t, "backup", errs);
    b.boolean("enabled", c.backup.enabled);
    b.str("schedule", c.backup.schedule);
    b.one_of("schedule", c.backup.schedule, {"hourly", "daily", "weekly"});
    b.integer("keep", c.backup.keep, 1, 10000);
    b.str("dir", c.backup.dir);
    b.str("key_file", c.backup.key_file);
    if (c.backup.enabled && c.backup.key_file.empty())
      b.fail("key_file", "required when backup.enabled = true (backups are always encrypted)");
    b.finish();
  }
  if (auto t = r.table("metrics")) {
    table_reader m(*t, "metrics", errs);
    m.boolean("enabled", c.metrics.enabled);
    m.finish();
  }
  if (auto t = r.table("admin")) {
    table_reader a(*t, "admin", errs);
    a.str("key_file", c.admin.key_file);
    a.boolean("read_only", c.admin.read_only);
    a.finish();
  }
  if (auto t = r.table("health")) {
    table_reader h(*t, "health", errs);
    h.integer("heartbeat_interval_ms", c.health.heartbeat_interval_ms, 10, 60000);
    h.number("phi_threshold", c.health.phi_threshold, 0.5, 100.0);
    h.finish();
  }
  if (auto t = r.table("transport")) {
    table_reader tr(*t, "transport", errs);
    tr.integer("coalesce_us", c.transport.coalesce_us, 0, 1000);
    tr.finish();
  }
  r.finish();
}

// Cross-references: names unique, placements and canaries name things that exist, no two nodes on
// the same machine bind the same endpoint.
void check_references(const toml::table& root, cluster_config& c, error_list& errs) {
  auto where = [&](const char* array, std::size_t i) -> toml::source_region {
    if (auto a = root.get_as<toml::array>(array); a && i < a->size()) return (*a)[i].source();
    return root.source();
  };
  std::set<std::string> names;
  std::set<std::string> endpoints;
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    auto& n = c.nodes[i];
    if (!n.name.empty() && !names.insert(n.name).second)
      errs.add(where("node", i), "node[" + std::to_string(i) + "].name", "duplicate node name '" + n.name + "'");
    for (auto* ep : {&n.cluster_endpoint, &n.client_endpoint, &n.http_endpoint, &n.metrics_endpoint}) {
      if (ep->empty()) continue;
      if (!endpoints.insert(n.host + "|" + *ep).second)
        errs.add(where("node", i), "node[" + std::to_string(i) + "]",
                 "endpoint '" + *ep + "' is used twice on host " + n.host);
    }
  }
  std::set<std::string> model_names;
  for (std::size_t i = 0; i < c.models.size(); ++i) {
    auto& m = c.models[i];
    for (auto* nm : {&m.name}) {
      if (!nm->empty() && !model_names.insert(*nm).second)
        errs.add(where("model", i), "model[" + std::to_string(i) + "].name", "duplicate model name '" + *nm + "'");
    }
    for (auto& a : m.aliases)
      if (!model_names.insert(a).second)
        errs.add(where("model", i), "model[" + std::to_string(i) + "].aliases",
                 "alias '" + a + "' is already a model name or alias");
  }
  for (std::size_t i = 0; i < c.models.size(); ++i)
    if (!c.models[i].fallback.empty() && !c.find_model(c.models[i].fallback))
      errs.add(where("model", i), "model[" + std::to_string(i) + "].fallback",
               "unknown model '" + c.models[i].fallback + "'");
  for (std::size_t i = 0; i < c.placements.size(); ++i) {
    auto& p = c.placements[i];
    auto key = "placement[" + std::to_string(i) + "]";
    if (!p.model.empty() && !c.find_model(p.model))
      errs.add(where("placement", i), key + ".model", "unknown model '" + p.model + "'");
    for (auto& n : p.nodes)
      if (!c.find_node(n)) errs.add(where("placement", i), key + ".nodes", "unknown node '" + n + "'");
    for (auto& st : p.stages) {
      if (!c.find_node(st.node)) errs.add(where("placement", i), key + ".stages", "unknown node '" + st.node + "'");
      for (auto& s : st.standby)
        if (!c.find_node(s)) errs.add(where("placement", i), key + ".stages", "unknown standby node '" + s + "'");
    }
    for (auto& s : p.spares)
      if (!c.find_node(s)) errs.add(where("placement", i), key + ".spares", "unknown spare node '" + s + "'");
  }
  for (std::size_t i = 0; i < c.routing.canaries.size(); ++i) {
    auto& cc = c.routing.canaries[i];
    auto key = "routing.canary[" + std::to_string(i) + "]";
    if (!c.find_model(cc.model)) errs.add(root.source(), key + ".model", "unknown model '" + cc.model + "'");
    if (!c.find_model(cc.target)) errs.add(root.source(), key + ".target", "unknown model '" + cc.target + "'");
  }
}

}  // namespace

result<cluster_config> load_string(const std::string& text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ':' << e.source().begin.line << ':' << e.source().begin.column
       << ": TOML syntax error: " << e.description();
    return status::invalid_argument(os.str());
  }
  cluster_config c;
  c.source_path = source_name;
  auto parent = std::filesystem::path(source_name).parent_path();
  c.base_dir = parent.empty() ? std::filesystem::current_path().string()
                              : std::filesystem::absolute(parent).lexically_normal().string();
  error_list errs(source_name);
  read_sections(root, c, errs);
  if (errs.empty()) check_references(root, c, errs);
  if (!errs.empty()) return status::invalid_argument(errs.joined());
  return c;
}

result<cluster_config> load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return status::not_found(path + ": cannot open the configuration file");
  std::ostringstream ss;
  ss << in.rdbuf();
  constexpr std::size_t config_bytes_max = 4 << 20;  // a cluster file is kilobytes; refuse nonsense
  if (ss.str().size() > config_bytes_max)
    return status::invalid_argument(path + ": larger than " + std::to_string(config_bytes_max) + " bytes");
  return load_string(ss.str(), path);
}

result<node_config> select_node(const cluster_config& cfg, const std::string& node_name) {
  if (node_name.empty()) {
    if (cfg.nodes.size() == 1) return cfg.nodes.front();
    std::string names;
    for (auto& n : cfg.nodes) names += (names.empty() ? "" : ", ") + n.name;
    return status::invalid_argument(cfg.source_path + ": describes " + std::to_string(cfg.nodes.size()) +
                                    " nodes; choose one with --name (" + names + ")");
  }
  if (auto n = cfg.find_node(node_name)) return *n;
  std::string names;
  for (auto& n : cfg.nodes) names += (names.empty() ? "" : ", ") + n.name;
  return status::not_found(cfg.source_path + ": no node named '" + node_name + "' (nodes: " + names + ")");
}

}  // namespace holo::config
