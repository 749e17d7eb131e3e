// model_builder: writes GGUF test models -- llama or qwen2, any size, seeded random weights, a real
// (small) vocabulary -- for tests, benchmarks and `holo mkmodel`. Real models cannot be downloaded
// here; these files load in llama.cpp as well as in our reader, so both can be run on them.
//
// What a file holds:
//   - weights: normal(0, 0.02) for matrices, embeddings and biases, 1 + normal(0, 0.02) for norm
//     weights; each tensor from its own stream seeded by (spec.seed, tensor name), so a tensor's
//     values do not depend on the other tensors and `seeded_tensor_values` reproduces them.
//   - types: one of F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K for every matrix, or llama.cpp's
//     Q4_K_M / Q5_K_M mixes (Q6_K for output.weight -- token_embd when tied -- and for attn_v and
//     ffn_down of the layers llama.cpp's use_more_bits picks; Q4_K / Q5_K elsewhere). 1-D tensors
//     are F32. Single types are written pure (like `llama-quantize --pure`; llama.cpp's own Q4_0 or
//     Q8_0 files would carry a Q6_K output.weight). A matrix whose row length is not a multiple of 256 cannot hold K-quants and falls back
//     to Q8_0 (llama.cpp falls back to Q5_0/Q5_1/Q8_0; we quantize no Q5_0/Q5_1).
//   - vocabulary (see build_vocab): SentencePiece ("llama" tokenizer) or byte-level BPE ("gpt2",
//     pre "llama-bpe" for llama, "qwen2" for qwen2), learnt from a small built-in English corpus,
//     with the family's special tokens and chat template; padded with "[PADn]" unused tokens up to
//     n_vocab as llama.cpp's converter pads.
//
// Memory: the whole file is held in memory while it is written (gguf_writer owns the tensors), so
// building needs about the file's size in RAM. Time: single-threaded; F16 ~20 M params/s, K-quants
// ~1 M params/s (quantize_row's scale search): the 100m preset takes 7 s in F16, 136 s in Q4_K_M. Failure: invalid_argument for a bad spec (message
// names the field), or the writer's error. Not thread-safe per call; calls are independent.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/model_config.hpp"
#include "gpu/tensor_type.hpp"
#include "gpu/vocab.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

// The weight types of a file: one type for every matrix, or a llama.cpp mix.
enum class weight_mix { f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m, q5_k_m };

std::string_view to_string(weight_mix m);  // "F32", ..., "Q4_K_M"
result<weight_mix> parse_weight_mix(std::string_view name);  // case-insensitive
// general.file_type (llama_ftype) of a mix; pure Q4_K/Q5_K files are labelled Q4_K_S/Q5_K_S.
std::uint32_t file_type_of(weight_mix m);

enum class vocab_kind { spm, bpe };

struct model_spec {
  model_arch arch = model_arch::llama;
  weight_mix weights = weight_mix::f16;
  vocab_kind vocab = vocab_kind::spm;
  std::int32_t n_vocab = 1024;  // tokens, >= vocab_size_min
  std::int32_t n_embd = 256;
  std::int32_t n_layer = 2;
  std::int32_t n_head = 4;
  std::int32_t n_head_kv = 2;
  std::int32_t n_ff = 512;
  std::int32_t n_ctx = 512;  // {arch}.context_length
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  bool tied_output = false;  // write no output.weight (token_embd is the LM head)
  std::uint64_t seed = 1;
  // 0: every row drawn. N > 0: each matrix draws (and quantizes) its first N rows and repeats them,
  // for benchmark models whose values do not matter: a 1B K-quant file in seconds instead of
  // minutes. Speed is the same (every byte is still read); the outputs are not a real model's.
  std::int64_t distinct_rows = 0;
  std::string name;  // general.name; "" means "holo-test-<arch>-<vocab>"
};

// The smallest n_vocab the builder accepts: the byte tokens, specials and the corpus alphabet fit.
inline constexpr std::int32_t vocab_size_min = 512;

// Named shapes (llama, SPM vocabulary, F16; change any field after):
//   tiny  n_embd 256, 2 layers, 4 heads / 2 KV heads, n_ff 512, ctx 512, vocab 1024  (~1.7M params)
//   100m  n_embd 768, 12 layers, 12 heads, n_ff 2048, ctx 2048, vocab 32000          (~134M params)
//   1b    n_embd 2048, 22 layers, 32 heads / 4 KV heads, n_ff 5632, ctx 2048, vocab 32000
//         (TinyLlama 1.1B's shape)
result<model_spec> model_preset(std::string_view name);

// Checks sizes (model_limits, divisibility: n_embd by n_head, n_head by n_head_kv, even head size,
// n_embd and n_ff multiples of 32 for quantized types) and n_vocab >= vocab_size_min.
status validate_model_spec(const model_spec& spec);

std::int64_t parameter_count(const model_spec& spec);

// The tensor type the builder writes for a tensor of row length ne0 named `name` ("blk.3.attn_v.weight").
tensor_type builder_tensor_type(const model_spec& spec, std::string_view name, std::int64_t ne0, bool is_1d);

// The f32 values the builder draws for tensor `name` (before encoding to its type), n elements.
std::vector<float> seeded_tensor_values(const model_spec& spec, std::string_view name, std::int64_t n);

// The vocabulary the builder writes for spec.vocab / spec.arch / spec.n_vocab (tokens, scores,
// types, merges, special ids, add_bos, chat template). Deterministic; independent of the seed.
result<vocab_data> build_vocab(const model_spec& spec);

struct build_progress {
  std::size_t tensors_done = 0;
  std::size_t tensors_total = 0;
  std::string_view tensor;  // the one just encoded
};

struct build_summary {
  std::int64_t n_params = 0;
  std::uint64_t file_bytes = 0;
  std::size_t n_tensors = 0;
};

// Builds the model and writes it atomically to `path` (gguf_writer::write). `on_progress`, when
// set, is called on the calling thread after each tensor is encoded.
result<build_summary> build_model(const model_spec& spec, const std::string& path,
                                  const std::function<void(const build_progress&)>& on_progress = {});

}  // namespace holo::gpu
