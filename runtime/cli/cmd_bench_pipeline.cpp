// holo bench pipeline: decode speed of a model split by layers across node processes on loopback,
// beside the same model whole on one node, in one run.
//   holo bench pipeline MODEL [--threads 1] [--tokens 128] [--prompt-tokens 32] [--stages 2] [--reps 3]
// It writes one config with --stages nodes on free 127.0.0.1 ports: the first (router + shard)
// holds the model whole ("whole") and is the head of the split one ("split": [[placement]] stages
// over every node, layers split evenly); it starts `holo node` for each as child processes (always
// stopped at the end) and asks the first node, each repetition running both back to back so they
// share the machine's load: the same greedy request (ignore_eos, so both decode --tokens) to
// "whole" and to "split". The figure is the node's own decode rate (done.timings.decode_ms over
// the tokens after the first), whose ratio split / whole is the pipeline's cost; bytes per token
// are what crosses the links for one decoded token, read from the head's /metrics afterwards with
// each link's transit time: the hidden state (n_embd F32) on each forward hop, the sampled token
// back to the head. Target (issue "Pipeline shards"): split >= 85%.
// Exit codes: 0 ok (a missed target included), 1 failure, 2 usage error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>

#include "gpu/gguf.hpp"
#include "gpu/model_config.hpp"
#include "gpu/ollama_store.hpp"
#include "runtime/cli/bench_nodes.hpp"
#include "runtime/client.hpp"

namespace holo::cli {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr double split_percent_target = 85.0;
constexpr auto ready_timeout = std::chrono::seconds(300);
constexpr auto request_idle_timeout = std::chrono::seconds(60);
constexpr std::size_t log_tail_lines = 20;

struct pipeline_bench_args {
  std::string model;
  int threads = 1;
  std::int32_t tokens = 128;
  std::int32_t prompt_tokens = 32;
  int stages = 2;
  int reps = 3;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

struct cluster_setup {
  std::string config_path;
  std::string client_endpoint;  // the first node's
  std::string metrics_endpoint;  // the first node's (the head's) /metrics, host:port
  std::vector<std::string> names;
};

result<cluster_setup> write_config(const pipeline_bench_args& a, const fs::path& dir) {
  cluster_setup c;
  std::error_code ec;
  const std::string model = a.model.rfind("ollama:", 0) == 0 ? a.model : fs::absolute(a.model, ec).string();
  std::ostringstream os;
  os << "[cluster]\nname = \"bench-pipeline\"\n\n";
  for (int i = 0; i < a.stages; ++i) {
    auto cluster_port = free_loopback_port();
    if (!cluster_port) return cluster_port.error();
    const std::string name = "p" + std::to_string(i + 1);
    c.names.push_back(name);
    os << "[[node]]\nname = \"" << name << "\"\ncluster_endpoint = \"tcp://127.0.0.1:" << *cluster_port << "\"\n"
       << "engine_threads = " << a.threads << "\n"
       << "data_dir = " << toml_string((dir / name).string()) << "\n";
    if (i == 0) {
      auto client_port = free_loopback_port();
      if (!client_port) return client_port.error();
      c.client_endpoint = "tcp://127.0.0.1:" + std::to_string(*client_port);
      auto metrics_port = free_loopback_port();
      if (!metrics_port) return metrics_port.error();
      c.metrics_endpoint = "127.0.0.1:" + std::to_string(*metrics_port);
      os << "client_endpoint = " << toml_string(c.client_endpoint) << "\nroles = [\"router\", \"shard\"]\n"
         << "metrics_endpoint = " << toml_string(c.metrics_endpoint) << "\n";
    } else {
      os << "roles = [\"shard\"]\n";
    }
    os << "\n";
  }
  const std::int32_t ctx = a.prompt_tokens + a.tokens + 64;
  for (auto name : {"whole", "split"})
    os << "[[model]]\nname = \"" << name << "\"\npath = " << toml_string(model) << "\ncontext_length = " << ctx
       << "\nparallel = 1\n\n";
  os << "[[placement]]\nmodel = \"whole\"\nnodes = [\"p1\"]\n\n[[placement]]\nmodel = \"split\"\nstages = [";
  for (int i = 0; i < a.stages; ++i) os << (i ? ", " : "") << "{ node = \"" << c.names[static_cast<std::size_t>(i)] << "\" }";
  os << "]\n\n[routing]\nmax_tokens = " << a.tokens << "\nmax_prompt_tokens = " << ctx << "\n";
  c.config_path = (dir / "cluster.toml").string();
  std::ofstream out(c.config_path);
  out << os.str();
  if (!out.flush()) return status::unavailable("cannot write " + c.config_path);
  return c;
}

struct one_run {
  double node_tps = 0;  // the head's own decode rate for this request
  std::vector<std::int32_t> tokens;
};

result<one_run> generate(holo::client& c, const std::string& model, const std::string& id, const std::string& prompt,
                         std::int32_t tokens) {
  proto::generate_request r;
  r.id = id;
  r.model = model;
  r.prompt = prompt;
  r.options.temperature = 0.0;
  r.options.max_tokens = tokens;
  r.options.ignore_eos = true;
  one_run out;
  auto done = c.generate(
      r,
      [&](const proto::token_event& e) {
        out.tokens.insert(out.tokens.end(), e.tokens.begin(), e.tokens.end());
        return true;
      },
      request_idle_timeout);
  if (!done) return done.error().with_context(model);
  if (out.tokens.size() < 2 || done->timings.decode_ms <= 0)
    return status::failed_precondition(model + ": too few tokens to time (" + std::to_string(out.tokens.size()) + ")");
  out.node_tps = double(out.tokens.size() - 1) * 1000.0 / done->timings.decode_ms;
  return out;
}

std::string prompt_of(std::int32_t n) {
  std::string s;
  static constexpr const char* words[] = {"the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"};
  for (int i = 0; i < n; ++i) (s += i ? " " : "") += words[i % std::size(words)];
  return s;  // about one token per word with a real vocabulary; the length only sets the context used
}

// The split model's per-link counters, as the head's /metrics shows them after the runs.
struct link_figures {
  double bytes = 0;
  double seconds = 0;
  bool timed = false;
};
struct pipeline_figures {
  double batches = 0;
  std::map<std::pair<std::string, std::string>, link_figures> links;  // (from, to)
};

// The value of a label in a Prometheus sample line's label set ("" when absent).
std::string label_of(const std::string& line, const std::string& name) {
  const std::string key = name + "=\"";
  auto at = line.find(key);
  if (at == std::string::npos) return {};
  at += key.size();
  auto end = line.find('"', at);
  return end == std::string::npos ? std::string() : line.substr(at, end - at);
}

result<pipeline_figures> scrape_pipeline(const std::string& endpoint, const std::string& model) {
  const auto colon = endpoint.rfind(':');
  httplib::Client http(endpoint.substr(0, colon), std::stoi(endpoint.substr(colon + 1)));
  http.set_read_timeout(5, 0);
  auto res = http.Get("/metrics");
  if (!res) return status::unavailable("GET http://" + endpoint + "/metrics: " + httplib::to_string(res.error()));
  if (res->status != 200) return status::unavailable("GET http://" + endpoint + "/metrics: HTTP " + std::to_string(res->status));
  pipeline_figures f;
  std::istringstream in(res->body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || label_of(line, "model") != model) continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const double v = std::strtod(line.c_str() + sp + 1, nullptr);
    if (line.rfind("holo_pipeline_batches_total{", 0) == 0) f.batches = v;
    const bool bytes = line.rfind("holo_pipeline_link_bytes_total{", 0) == 0;
    const bool secs = line.rfind("holo_pipeline_link_seconds_total{", 0) == 0;
    if (!bytes && !secs) continue;
    auto& l = f.links[{label_of(line, "from"), label_of(line, "to")}];
    if (bytes) l.bytes = v;
    if (secs) {
      l.seconds = v;
      l.timed = true;
    }
  }
  if (f.batches <= 0) return status::not_found("the head's /metrics shows no pipeline batch of " + model);
  return f;
}

status run(const pipeline_bench_args& a, const fs::path& dir, std::vector<std::unique_ptr<node_process>>& nodes) {
  // The model's widths, for the bytes per token (the nodes load it themselves).
  auto path = gpu::resolve_model_path(a.model);
  if (!path) return path.error();
  auto file = gpu::gguf_file::open(*path);
  if (!file) return file.error().with_context(*path);
  auto cfg = gpu::read_model_config(*file);
  if (!cfg) return cfg.error().with_context(*path);
  if (cfg->n_layer < a.stages)
    return status::invalid_argument(std::to_string(a.stages) + " stages for a model of " + std::to_string(cfg->n_layer) +
                                    " layers");
  auto setup = write_config(a, dir);
  if (!setup) return setup.error();
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  const std::string exe = ec ? std::string("/proc/self/exe") : self.string();
  for (auto& name : setup->names) {
    nodes.push_back(std::make_unique<node_process>());
    HOLO_TRY(nodes.back()->start({exe, "node", "--config", setup->config_path, "--name", name, "--shutdown-timeout", "5"},
                                 (dir / (name + ".log")).string()));
  }
  holo::client c(setup->client_endpoint);
  const auto prompt = prompt_of(a.prompt_tokens);
  // Ready: both models answer a short request (the split one only once every stage has loaded).
  const auto deadline = clock_type::now() + ready_timeout;
  int warm = 0;
  for (auto model : {"whole", "split"}) {
    for (;;) {
      for (auto& n : nodes)
        if (!n->running()) return status::unavailable("a node exited with code " + std::to_string(n->exit_code().value_or(-1)));
      if (generate(c, model, "warm-" + std::to_string(warm++), prompt, 4).ok()) break;
      if (clock_type::now() > deadline) return status::deadline_exceeded(std::string(model) + " never served");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  std::vector<double> whole_tps, split_tps, ratio;
  bool same = true;
  for (int r = 0; r < a.reps; ++r) {
    auto w = generate(c, "whole", "w" + std::to_string(r), prompt, a.tokens);
    if (!w) return w.error();
    auto s = generate(c, "split", "s" + std::to_string(r), prompt, a.tokens);
    if (!s) return s.error();
    same = same && w->tokens == s->tokens;
    whole_tps.push_back(w->node_tps);
    split_tps.push_back(s->node_tps);
    ratio.push_back(100.0 * s->node_tps / w->node_tps);
    std::printf("rep %d: whole %.1f tok/s, split %.1f tok/s (%.1f%%)\n", r + 1, w->node_tps, s->node_tps, ratio.back());
  }
  auto figures = scrape_pipeline(setup->metrics_endpoint, "split");
  if (!figures) return figures.error();
  std::printf("\nmodel %s: %d layers, n_embd %d, vocab %d; %d stages on loopback, %d engine thread(s) each, %d tokens\n",
              path->c_str(), cfg->n_layer, cfg->n_embd, cfg->n_vocab, a.stages, a.threads, a.tokens);
  std::printf("%-28s %12s\n", "", "decode tok/s");
  std::printf("%-28s %12.1f\n", "whole (one node)", median(whole_tps));
  std::printf("%-28s %12.1f\n", ("split (" + std::to_string(a.stages) + " stages)").c_str(), median(split_tps));
  std::printf("split / whole (median of reps) %.1f%%   target >= %.0f%%: %s\n", median(ratio), split_percent_target,
              median(ratio) >= split_percent_target ? "met" : "MISSED");
  // Per batch (one per decoded token; the prompt's one batch and the warm-ups barely move it).
  std::printf("\nper link, per batch (the head's counters over %.0f batches; hidden state %d B forward):\n",
              figures->batches, cfg->n_embd * 4);
  std::printf("  %-16s %14s %14s\n", "link", "payload B", "transit us");
  double total_bytes = 0;
  std::string from = setup->names.front();
  for (std::size_t k = 1; k <= setup->names.size(); ++k) {
    const std::string to = setup->names[k % setup->names.size()];  // ... and the last back to the head
    auto it = figures->links.find({from, to});
    const link_figures l = it == figures->links.end() ? link_figures{} : it->second;
    total_bytes += l.bytes;
    char transit[32] = "-";
    if (l.timed) std::snprintf(transit, sizeof transit, "%.1f", 1e6 * l.seconds / figures->batches);
    std::printf("  %-16s %14.0f %14s\n", (from + " -> " + to).c_str(), l.bytes / figures->batches, transit);
    from = to;
  }
  std::printf("bytes per decoded token: %.0f (the last stage samples: a token id comes back, not %d B of logits)\n",
              total_bytes / figures->batches, cfg->n_vocab * 4);
  if (!same) std::printf("warning: the split model's tokens differ from the whole model's\n");
  return {};
}

int run_pipeline(const pipeline_bench_args& a) {
  if (a.stages < 2 || a.stages > 8 || a.tokens < 2 || a.reps < 1 || a.threads < 1 || a.prompt_tokens < 1) {
    std::cerr << "holo bench pipeline: --stages 2..8, --tokens >= 2, --reps >= 1, --threads >= 1\n";
    return 2;
  }
  scratch_dir dir;  // outlives the nodes
  if (auto s = dir.create("holo-bench-pipeline"); !s) {
    std::cerr << "holo bench pipeline: " << s.to_string() << "\n";
    return 1;
  }
  std::vector<std::unique_ptr<node_process>> nodes;
  const status s = run(a, dir.path, nodes);
  for (auto& n : nodes) n->stop();
  if (!s) {
    std::cerr << "holo bench pipeline: " << s.to_string() << "\n";
    for (auto& n : nodes) {
      const auto tail = n->log_tail(log_tail_lines);
      if (!tail.empty()) std::cerr << "node log (last lines):\n" << tail;
    }
    return 1;
  }
  return 0;
}

}  // namespace

void add_bench_pipeline(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children) {
  auto a = std::make_shared<pipeline_bench_args>();
  auto* sub = bench.add_subcommand("pipeline", "Decode speed of a model split across nodes vs whole on one node");
  sub->footer(
      "Starts --stages `holo node` processes on free 127.0.0.1 ports: the first holds the model whole and\n"
      "is the head of the split copy, the others hold the later layers. Whole and split run back to back.\n"
      "Target: the split model decodes at >= 85% of the whole one's speed on loopback.\n"
      "Example: holo bench pipeline model.gguf --threads 1 --tokens 128 --reps 3");
  sub->add_option("model", a->model, "GGUF file or ollama:NAME[:TAG]")->required();
  sub->add_option("-t,--threads", a->threads, "Engine threads of every node")->capture_default_str();
  sub->add_option("-n,--tokens", a->tokens, "Tokens decoded per request (greedy, to the end)")->capture_default_str();
  sub->add_option("--prompt-tokens", a->prompt_tokens, "Prompt length, in words")->capture_default_str();
  sub->add_option("--stages", a->stages, "Nodes the split model runs over")->capture_default_str();
  sub->add_option("-r,--reps", a->reps, "Repetitions (after one warm-up)")->capture_default_str();
  children.emplace_back(sub, [a] { return run_pipeline(*a); });
}

}  // namespace holo::cli
