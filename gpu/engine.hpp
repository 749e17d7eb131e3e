// The engine's public API, what model shard actors and `holo run` / `holo bench` use. Start here.
//
//   auto m = model::load("model.gguf" or "ollama:qwen2:0.5b", {.threads = 4, .ctx_size = 2048});
//   auto s = session::create(*m);                  // one per concurrent request
//   auto r = generate(**s, prompt_ids, options, on_token);   // or s->prefill / s->decode by hand
//
// model: one GGUF file, memory-mapped (weights are never copied: tensor views point into the
// mapping), its config, tokenizer, and ONE compute backend whose scratch is reserved at load for
// ctx_size and batch_max. Immutable after load except for the backend's scratch.
// session: one sequence -- its own KV cache (kv_cache, F16) and activation buffers, allocated by
// create(); prefill/decode allocate nothing. Holds a shared_ptr to its model.
//
// Threads: a backend is driven by one thread at a time (gpu/backend.hpp), and every session of a
// model uses the model's backend. So: all sessions of one model must be called from one thread at
// a time -- in the runtime, the model shard actor that owns the model and its sessions. The
// backend's own compute threads (load_options::threads) are internal. For parallel independent
// streams, load the model twice (the mapping is shared by the page cache; only KV and scratch are
// per model). Loading and config/tokenizer accessors are safe from any thread.
//
// Failure: errors are values. load: not_found (no file / ollama manifest), invalid_argument or
// data_loss (a broken file), unimplemented (an architecture or tensor type we cannot run),
// resource_exhausted (memory). prefill/decode: out_of_range (context full, bad token id).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/arch/transformer.hpp"
#include "gpu/backend.hpp"
#include "gpu/gguf.hpp"
#include "gpu/model_config.hpp"
#include "gpu/model_weights.hpp"
#include "gpu/sampler.hpp"
#include "gpu/tokenizer.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

struct load_progress {
  std::string_view stage;  // "open", "config", "tokenizer", "weights", "prefault" or "upload", "ready"
  double fraction = 0;     // 0..1 within the whole load
};

struct load_options {
  int threads = 0;               // compute threads of the "cpu" backend; 0: hardware threads
  std::string backend = "cpu";   // "cpu" (AVX2 + threads), "cpu-ref" (reference loops, 1 thread),
                                 // "cuda:N" (GPU N; weights uploaded at load) or "auto" (the first
                                 // GPU when the model fits in its free memory, all GPUs as a
                                 // pipeline when it fits only in their sum, else "cpu"). A list
                                 // ("cuda:0,cuda:1") splits the layers evenly into an in-process
                                 // pipeline, one stage per backend: hidden states cross between
                                 // stages through host memory, once per batch.
  std::int32_t ctx_size = 0;     // KV positions per session; 0: min(context_length, 4096)
  std::int32_t batch_max = 512;  // prefill tokens per forward call
  layer_range layers;            // pipeline shards: a layer range (default every layer)
  // Pipeline shards across processes: picks the layer range once the model's configuration is
  // read (a cluster config may split "evenly" without knowing n_layer). Overrides `layers`.
  std::function<result<layer_range>(const model_config&)> choose_layers;
  bool prefault = true;          // read every weight page once at load (progress reported), so the
                                 // first tokens do not pay the page faults; weights stay mmap'd
  std::function<void(const load_progress&)> progress;  // called on the loading thread
};

class model {
 public:
  // Opens `path_or_ref` (a GGUF path or "ollama:NAME[:TAG]"), reads config, tokenizer and weights,
  // creates and reserves the backend.
  static result<std::shared_ptr<model>> load(std::string_view path_or_ref, const load_options& options = {});

  const model_config& config() const { return config_; }
  const model_weights& weights() const { return weights_; }  // every layer the model loaded
  const tokenizer& vocab() const { return *tokenizer_; }
  backend& compute() { return *stages_.front().compute; }  // the first stage's backend

  // The in-process pipeline: one stage per backend of load_options::backend, each holding a
  // contiguous layer range of weights() (views into the same mapping). One stage for one backend.
  struct stage {
    std::unique_ptr<backend> compute;
    model_weights weights;
  };
  const std::vector<stage>& stages() const { return stages_; }
  const std::string& path() const { return path_; }
  std::int32_t ctx_size() const { return options_.ctx_size; }
  std::int32_t batch_max() const { return options_.batch_max; }
  transformer_options forward_options() const {
    return {options_.ctx_size, options_.batch_max, 0, decode_weight_bytes()};
  }

  std::uint64_t file_bytes() const { return file_.bytes().size(); }
  // Bytes of weight matrices read to decode one token: every layer's 7 matrices and the LM head
  // (the one embedding row is negligible). The numerator of the decode bandwidth ratio.
  std::uint64_t decode_weight_bytes() const;
  // Bytes of one session's KV cache.
  std::uint64_t kv_cache_bytes() const;
  std::uint64_t kv_cache_bytes_for(std::int64_t ctx_size) const;
  // The backend "auto" chose and why ("cuda:0 (NVIDIA H100)", "cpu (no CUDA device)"); empty when
  // the backend was named.
  const std::string& backend_choice() const { return backend_choice_; }
  // The backend's name as loaded ("cpu", "cuda:0", ...; "auto" resolved).
  const std::string& options_backend() const { return options_.backend; }

  model(const model&) = delete;
  model& operator=(const model&) = delete;

 private:
  model(gguf_file file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}
  gguf_file file_;  // owns the mapping every tensor view points into: declared first, dies last
  std::string path_;
  model_config config_;
  model_weights weights_;
  std::optional<tokenizer> tokenizer_;  // set by load
  std::vector<stage> stages_;  // at least one after load
  load_options options_;
  std::string backend_choice_;
};

class session {
 public:
  // Allocates the KV cache and activation buffers for model.ctx_size() positions.
  static result<std::unique_ptr<session>> create(std::shared_ptr<model> m);

  // Appends tokens at position() (in batches of batch_max) and returns the last one's logits
  // (n_vocab values, valid until the next call; the caller may modify them, e.g. the sampler).
  // Errors: invalid_argument (empty), out_of_range (beyond the context, bad id; the session then
  // keeps its previous position).
  result<std::span<float>> prefill(std::span<const std::int32_t> tokens);
  // One token at position(): the decode step. Allocates nothing.
  result<std::span<float>> decode(std::int32_t token);

  // What the tail needs to sample a call's last row as gpu::sampler would here: sampling_uniform
  // and the penalties depend on nothing else, so the id equals a local draw bit for bit.
  struct remote_sample {
    const sampling_params* params = nullptr;
    std::uint64_t request_key = 0;
    std::uint64_t token_index = 0;
    // The penalty window: the last repeat_last_n ids of the history (prompt and generated, this
    // call's tokens included), oldest first; empty when no penalty is on.
    std::span<const std::int32_t> history;
  };
  // A model loaded with only its first layers (a pipeline's head: load_options::layers starting at
  // 0 and ending before n_layer) hands each batch's hidden states to a tail that runs the other
  // layers elsewhere. Without a tail such a session fails every call with failed_precondition.
  struct tail_batch {
    const float* hidden = nullptr;  // (n, n_embd) at positions pos0..pos0+n-1
    std::int64_t pos0 = 0;
    std::int64_t n = 0;
    // Set when the batch ends the call. Without `sample`: fill `logits` (n_vocab) with the batch's
    // last row's logits. With it: the tail samples that row where the logits are (the stage
    // holding the model's last layer) and puts the id in *token, so one id comes back instead of
    // n_vocab floats; `logits` is then left alone.
    float* logits = nullptr;
    const remote_sample* sample = nullptr;
    std::int32_t* token = nullptr;
  };
  using remote_tail = std::function<status(const tail_batch&)>;
  void set_tail(remote_tail tail) { tail_ = std::move(tail); }
  bool needs_tail() const { return partial_; }

  // A generation asks for the next call's last row to be sampled by the tail (only meaningful
  // when needs_tail()): prefill/decode then return an empty span, and sampled() holds the id until
  // the next call. `params` must outlive that call.
  void sample_next(const sampling_params* params, std::uint64_t request_key, std::uint64_t token_index) {
    next_sample_ = {params, request_key, token_index, {}};
    sample_armed_ = true;
  }
  std::optional<std::int32_t> sampled() const { return sampled_; }

  std::int64_t position() const { return static_cast<std::int64_t>(tokens_.size()); }
  const std::vector<std::int32_t>& tokens() const { return tokens_; }  // every token stored, in order
  std::int64_t ctx_size() const { return stages_.front().cache().ctx_size(); }
  // Forgets every token (the cache is reused as is).
  void reset() { tokens_.clear(); }
  // Keeps the first n tokens (resume from a common prefix). out_of_range when n > position().
  status truncate(std::int64_t n);

  model& owner() { return *model_; }
  const transformer& forward() const { return stages_.front(); }  // the first stage's

 private:
  session(std::shared_ptr<model> m, std::vector<transformer> stages);
  // Evaluates tokens at pos0 through every stage; the last token's logits in logits().
  status eval(const std::int32_t* tokens, std::int64_t n, std::int64_t pos0);
  std::span<float> logits();
  // The armed sample's penalty window for a call of `n` tokens (window_, or empty).
  std::span<const std::int32_t> penalty_window(const std::int32_t* tokens, std::int64_t n);
  std::shared_ptr<model> model_;
  std::vector<transformer> stages_;   // one per model stage, each with its own KV cache
  std::vector<float> hidden_;         // (batch_max, n_embd) between stages (pipelines only)
  std::vector<float> logits_;         // (n_vocab,) the last stage's output (pipelines only)
  std::vector<std::int32_t> tokens_;  // capacity ctx_size, reserved at create
  bool partial_ = false;              // the model ends before its last layer: needs tail_
  remote_tail tail_;
  remote_sample next_sample_;         // armed by sample_next for the next call only
  bool sample_armed_ = false;
  std::optional<std::int32_t> sampled_;
  std::vector<std::int32_t> window_;  // the penalty window sent with a remote sample, reserved
};

// One sequence's share of a model split across processes (a pipeline stage after the head): the
// layers its model was loaded with (load_options::layers), with their own KV cache. Hidden states
// in, hidden states out; the stage holding the model's last layer also makes logits. The head's
// session drives it position by position (gpu::session::set_tail, over the network): forward()
// must see positions in order, a call at pos0 overwriting everything from pos0 on (a head that
// restarts a sequence starts again at 0).
class stage_session {
 public:
  static result<std::unique_ptr<stage_session>> create(std::shared_ptr<model> m);

  // hidden (n, n_embd) at positions pos0..pos0+n-1 through this stage's layers, in place; any n
  // (batches of batch_max inside). out_of_range beyond the context or past filled() (positions
  // this stage never saw: it lost them, e.g. it restarted), invalid_argument for n < 1.
  status forward(float* hidden, std::int64_t pos0, std::int64_t n);
  // The logits (n_vocab, valid until the next call) of one row after the model's last layer.
  // failed_precondition unless this stage ends the model.
  result<std::span<const float>> logits(const float* row);
  // That row's next token drawn by `smp` (a pipeline head's remote sample): the same id the head's
  // own sampler would draw from the same logits. failed_precondition unless this stage ends the model.
  result<std::int32_t> sample(const float* row, sampler& smp, const std::vector<std::int32_t>& history,
                              std::uint64_t request_key, std::uint64_t token_index);

  std::int64_t filled() const { return filled_; }  // positions 0..filled()-1 are in the KV cache
  bool ends_model() const;
  const model& owner() const { return *model_; }

 private:
  stage_session(std::shared_ptr<model> m, std::vector<transformer> stages);
  std::shared_ptr<model> model_;
  std::vector<transformer> stages_;
  std::vector<float> logits_;
  std::int64_t filled_ = 0;
};

// ---- generation: sampler + detokenizer + stop strings + limits, over a session ----

struct generation_options {
  sampling_params sampling;        // temperature, top-k/p, min-p, penalties, seed, max_tokens, stop
  std::uint64_t request_key = 0;   // with sampling.seed, fixes every random draw (gpu/sampler.hpp)
  std::uint64_t first_token_index = 0;  // index of the first token generated here within the request
                                        // (non-zero when resuming a request after `n` tokens)
  bool stop_at_eog = true;         // end at an end-of-generation token (not reported as text)
  bool text = true;                // detokenize (false: ids only, pieces are empty)
  bool unparse_special = false;    // print control tokens' text
};

struct generated_token {
  std::int32_t id = 0;
  std::string_view piece;  // text released by this token (may be empty: held for UTF-8 or a stop string)
};

struct generation_timings {
  std::int64_t prompt_tokens = 0;
  double prompt_ms = 0;  // prefill of the new tokens, to the first logits
  std::int64_t generated_tokens = 0;
  double gen_ms = 0;     // sampling + decode of every generated token
  double prompt_tokens_per_second() const { return prompt_ms > 0 ? prompt_tokens * 1000.0 / prompt_ms : 0; }
  double gen_tokens_per_second() const { return gen_ms > 0 ? generated_tokens * 1000.0 / gen_ms : 0; }
};

enum class finish_reason { length, eog, stop, context, cancelled };
std::string_view to_string(finish_reason r);

struct generation_result {
  std::vector<std::int32_t> tokens;  // generated ids (an EOG that ended it included)
  std::string text;                  // every piece, concatenated (the stop string excluded)
  finish_reason reason = finish_reason::length;
  generation_timings timings;
};

// Called for each generated token, in order, on the calling thread; return false to stop
// (finish_reason::cancelled). The piece's bytes are valid during the call only.
using token_callback = std::function<bool(const generated_token&)>;

// Prefills `prompt` (at least one token) after whatever the session holds, then samples until
// sampling.max_tokens (-1: no limit), an EOG token, a stop string, the end of the context or the
// callback says stop. Penalties see the session's whole token history. Afterwards the session holds
// the prompt and every generated token except the last one (it was sampled, never fed: llama.cpp's
// behaviour too); to continue, prefill it first. Resuming a request elsewhere: prefill the same
// prompt + the tokens generated so far minus the last, pass that last one as `prompt`... or simply
// truncate to a common prefix and call generate with the rest and first_token_index = tokens
// already generated; with the same seed and request_key the continuation is the same.
// After the last token, a final callback with id -1 carries text held back until the end (an
// incomplete UTF-8 sequence, a partial stop-string match), when there is any.
// Errors: sampling parameters (invalid_argument), prefill/decode errors.
result<generation_result> generate(session& s, std::span<const std::int32_t> prompt,
                                   const generation_options& options, const token_callback& on_token = {});

}  // namespace holo::gpu
