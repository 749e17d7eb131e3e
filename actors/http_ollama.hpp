// Ollama's API in our terms (no CAF, no I/O): /api/generate and /api/chat bodies become a
// proto::generate_request (Ollama's `options` mapped to our sampler); our events become Ollama's
// NDJSON lines, the last one with done_reason, counts and nanosecond durations; /api/tags, /api/ps,
// /api/show and /api/version bodies; errors as {"error": "..."}. What is supported and what is
// refused is listed in docs/http-api.md. Pure: safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/http_json.hpp"
#include "actors/http_models.hpp"
#include "runtime/serving_protocol.hpp"

namespace holo::http::ollama {

enum class endpoint { generate, chat };

struct request {
  endpoint kind = endpoint::generate;
  proto::generate_request gen;  // model as asked, prompt or messages, options; id and stream unset
  bool stream = true;           // Ollama streams unless told `"stream": false`
  bool load_only = false;       // no prompt / no messages: Ollama's "load the model" request
};

// Errors: invalid_argument (bad JSON or fields), unimplemented (images, format, tools, template
// overrides, context, suffix), with the message to show.
result<request> parse_request(endpoint kind, std::string_view body);

// Our `done` reason as Ollama's done_reason: "stop" or "length".
std::string_view done_reason(std::string_view reason);

// One NDJSON line (ending in '\n') of a streamed generation.
std::string line_text(endpoint kind, std::string_view model, std::string_view text);
// The last line; `text` is the rest of the text (streamed) or all of it (not streamed).
std::string line_final(endpoint kind, std::string_view model, std::string_view text, const proto::done_event& done);
// The answer to a load-only request.
std::string line_loaded(endpoint kind, std::string_view model);

std::string error_body(std::string_view message);  // {"error": "..."} (no newline)

// /api/tags: every model the cluster serves; /api/ps: those with a ready replica somewhere.
std::string tags(const std::vector<model_description>& models);
std::string ps(const std::vector<model_description>& models);
// /api/show {"model": NAME}.
std::string show(const model_description& m, std::int64_t configured_context);
std::string version(std::string_view v);

}  // namespace holo::http::ollama
