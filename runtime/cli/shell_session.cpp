#include "runtime/cli/shell_session.hpp"

#include <algorithm>
#include <iostream>
#include <random>

#include <httplib.h>

#include "runtime/cli/json_text.hpp"
#include "runtime/cli/shell_output.hpp"

namespace holo::cli::shell {

namespace {

constexpr auto cache_fresh = std::chrono::seconds(5);
constexpr auto gen_idle_timeout = std::chrono::seconds(60);
constexpr std::size_t metrics_body_bytes_max = 16 << 20;

using acc = proto::access;

std::string join(const std::vector<std::string>& v, std::size_t from, const char* sep = " ") {
  std::string o;
  for (std::size_t i = from; i < v.size(); ++i) o += (i > from ? sep : "") + v[i];
  return o;
}

}  // namespace

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> table = {
      {"nodes", "", acc::open, "the cluster's members as the connected node sees them", "nodes", completer::none,
       &session::cmd_nodes},
      {"health", "[NODE]", acc::open, "a node's health: every actor's state, uptime, refused shell commands",
       "health n2", completer::node, &session::cmd_health},
      {"actors", "[NODE]", acc::read_only, "a node's supervision tree: state, restarts, mailbox depth",
       "actors n2", completer::node, &session::cmd_actors},
      {"models", "", acc::open, "the models served, their aliases and replicas", "models", completer::none,
       &session::cmd_models},
      {"placement", "", acc::open, "every replica as the router sees it: state, load, placements",
       "placement", completer::none, &session::cmd_placement},
      {"plan", "[NODE]", acc::open,
       "the placement plan a node computed: per model whole/pipeline/refused, where, why, and what "
       "changed last (models placed by the plan follow it)",
       "plan n2", completer::node, &session::cmd_plan},
      {"requests", "[NODE]", acc::read_only, "generations in flight on a router, with progress", "requests",
       completer::node, &session::cmd_requests},
      {"trace", "REQUEST [NODE]", acc::read_only, "the hops and timings of one recent request", "trace g-1234",
       completer::none, &session::cmd_trace},
      {"gen", "[-n MAX_TOKENS] MODEL PROMPT", acc::open, "generate, streaming the text; Ctrl-C cancels",
       "gen -n 32 demo Once upon a time", completer::model, &session::cmd_gen},
      {"kill", "[NODE/]ACTOR", acc::admin, "fault injection: crash a shard, or kill any actor (it restarts)",
       "kill n2/s:0", completer::node_actor, &session::cmd_kill},
      {"drain", "NODE [on|off]", acc::admin, "maintenance: NODE's shards take no new generations", "drain n2",
       completer::drain, &session::cmd_drain},
      {"checkpoint", "[NODE]", acc::admin, "ask the store to checkpoint now", "checkpoint", completer::node,
       &session::cmd_checkpoint},
      {"backup", "now|list [NODE]", acc::admin, "make a backup archive now, or list the archives", "backup list",
       completer::backup, &session::cmd_backup},
      {"metrics", "[FILTER]", acc::open, "the node's /metrics lines whose name or labels contain FILTER",
       "metrics holo_requests_total", completer::none, &session::cmd_metrics},
      {"help", "[COMMAND]", acc::open, "this list, or one command's usage", "help kill", completer::command,
       &session::cmd_help},
      {"quit", "", acc::open, "leave the shell (also: exit, Ctrl-D)", "quit", completer::none, &session::cmd_quit},
  };
  return table;
}

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

std::atomic<bool>& session::cancel_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

session::session(node_target target, std::string admin_key, bool json, std::chrono::milliseconds timeout,
                 std::ostream& out, std::ostream& err)
    : target_(std::move(target)), admin_key_(std::move(admin_key)), json_(json), timeout_(timeout), out_(out),
      err_(err), client_(std::make_unique<client>(target_.endpoint, target_.keys)) {}

session::~session() = default;

int session::run_line(const std::string& line) {
  auto words = split_words(line);
  if (words.empty() || words[0][0] == '#') return exit_ok;
  if (words[0] == "exit") words[0] = "quit";
  for (auto& c : commands())
    if (words[0] == c.name) return (this->*c.run)(std::vector<std::string>(words.begin() + 1, words.end()));
  return usage("unknown command '" + words[0] + "' (try `help`)");
}

int session::fail(const status& s) {
  err_ << "error: " << to_string(s.code()) << ": " << s.message() << "\n";
  return s.code() == status_code::permission_denied ? exit_refused : exit_failed;
}

int session::usage(const std::string& message) {
  err_ << "usage: " << message << "\n";
  return exit_usage;
}

void session::print(const std::string& kind, const proto::table& t) {
  if (json_) print_json(out_, kind, t);
  else print_table(out_, t);
  out_.flush();
}

std::string session::node_name() {
  if (node_.empty())
    if (auto h = client_->health(timeout_)) node_ = h->node;
  return node_;
}

result<proto::admin_reply> session::ask(const std::string& kind, const std::string& node,
                                        std::map<std::string, std::string> args) {
  proto::admin_request r;
  r.kind = kind;
  r.node = node;
  r.admin_key = admin_key_;
  r.args = std::move(args);
  std::string id;
  auto frame = client_->request(
      [&](const std::string& fresh) {
        id = fresh;
        r.id = fresh;
        return proto::encode_admin_request(r);
      },
      kind == "checkpoint" || kind == "backup" ? std::max(timeout_, std::chrono::milliseconds(35000)) : timeout_);
  if (!frame) return frame.error();
  return proto::decode_admin_reply(*frame, id);
}

int session::admin_call(const std::string& kind, const std::string& node, std::map<std::string, std::string> args) {
  auto reply = ask(kind, node, std::move(args));
  if (!reply) return fail(reply.error());
  if (reply->kind == "ok") {
    if (json_)
      out_ << "{\"kind\":\"ok\",\"what\":" << json_string(reply->what) << ",\"detail\":" << json_string(reply->detail)
           << "}\n";
    else
      out_ << "ok: " << reply->what << (reply->detail.empty() ? "" : ": " + reply->detail) << "\n";
    return exit_ok;
  }
  print(kind, reply->t);
  return exit_ok;
}

// ---- commands --------------------------------------------------------------------------------------

int session::cmd_help(const std::vector<std::string>& a) {
  for (auto& c : commands()) {
    if (!a.empty() && a[0] != c.name) continue;
    const char* who = c.access == acc::admin ? "  [admin key]" : c.access == acc::read_only ? "  [admin key or read_only]" : "";
    out_ << c.name << (*c.args ? " " : "") << c.args << "\n    " << c.help << who << "\n";
    if (!a.empty()) out_ << "    example: " << c.example << "\n";
  }
  if (!a.empty() && std::none_of(commands().begin(), commands().end(), [&](auto& c) { return a[0] == c.name; }))
    return usage("no command '" + a[0] + "'");
  return exit_ok;
}

int session::cmd_quit(const std::vector<std::string>&) {
  quit_ = true;
  return exit_ok;
}

int session::cmd_nodes(const std::vector<std::string>& a) {
  if (!a.empty()) return usage("nodes");
  auto r = client_->nodes(timeout_);
  if (!r) return fail(r.error());
  proto::table t;
  t.node = r->node;
  // rtt_ms: the answering node's heartbeat round trip to each (-1: itself, or not measured yet).
  // free_gib: what it announced it can give to models (free memory measured, or its hint).
  t.columns = {"node", "state", "last_heard_ms", "phi", "rtt_ms", "roles", "cores", "memory_gib", "free_gib", "gpus"};
  for (auto& m : r->members)
    t.rows.push_back({m.node, m.state, m.last_heard_ms, m.phi, m.rtt_ms, join(m.roles, 0, ","), m.cores,
                      static_cast<double>(m.memory_bytes) / (1ull << 30),
                      static_cast<double>(m.memory_free_bytes) / (1ull << 30), m.gpus});
  print("nodes", t);
  return exit_ok;
}

int session::cmd_health(const std::vector<std::string>& a) {
  if (a.size() > 1) return usage("health [NODE]");
  auto h = client_->health(timeout_, a.empty() ? "" : a[0]);
  if (!h) return fail(h.error());
  proto::table t;
  t.node = h->node;
  t.columns = {"node", "state", "uptime_ms", "version", "metrics_endpoint", "admin_refusals"};
  t.rows.push_back({h->node, h->state, h->uptime_ms, h->version,
                    h->metrics_endpoint.empty() ? std::string("-") : h->metrics_endpoint, h->admin_refusals});
  print("health", t);
  if (!json_) {
    proto::table at;
    at.columns = {"actor", "state"};
    for (auto& x : h->actors) at.rows.push_back({x.name, x.state});
    print("health", at);
  }
  return exit_ok;
}

int session::cmd_actors(const std::vector<std::string>& a) {
  if (a.size() > 1) return usage("actors [NODE]");
  return admin_call("actors", a.empty() ? "" : a[0], {});
}

int session::cmd_models(const std::vector<std::string>& a) {
  if (!a.empty()) return usage("models");
  auto ms = client_->models(timeout_);
  if (!ms) return fail(ms.error());
  proto::table t;
  t.node = node_name();
  t.columns = {"model", "aliases", "fallback", "ready", "replicas"};
  for (auto& m : *ms) {
    std::int64_t ready = 0;
    std::string reps;
    for (auto& r : m.replicas) {
      ready += r.state == "ready";
      reps += (reps.empty() ? "" : " ") + r.node + "=" + r.state;
    }
    t.rows.push_back({m.name, m.aliases.empty() ? std::string("-") : join(m.aliases, 0, ","),
                      m.fallback.empty() ? std::string("-") : m.fallback, ready, reps.empty() ? std::string("-") : reps});
  }
  print("models", t);
  return exit_ok;
}

int session::cmd_placement(const std::vector<std::string>& a) {
  if (!a.empty()) return usage("placement");
  return admin_call("placement", "", {});
}

int session::cmd_plan(const std::vector<std::string>& a) {
  if (a.size() > 1) return usage("plan [NODE]");
  if (json_) return admin_call("plan", a.empty() ? "" : a[0], {});
  auto reply = ask("plan", a.empty() ? "" : a[0], {});
  if (!reply) return fail(reply.error());
  print_plan(out_, reply->t);
  out_.flush();
  return exit_ok;
}

int session::cmd_requests(const std::vector<std::string>& a) {
  if (a.size() > 1) return usage("requests [NODE]");
  return admin_call("requests", a.empty() ? "" : a[0], {});
}

int session::cmd_trace(const std::vector<std::string>& a) {
  if (a.empty() || a.size() > 2) return usage("trace REQUEST [NODE]   (REQUEST: an id from `requests` or `gen`)");
  return admin_call("trace", a.size() > 1 ? a[1] : "", {{"request", a[0]}});
}

int session::cmd_gen(const std::vector<std::string>& a) {
  std::size_t i = 0;
  std::optional<std::int64_t> max_tokens;
  if (a.size() > 1 && a[0] == "-n") {
    try {
      max_tokens = std::stoll(a[1]);
    } catch (const std::exception&) {
      return usage("gen [-n MAX_TOKENS] MODEL PROMPT   (-n takes a number)");
    }
    i = 2;
  }
  if (a.size() < i + 2) return usage("gen [-n MAX_TOKENS] MODEL PROMPT");
  proto::generate_request req;
  std::random_device rd;
  req.id = "sh-" + std::to_string(rd() % 100000000);
  req.model = a[i];
  req.prompt = join(a, i + 1);
  req.options.max_tokens = max_tokens;
  auto& cancel = cancel_flag();
  cancel = false;
  if (!json_) err_ << "[" << req.id << "]\n";
  auto done = client_->generate(
      req,
      [&](const proto::token_event& ev) {
        if (!json_) out_ << ev.text << std::flush;
        return true;
      },
      gen_idle_timeout, &cancel);
  const bool interrupted = cancel.exchange(false);
  if (!done) {
    if (!json_) out_ << "\n";
    return fail(done.error());
  }
  if (json_) {
    out_ << "{\"kind\":\"gen\",\"id\":" << json_string(req.id) << ",\"model\":" << json_string(done->model)
         << ",\"node\":" << json_string(done->node) << ",\"reason\":" << json_string(done->reason)
         << ",\"generated_tokens\":" << done->generated_tokens << ",\"attempts\":" << done->attempts
         << ",\"ttft_ms\":" << done->timings.ttft_ms << ",\"total_ms\":" << done->timings.total_ms
         << ",\"text\":" << json_string(done->text) << "}\n";
  } else {
    out_ << done->text << "\n";
    err_ << "[" << done->reason << ": " << done->generated_tokens << " tokens"
         << (done->node.empty() ? "" : " on " + done->node) << ", "
         << static_cast<std::int64_t>(done->timings.total_ms) << " ms, attempts " << done->attempts << "]\n";
  }
  return interrupted || done->reason == "cancelled" ? exit_interrupted : exit_ok;
}

int session::cmd_kill(const std::vector<std::string>& a) {
  if (a.size() != 1) return usage("kill [NODE/]ACTOR   (e.g. kill n2/s:0; see `actors NODE`)");
  auto slash = a[0].find('/');
  std::string node = slash == std::string::npos ? "" : a[0].substr(0, slash);
  std::string actor = slash == std::string::npos ? a[0] : a[0].substr(slash + 1);
  if (actor.empty()) return usage("kill [NODE/]ACTOR");
  return admin_call("kill", node, {{"actor", actor}});
}

int session::cmd_drain(const std::vector<std::string>& a) {
  if (a.empty() || a.size() > 2 || (a.size() == 2 && a[1] != "on" && a[1] != "off")) return usage("drain NODE [on|off]");
  return admin_call("drain", a[0], {{"state", a.size() == 2 ? a[1] : "on"}});
}

int session::cmd_checkpoint(const std::vector<std::string>& a) {
  if (a.size() > 1) return usage("checkpoint [NODE]");
  return admin_call("checkpoint", a.empty() ? "" : a[0], {});
}

int session::cmd_backup(const std::vector<std::string>& a) {
  if (a.empty() || a.size() > 2 || (a[0] != "now" && a[0] != "list")) return usage("backup now|list [NODE]");
  return admin_call("backup", a.size() > 1 ? a[1] : "", {{"action", a[0]}});
}

// /metrics over HTTP from the metrics_endpoint the node's health names; lines filtered by substring.
int session::cmd_metrics(const std::vector<std::string>& a) {
  if (a.size() > 1) return usage("metrics [FILTER]");
  auto h = client_->health(timeout_);
  if (!h) return fail(h.error());
  if (h->metrics_endpoint.empty())
    return fail(status::unavailable("node " + h->node + " serves no /metrics (no metrics_endpoint, or [metrics] off)"));
  auto colon = h->metrics_endpoint.rfind(':');
  if (colon == std::string::npos) return fail(status::invalid_argument("bad metrics_endpoint " + h->metrics_endpoint));
  httplib::Client http(h->metrics_endpoint.substr(0, colon), std::stoi(h->metrics_endpoint.substr(colon + 1)));
  auto secs = std::max<std::int64_t>(1, timeout_.count() / 1000);
  http.set_connection_timeout(secs, 0);
  http.set_read_timeout(secs, 0);
  auto res = http.Get("/metrics");
  if (!res) return fail(status::unavailable("GET http://" + h->metrics_endpoint + "/metrics: " + httplib::to_string(res.error())));
  if (res->status != 200)
    return fail(status::unavailable("GET http://" + h->metrics_endpoint + "/metrics: HTTP " + std::to_string(res->status)));
  if (res->body.size() > metrics_body_bytes_max) return fail(status::resource_exhausted("/metrics body too large"));
  proto::table t;
  t.node = h->node;
  t.columns = {"metric", "value"};
  std::size_t pos = 0;
  const auto& body = res->body;
  while (pos < body.size()) {
    auto end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string line = body.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    std::string name = line.substr(0, sp);
    if (!a.empty() && name.find(a[0]) == std::string::npos) continue;
    try {
      t.rows.push_back({name, std::stod(line.substr(sp + 1))});
    } catch (const std::exception&) {
      t.rows.push_back({name, line.substr(sp + 1)});
    }
  }
  print("metrics", t);
  return exit_ok;
}

// ---- completion ------------------------------------------------------------------------------------

std::vector<std::string> session::node_names() {
  if (std::chrono::steady_clock::now() - nodes_.at > cache_fresh) {
    if (auto r = client_->nodes(std::chrono::milliseconds(1000))) {
      nodes_.items.clear();
      for (auto& m : r->members) nodes_.items.push_back(m.node);
      nodes_.at = std::chrono::steady_clock::now();
    }
  }
  return nodes_.items;
}

std::vector<std::string> session::model_names() {
  if (std::chrono::steady_clock::now() - models_.at > cache_fresh) {
    if (auto r = client_->models(std::chrono::milliseconds(1000))) {
      models_.items.clear();
      for (auto& m : *r) {
        models_.items.push_back(m.name);
        for (auto& al : m.aliases) models_.items.push_back(al);
      }
      models_.at = std::chrono::steady_clock::now();
    }
  }
  return models_.items;
}

std::vector<std::string> session::actor_names(const std::string& node) {
  auto& c = actors_[node];
  if (std::chrono::steady_clock::now() - c.at > cache_fresh) {
    proto::admin_request r;
    r.kind = "actors";
    r.node = node;
    r.admin_key = admin_key_;
    std::string id;
    auto frame = client_->request(
        [&](const std::string& fresh) {
          id = r.id = fresh;
          return proto::encode_admin_request(r);
        },
        std::chrono::milliseconds(1000));
    if (frame)
      if (auto reply = proto::decode_admin_reply(*frame, id); reply && reply->kind == "actors") {
        c.items.clear();
        for (auto& row : reply->t.rows) c.items.push_back(proto::to_text(row[0]));
        c.at = std::chrono::steady_clock::now();
      }
  }
  return c.items;
}

std::vector<std::string> session::complete(const std::vector<std::string>& before, const std::string& word) {
  std::vector<std::string> cands;
  if (before.empty()) {
    for (auto& c : commands()) cands.push_back(c.name);
  } else {
    const command_spec* spec = nullptr;
    for (auto& c : commands())
      if (before[0] == c.name) spec = &c;
    if (!spec) return {};
    const auto arg = before.size();  // 1: the first argument
    switch (spec->complete) {
      case completer::command:
        if (arg == 1) for (auto& c : commands()) cands.push_back(c.name);
        break;
      case completer::node:
        if (arg == 1) cands = node_names();
        break;
      case completer::model:
        if (arg == 1 || (arg == 3 && before[1] == "-n")) cands = model_names();
        break;
      case completer::drain:
        if (arg == 1) cands = node_names();
        if (arg == 2) cands = {"on", "off"};
        break;
      case completer::backup:
        if (arg == 1) cands = {"now", "list"};
        if (arg == 2) cands = node_names();
        break;
      case completer::node_actor:
        if (arg != 1) break;
        if (auto slash = word.find('/'); slash != std::string::npos) {
          auto node = word.substr(0, slash);
          for (auto& a : actor_names(node)) cands.push_back(node + "/" + a);
        } else {
          for (auto& n : node_names()) cands.push_back(n + "/");
        }
        break;
      case completer::none:
        break;
    }
  }
  std::vector<std::string> out;
  for (auto& c : cands)
    if (c.compare(0, word.size(), word) == 0) out.push_back(c);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace holo::cli::shell
