// OpenAI's API in our terms (no CAF, no I/O): a /v1/chat/completions or /v1/completions body
// becomes a proto::generate_request; our token/done events become OpenAI's JSON (whole responses,
// or SSE chunks `data: {...}\n\n` ending with `data: [DONE]\n\n`); errors become
// {"error": {"message", "type", "param", "code"}}. What is supported and what is refused is listed
// in docs/http-api.md. Pure: safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/http_json.hpp"
#include "runtime/serving_protocol.hpp"

namespace holo::http::openai {

enum class endpoint { chat, completion };

struct request {
  endpoint kind = endpoint::chat;
  proto::generate_request gen;  // model as asked, prompt or messages, options; id and stream unset
  bool stream = false;
  bool include_usage = false;   // stream_options.include_usage
};

// Parses and checks a request body. Errors: invalid_argument (bad JSON, wrong types, missing
// model/messages/prompt) and unimplemented (a feature we do not serve: n > 1, tools, logprobs,
// echo, JSON mode, images...), each with the message to show the client.
result<request> parse_request(endpoint kind, std::string_view body);

// What every chunk and response of one generation repeats.
struct response_meta {
  endpoint kind = endpoint::chat;
  std::string id;       // "chatcmpl-..." / "cmpl-..."
  std::string model;    // as the client asked
  std::int64_t created = 0;
  bool include_usage = false;
};

// Our `done` reason as OpenAI's finish_reason: "stop" or "length".
std::string_view finish_reason(std::string_view done_reason);

std::string sse_event(std::string_view json);  // "data: JSON\n\n"
inline constexpr std::string_view sse_done = "data: [DONE]\n\n";

// Chunks of a streamed generation. The first chat chunk carries the assistant role; the finish
// chunk carries finish_reason (and, as an extension clients ignore, the serving node and the
// number of dispatches); with include_usage, every chunk has "usage": null and a last chunk
// with no choices carries the counts.
std::string chunk_role(const response_meta& m);
std::string chunk_text(const response_meta& m, std::string_view text);
std::string chunk_finish(const response_meta& m, const proto::done_event& done);
std::string chunk_usage(const response_meta& m, const proto::done_event& done);

// A whole (non-streamed) response.
std::string response(const response_meta& m, std::string_view text, const proto::done_event& done);

std::string error_body(const http_error& e);

// GET /v1/models, /v1/models/{id}.
struct model_entry {
  std::string id;
  std::int64_t created = 0;
};
std::string model_object(const model_entry& m);
std::string model_list(const std::vector<model_entry>& models);

}  // namespace holo::http::openai
