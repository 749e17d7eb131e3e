// holo mkmodel OUT.gguf [--preset tiny|100m|1b] [shape and type options]: write a GGUF test model
// with seeded random weights and a real small vocabulary (gpu/model_builder.hpp).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include <CLI/CLI.hpp>

#include "gpu/model_builder.hpp"
#include "runtime/cli/commands.hpp"

namespace holo::cli {

namespace {

struct mkmodel_args {
  std::string out;
  std::string preset = "tiny";
  std::string arch;
  std::string type;
  std::string vocab;
  std::string name;
  std::int32_t layers = -1, embd = -1, heads = -1, kv_heads = -1, ff = -1, ctx = -1, vocab_size = -1;
  std::uint64_t seed = 1;
  std::int64_t distinct_rows = 0;
  bool tied = false;
  bool force = false;
  bool quiet = false;
};

constexpr std::int64_t progress_params_min = 20'000'000;  // smaller models build in well under a second

// The preset, then each option given on top of it. Errors are usage errors.
result<gpu::model_spec> make_spec(const mkmodel_args& a) {
  auto spec = gpu::model_preset(a.preset);
  if (!spec) return spec.error();
  if (!a.arch.empty()) {
    auto arch = gpu::parse_model_arch(a.arch);
    if (!arch) return status::invalid_argument("--arch: " + arch.error().message());
    spec->arch = *arch;
  }
  if (!a.type.empty()) {
    auto mix = gpu::parse_weight_mix(a.type);
    if (!mix) return status::invalid_argument("--type: " + mix.error().message());
    spec->weights = *mix;
  }
  if (a.vocab == "bpe") spec->vocab = gpu::vocab_kind::bpe;
  if (a.vocab == "spm") spec->vocab = gpu::vocab_kind::spm;
  auto set = [](std::int32_t v, std::int32_t& field) {
    if (v >= 0) field = v;
  };
  set(a.layers, spec->n_layer);
  set(a.embd, spec->n_embd);
  set(a.heads, spec->n_head);
  set(a.kv_heads, spec->n_head_kv);
  set(a.ff, spec->n_ff);
  set(a.ctx, spec->n_ctx);
  set(a.vocab_size, spec->n_vocab);
  if (a.heads >= 0 && a.kv_heads < 0) spec->n_head_kv = spec->n_head;  // --heads alone: no GQA
  spec->seed = a.seed;
  if (a.distinct_rows < 0) return status::invalid_argument("--distinct-rows must be >= 0");
  spec->distinct_rows = a.distinct_rows;
  spec->tied_output = a.tied;
  spec->name = a.name;
  if (auto s = gpu::validate_model_spec(*spec); !s.ok()) return s;
  return spec;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB"};
  int u = 0;
  while (b >= 1000 && u < 3) b /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

int run(const mkmodel_args& a) {
  auto spec = make_spec(a);
  if (!spec) {
    std::cerr << "holo mkmodel: " << spec.error().message() << "\n";
    return 2;
  }
  if (!a.force && std::filesystem::exists(a.out)) {
    std::cerr << "holo mkmodel: " << a.out << " exists (use --force to replace it)\n";
    return 1;
  }
  const std::int64_t n_params = gpu::parameter_count(*spec);
  const bool show = !a.quiet && n_params >= progress_params_min;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::size_t last_decile = 0;
  auto progress = [&](const gpu::build_progress& p) {
    if (tty) {
      std::cerr << "\rencoding tensor " << p.tensors_done << "/" << p.tensors_total << " " << p.tensor << "\033[K"
                << std::flush;
    } else if (p.tensors_done * 10 / p.tensors_total > last_decile) {
      last_decile = p.tensors_done * 10 / p.tensors_total;
      std::cerr << "encoded " << last_decile * 10 << "% of the tensors\n";
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto done = gpu::build_model(*spec, a.out, show ? progress : std::function<void(const gpu::build_progress&)>{});
  if (show && tty) std::cerr << "\n";
  if (!done) {
    std::cerr << "holo mkmodel: " << done.error().to_string() << "\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet)
    std::cout << "wrote " << a.out << ": " << to_string(spec->arch) << ", " << spec->n_layer << " layers, n_embd "
              << spec->n_embd << ", " << spec->n_head << "/" << spec->n_head_kv << " heads, n_ff " << spec->n_ff
              << ", ctx " << spec->n_ctx << ", " << (spec->vocab == gpu::vocab_kind::spm ? "SPM" : "BPE")
              << " vocab " << spec->n_vocab << ", " << to_string(spec->weights) << ", " << n_params
              << " params, " << human_bytes(double(done->file_bytes)) << ", " << std::fixed
              << std::setprecision(1) << seconds << " s\n";
  return 0;
}

}  // namespace

void add_mkmodel(CLI::App& app, command_registry& reg) {
  auto a = std::make_shared<mkmodel_args>();
  auto* sub = app.add_subcommand("mkmodel",
                                 "Write a GGUF test model with seeded random weights and a real small vocabulary");
  sub->footer(
      "Presets (llama, SPM vocabulary, F16 unless options say otherwise):\n"
      "  tiny  n_embd 256, 2 layers, 4/2 heads, n_ff 512, ctx 512, vocab 1024     (1.7M params, 3.4 MB)\n"
      "  100m  n_embd 768, 12 layers, 12 heads, n_ff 2048, ctx 2048, vocab 32000  (134M params, 268 MB)\n"
      "  1b    n_embd 2048, 22 layers, 32/4 heads, n_ff 5632, ctx 2048, vocab 32000 (TinyLlama 1.1B shape,\n"
      "        2.2 GB in F16, about 0.7 GB in Q4_K_M)\n"
      "Options after --preset change single fields. K-quant types need rows that are multiples of 256;\n"
      "other rows fall back to Q8_0. The same options and seed always give the same file. The files\n"
      "load in llama.cpp too. Building holds the whole file in memory.\n"
      "Exit codes: 0 written, 1 failed (file exists, disk), 2 usage error.\n"
      "Examples: holo mkmodel /tmp/tiny.gguf\n"
      "          holo mkmodel /tmp/q.gguf --arch qwen2 --vocab bpe --type Q4_K_M --tied\n"
      "          holo mkmodel /tmp/1b.gguf --preset 1b --type Q4_K_M --seed 7");
  sub->add_option("out", a->out, "Output file (written atomically)")->required();
  sub->add_option("--preset", a->preset, "tiny, 100m or 1b")
      ->check(CLI::IsMember({"tiny", "100m", "1b"}))
      ->capture_default_str();
  sub->add_option("--arch", a->arch, "llama (default) or qwen2")->check(CLI::IsMember({"llama", "qwen2"}));
  sub->add_option("--type", a->type,
                  "Weight type: F32, F16 (default), BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, or the mixes Q4_K_M, Q5_K_M");
  sub->add_option("--vocab", a->vocab, "spm (SentencePiece, default) or bpe (byte-level, llama3 or qwen2 style)")
      ->check(CLI::IsMember({"spm", "bpe"}));
  sub->add_option("--vocab-size", a->vocab_size, "Tokens in the vocabulary (>= 512)")->check(CLI::PositiveNumber);
  sub->add_option("--layers", a->layers, "Transformer blocks")->check(CLI::PositiveNumber);
  sub->add_option("--embd", a->embd, "Embedding size (n_embd)")->check(CLI::PositiveNumber);
  sub->add_option("--heads", a->heads, "Attention heads (n_embd must be a multiple)")->check(CLI::PositiveNumber);
  sub->add_option("--kv-heads", a->kv_heads, "KV heads (divides --heads; fewer than --heads is GQA)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--ff", a->ff, "Feed-forward size (n_ff)")->check(CLI::PositiveNumber);
  sub->add_option("--ctx", a->ctx, "Training context length written to the file")->check(CLI::PositiveNumber);
  sub->add_option("--seed", a->seed, "Seed of the random weights")->capture_default_str();
  sub->add_option("--distinct-rows", a->distinct_rows,
                  "Benchmark models: draw only the first N rows of each matrix and repeat them (0: all rows). "
                  "Same speed to run, seconds instead of minutes to write K-quants; not a meaningful model")
      ->capture_default_str();
  sub->add_option("--name", a->name, "general.name (default holo-test-ARCH-VOCAB)");
  sub->add_flag("--tied", a->tied, "No output.weight: token_embd is also the LM head");
  sub->add_flag("-f,--force", a->force, "Replace OUT if it exists");
  sub->add_flag("-q,--quiet", a->quiet, "Print nothing on success");
  reg.add(sub, [a] { return run(*a); });
}

}  // namespace holo::cli
