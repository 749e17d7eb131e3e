// holo bench engine MODEL [--threads N] [--pp 512] [--tg 128] [--reps 3] [--kernels] [--compare-llamacpp]
// Measures like llama-bench: prompt processing (ppN: N prompt tokens in one batch, tokens/s)
// and generation (tgN: N single-token decodes from an empty context, tokens/s), mean +- stddev over
// repetitions after one warm-up, then peak RSS against file size + KV cache, and the decode bandwidth
// ratio (weight bytes read per token x tg tokens/s) / memory bandwidth probed in the same run.
// Built into both `holo` and the lean `holo-engine` (engine_main.cpp), which `holo` runs it in so
// the peak RSS is the engine's, not the cluster libraries'.
// Exit codes: 0 ok, 1 failure (model, harness), 2 usage error.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "gpu/cpu/kernel_bench.hpp"
#include "gpu/cuda/cuda_backend.hpp"
#include "gpu/engine.hpp"
#include "gpu/json_lite.hpp"
#include "runtime/cli/commands.hpp"

namespace holo::cli {

namespace {

namespace fs = std::filesystem;

struct engine_bench_args {
  std::string model;
  int threads = 0;
  std::int32_t pp = 512;
  std::int32_t tg = 128;
  int reps = 3;
  std::string backend = "cpu";
  bool kernels = false;
  bool compare_llamacpp = false;
  int rounds = 1;  // --compare-llamacpp: holo and llama.cpp alternated this many times
  std::string llamacpp_dir;  // default: test/llamacpp found from the cwd or the executable
};

struct stats {
  double mean = 0, stddev = 0;
};

stats summarize(const std::vector<double>& v) {
  stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / double(v.size() - 1));
  }
  return s;
}

// Peak resident set (VmHWM) of this process in bytes; 0 when /proc is unavailable.
std::uint64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  }
  return 0;
}

// The synthetic prompt ids test/llamacpp/generate.mjs and bench.mjs use: cycling over the
// vocabulary past the first (special) ids.
std::vector<std::int32_t> synthetic_ids(std::int32_t n, std::int32_t n_vocab) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  const std::int64_t span = std::max<std::int64_t>(1, n_vocab - 300);
  for (std::int32_t i = 0; i < n; ++i) ids[std::size_t(i)] = static_cast<std::int32_t>(300 + (std::int64_t(i) * 7919) % span);
  return ids;
}

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct engine_figures {
  stats pp_tok_s, tg_tok_s;
};

// pp: one prefill of `ids`; tg: `tg` decodes of one token from position 0. Both after a warm-up.
result<engine_figures> measure(gpu::session& s, const std::vector<std::int32_t>& ids, std::int32_t tg, int reps) {
  std::vector<double> pp, gen;
  s.reset();
  // Warm-up (with --pp 0 there are no prompt ids: one stand-in token).
  const std::vector<std::int32_t> warm = ids.empty() ? std::vector<std::int32_t>{300} : ids;
  if (auto w = s.prefill(std::span(warm.data(), std::min<std::size_t>(warm.size(), 8))); !w) return w.error();
  if (auto w = s.decode(warm[0]); !w) return w.error();
  for (int r = 0; r < reps; ++r) {
    if (!ids.empty()) {
      s.reset();
      const auto t0 = clock_type::now();
      if (auto l = s.prefill(ids); !l) return l.error();
      pp.push_back(double(ids.size()) / seconds_since(t0));
    }
    if (tg > 0) {
      s.reset();
      const auto t0 = clock_type::now();
      for (std::int32_t i = 0; i < tg; ++i) {
        if (auto l = s.decode(ids.empty() ? 300 : ids[std::size_t(i) % ids.size()]); !l) return l.error();
      }
      gen.push_back(double(tg) / seconds_since(t0));
    }
  }
  return engine_figures{summarize(pp), summarize(gen)};
}

std::string find_llamacpp_dir(const std::string& given) {
  if (!given.empty()) return given;
  std::error_code ec;
  std::vector<fs::path> candidates = {fs::current_path(ec) / "test" / "llamacpp"};
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {  // build/bin/holo -> the source tree two or three levels up
    candidates.push_back(exe.parent_path().parent_path().parent_path() / "test" / "llamacpp");
    candidates.push_back(exe.parent_path().parent_path().parent_path().parent_path() / "test" / "llamacpp");
  }
  for (const auto& c : candidates)
    if (fs::exists(c / "bench.mjs", ec)) return c.string();
  return candidates.front().string();
}

struct llamacpp_figures {
  stats pp_tok_s, tg_tok_s;
  std::string version;
};

// Runs test/llamacpp/bench.mjs on the same file with the same threads, pp, tg and reps.
result<llamacpp_figures> run_llamacpp(const engine_bench_args& a, const std::string& model_path) {
  const fs::path dir = find_llamacpp_dir(a.llamacpp_dir);
  if (!fs::exists(dir / "node_modules" / "node-llama-cpp")) {
    return status::failed_precondition("the llama.cpp harness is not installed in " + dir.string() + ": run " +
                                       (dir / "setup.sh").string() + " (or give --llamacpp-dir)");
  }
  const std::string cmd = "node '" + (dir / "bench.mjs").string() + "' '" + model_path + "' --threads " +
                          std::to_string(a.threads) + " --pp " + std::to_string(a.pp) + " --tg " + std::to_string(a.tg) +
                          " --reps " + std::to_string(a.reps);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return status::unavailable("cannot run " + cmd);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (::pclose(p) != 0) return status::internal("llama.cpp harness failed: " + cmd);
  auto doc = gpu::parse_json(out);
  if (!doc) return status::internal("bench.mjs printed no JSON: " + out);
  auto num = [&](const char* key) {
    const gpu::json_value* v = doc->find(key);
    return v && v->type() == gpu::json_value::kind::number ? v->as_double() : 0.0;
  };
  llamacpp_figures f;
  f.pp_tok_s = {num("pp_tok_s_mean"), num("pp_tok_s_stddev")};
  f.tg_tok_s = {num("tg_tok_s_mean"), num("tg_tok_s_stddev")};
  if (const auto* v = doc->find("llama_cpp"); v && v->type() == gpu::json_value::kind::string) f.version = v->as_string();
  return f;
}

double mib(std::uint64_t bytes) { return double(bytes) / double(1 << 20); }

void print_row(const char* who, const char* test, const stats& s) {
  std::printf("%-10s %-8s %10.2f +- %-8.2f tokens/s\n", who, test, s.mean, s.stddev);
}

int run_engine(engine_bench_args a) {
  if (a.threads <= 0) a.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (a.pp < 0 || a.tg < 0 || a.reps < 1 || a.pp + a.tg == 0) {
    std::cerr << "holo bench engine: need --pp >= 0, --tg >= 0 (not both 0) and --reps >= 1\n";
    return 2;
  }
  gpu::load_options lo;
  lo.threads = a.threads;
  lo.backend = a.backend;
  lo.ctx_size = std::max(a.pp, a.tg) + 16;
  lo.batch_max = std::max<std::int32_t>(a.pp, 1);  // ppN is one batch, as llama-bench's -b >= -p
  auto m = gpu::model::load(a.model, lo);
  if (!m) {
    std::cerr << "holo bench engine: cannot load " << a.model << ": " << m.error().to_string() << "\n";
    return 1;
  }
  auto s = gpu::session::create(*m);
  if (!s) {
    std::cerr << "holo bench engine: " << s.error().to_string() << "\n";
    return 1;
  }
  const auto& c = (*m)->config();
  std::printf("model      %s (%s, %d layers, n_embd %d, vocab %d)\n", (*m)->path().c_str(),
              std::string(gpu::to_string(c.arch)).c_str(), c.n_layer, c.n_embd, c.n_vocab);
  std::string backends;
  for (const auto& st : (*m)->stages()) backends += (backends.empty() ? "" : " -> ") + std::string(st.compute->name());
  std::printf("backend    %s, %d threads; pp%d tg%d, %d reps after a warm-up\n", backends.c_str(),
              (*m)->compute().thread_count(), a.pp, a.tg, a.reps);
  std::fflush(stdout);
  auto fig = measure(**s, synthetic_ids(a.pp, c.n_vocab), a.tg, a.reps);
  if (!fig) {
    std::cerr << "holo bench engine: " << fig.error().to_string() << "\n";
    return 1;
  }
  const std::uint64_t rss = peak_rss_bytes();  // before the probe's buffer
  if (a.pp > 0) print_row("holo", ("pp" + std::to_string(a.pp)).c_str(), fig->pp_tok_s);
  if (a.tg > 0) print_row("holo", ("tg" + std::to_string(a.tg)).c_str(), fig->tg_tok_s);
  std::printf("memory     peak RSS %.1f MiB; file %.1f MiB + KV cache %.1f MiB (ctx %d) = %.1f MiB\n", mib(rss),
              mib((*m)->file_bytes()), mib((*m)->kv_cache_bytes()), (*m)->ctx_size(),
              mib((*m)->file_bytes() + (*m)->kv_cache_bytes()));

  // The bound decode is held against: the memory bandwidth measured now on the same hardware (a
  // streaming read on the CPU; a device-to-device copy on a GPU, bytes read + written).
  double bw = 0;
  const char* probe_kind = "CPU streaming read";
  if ((*m)->compute().device_memory()) {
    probe_kind = "device-to-device copy";
    const std::string dev = (*m)->options_backend();
    const int index = dev.rfind("cuda:", 0) == 0 ? std::atoi(dev.c_str() + 5) : 0;
    if (auto b = gpu::cuda_copy_bandwidth(index); b.ok()) bw = *b;
    else std::cerr << "holo bench engine: bandwidth probe: " << b.error().to_string() << "\n";
  } else {
    gpu::cpu::kernel_bench_config kc;
    kc.thread_counts = {a.threads};
    kc.types = {};
    const auto probe = gpu::cpu::run_kernel_bench(kc);
    bw = probe.empty() ? 0 : probe.front().gb_per_second * 1e9;
  }
  const double read_per_s = double((*m)->decode_weight_bytes()) * fig->tg_tok_s.mean;
  std::printf("bandwidth  decode reads %.1f MiB of weights per token; %.2f GB/s at tg vs %.2f GB/s %s: ratio %.2f\n",
              mib((*m)->decode_weight_bytes()), read_per_s / 1e9, bw / 1e9, probe_kind, bw > 0 ? read_per_s / bw : 0.0);

  int rc = 0;
  if (a.compare_llamacpp) {
    // Alternated rounds: this host's speed drifts by tens of percent over minutes, so each
    // llama.cpp run is paired with the holo run just before it, and the per-round ratios are the
    // figure to trust (their median is printed).
    std::vector<double> holo_pp, holo_tg, ll_pp, ll_tg, ratio_pp, ratio_tg;
    llamacpp_figures last;
    for (int r = 0; r < a.rounds && rc == 0; ++r) {
      if (r > 0) {
        fig = measure(**s, synthetic_ids(a.pp, c.n_vocab), a.tg, a.reps);
        if (!fig) {
          std::cerr << "holo bench engine: " << fig.error().to_string() << "\n";
          return 1;
        }
      }
      std::fflush(stdout);
      auto l = run_llamacpp(a, (*m)->path());
      if (!l) {
        std::cerr << "holo bench engine: --compare-llamacpp: " << l.error().to_string() << "\n";
        rc = 1;
        break;
      }
      last = *l;
      holo_pp.push_back(fig->pp_tok_s.mean), holo_tg.push_back(fig->tg_tok_s.mean);
      ll_pp.push_back(l->pp_tok_s.mean), ll_tg.push_back(l->tg_tok_s.mean);
      if (l->pp_tok_s.mean > 0) ratio_pp.push_back(fig->pp_tok_s.mean / l->pp_tok_s.mean);
      if (l->tg_tok_s.mean > 0) ratio_tg.push_back(fig->tg_tok_s.mean / l->tg_tok_s.mean);
      if (a.rounds > 1) {
        std::printf("round %d    ", r + 1);
        if (a.pp > 0) std::printf("pp holo %.2f llama.cpp %.2f   ", fig->pp_tok_s.mean, l->pp_tok_s.mean);
        if (a.tg > 0) std::printf("tg holo %.2f llama.cpp %.2f", fig->tg_tok_s.mean, l->tg_tok_s.mean);
        std::printf("\n");
      }
    }
    if (rc == 0) {
      auto median = [](std::vector<double> v) {
        if (v.empty()) return 0.0;
        std::sort(v.begin(), v.end());
        return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
      };
      std::printf("\nside by side (same file, %d threads; %s%s)\n", a.threads, last.version.c_str(),
                  a.rounds > 1 ? ("; mean +- sd over " + std::to_string(a.rounds) + " alternated rounds").c_str() : "");
      const bool one = a.rounds == 1;
      if (a.pp > 0) {
        print_row("holo", ("pp" + std::to_string(a.pp)).c_str(), one ? fig->pp_tok_s : summarize(holo_pp));
        print_row("llama.cpp", ("pp" + std::to_string(a.pp)).c_str(), one ? last.pp_tok_s : summarize(ll_pp));
      }
      if (a.tg > 0) {
        print_row("holo", ("tg" + std::to_string(a.tg)).c_str(), one ? fig->tg_tok_s : summarize(holo_tg));
        print_row("llama.cpp", ("tg" + std::to_string(a.tg)).c_str(), one ? last.tg_tok_s : summarize(ll_tg));
      }
      if (a.rounds > 1) {
        std::printf("ratio      holo / llama.cpp, median of the rounds:");
        if (a.pp > 0) std::printf(" pp %.3f", median(ratio_pp));
        if (a.tg > 0) std::printf(" tg %.3f", median(ratio_tg));
        std::printf("\n");
      }
    }
  }
  if (a.kernels) {
    gpu::cpu::kernel_bench_config k;
    k.thread_counts = a.threads == 1 ? std::vector<int>{1} : std::vector<int>{1, a.threads};
    std::printf("\nkernels (4096x4096 weights, cpu backend: matvec, and %lld tokens at once as in prefill)\n%s",
                static_cast<long long>(k.prefill_tokens), gpu::cpu::format_kernel_bench(gpu::cpu::run_kernel_bench(k)).c_str());
  }
  return rc;
}

}  // namespace

void add_bench_engine(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children) {
  auto a = std::make_shared<engine_bench_args>();
  auto* sub = bench.add_subcommand("engine", "Prompt processing and generation speed of the engine (llama-bench style)");
  sub->footer("Example: holo bench engine model.gguf --threads 2 --pp 512 --tg 128 --reps 3 --compare-llamacpp");
  sub->add_option("model", a->model, "GGUF file or ollama:NAME[:TAG]")->required();
  sub->add_option("-t,--threads", a->threads, "Compute threads (0: all hardware threads)")->capture_default_str();
  sub->add_option("--pp", a->pp, "Prompt tokens processed in one batch (0: skip)")->capture_default_str();
  sub->add_option("--tg", a->tg, "Tokens generated one at a time (0: skip)")->capture_default_str();
  sub->add_option("-r,--reps", a->reps, "Repetitions (after one warm-up)")->capture_default_str();
  sub->add_option("--backend", a->backend, "Backend: cpu, cpu-ref, cuda:N or auto")->capture_default_str();
  sub->add_flag("--kernels", a->kernels, "Also print the kernel benchmark: matvec (decode) and 128-token matmul (prefill) per weight type");
  sub->add_flag("--compare-llamacpp", a->compare_llamacpp,
                "Also run test/llamacpp/bench.mjs (node-llama-cpp) on the same file and print both");
  sub->add_option("--rounds", a->rounds,
                  "With --compare-llamacpp: alternate holo and llama.cpp this many times (the host's speed drifts; "
                  "prints the per-round ratios' median)")
      ->check(CLI::Range(1, 100));
  sub->add_option("--llamacpp-dir", a->llamacpp_dir, "Where the harness is (default: test/llamacpp of the source tree)");
  children.emplace_back(sub, [a] { return run_engine(*a); });
}

}  // namespace holo::cli
