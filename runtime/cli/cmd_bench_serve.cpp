// holo bench serve: end-to-end generation through a real node, beside the engine alone, in one run.
//   holo bench serve MODEL [--threads 1] [--tokens 128] [--prompt-tokens 64] [--streams 1,4,16] [--reps 3] [--json]
//                    [--journal]
// It writes a config for one node (roles router + shard, free 127.0.0.1 ports) to a temporary
// folder, starts `holo node` (this binary) from it as a child process, loads the same model in this
// process, and measures, one repetition of each back to back so both see the same machine load:
//   engine alone  gpu::generate on a session of this process: greedy, same prompt, same max tokens
//   served        the same request through holo::client -> client_api -> router -> shard and back
// TTFT runs from the call (engine: tokenize + prefill + first sample; served: the send) to the first
// token; tokens/s is over the tokens after the first event, (n - first event's) / (end - first
// event), the end being generate() returning or the `done` event. Then aggregate tokens/s at each --streams count: that
// many clients (one holo::client and one thread each, the client's blocking API needs it) started
// together, total tokens / wall time. Medians over --reps after one warm-up. The node is stopped
// on every path (SIGTERM, SIGKILL after node_stop_timeout; PR_SET_PDEATHSIG if we die first).
// --journal: a second node, the same but with the store role (SQLite, the default checkpoint cadence
// of the request journal, docs/storage.md), runs beside the first; served tokens/s, 1 stream and
// the most --streams, are measured on both, alternating, each repetition back to back: the
// journal's cost ("Journal/checkpoint cost" in docs/benchmarks.md).
// Exit codes: 0 ok (a missed target included: it is a figure, not a failure), 1 failure (model,
// node, a request), 2 usage error.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "gpu/engine.hpp"
#include "persistence/store.hpp"
#include "runtime/client.hpp"
#include "runtime/cli/bench_nodes.hpp"

namespace holo::cli {

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// Targets of the issue "holo bench serve".
constexpr double overhead_percent_target = 3.0;
constexpr double added_ttft_ms_target = 5.0;

constexpr auto node_ready_timeout = std::chrono::seconds(300);  // a big model reads every page at load
constexpr auto request_idle_timeout = std::chrono::seconds(60);  // also how long a dead node goes unnoticed
constexpr int streams_max = 256;  // a model's `parallel` is at most 256 (runtime/config.cpp)
constexpr std::int32_t tokens_max = 1 << 16;
constexpr std::size_t log_tail_lines = 30;
constexpr const char* bench_model = "bench";  // the model's name in the node's config
constexpr const char* bench_node = "bench";

struct serve_bench_args {
  std::string model;
  int threads = 1;
  std::int32_t tokens = 128;
  std::int32_t prompt_tokens = 64;
  std::vector<int> streams = {1, 4, 16};
  int reps = 3;
  bool json = false;
  bool journal = false;  // also measure a node that journals (store role) against one that does not
};

// Target of issue 7: checkpointing at the default cadence costs under 2% of served tokens/s.
constexpr double journal_cost_percent_target = 2.0;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Tokens that arrived after the first event, per second between the first event and the end. A
// served event may carry several tokens when the client falls behind (docs/protocol.md, `token`):
// those arrived with the first, so they do not count as generated in the interval.
double gen_rate(std::size_t n, std::size_t first_event_tokens, clock_type::time_point first, clock_type::time_point end) {
  const double s = ms_between(first, end) / 1000.0;
  return n > first_event_tokens && s > 0 ? double(n - first_event_tokens) / s : 0.0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

struct node_setup {
  std::string config_path;
  std::string client_endpoint;
  std::int32_t ctx_size = 0;
  int parallel = 1;
};

// One node serving MODEL as `bench`: engine_threads and context as the engine alone gets them,
// `parallel` = the most streams asked for, limits that let every stream in.
// `journal`: the node also runs a store (SQLite under its data folder, default cadence), so its
// router journals every generation (docs/storage.md "Request journal").
result<node_setup> write_node_config(const serve_bench_args& a, const fs::path& dir, bool journal = false) {
  auto cluster_port = free_loopback_port();
  auto client_port = free_loopback_port();
  if (!cluster_port) return cluster_port.error();
  if (!client_port) return client_port.error();
  node_setup n;
  n.client_endpoint = "tcp://127.0.0.1:" + std::to_string(*client_port);
  n.ctx_size = a.prompt_tokens + a.tokens + 64;  // the prompt may tokenize a few tokens longer
  n.parallel = *std::max_element(a.streams.begin(), a.streams.end());
  std::error_code ec;
  const std::string model = a.model.rfind("ollama:", 0) == 0 ? a.model : fs::absolute(a.model, ec).string();
  std::ostringstream os;
  os << "[cluster]\nname = \"bench\"\n\n[[node]]\nname = \"" << bench_node << "\"\n"
     << "cluster_endpoint = \"tcp://127.0.0.1:" << *cluster_port << "\"\n"
     << "client_endpoint = " << toml_string(n.client_endpoint) << "\n"
     << (journal ? "roles = [\"router\", \"shard\", \"store\"]\n" : "roles = [\"router\", \"shard\"]\n")
     << "engine_threads = " << a.threads << "\n"
     << "data_dir = " << toml_string((dir / "data").string()) << "\n\n"
     << "[[model]]\nname = \"" << bench_model << "\"\npath = " << toml_string(model) << "\n"
     << "context_length = " << n.ctx_size << "\nparallel = " << n.parallel << "\n\n"
     << "[[placement]]\nmodel = \"" << bench_model << "\"\nnodes = [\"" << bench_node << "\"]\n\n"
     << "[routing]\nmax_tokens = " << a.tokens << "\nmax_prompt_tokens = " << n.ctx_size
     << "\nmax_concurrent_per_client = " << std::max(16, n.parallel)
     << "\nmax_pending_requests = " << std::max(256, 2 * n.parallel) << "\n";
  if (journal) os << "\n[persistence]\nbackend = \"sqlite\"\n";
  n.config_path = (dir / "node.toml").string();
  std::ofstream out(n.config_path);
  out << os.str();
  if (!out.flush()) return status::unavailable("cannot write " + n.config_path);
  return n;
}

// Waits until the node's `models` lists a ready replica of the bench model.
status wait_ready(holo::client& c, node_process& node) {
  const auto deadline = clock_type::now() + node_ready_timeout;
  while (clock_type::now() < deadline) {
    if (!node.running())
      return status::unavailable("holo node exited with code " + std::to_string(node.exit_code().value_or(-1)));
    if (auto ms = c.models(std::chrono::milliseconds(500)))
      for (const auto& m : *ms)
        for (const auto& r : m.replicas)
          if (m.name == bench_model && r.state == "ready") return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return status::deadline_exceeded("holo node did not report the model ready in " +
                                   std::to_string(node_ready_timeout.count()) + " s");
}

// ---- one measured generation ----

struct run_figures {
  double ttft_ms = 0;
  double tokens_per_second = 0;
  double node_ttft_ms = 0;  // served: the node's own accepted -> first token (done.timings)
  double node_engine_tps = 0;  // served: the shard's engine speed for this very request (done.timings.decode_ms)
  double node_prefill_ms = 0;  // served: the shard's engine time to the first token (done.timings.prefill_ms)
  std::int64_t prompt_tokens = 0;
  std::int64_t events = 0;  // token events (engine: callbacks)
  std::vector<std::int32_t> tokens;
};

// Words cycled until the prompt tokenizes to at least `n` tokens (BOS included, as the shard
// tokenizes it); the fewest such words.
std::string make_prompt(const gpu::tokenizer& vocab, std::int32_t n) {
  static constexpr const char* words[] = {"the", "quick", "brown", "fox", "jumps", "over", "a", "lazy",
                                          "dog", "while", "one", "distant", "bell", "rings", "twice"};
  auto text = [](int n_words) {
    std::string s;
    for (int i = 0; i < n_words; ++i) (s += i ? " " : "") += words[i % std::size(words)];
    return s;
  };
  auto enough = [&](int w) { return std::int64_t(vocab.encode(text(w), true, false).size()) >= n; };
  int lo = 1, hi = 1;
  while (!enough(hi) && hi < (1 << 22)) hi *= 2;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (enough(mid)) hi = mid;
    else lo = mid + 1;
  }
  return text(lo);
}

result<run_figures> engine_once(gpu::session& s, const std::string& prompt, const gpu::generation_options& o) {
  s.reset();
  run_figures f;
  const auto t0 = clock_type::now();
  auto first = t0;
  const auto ids = s.owner().vocab().encode(prompt, true, false);  // as the shard does, so timed too
  auto r = gpu::generate(s, ids, o, [&](const gpu::generated_token& t) {
    if (t.id < 0) return true;  // held-back text at the end, no token
    if (f.tokens.empty()) first = clock_type::now();
    f.tokens.push_back(t.id);
    return true;
  });
  const auto end = clock_type::now();
  if (!r) return r.error();
  if (f.tokens.empty()) return status::failed_precondition("the engine generated no token (try other --prompt-tokens)");
  f.ttft_ms = ms_between(t0, first);
  f.tokens_per_second = gen_rate(f.tokens.size(), 1, first, end);
  f.prompt_tokens = std::int64_t(ids.size());
  return f;
}

result<run_figures> served_once(holo::client& c, const proto::generate_request& req) {
  run_figures f;
  const auto t0 = clock_type::now();
  auto first = t0;
  std::size_t first_event_tokens = 0;
  auto done = c.generate(
      req,
      [&](const proto::token_event& e) {
        if (f.tokens.empty()) first = clock_type::now(), first_event_tokens = e.tokens.size();
        ++f.events;
        f.tokens.insert(f.tokens.end(), e.tokens.begin(), e.tokens.end());
        return true;
      },
      request_idle_timeout);
  const auto end = clock_type::now();
  if (!done) return done.error();
  if (f.tokens.empty()) return status::failed_precondition("the node generated no token (reason " + done->reason + ")");
  f.ttft_ms = ms_between(t0, first);
  f.tokens_per_second = gen_rate(f.tokens.size(), first_event_tokens, first, end);
  f.node_ttft_ms = done->timings.ttft_ms;
  f.node_prefill_ms = done->timings.prefill_ms;
  if (done->timings.decode_ms > 0 && f.tokens.size() > 1)
    f.node_engine_tps = double(f.tokens.size() - 1) * 1000.0 / done->timings.decode_ms;
  f.prompt_tokens = done->prompt_tokens;
  return f;
}

struct streams_figures {
  double aggregate_tokens_per_second = 0;  // every stream's tokens / wall time, first send to last done
  double stream_tokens_per_second_p50 = 0;
  double ttft_ms_p50 = 0;
};

// `k` generations at once, one client and one thread each (the threads only wait on their socket).
result<streams_figures> streams_once(std::vector<std::unique_ptr<holo::client>>& clients, std::size_t k,
                                     proto::generate_request req, std::uint64_t& next_id) {
  std::vector<proto::generate_request> reqs(k, req);
  for (auto& r : reqs) r.id = req.id + "-" + std::to_string(next_id++);
  std::vector<result<run_figures>> out(k, status::internal("not run"));
  std::vector<std::thread> threads;
  const auto t0 = clock_type::now();
  for (std::size_t i = 0; i < k; ++i) threads.emplace_back([&, i] { out[i] = served_once(*clients[i], reqs[i]); });
  for (auto& t : threads) t.join();
  const double wall_s = ms_between(t0, clock_type::now()) / 1000.0;
  std::vector<double> ttft, rate;
  std::size_t tokens = 0;
  for (auto& o : out) {
    if (!o) return o.error();
    ttft.push_back(o->ttft_ms);
    rate.push_back(o->tokens_per_second);
    tokens += o->tokens.size();
  }
  return streams_figures{wall_s > 0 ? double(tokens) / wall_s : 0, median(rate), median(ttft)};
}

// ---- the whole bench ----

struct serve_report {
  std::string model_line;
  std::string endpoint;
  double ready_s = 0;
  std::int64_t prompt_tokens = 0, served_prompt_tokens = 0;
  std::int64_t generated = 0, served_generated = 0;
  bool same_tokens = true;
  double engine_tps = 0, engine_ttft_ms = 0;
  double served_tps = 0, served_ttft_ms = 0, node_ttft_ms = 0;
  // The same request's engine speed inside the node (its shard's decode time) and the overhead of
  // serving against it, per repetition then the median: both sides in one process, so the
  // process-wide speed swings of a shared machine cancel out (docs/benchmarks.md "Serving").
  double node_engine_tps = 0, node_overhead_percent = 0;
  double node_added_ttft_ms = 0;  // served TTFT - the shard's own prefill time, per repetition (median)
  double tokens_per_event = 0;  // served, 1 stream: above 1 when the client fell behind the shard
  std::vector<std::pair<int, streams_figures>> streams;  // by stream count, medians over reps
  // --journal: served tokens/s without and with the request journal (medians), 1 stream and
  // journal_streams at once (aggregate)
  bool journal = false;
  int journal_streams = 0;
  double journal_off_tps = 0, journal_on_tps = 0, journal_off_agg = 0, journal_on_agg = 0;
  std::int64_t journal_rows = 0;  // rows the journaling node's store committed (its stats)
  static double cost(double off, double on) { return off > 0 ? 100.0 * (off - on) / off : 0; }

  double overhead_percent() const { return engine_tps > 0 ? 100.0 * (engine_tps - served_tps) / engine_tps : 0; }
  double added_ttft_ms() const { return served_ttft_ms - engine_ttft_ms; }
};

struct bench_rig {
  std::shared_ptr<gpu::model> model;
  std::unique_ptr<gpu::session> session;
  gpu::generation_options engine_options;
  proto::generate_request request;  // id: a prefix; each run appends a number
  std::vector<std::unique_ptr<holo::client>> clients;  // one per stream, connected by the warm-up
  std::uint64_t next_id = 0;
};

proto::generate_request next_request(bench_rig& rig) {
  auto r = rig.request;
  r.id += "-" + std::to_string(rig.next_id++);
  return r;
}

// Engine alone then served, one each per repetition (after a warm-up of both), so both see the
// same background load; medians.
status measure_single(bench_rig& rig, int reps, serve_report& rep) {
  std::vector<double> etps, ettft, stps, sttft, nttft, ntps, nover, nadd;
  for (int r = -1; r < reps; ++r) {  // r == -1: the warm-up
    auto e = engine_once(*rig.session, *rig.request.prompt, rig.engine_options);
    if (!e) return e.error().with_context("engine alone");
    auto s = served_once(*rig.clients.front(), next_request(rig));
    if (!s) return s.error().with_context("served");
    if (r < 0) continue;
    etps.push_back(e->tokens_per_second), ettft.push_back(e->ttft_ms);
    stps.push_back(s->tokens_per_second), sttft.push_back(s->ttft_ms), nttft.push_back(s->node_ttft_ms);
    if (s->node_engine_tps > 0) {
      ntps.push_back(s->node_engine_tps);
      nover.push_back(100.0 * (s->node_engine_tps - s->tokens_per_second) / s->node_engine_tps);
    }
    if (s->node_prefill_ms > 0) nadd.push_back(s->ttft_ms - s->node_prefill_ms);
    rep.same_tokens = rep.same_tokens && e->tokens == s->tokens;
    rep.tokens_per_event = double(s->tokens.size()) / double(std::max<std::int64_t>(s->events, 1));
    rep.prompt_tokens = e->prompt_tokens, rep.served_prompt_tokens = s->prompt_tokens;
    rep.generated = std::int64_t(e->tokens.size()), rep.served_generated = std::int64_t(s->tokens.size());
  }
  rep.engine_tps = median(etps), rep.engine_ttft_ms = median(ettft);
  rep.served_tps = median(stps), rep.served_ttft_ms = median(sttft), rep.node_ttft_ms = median(nttft);
  if (!ntps.empty()) rep.node_engine_tps = median(ntps), rep.node_overhead_percent = median(nover);
  if (!nadd.empty()) rep.node_added_ttft_ms = median(nadd);
  return {};
}

status measure_streams(bench_rig& rig, const std::vector<int>& counts, int reps, serve_report& rep) {
  for (int k : counts) {
    std::vector<double> agg, rate, ttft;
    for (int r = 0; r < reps; ++r) {
      auto f = streams_once(rig.clients, std::size_t(k), rig.request, rig.next_id);
      if (!f) return f.error().with_context(std::to_string(k) + " streams");
      agg.push_back(f->aggregate_tokens_per_second);
      rate.push_back(f->stream_tokens_per_second_p50);
      ttft.push_back(f->ttft_ms_p50);
    }
    rep.streams.push_back({k, streams_figures{median(agg), median(rate), median(ttft)}});
  }
  return {};
}

// The journal's cost: the same request on the node without and the node with the journal,
// alternating (which goes first alternates too), so both see the same machine; medians.
status measure_journal(bench_rig& off, bench_rig& on, int k, int reps, serve_report& rep) {
  std::vector<double> off_tps, on_tps, off_agg, on_agg;
  for (int r = -1; r < 2 * reps; ++r) {  // r == -1: the journaling node's warm-up
    for (int side = 0; side < 2; ++side) {
      const bool journal_side = (side == 0) == (r % 2 == 0);
      auto& rig = journal_side ? on : off;
      auto s = served_once(*rig.clients.front(), next_request(rig));
      if (!s) return s.error().with_context(journal_side ? "journal on" : "journal off");
      auto f = streams_once(rig.clients, std::size_t(k), rig.request, rig.next_id);
      if (!f) return f.error().with_context(journal_side ? "journal on, streams" : "journal off, streams");
      if (r < 0) continue;
      (journal_side ? on_tps : off_tps).push_back(s->tokens_per_second);
      (journal_side ? on_agg : off_agg).push_back(f->aggregate_tokens_per_second);
    }
  }
  rep.journal = true;
  rep.journal_streams = k;
  rep.journal_off_tps = median(off_tps), rep.journal_on_tps = median(on_tps);
  rep.journal_off_agg = median(off_agg), rep.journal_on_agg = median(on_agg);
  return {};
}

// Loads the engine here, connects one client per stream once the node is ready, warms every
// client and the node's sessions up with one round at the most streams.
status prepare_rig(const serve_bench_args& a, const node_setup& n, node_process& node,
                   clock_type::time_point node_started, bench_rig& rig, serve_report& rep) {
  gpu::load_options lo;
  lo.threads = a.threads;
  lo.ctx_size = n.ctx_size;  // as the node's context_length; batch_max the default, as the shard's
  auto m = gpu::model::load(a.model, lo);
  if (!m) return m.error().with_context("cannot load " + a.model);
  rig.model = *m;
  auto s = gpu::session::create(rig.model);
  if (!s) return s.error();
  rig.session = std::move(*s);
  const auto& c = rig.model->config();
  rep.model_line = rig.model->path() + " (" + std::string(gpu::to_string(c.arch)) + ", " + std::to_string(c.n_layer) +
                   " layers, n_embd " + std::to_string(c.n_embd) + ", vocab " + std::to_string(c.n_vocab) + ")";
  rig.engine_options.sampling.temperature = 0;  // greedy: the served tokens must be the same
  rig.engine_options.sampling.max_tokens = a.tokens;
  rig.request.id = "bench-" + std::to_string(::getpid());
  rig.request.model = bench_model;
  rig.request.prompt = make_prompt(rig.model->vocab(), a.prompt_tokens);
  rig.request.options.temperature = 0.0;
  rig.request.options.max_tokens = a.tokens;

  for (int i = 0; i < n.parallel; ++i) rig.clients.push_back(std::make_unique<holo::client>(n.client_endpoint));
  HOLO_TRY(wait_ready(*rig.clients.front(), node));
  rep.ready_s = ms_between(node_started, clock_type::now()) / 1000.0;
  auto w = streams_once(rig.clients, rig.clients.size(), rig.request, rig.next_id);
  if (!w) return w.error().with_context("warm-up");
  return {};
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') (out += '\\') += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

void print_json(const serve_bench_args& a, const serve_report& r) {
  std::printf("{\"model\": %s, \"threads\": %d, \"prompt_tokens\": %lld, \"max_tokens\": %d, \"reps\": %d,\n",
              json_string(r.model_line).c_str(), a.threads, static_cast<long long>(r.prompt_tokens), a.tokens, a.reps);
  std::printf(" \"engine\": {\"tokens_per_second\": %.3f, \"ttft_ms\": %.3f, \"generated_tokens\": %lld},\n",
              r.engine_tps, r.engine_ttft_ms, static_cast<long long>(r.generated));
  std::printf(" \"served\": {\"tokens_per_second\": %.3f, \"ttft_ms\": %.3f, \"node_ttft_ms\": %.3f, "
              "\"generated_tokens\": %lld, \"tokens_per_event\": %.3f, \"same_tokens\": %s},\n",
              r.served_tps, r.served_ttft_ms, r.node_ttft_ms, static_cast<long long>(r.served_generated), r.tokens_per_event,
              r.same_tokens ? "true" : "false");
  std::printf(" \"node_engine_tokens_per_second\": %.3f, \"node_overhead_percent\": %.3f, \"node_added_ttft_ms\": %.3f,\n",
              r.node_engine_tps, r.node_overhead_percent, r.node_added_ttft_ms);
  std::printf(" \"overhead_percent\": %.3f, \"added_ttft_ms\": %.3f, \"overhead_percent_target\": %.1f, "
              "\"added_ttft_ms_target\": %.1f, \"targets_met\": %s,\n",
              r.overhead_percent(), r.added_ttft_ms(), overhead_percent_target, added_ttft_ms_target,
              r.overhead_percent() < overhead_percent_target && r.added_ttft_ms() < added_ttft_ms_target ? "true" : "false");
  std::printf(" \"streams\": [");
  for (std::size_t i = 0; i < r.streams.size(); ++i) {
    const auto& [k, f] = r.streams[i];
    std::printf("%s\n  {\"streams\": %d, \"aggregate_tokens_per_second\": %.3f, \"stream_tokens_per_second_p50\": %.3f, "
                "\"ttft_ms_p50\": %.3f}",
                i ? "," : "", k, f.aggregate_tokens_per_second, f.stream_tokens_per_second_p50, f.ttft_ms_p50);
  }
  std::printf("]");
  if (r.journal)
    std::printf(",\n \"journal\": {\"off_tokens_per_second\": %.3f, \"on_tokens_per_second\": %.3f, \"cost_percent\": %.3f, "
                "\"streams\": %d, \"off_aggregate_tokens_per_second\": %.3f, \"on_aggregate_tokens_per_second\": %.3f, "
                "\"aggregate_cost_percent\": %.3f, \"rows\": %lld, \"cost_percent_target\": %.1f}",
                r.journal_off_tps, r.journal_on_tps, serve_report::cost(r.journal_off_tps, r.journal_on_tps),
                r.journal_streams, r.journal_off_agg, r.journal_on_agg, serve_report::cost(r.journal_off_agg, r.journal_on_agg),
                static_cast<long long>(r.journal_rows), journal_cost_percent_target);
  std::printf("}\n");
}

void print_table(const serve_bench_args& a, const serve_report& r) {
  std::printf("model      %s\n", r.model_line.c_str());
  std::printf("setup      %d engine thread%s in each process; prompt %lld tokens, %d generated at most, greedy; "
              "median of %d reps after a warm-up\n",
              a.threads, a.threads == 1 ? "" : "s", static_cast<long long>(r.prompt_tokens), a.tokens, a.reps);
  std::printf("node       holo node (router + shard) on %s, model ready %.2f s after its start\n\n", r.endpoint.c_str(),
              r.ready_s);
  std::printf("%-22s %10s %10s %14s\n", "", "tokens/s", "ttft ms", "node ttft ms");
  std::printf("%-22s %10.1f %10.2f\n", "engine alone", r.engine_tps, r.engine_ttft_ms);
  std::printf("%-22s %10.1f %10.2f %14.2f   %.2f tokens per event\n", "served, 1 stream", r.served_tps,
              r.served_ttft_ms, r.node_ttft_ms, r.tokens_per_event);
  const bool tps_ok = r.overhead_percent() < overhead_percent_target;
  const bool ttft_ok = r.added_ttft_ms() < added_ttft_ms_target;
  std::printf("%-22s %8.2f %% %+8.2f ms    targets < %.0f %%: %s, < %.0f ms: %s\n", "overhead", r.overhead_percent(),
              r.added_ttft_ms(), overhead_percent_target, tps_ok ? "met" : "MISSED", added_ttft_ms_target,
              ttft_ok ? "met" : "MISSED");
  if (r.node_engine_tps > 0)
    std::printf("%-22s %10.1f %10s %14s   served vs it: %.2f %%, %+.2f ms ttft (targets < %.0f %%: %s, < %.0f ms: %s)\n",
                "node's own engine", r.node_engine_tps, "", "", r.node_overhead_percent, r.node_added_ttft_ms,
                overhead_percent_target, r.node_overhead_percent < overhead_percent_target ? "met" : "MISSED",
                added_ttft_ms_target, r.node_added_ttft_ms < added_ttft_ms_target ? "met" : "MISSED");
  if (r.overhead_percent() < -overhead_percent_target)
    std::printf("note       served beat the engine alone: the machine's speed moved during the run; rerun it\n");
  if (!r.same_tokens || r.generated != r.served_generated || r.prompt_tokens != r.served_prompt_tokens)
    std::printf("warning    served and engine differ: %lld vs %lld prompt tokens, %lld vs %lld generated%s\n",
                static_cast<long long>(r.served_prompt_tokens), static_cast<long long>(r.prompt_tokens),
                static_cast<long long>(r.served_generated), static_cast<long long>(r.generated),
                r.same_tokens ? "" : ", other token ids");
  std::printf("\n%-8s %20s %22s %14s\n", "streams", "aggregate tokens/s", "per-stream tokens/s", "ttft ms p50");
  for (const auto& [k, f] : r.streams)
    std::printf("%-8d %20.1f %22.1f %14.2f\n", k, f.aggregate_tokens_per_second, f.stream_tokens_per_second_p50,
                f.ttft_ms_p50);
  if (!r.journal) return;
  std::printf("\n%-26s %12s %12s %10s   (SQLite, default cadence; %lld journal rows)\n", "journal", "off tok/s",
              "on tok/s", "cost", static_cast<long long>(r.journal_rows));
  const double c1 = serve_report::cost(r.journal_off_tps, r.journal_on_tps);
  const double ck = serve_report::cost(r.journal_off_agg, r.journal_on_agg);
  std::printf("%-26s %12.1f %12.1f %8.2f %%   target < %.0f %%: %s\n", "journal, 1 stream", r.journal_off_tps,
              r.journal_on_tps, c1, journal_cost_percent_target, c1 < journal_cost_percent_target ? "met" : "MISSED");
  std::printf("%-26s %12.1f %12.1f %8.2f %%\n", ("journal, " + std::to_string(r.journal_streams) + " streams").c_str(),
              r.journal_off_agg, r.journal_on_agg, ck);
}

status check_args(const serve_bench_args& a) {
  if (a.threads < 1 || a.reps < 1 || a.tokens < 2 || a.tokens > tokens_max || a.prompt_tokens < 1 ||
      a.prompt_tokens > tokens_max)
    return status::invalid_argument("need --threads >= 1, --reps >= 1, --tokens in [2, " + std::to_string(tokens_max) +
                                    "] and --prompt-tokens in [1, " + std::to_string(tokens_max) + "]");
  if (a.streams.empty()) return status::invalid_argument("--streams needs at least one count");
  for (int k : a.streams)
    if (k < 1 || k > streams_max)
      return status::invalid_argument("--streams counts must be in [1, " + std::to_string(streams_max) + "]");
  return {};
}

// The node starts first (before this process has threads to fork beside) and loads while we do.
status run_with_node(const serve_bench_args& a, const fs::path& dir, node_process& node, node_process& journal_node,
                     serve_report& rep) {
  auto n = write_node_config(a, dir);
  if (!n) return n.error();
  rep.endpoint = n->client_endpoint;
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  const std::string exe = ec ? std::string("/proc/self/exe") : self.string();
  const auto started = clock_type::now();
  HOLO_TRY(node.start({exe, "node", "--config", n->config_path, "--name", bench_node, "--shutdown-timeout", "5"},
                      (dir / "node.log").string()));
  // --journal: the second node, also started before this process has threads.
  const fs::path jdir = dir / "journal";
  std::optional<node_setup> jn;
  if (a.journal) {
    fs::create_directories(jdir, ec);
    auto j = write_node_config(a, jdir, true);
    if (!j) return j.error();
    jn = *j;
    HOLO_TRY(journal_node.start({exe, "node", "--config", j->config_path, "--name", bench_node, "--shutdown-timeout", "5"},
                                (jdir / "node.log").string()));
  }
  bench_rig rig;
  HOLO_TRY(prepare_rig(a, *n, node, started, rig, rep));
  HOLO_TRY(measure_single(rig, a.reps, rep));
  HOLO_TRY(measure_streams(rig, a.streams, a.reps, rep));
  if (!jn) return {};
  bench_rig jrig;
  jrig.request = rig.request;
  jrig.request.id += "-journal";
  for (int i = 0; i < jn->parallel; ++i) jrig.clients.push_back(std::make_unique<holo::client>(jn->client_endpoint));
  HOLO_TRY(wait_ready(*jrig.clients.front(), journal_node).with_context("journaling node"));
  HOLO_TRY(measure_journal(rig, jrig, jn->parallel, a.reps, rep));
  // Proof that it journaled: the rows its store committed (read beside the running node; WAL).
  persist::store_options so;
  so.sqlite_path = (jdir / "data" / "holo.sqlite").string();
  if (auto db = persist::open_store(so); db.ok())
    if (auto c = (*db)->counts(); c.ok()) rep.journal_rows = c->journal;
  return {};
}

int run_serve(const serve_bench_args& a) {
  if (auto s = check_args(a); !s) {
    std::cerr << "holo bench serve: " << s.message() << "\n";
    return 2;
  }
  scratch_dir dir;  // outlives the node
  if (auto s = dir.create("holo-bench-serve"); !s) {
    std::cerr << "holo bench serve: " << s.to_string() << "\n";
    return 1;
  }
  node_process node, journal_node;
  serve_report rep;
  const status s = run_with_node(a, dir.path, node, journal_node, rep);
  journal_node.stop();
  const bool was_running = node.running();
  const auto code = node.stop();
  if (!s) {
    std::cerr << "holo bench serve: " << s.to_string() << "\n";
    if (!was_running && code) std::cerr << "holo bench serve: holo node had exited with code " << *code << "\n";
    const auto tail = node.log_tail(log_tail_lines);
    if (!tail.empty()) std::cerr << "holo node log (last lines):\n" << tail;
    return 1;
  }
  if (was_running && code && *code != 0)
    std::cerr << "holo bench serve: warning: holo node stopped with exit code " << *code << "\n";
  if (a.json) print_json(a, rep);
  else print_table(a, rep);
  return 0;
}

}  // namespace

void add_bench_serve(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children) {
  auto a = std::make_shared<serve_bench_args>();
  auto* sub = bench.add_subcommand("serve", "End-to-end tokens/s and time to first token through a node vs the engine");
  sub->footer(
      "Starts `holo node` (router + shard) on free 127.0.0.1 ports as a child process and loads the same\n"
      "model here; engine alone and served (client -> router -> shard over ZeroMQ) run back to back.\n"
      "Targets: served throughput within 3% of the engine's, time to first token at most 5 ms more.\n"
      "Example: holo bench serve model.gguf --threads 1 --tokens 128 --streams 1,4,16 --reps 3");
  sub->add_option("model", a->model, "GGUF file or ollama:NAME[:TAG]")->required();
  sub->add_option("-t,--threads", a->threads, "Engine threads, here and in the node")->capture_default_str();
  sub->add_option("-n,--tokens", a->tokens, "Tokens generated per request (greedy; fewer if EOG comes first)")
      ->capture_default_str();
  sub->add_option("--prompt-tokens", a->prompt_tokens, "Prompt length in tokens (BOS included; at least this)")
      ->capture_default_str();
  sub->add_option("--streams", a->streams, "Concurrent stream counts for the aggregate figures")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("-r,--reps", a->reps, "Repetitions of every measurement (after one warm-up)")->capture_default_str();
  sub->add_flag("--json", a->json, "Print one JSON object instead of the table");
  sub->add_flag("--journal", a->journal,
                "Also run a node with the request journal on (store role, SQLite, default checkpoint cadence) and "
                "measure served tokens/s with the journal off and on, alternating");
  children.emplace_back(sub, [a] { return run_serve(*a); });
}

}  // namespace holo::cli
