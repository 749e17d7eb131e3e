// The serving half of the client protocol (docs/protocol.md, "Generation"): what a client sends to
// ask for tokens and what the node streams back. Same framing as runtime/client_protocol.hpp: one
// MessagePack map per ZeroMQ frame, {"v": 1, "kind": K, "id": ID, ...}.
//
//   client -> node   generate {model, prompt | messages, options, stream, session}
//                    cancel   {id}                 stops the generation `id`
//                    resume   {id, from_index}     re-attaches this connection to generation `id`
//                                                  and streams its events from token `from_index`
//                    models   {}                   what the cluster serves
//   node -> client   token    {id, index, tokens[], text}   tokens index.. of generation `id` and the
//                                                  text they released; normally one token, several
//                                                  when the client reads slower than we generate
//                    done     {id, reason, text, tokens?, prompt_tokens, generated_tokens, model,
//                              node, attempts, timings{queue_ms, ttft_ms, total_ms, decode_ms,
//                              prefill_ms}}
//                    models   {models[{name, aliases, fallback, replicas[{node, state}]}]}
//                    error    {id, code, message}      (client_protocol.hpp)
//
// Every decoder validates types, sizes and limits and never throws; encoders cannot fail.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/status.hpp"

namespace holo::proto {

// Limits of one generate request (the router applies the configured, usually smaller, caps too).
inline constexpr std::size_t prompt_bytes_max = 512 * 1024;
inline constexpr std::size_t messages_max = 256;
inline constexpr std::size_t model_name_bytes_max = 128;
inline constexpr std::size_t session_bytes_max = 128;

struct chat_turn {
  std::string role;
  std::string content;
};

// Sampling options; an absent key keeps the engine default (gpu/sampler.hpp).
struct generate_options {
  std::optional<double> temperature, top_p, min_p, repeat_penalty, frequency_penalty, presence_penalty;
  std::optional<std::int64_t> top_k, repeat_last_n, max_tokens;
  std::optional<std::uint64_t> seed;
  std::vector<std::string> stop;
  // Generate to max_tokens even past the model's end-of-generation tokens (llama.cpp's ignore_eos):
  // for benchmarks and tests that need a fixed length.
  bool ignore_eos = false;
};

struct generate_request {
  std::string id;
  std::string model;
  std::optional<std::string> prompt;  // used as is (BOS added as the model says)
  std::vector<chat_turn> messages;    // rendered with the model's chat template
  generate_options options;
  bool stream = true;                 // false: one `done` carrying the whole text and tokens
  std::string session;                // affinity key: requests of one session go to one replica
};

struct cancel_request {
  std::string id;
};

struct resume_request {
  std::string id;
  std::int64_t from_index = 0;
};

struct token_event {
  std::string id;
  std::int64_t index = 0;               // index of tokens[0] within the generation
  std::vector<std::int32_t> tokens;
  std::string text;
};

struct done_timings {
  double queue_ms = 0;  // accepted -> first dispatch
  double ttft_ms = 0;   // accepted -> first token (-1: none)
  double total_ms = 0;  // accepted -> done
  double decode_ms = 0; // the serving shard's engine time after the first token (its last attempt;
                        // 0: unknown), so (generated_tokens - 1) / decode_ms is the engine's own speed
  double prefill_ms = 0;  // the serving shard's engine time up to the first token (prompt processing)
};

struct done_event {
  std::string id;
  std::string reason;   // length, eog, stop, context, cancelled
  std::string text;     // streamed: text held back to the end (often empty); else the whole text
  std::vector<std::int32_t> tokens;  // not streamed: every token
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;
  std::string model;    // the model that served (differs from the asked one under canary/fallback)
  std::string node;     // the node whose shard finished it
  std::int64_t attempts = 1;  // dispatches it took (> 1 after a failover)
  done_timings timings;
};

struct replica_info {
  std::string node;
  std::string state;  // ready, loading, down
};

struct model_info {
  std::string name;
  std::vector<std::string> aliases;
  std::string fallback;
  std::vector<replica_info> replicas;
};

// ---- client side ----
std::string encode_generate(const generate_request& r);
std::string encode_cancel(std::string_view id);
std::string encode_resume(std::string_view id, std::int64_t from_index);
std::string encode_models_request(std::string_view id);

// One event of a generation as the client reads it.
struct stream_event {
  enum class kind { token, done, error } what = kind::error;
  token_event token;
  done_event done;
  std::string error_code;
  std::string error_message;
};
// Reads a token/done/error frame for any id (the caller matches ids). invalid_argument when the
// frame is none of those or is malformed.
result<stream_event> decode_stream_event(std::string_view frame);
result<std::vector<model_info>> decode_models_reply(std::string_view frame, std::string_view expected_id);

// ---- node side ----
// The header (v, kind, id) has been read by decode_request_header; these read the rest.
result<generate_request> decode_generate(std::string_view frame);
result<resume_request> decode_resume(std::string_view frame);
std::string encode_token_event(const token_event& e);
std::string encode_done_event(const done_event& e);
std::string encode_models_reply(std::string_view id, const std::vector<model_info>& models);

}  // namespace holo::proto
