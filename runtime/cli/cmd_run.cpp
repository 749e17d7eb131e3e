// holo run MODEL [PROMPT]: load a GGUF model (a path or ollama:NAME[:TAG]) and stream a generated
// continuation of PROMPT to stdout as it is produced, with llama.cpp-like timings on stderr.
// Engine API: gpu/engine.hpp. Exit codes: 0 ok, 1 model or runtime failure, 2 usage error.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <random>
#include <string>

#include <CLI/CLI.hpp>

#include "gpu/chat_template.hpp"
#include "gpu/engine.hpp"
#include "gpu/ollama_store.hpp"
#include "runtime/cli/commands.hpp"

namespace holo::cli {

namespace {

struct run_args {
  std::string model;
  std::string prompt;
  bool prompt_given = false;
  float temperature = 0.8f;
  std::int64_t seed = -1;  // -1: random
  std::int32_t max_tokens = 128;
  std::int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int threads = 0;
  std::int32_t ctx = 0;
  std::string backend = "cpu";
  bool chat = false;
  bool token_ids = false;
  bool no_bos = false;
  bool no_eog = false;
  bool quiet = false;
};

constexpr std::uint64_t progress_file_bytes_min = std::uint64_t(256) << 20;  // smaller models load at once

// The progress callback for a load: a percentage on stderr for big files, redrawn in place on a tty.
std::function<void(const gpu::load_progress&)> load_reporter(const std::string& model, bool quiet) {
  if (quiet) return {};
  if (!gpu::is_ollama_ref(model)) {  // an ollama blob's size is not known here: always report
    std::error_code ec;
    const auto size = std::filesystem::file_size(model, ec);
    if (ec || size < progress_file_bytes_min) return {};  // a missing file fails at once
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  return [tty, last = -1](const gpu::load_progress& p) mutable {
    const int pct = static_cast<int>(p.fraction * 100);
    if (pct == last || (!tty && pct % 25 != 0 && pct != 100)) return;
    last = pct;
    std::fprintf(stderr, tty ? "\rloading: %3d%% (%.*s)   " : "loading: %3d%% (%.*s)\n", pct,
                 static_cast<int>(p.stage.size()), p.stage.data());
    if (tty && pct == 100) std::fputc('\n', stderr);
  };
}

result<std::vector<std::int32_t>> prompt_tokens(const run_args& a, const gpu::tokenizer& vocab) {
  std::string text = a.prompt;
  if (a.chat) {
    auto tmpl = gpu::chat_template::detect(vocab.chat_template());
    if (!tmpl) return tmpl.error().with_context("--chat: the model's chat template");
    const gpu::chat_message msgs[] = {{"user", text}};
    text = tmpl->render(msgs, true);
  }
  auto ids = vocab.encode(text, !a.no_bos, a.chat);
  if (ids.empty()) {  // an empty prompt without BOS: start from BOS anyway, as llama.cpp does
    if (vocab.bos_id() < 0) return status::invalid_argument("empty prompt and the model has no BOS token");
    ids.push_back(vocab.bos_id());
  }
  return ids;
}

void print_timings(const gpu::generation_timings& t, std::uint64_t seed) {
  auto line = [](const char* what, double ms, std::int64_t n) {
    std::fprintf(stderr, "holo run: %-11s %10.2f ms / %5lld tokens (%8.2f ms per token, %9.2f tokens per second)\n",
                 what, ms, static_cast<long long>(n), n > 0 ? ms / double(n) : 0.0,
                 ms > 0 ? double(n) * 1000.0 / ms : 0.0);
  };
  line("prompt eval", t.prompt_ms, t.prompt_tokens);
  line("eval", t.gen_ms, t.generated_tokens);
  std::fprintf(stderr, "holo run: seed %llu\n", static_cast<unsigned long long>(seed));
}

int run(run_args a) {
  if (a.prompt == "-") {
    a.prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  gpu::load_options lo;
  lo.threads = a.threads;
  lo.ctx_size = a.ctx;
  lo.backend = a.backend;
  lo.progress = load_reporter(a.model, a.quiet);
  auto m = gpu::model::load(a.model, lo);
  if (!m) {
    std::cerr << "holo run: cannot load " << a.model << ": " << m.error().to_string() << "\n";
    return 1;
  }
  auto ids = prompt_tokens(a, (*m)->vocab());
  if (!ids) {
    std::cerr << "holo run: " << ids.error().to_string() << "\n";
    return 1;
  }
  auto s = gpu::session::create(*m);
  if (!s) {
    std::cerr << "holo run: " << s.error().to_string() << "\n";
    return 1;
  }
  gpu::generation_options g;
  g.sampling.temperature = a.temperature;
  g.sampling.top_k = a.top_k;
  g.sampling.top_p = a.top_p;
  g.sampling.min_p = a.min_p;
  g.sampling.repeat_penalty = a.repeat_penalty;
  g.sampling.max_tokens = a.max_tokens;
  g.sampling.seed = a.seed >= 0 ? static_cast<std::uint64_t>(a.seed) : std::random_device{}();
  g.stop_at_eog = !a.no_eog;
  g.text = !a.token_ids;
  auto r = gpu::generate(**s, *ids, g, [&](const gpu::generated_token& t) {
    if (!a.token_ids && !t.piece.empty()) {
      std::fwrite(t.piece.data(), 1, t.piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  if (!r) {
    std::cerr << "\nholo run: " << r.error().to_string() << "\n";
    return 1;
  }
  if (a.token_ids) {
    std::string line;
    for (auto id : r->tokens) line += (line.empty() ? "" : " ") + std::to_string(id);
    std::printf("%s\n", line.c_str());
  } else {
    std::printf("\n");
  }
  std::fflush(stdout);
  if (!a.quiet) {
    std::fprintf(stderr, "holo run: %zu prompt tokens, stopped by %.*s\n", ids->size(),
                 static_cast<int>(gpu::to_string(r->reason).size()), gpu::to_string(r->reason).data());
    print_timings(r->timings, g.sampling.seed);
  }
  return 0;
}

}  // namespace

void add_run(CLI::App& app, command_registry& reg) {
  auto a = std::make_shared<run_args>();
  auto* sub = app.add_subcommand("run", "Generate text from a GGUF model on this machine");
  sub->footer(
      "MODEL is a GGUF path or ollama:NAME[:TAG]. PROMPT '-' reads stdin.\n"
      "Examples: holo run model.gguf \"Once upon a time\" --max-tokens 64\n"
      "          holo run ollama:qwen2:0.5b \"Why is the sky blue?\" --chat\n"
      "          holo run model.gguf \"Hello\" --temperature 0 --token-ids   (compare runs exactly)");
  sub->add_option("model", a->model, "GGUF file or ollama:NAME[:TAG]")->required();
  sub->add_option("prompt", a->prompt, "Prompt text ('-': read stdin)");
  sub->add_option("--temperature", a->temperature, "Sampling temperature; 0 = greedy")->capture_default_str();
  sub->add_option("--seed", a->seed, "Sampling seed (-1: random)")->capture_default_str();
  sub->add_option("-n,--max-tokens", a->max_tokens, "Tokens to generate at most (-1: until EOG or context)")
      ->capture_default_str();
  sub->add_option("--top-k", a->top_k, "Top-k (0: off)")->capture_default_str();
  sub->add_option("--top-p", a->top_p, "Top-p (1: off)")->capture_default_str();
  sub->add_option("--min-p", a->min_p, "Min-p (0: off)")->capture_default_str();
  sub->add_option("--repeat-penalty", a->repeat_penalty, "Repetition penalty (1: off)")->capture_default_str();
  sub->add_option("-t,--threads", a->threads, "Compute threads (0: all hardware threads)")->capture_default_str();
  sub->add_option("-c,--ctx", a->ctx, "Context size in tokens (0: the model's, at most 4096)")->capture_default_str();
  sub->add_option("--backend", a->backend, "Backend: cpu, cpu-ref, cuda:N or auto")->capture_default_str();
  sub->add_flag("--chat", a->chat, "Wrap the prompt in the model's chat template as a user turn");
  sub->add_flag("--token-ids", a->token_ids, "Print the generated ids (one line) instead of text");
  sub->add_flag("--no-bos", a->no_bos, "Do not add the BOS token");
  sub->add_flag("--ignore-eog", a->no_eog, "Keep generating past end-of-generation tokens");
  sub->add_flag("-q,--quiet", a->quiet, "No progress or timings on stderr");
  reg.add(sub, [a] { return run(*a); });
}

}  // namespace holo::cli
