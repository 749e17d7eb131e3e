// OpenAI translation: request bodies to generate requests (and the refusals), events to JSON/SSE.
// Every JSON text produced is parsed back with the strict reader.
#define BOOST_TEST_MODULE http_openai
#include <boost/test/unit_test.hpp>

#include "actors/http_openai.hpp"

namespace holo {
// Boost.Test prints the values of failed comparisons.
inline std::ostream& operator<<(std::ostream& os, status_code c) { return os << to_string(c); }
}  // namespace holo

using namespace holo;
using namespace holo::http;
namespace oa = holo::http::openai;

namespace {

gpu::json_value json(std::string_view text) {
  auto v = gpu::parse_json(text);
  BOOST_REQUIRE_MESSAGE(v.ok(), "not JSON: " << text << " (" << (v.ok() ? "" : v.error().message()) << ")");
  return *v;
}

// "data: {...}\n\n" -> the JSON inside.
gpu::json_value sse_json(const std::string& ev) {
  BOOST_REQUIRE(ev.rfind("data: ", 0) == 0);
  BOOST_REQUIRE(ev.size() > 8 && ev.substr(ev.size() - 2) == "\n\n");
  return json(ev.substr(6, ev.size() - 8));
}

proto::done_event done(std::string reason) {
  proto::done_event d;
  d.reason = std::move(reason);
  d.prompt_tokens = 7;
  d.generated_tokens = 5;
  d.node = "n2";
  d.attempts = 2;
  return d;
}

}  // namespace

BOOST_AUTO_TEST_CASE(chat_request_maps_messages_and_options) {
  auto r = oa::parse_request(oa::endpoint::chat, R"({
    "model": "qwen2:0.5b", "stream": true, "stream_options": {"include_usage": true},
    "messages": [{"role": "developer", "content": "be brief"},
                 {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
                 {"role": "assistant", "content": null}],
    "temperature": 0.5, "top_p": 0.9, "max_completion_tokens": 12, "max_tokens": 99, "seed": 42,
    "stop": "END", "frequency_penalty": 0.1, "presence_penalty": 0.2, "top_k": 20, "min_p": 0.05,
    "n": 1, "logprobs": false, "user": "alice", "tools": [], "response_format": {"type": "text"},
    "ignore_eos": true})");
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
  BOOST_TEST(r->gen.model == "qwen2:0.5b");
  BOOST_TEST(r->stream);
  BOOST_TEST(r->include_usage);
  BOOST_REQUIRE(r->gen.messages.size() == 3u);
  BOOST_TEST(r->gen.messages[0].role == "system");
  BOOST_TEST(r->gen.messages[1].content == "Hi there");
  BOOST_TEST(r->gen.messages[2].content == "");
  BOOST_TEST(!r->gen.prompt);
  auto& o = r->gen.options;
  BOOST_TEST(*o.temperature == 0.5);
  BOOST_TEST(*o.top_p == 0.9);
  BOOST_TEST(*o.max_tokens == 12);  // max_completion_tokens wins
  BOOST_TEST(*o.seed == 42u);
  BOOST_TEST(o.stop == std::vector<std::string>{"END"});
  BOOST_TEST(*o.top_k == 20);
  BOOST_TEST(*o.min_p == 0.05);
  BOOST_TEST(*o.presence_penalty == 0.2);
  BOOST_TEST(o.ignore_eos);
  BOOST_TEST(r->gen.session == "alice");
}

BOOST_AUTO_TEST_CASE(completion_request_defaults_to_16_tokens_and_no_stream) {
  auto r = oa::parse_request(oa::endpoint::completion, R"({"model": "m", "prompt": ["Once"], "stop": ["a", "b"]})");
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
  BOOST_TEST(*r->gen.prompt == "Once");
  BOOST_TEST(*r->gen.options.max_tokens == 16);
  BOOST_TEST(!r->gen.options.ignore_eos);
  BOOST_TEST(!r->stream);
  BOOST_TEST(r->gen.options.stop.size() == 2u);
  auto chat = oa::parse_request(oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}]})");
  BOOST_REQUIRE(chat.ok());
  BOOST_TEST(!chat->gen.options.max_tokens);  // chat: until the model stops (the node caps it)
}

BOOST_AUTO_TEST_CASE(bad_requests_are_refused_with_a_reason) {
  struct bad {
    oa::endpoint kind;
    const char* body;
    status_code code;
    const char* says;
  } cases[] = {
      {oa::endpoint::chat, "{", status_code::invalid_argument, "not valid JSON"},
      {oa::endpoint::chat, "[]", status_code::invalid_argument, "JSON object"},
      {oa::endpoint::chat, R"({"messages": [{"role": "user", "content": "x"}]})", status_code::invalid_argument, "'model'"},
      {oa::endpoint::chat, R"({"model": "m"})", status_code::invalid_argument, "'messages'"},
      {oa::endpoint::chat, R"({"model": "m", "messages": []})", status_code::invalid_argument, "must not be empty"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "tool", "content": "x"}]})", status_code::unimplemented, "role 'tool'"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       status_code::unimplemented, "image_url"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2})", status_code::unimplemented, "n other than 1"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})",
       status_code::unimplemented, "tools"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": true})", status_code::unimplemented, "logprobs"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
       status_code::unimplemented, "json_object"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"})",
       status_code::invalid_argument, "'temperature' must be a number"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", status_code::invalid_argument, "max_tokens"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": -1})", status_code::invalid_argument, "seed"},
      {oa::endpoint::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]})", status_code::invalid_argument, "stop"},
      {oa::endpoint::completion, R"({"model": "m"})", status_code::invalid_argument, "'prompt'"},
      {oa::endpoint::completion, R"({"model": "m", "prompt": [1, 2]})", status_code::unimplemented, "token arrays"},
      {oa::endpoint::completion, R"({"model": "m", "prompt": "x", "echo": true})", status_code::unimplemented, "echo"},
      {oa::endpoint::completion, R"({"model": "m", "prompt": "x", "suffix": "y"})", status_code::unimplemented, "suffix"},
  };
  for (auto& c : cases) {
    auto r = oa::parse_request(c.kind, c.body);
    BOOST_TEST_CONTEXT(c.body) {
      BOOST_REQUIRE(!r.ok());
      BOOST_TEST(r.error().code() == c.code);
      BOOST_TEST(r.error().message().find(c.says) != std::string::npos, r.error().message());
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_chunks_are_openai_sse) {
  oa::response_meta m{oa::endpoint::chat, "chatcmpl-1", "qwen2:0.5b", 1700000000, true};
  auto role = sse_json(oa::chunk_role(m));
  BOOST_TEST(role.find("object")->as_string() == "chat.completion.chunk");
  BOOST_TEST(role.find("choices")->items()[0].find("delta")->find("role")->as_string() == "assistant");
  BOOST_TEST(role.find("usage")->is_null());
  auto text = sse_json(oa::chunk_text(m, "He said \"hi\"\n\xff"));
  BOOST_TEST(text.find("choices")->items()[0].find("delta")->find("content")->as_string() == "He said \"hi\"\n\xef\xbf\xbd");
  BOOST_TEST(text.find("choices")->items()[0].find("finish_reason")->is_null());
  auto fin = sse_json(oa::chunk_finish(m, done("eog")));
  BOOST_TEST(fin.find("choices")->items()[0].find("finish_reason")->as_string() == "stop");
  BOOST_TEST(*fin.find("choices")->items()[0].find("holo")->find("attempts")->as_int64() == 2);
  auto usage = sse_json(oa::chunk_usage(m, done("length")));
  BOOST_TEST(usage.find("choices")->items().empty());
  BOOST_TEST(*usage.find("usage")->find("total_tokens")->as_int64() == 12);
  BOOST_TEST(oa::sse_done == "data: [DONE]\n\n");
  // Without include_usage the chunks carry no usage key at all.
  m.include_usage = false;
  BOOST_TEST(!sse_json(oa::chunk_text(m, "x")).find("usage"));
  // Completions stream `text`, not deltas.
  m.kind = oa::endpoint::completion;
  auto ct = sse_json(oa::chunk_text(m, "abc"));
  BOOST_TEST(ct.find("object")->as_string() == "text_completion");
  BOOST_TEST(ct.find("choices")->items()[0].find("text")->as_string() == "abc");
}

BOOST_AUTO_TEST_CASE(whole_responses_errors_and_models) {
  oa::response_meta m{oa::endpoint::chat, "chatcmpl-2", "m", 1, false};
  auto r = json(oa::response(m, "Hello", done("length")));
  BOOST_TEST(r.find("object")->as_string() == "chat.completion");
  auto& c = r.find("choices")->items()[0];
  BOOST_TEST(c.find("message")->find("content")->as_string() == "Hello");
  BOOST_TEST(c.find("finish_reason")->as_string() == "length");
  BOOST_TEST(*r.find("usage")->find("prompt_tokens")->as_int64() == 7);
  BOOST_TEST(*r.find("usage")->find("completion_tokens")->as_int64() == 5);
  m.kind = oa::endpoint::completion;
  BOOST_TEST(json(oa::response(m, "x", done("stop"))).find("choices")->items()[0].find("text")->as_string() == "x");

  auto e = json(oa::error_body(model_not_found("nope")));
  auto* err = e.find("error");
  BOOST_REQUIRE(err);
  BOOST_TEST(err->find("message")->as_string() == "model 'nope' not found");
  BOOST_TEST(err->find("type")->as_string() == "invalid_request_error");
  BOOST_TEST(err->find("param")->as_string() == "model");
  BOOST_TEST(err->find("code")->as_string() == "model_not_found");
  BOOST_TEST(json(oa::error_body(bad_request("x"))).find("error")->find("param")->is_null());

  auto list = json(oa::model_list({{"a", 5}, {"b:1", 6}}));
  BOOST_TEST(list.find("object")->as_string() == "list");
  BOOST_TEST(list.find("data")->items().size() == 2u);
  BOOST_TEST(list.find("data")->items()[1].find("id")->as_string() == "b:1");
}

BOOST_AUTO_TEST_CASE(node_errors_map_to_http_statuses) {
  BOOST_TEST(from_code_name("invalid_argument", "x").status == 400);
  BOOST_TEST(from_code_name("out_of_range", "x").status == 400);
  BOOST_TEST(from_code_name("not_found", "x").status == 404);
  BOOST_TEST(from_code_name("resource_exhausted", "x").status == 429);
  BOOST_TEST(from_code_name("unavailable", "x").status == 503);
  BOOST_TEST(from_code_name("what?", "x").status == 500);
  BOOST_TEST(oa::finish_reason("context") == "length");
  BOOST_TEST(oa::finish_reason("cancelled") == "stop");
}
