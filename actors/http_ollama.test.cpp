// Ollama translation: generate/chat bodies (options mapped to our sampler, refusals), NDJSON lines,
// tags/ps/show, and the model names Ollama users write resolving to configured models (with a
// fake Ollama store on disk).
#define BOOST_TEST_MODULE http_ollama
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "actors/http_models.hpp"
#include "actors/http_ollama.hpp"

namespace holo {
// Boost.Test prints the values of failed comparisons.
inline std::ostream& operator<<(std::ostream& os, status_code c) { return os << to_string(c); }
}  // namespace holo

using namespace holo;
using namespace holo::http;
namespace ol = holo::http::ollama;

namespace {

gpu::json_value json(std::string_view text) {
  auto v = gpu::parse_json(text);
  BOOST_REQUIRE_MESSAGE(v.ok(), "not JSON: " << text);
  return *v;
}

}  // namespace

BOOST_AUTO_TEST_CASE(generate_goes_through_the_template_unless_raw) {
  auto r = ol::parse_request(ol::endpoint::generate, R"({"model": "qwen2:0.5b", "prompt": "Why?", "system": "Be short",
    "options": {"temperature": 0.2, "top_k": 5, "top_p": 0.8, "min_p": 0.1, "seed": 7, "num_predict": 30,
                "stop": ["\n\n"], "repeat_penalty": 1.1, "repeat_last_n": 32, "num_ctx": 2048, "num_gpu": 99,
                "mirostat": 0}, "keep_alive": "5m"})");
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
  BOOST_TEST(r->stream);  // Ollama's default
  BOOST_TEST(!r->load_only);
  BOOST_REQUIRE(r->gen.messages.size() == 2u);
  BOOST_TEST(r->gen.messages[0].role == "system");
  BOOST_TEST(r->gen.messages[1].content == "Why?");
  auto& o = r->gen.options;
  BOOST_TEST(*o.temperature == 0.2);
  BOOST_TEST(*o.top_k == 5);
  BOOST_TEST(*o.top_p == 0.8);
  BOOST_TEST(*o.min_p == 0.1);
  BOOST_TEST(*o.seed == 7u);
  BOOST_TEST(*o.max_tokens == 30);
  BOOST_TEST(o.stop == std::vector<std::string>{"\n\n"});
  BOOST_TEST(*o.repeat_penalty == 1.1);
  BOOST_TEST(*o.repeat_last_n == 32);

  auto raw = ol::parse_request(ol::endpoint::generate, R"({"model": "m", "prompt": "as is", "raw": true, "stream": false})");
  BOOST_REQUIRE(raw.ok());
  BOOST_TEST(*raw->gen.prompt == "as is");
  BOOST_TEST(raw->gen.messages.empty());
  BOOST_TEST(!raw->stream);
}

BOOST_AUTO_TEST_CASE(options_edge_cases) {
  auto opts = [](const std::string& o) {
    auto r = ol::parse_request(ol::endpoint::generate, R"({"model": "m", "prompt": "x", "options": )" + o + "}");
    BOOST_REQUIRE_MESSAGE(r.ok(), o << ": " << (r.ok() ? std::string() : r.error().to_string()));
    return r->gen.options;
  };
  BOOST_TEST(!opts(R"({"seed": -1})").seed);             // Ollama's "random"
  BOOST_TEST(!opts(R"({"num_predict": -1})").max_tokens);  // until the model stops
  BOOST_TEST(!opts(R"({"num_predict": -2})").max_tokens);
  BOOST_TEST(*opts(R"({"num_ctx": 64})").max_tokens == 64);  // num_ctx bounds what is generated
  BOOST_TEST(*opts(R"({"num_ctx": 64, "num_predict": 10})").max_tokens == 10);
  BOOST_TEST(*opts(R"({"num_predict": 5.0})").max_tokens == 5);  // JavaScript numbers
  BOOST_TEST(opts(R"({"stop": "x"})").stop.size() == 1u);
  for (auto bad : {R"({"num_ctx": 0})", R"({"num_predict": -3})", R"({"temperature": "x"})", R"({"top_k": 1.5})", R"("x")"}) {
    auto r = ol::parse_request(ol::endpoint::generate, std::string(R"({"model": "m", "prompt": "x", "options": )") + bad + "}");
    BOOST_TEST(!r.ok(), bad);
    if (!r.ok()) BOOST_TEST(r.error().code() == status_code::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(chat_load_only_and_refusals) {
  auto c = ol::parse_request(ol::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": false})");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->gen.messages.size() == 1u);
  BOOST_TEST(!c->stream);
  BOOST_TEST(ol::parse_request(ol::endpoint::chat, R"({"model": "m", "messages": []})")->load_only);
  BOOST_TEST(ol::parse_request(ol::endpoint::generate, R"({"model": "m"})")->load_only);
  struct bad {
    ol::endpoint kind;
    const char* body;
    status_code code;
  } cases[] = {
      {ol::endpoint::chat, "{nope", status_code::invalid_argument},
      {ol::endpoint::chat, R"({"messages": []})", status_code::invalid_argument},
      {ol::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x", "images": ["aGk="]}]})", status_code::unimplemented},
      {ol::endpoint::chat, R"({"model": "m", "messages": [{"role": "tool", "content": "x"}]})", status_code::unimplemented},
      {ol::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "format": "json"})", status_code::unimplemented},
      {ol::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{}]})", status_code::unimplemented},
      {ol::endpoint::chat, R"({"model": "m", "messages": "hi"})", status_code::invalid_argument},
      {ol::endpoint::generate, R"({"model": "m", "prompt": "x", "context": [1, 2]})", status_code::unimplemented},
      {ol::endpoint::generate, R"({"model": "m", "prompt": "x", "template": "{{ .Prompt }}"})", status_code::unimplemented},
      {ol::endpoint::generate, R"({"model": "m", "prompt": "x", "suffix": "y"})", status_code::unimplemented},
      {ol::endpoint::generate, R"({"model": "m", "prompt": 5})", status_code::invalid_argument},
      {ol::endpoint::generate, R"({"model": "m", "prompt": "x", "stream": "yes"})", status_code::invalid_argument},
  };
  for (auto& b : cases) {
    auto r = ol::parse_request(b.kind, b.body);
    BOOST_TEST_CONTEXT(b.body) {
      BOOST_REQUIRE(!r.ok());
      BOOST_TEST(r.error().code() == b.code);
    }
  }
}

BOOST_AUTO_TEST_CASE(ndjson_lines_and_final_counts) {
  auto line = ol::line_text(ol::endpoint::generate, "qwen2:0.5b", "Hel");
  BOOST_REQUIRE(line.back() == '\n');
  BOOST_TEST(line.find('\n') == line.size() - 1);  // one line
  auto l = json(line);
  BOOST_TEST(l.find("response")->as_string() == "Hel");
  BOOST_TEST(!l.find("done")->as_bool());
  BOOST_TEST(l.find("created_at")->as_string().size() == 30u);  // 2024-01-02T03:04:05.123456789Z
  auto chat = json(ol::line_text(ol::endpoint::chat, "m", "x\ny"));
  BOOST_TEST(chat.find("message")->find("content")->as_string() == "x\ny");
  BOOST_TEST(chat.find("message")->find("role")->as_string() == "assistant");

  proto::done_event d;
  d.reason = "length";
  d.prompt_tokens = 11;
  d.generated_tokens = 4;
  d.timings = {2.0, 10.0, 50.0};  // queue, ttft, total (ms)
  auto f = json(ol::line_final(ol::endpoint::chat, "m", "", d));
  BOOST_TEST(f.find("done")->as_bool());
  BOOST_TEST(f.find("done_reason")->as_string() == "length");
  BOOST_TEST(*f.find("prompt_eval_count")->as_int64() == 11);
  BOOST_TEST(*f.find("eval_count")->as_int64() == 4);
  BOOST_TEST(*f.find("total_duration")->as_int64() == 50'000'000);
  BOOST_TEST(*f.find("load_duration")->as_int64() == 2'000'000);
  BOOST_TEST(*f.find("prompt_eval_duration")->as_int64() == 8'000'000);
  BOOST_TEST(*f.find("eval_duration")->as_int64() == 40'000'000);
  d.reason = "eog";
  BOOST_TEST(json(ol::line_final(ol::endpoint::generate, "m", "all", d)).find("done_reason")->as_string() == "stop");
  auto loaded = json(ol::line_loaded(ol::endpoint::generate, "m"));
  BOOST_TEST(loaded.find("done_reason")->as_string() == "load");
  BOOST_TEST(json(ol::error_body("boom")).find("error")->as_string() == "boom");
  BOOST_TEST(json(ol::version("0.1.0")).find("version")->as_string() == "0.1.0");
}

// A fake Ollama store with one manifest, and a cluster whose models name it in the ways users do.
BOOST_AUTO_TEST_CASE(ollama_names_resolve_and_describe) {
  namespace fs = std::filesystem;
  auto root = fs::temp_directory_path() / ("holo-http-ollama-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string digest = std::string(64, 'a');
  fs::create_directories(root / "manifests/registry.ollama.ai/library/qwen2");
  fs::create_directories(root / "blobs");
  std::ofstream(root / ("blobs/sha256-" + digest)) << "not really a gguf";
  std::ofstream(root / "manifests/registry.ollama.ai/library/qwen2/0.5b")
      << R"({"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:)" << digest
      << R"(", "size": 17}]})";
  ::setenv("OLLAMA_MODELS", root.c_str(), 1);

  auto cfg = config::load_string(R"(
[[node]]
name = "a"
cluster_endpoint = "tcp://127.0.0.1:7000"
[[model]]
name = "small"
path = "ollama:qwen2:0.5b"
[[model]]
name = "llama3"
path = "/nowhere/llama3.gguf"
aliases = ["big"]
)", "t.toml");
  BOOST_REQUIRE_MESSAGE(cfg.ok(), (cfg.ok() ? std::string() : cfg.error().to_string()));
  auto name_of = [&](std::string_view asked) {
    auto* m = resolve_model(*cfg, asked);
    return m ? m->name : std::string("-");
  };
  BOOST_TEST(name_of("small") == "small");
  BOOST_TEST(name_of("qwen2:0.5b") == "small");
  BOOST_TEST(name_of("library/qwen2:0.5b") == "small");
  BOOST_TEST(name_of("registry.ollama.ai/library/qwen2:0.5b") == "small");
  BOOST_TEST(name_of("qwen2:7b") == "-");
  BOOST_TEST(name_of("llama3:latest") == "llama3");  // a model named like Ollama's default tag
  BOOST_TEST(name_of("big") == "llama3");
  BOOST_TEST(name_of("") == "-");
  BOOST_TEST(name_of("../etc") == "-");

  auto d = describe_model(*cfg, cfg->models[0]);
  BOOST_TEST(d.digest == digest);
  BOOST_TEST(d.size_bytes == 17u);
  BOOST_TEST(!d.error.empty());  // not a GGUF: described as far as possible, with the reason
  auto missing = describe_model(*cfg, cfg->models[1]);
  BOOST_TEST(missing.size_bytes == 0u);
  BOOST_TEST(missing.error.find("not on this node") != std::string::npos);

  auto tags = json(ol::tags({d, missing}));
  BOOST_REQUIRE(tags.find("models")->items().size() == 2u);
  auto& t0 = tags.find("models")->items()[0];
  BOOST_TEST(t0.find("name")->as_string() == "small");
  BOOST_TEST(t0.find("digest")->as_string() == digest);
  BOOST_TEST(t0.find("details")->find("format")->as_string() == "gguf");
  auto ps = json(ol::ps({d}));
  BOOST_TEST(ps.find("models")->items()[0].find("expires_at")->is_string());
  auto show = json(ol::show(d, 2048));
  BOOST_TEST(show.find("parameters")->as_string() == "num_ctx 2048");
  BOOST_TEST(show.find("details")->is_object());
  ::unsetenv("OLLAMA_MODELS");
  fs::remove_all(root);

  BOOST_TEST(human_parameters(494'032'768) == "494.03M");
  BOOST_TEST(human_parameters(7'000'000'000) == "7B");
  BOOST_TEST(human_parameters(999) == "999");
}
