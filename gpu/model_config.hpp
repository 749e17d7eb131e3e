// model_config: the hyper-parameters of a decoder-only transformer, read from GGUF metadata with the
// keys llama.cpp writes (`{arch}.block_count`, `{arch}.attention.head_count_kv`, ...).
//
// Start here when loading a model: `auto cfg = read_model_config(file)`, then
// `load_model_weights(file, *cfg)` (gpu/model_weights.hpp) and `load_tokenizer(file)`
// (gpu/vocab_loader.hpp).
//
// Architectures: `llama` (Llama 2/3, TinyLlama, Mistral, ... -- llama.cpp's LLM_ARCH_LLAMA) and
// `qwen2`. Anything else, mixture-of-experts llama files and rope scaling other than linear (yarn,
// longrope) are `unimplemented`: refused with a message, never approximated. Llama 3.1-style rope
// scaling is not a metadata key but a `rope_freqs.weight` tensor of per-dimension frequency
// divisors; it is reported in `rope_freq_factors` and handed out by model_weights.
//
// Failure: invalid_argument (a key with a wrong type, a value out of range, inconsistent sizes),
// not_found (a required key is missing), unimplemented (see above); each message names the key.
// Pure function of the file: safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gpu/gguf.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

enum class model_arch { llama, qwen2 };

// How rotary embeddings pair the dimensions of a head (llama.cpp's rope types).
enum class rope_kind {
  normal,  // LLAMA_ROPE_TYPE_NORM: pairs (2i, 2i+1) -- llama
  neox,    // LLAMA_ROPE_TYPE_NEOX: pairs (i, i + n_rot/2) -- qwen2
};

std::string_view to_string(model_arch a);
result<model_arch> parse_model_arch(std::string_view name);
std::string_view to_string(rope_kind r);

// Upper bounds on the sizes a file may declare, far above real models; they keep a hostile file
// from making us allocate absurd KV caches or walk absurd layer counts.
namespace model_limits {
inline constexpr std::int64_t n_layer_max = 1024;
inline constexpr std::int64_t n_embd_max = 1 << 16;
inline constexpr std::int64_t n_head_max = 1024;
inline constexpr std::int64_t head_dim_max = 1024;
inline constexpr std::int64_t n_ff_max = 1 << 20;
inline constexpr std::int64_t n_vocab_max = 1 << 22;
inline constexpr std::int64_t n_ctx_max = 1 << 24;  // tokens
}  // namespace model_limits

struct model_config {
  model_arch arch = model_arch::llama;
  std::string name;  // general.name, "" when absent

  std::int32_t n_vocab = 0;      // tokenizer.ggml.tokens count, else {arch}.vocab_size,
                                 // else token_embd.weight ne1
  std::int32_t n_embd = 0;       // {arch}.embedding_length
  std::int32_t n_layer = 0;      // {arch}.block_count
  std::int32_t n_head = 0;       // {arch}.attention.head_count
  std::int32_t n_head_kv = 0;    // {arch}.attention.head_count_kv (default n_head; < n_head = GQA)
  std::int32_t head_dim = 0;     // {arch}.attention.key_length (default n_embd / n_head)
  std::int32_t head_dim_v = 0;   // {arch}.attention.value_length (default head_dim)
  std::int32_t n_ff = 0;         // {arch}.feed_forward_length
  std::int32_t n_ctx_train = 0;  // {arch}.context_length: tokens the model was trained on
  std::int32_t n_rot = 0;        // {arch}.rope.dimension_count (default head_dim): rotated dims per head

  float rms_eps = 0;             // {arch}.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000;  // {arch}.rope.freq_base
  // Positions are multiplied by this before rotation: 1 / {arch}.rope.scaling.factor for
  // scaling type "linear" (or the legacy {arch}.rope.scale_linear), else 1.
  float rope_freq_scale = 1;
  rope_kind rope = rope_kind::normal;       // normal for llama, neox for qwen2
  bool rope_freq_factors = false;           // a rope_freqs.weight tensor is present (Llama 3.1+)

  bool tied_output = false;  // no output.weight: the LM head is token_embd.weight
  bool attn_bias = false;    // q/k/v have biases (always for qwen2; for llama when blk.0.attn_q.bias exists)
  bool attn_output_bias = false;  // blk.N.attn_output.bias present (some llama fine-tunes)
  std::uint32_t file_type = 0;    // general.file_type (llama_ftype), 0 when absent

  std::int32_t n_embd_q() const { return n_head * head_dim; }      // rows of attn_q
  std::int32_t n_embd_k() const { return n_head_kv * head_dim; }   // rows of attn_k
  std::int32_t n_embd_v() const { return n_head_kv * head_dim_v; } // rows of attn_v
  std::int32_t n_gqa() const { return n_head / n_head_kv; }        // query heads per KV head
};

// Reads and validates the hyper-parameters of `file`.
result<model_config> read_model_config(const gguf_file& file);

// Consistency checks shared by read_model_config and the model builder: every size positive and
// within model_limits, n_head % n_head_kv == 0, n_rot even and <= head_dim, eps and freq base
// positive and finite. invalid_argument naming the field when one fails.
status validate_model_config(const model_config& c);

}  // namespace holo::gpu
