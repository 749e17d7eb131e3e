// holo generate [ENDPOINT] --model NAME (PROMPT | --chat MSG ...): ask a node for a generation and
// stream its text to stdout (docs/protocol.md, "Generation").
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <random>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"
#include "runtime/cli/json_text.hpp"
#include "runtime/cli/node_target.hpp"
#include "runtime/client.hpp"

namespace holo::cli {

namespace {

struct generate_args {
  node_target_options target;
  std::vector<std::string> positionals;  // [ENDPOINT] PROMPT
  std::string model;
  std::vector<std::string> chat;
  std::string system;
  std::int64_t max_tokens = 0, top_k = 0;
  double temperature = 0, top_p = 0, min_p = 0;
  std::uint64_t seed = 0;
  std::vector<std::string> stop;
  std::string id;
  std::string session;
  bool no_stream = false;
  bool json = false;
  double timeout_s = 60;
  // Options whose absence means "the engine's default", not 0.
  CLI::Option *max_tokens_opt = nullptr, *top_k_opt = nullptr, *temperature_opt = nullptr, *top_p_opt = nullptr,
              *min_p_opt = nullptr, *seed_opt = nullptr;
};

// Set by SIGINT. A signal handler can reach nothing but a global; this one is written only there and
// read by the client between events (client::generate's cancel_requested).
std::atomic<bool> interrupted{false};

void on_sigint(int) {
  if (interrupted.exchange(true)) _exit(130);  // the second Ctrl-C: leave without waiting for done
  constexpr char msg[] = "\nholo generate: cancelling (Ctrl-C again to quit now)\n";
  [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
}

std::string json_ids(const std::vector<std::int32_t>& ids) {
  std::string o = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) o += (i ? "," : "") + std::to_string(ids[i]);
  return o + "]";
}

std::string token_json(const proto::token_event& t) {
  std::string o = "{\"kind\":\"token\",\"id\":";
  append_json_string(o, t.id);
  o += ",\"index\":" + std::to_string(t.index) + ",\"tokens\":" + json_ids(t.tokens) + ",\"text\":";
  append_json_string(o, t.text);
  return o + "}";
}

std::string done_json(const proto::done_event& d, bool with_tokens) {
  auto str = [](std::string_view s) {
    std::string o;
    append_json_string(o, s);
    return o;
  };
  char timings[160];
  std::snprintf(timings, sizeof timings, "{\"queue_ms\":%.3f,\"ttft_ms\":%.3f,\"total_ms\":%.3f}", d.timings.queue_ms,
                d.timings.ttft_ms, d.timings.total_ms);
  return "{\"kind\":\"done\",\"id\":" + str(d.id) + ",\"reason\":" + str(d.reason) + ",\"text\":" + str(d.text) +
         (with_tokens ? ",\"tokens\":" + json_ids(d.tokens) : std::string()) +
         ",\"prompt_tokens\":" + std::to_string(d.prompt_tokens) +
         ",\"generated_tokens\":" + std::to_string(d.generated_tokens) + ",\"model\":" + str(d.model) +
         ",\"node\":" + str(d.node) + ",\"attempts\":" + std::to_string(d.attempts) + ",\"timings\":" + timings + "}";
}

std::string error_json(const std::string& id, const status& s) {
  std::string o = "{\"kind\":\"error\",\"id\":";
  append_json_string(o, id);
  o += ",\"code\":";
  append_json_string(o, holo::to_string(s.code()));
  o += ",\"message\":";
  append_json_string(o, s.message());
  return o + "}";
}

void print_line(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void print_text(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// tokens, decode speed (after the first token), time to first token, who served it.
void print_stats(const proto::done_event& d) {
  double decode_ms = d.timings.total_ms - std::max(0.0, d.timings.ttft_ms);
  double tok_s = d.generated_tokens > 1 && decode_ms > 0 ? (d.generated_tokens - 1) * 1000.0 / decode_ms : 0;
  std::fprintf(stderr, "[%lld tokens, %.1f tok/s, ttft %.0f ms, %s, node %s, attempts %lld, %s]\n",
               static_cast<long long>(d.generated_tokens), tok_s, d.timings.ttft_ms, d.model.c_str(), d.node.c_str(),
               static_cast<long long>(d.attempts), d.reason.c_str());
}

std::string random_id() {
  std::random_device rd;
  char buf[24];
  std::snprintf(buf, sizeof buf, "g-%08x%08x", rd(), rd());
  return buf;
}

// The endpoint (when given positionally) and the request, or a usage error.
result<proto::generate_request> build_request(const generate_args& a, node_target_options& target) {
  auto& pos = a.positionals;
  std::string prompt;
  bool has_prompt = false;
  if (!a.chat.empty()) {
    if (pos.size() > 1) return status::invalid_argument("give a PROMPT or --chat, not both");
    if (pos.size() == 1) target.endpoint = pos[0];
  } else if (pos.size() == 2) {
    target.endpoint = pos[0];
    prompt = pos[1];
    has_prompt = true;
  } else if (pos.size() == 1 && !(pos[0].find("://") != std::string::npos && a.target.config_path.empty())) {
    prompt = pos[0];
    has_prompt = true;
  } else if (pos.size() > 2) {
    return status::invalid_argument("too many arguments: quote the prompt");
  }
  if (!has_prompt && a.chat.empty()) return status::invalid_argument("give a PROMPT (\"-\" reads stdin) or --chat MSG");
  if (!a.system.empty() && a.chat.empty())
    return status::invalid_argument("--system needs --chat (a PROMPT is sent as is, without the chat template)");

  proto::generate_request r;
  r.id = a.id.empty() ? random_id() : a.id;
  if (r.id.size() > proto::request_id_bytes_max) return status::invalid_argument("--id is longer than 128 bytes");
  r.model = a.model;
  if (has_prompt) {
    if (prompt == "-") prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    r.prompt = std::move(prompt);
  } else {
    if (!a.system.empty()) r.messages.push_back({"system", a.system});
    for (std::size_t i = 0; i < a.chat.size(); ++i) r.messages.push_back({i % 2 ? "assistant" : "user", a.chat[i]});
  }
  auto& o = r.options;
  if (a.max_tokens_opt->count()) o.max_tokens = a.max_tokens;
  if (a.top_k_opt->count()) o.top_k = a.top_k;
  if (a.temperature_opt->count()) o.temperature = a.temperature;
  if (a.top_p_opt->count()) o.top_p = a.top_p;
  if (a.min_p_opt->count()) o.min_p = a.min_p;
  if (a.seed_opt->count()) o.seed = a.seed;
  o.stop = a.stop;
  r.stream = !a.no_stream;
  r.session = a.session;
  return r;
}

int run(const generate_args& a) {
  auto target_opts = a.target;
  auto req = build_request(a, target_opts);
  if (!req) {
    std::cerr << "holo generate: " << req.error().message() << "\n";
    return 2;
  }
  auto target = resolve(target_opts);
  if (!target) {
    std::cerr << "holo generate: " << target.error().message() << "\n";
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);

  client c(target->endpoint, target->keys);
  bool text_printed = false;
  auto on_token = [&](const proto::token_event& t) {
    if (a.json) {
      print_line(token_json(t));
    } else {
      print_text(t.text);
      text_printed = true;
    }
    return true;
  };
  auto idle = std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000));
  auto done = c.generate(*req, on_token, idle, &interrupted);
  if (!done) {
    if (text_printed) print_text("\n");
    if (a.json) print_line(error_json(req->id, done.error()));
    std::cerr << "holo generate: " << done.error().to_string() << "\n";
    // A broken stream: do not leave the generation running for nobody.
    if (done.error().code() == status_code::data_loss) (void)c.cancel(req->id);
    return interrupted ? 130 : 1;
  }
  if (a.json) {
    print_line(done_json(*done, !req->stream));
  } else {
    print_text(done->text);
    print_text("\n");
    print_stats(*done);
  }
  return interrupted ? 130 : 0;
}

}  // namespace

void add_generate(CLI::App& app, command_registry& reg) {
  auto args = std::make_shared<generate_args>();
  auto* sub = app.add_subcommand("generate", "Generate text with a model the cluster serves, streaming it to stdout");
  sub->footer(
      "Usage: holo generate [ENDPOINT] --model NAME (PROMPT | --chat MSG ...) [OPTIONS]\n"
      "Streams the text to stdout as it arrives, then a stats line to stderr. Ctrl-C cancels the\n"
      "generation (its done event still comes); a second Ctrl-C quits at once.\n"
      "Exit codes: 0 done, 1 error from the node (or no answer), 2 usage error, 130 interrupted.\n"
      "Examples: holo generate tcp://127.0.0.1:7711 --model demo --max-tokens 32 \"Once upon a time\"\n"
      "          holo generate --config config/local.toml --model demo --system \"Be brief.\" --chat \"Hi!\"\n"
      "          echo \"2 + 2 =\" | holo generate tcp://127.0.0.1:7711 --model demo --json -");
  sub->add_option("args", args->positionals,
                  "[ENDPOINT] PROMPT: the node's client endpoint (tcp://HOST:PORT; or --config) and the prompt, "
                  "sent as is (\"-\": read stdin)");
  sub->add_option("-m,--model", args->model, "Model name or alias")->required()->type_name("NAME");
  sub->add_option("--chat", args->chat,
                  "A chat turn, rendered with the model's chat template; repeat for a conversation "
                  "(turns alternate user, assistant, user, ...)")
      ->allow_extra_args(false)
      ->type_name("MSG");
  sub->add_option("--system", args->system, "System message before the --chat turns");
  args->max_tokens_opt = sub->add_option("--max-tokens", args->max_tokens, "Most tokens to generate")
                             ->check(CLI::PositiveNumber);
  args->temperature_opt = sub->add_option("--temperature", args->temperature, "Sampling temperature (0: greedy)")
                              ->check(CLI::NonNegativeNumber);
  args->top_k_opt = sub->add_option("--top-k", args->top_k, "Keep the K most likely tokens (0: off)");
  args->top_p_opt = sub->add_option("--top-p", args->top_p, "Nucleus sampling mass, in (0, 1]");
  args->min_p_opt = sub->add_option("--min-p", args->min_p, "Drop tokens under P times the top one, in [0, 1]");
  args->seed_opt = sub->add_option("--seed", args->seed, "Sampling seed (same seed, same text)");
  sub->add_option("--stop", args->stop, "Stop when the text contains STR (repeatable)")->allow_extra_args(false)->type_name("STR");
  sub->add_option("--id", args->id, "Generation id (default: random); reusing a running id re-attaches to it");
  sub->add_option("--session", args->session, "Affinity key: generations of one session go to one replica");
  sub->add_flag("--no-stream", args->no_stream, "Ask for the whole text in the done event instead of a stream");
  sub->add_flag("--json", args->json, "Print one JSON object per line per event (token, done, error)");
  sub->add_option("--timeout", args->timeout_s, "Seconds without any event before giving up")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0))
      ->type_name("SECONDS");
  args->target.add_to(sub);
  reg.add(sub, [args] { return run(*args); });
}

}  // namespace holo::cli
