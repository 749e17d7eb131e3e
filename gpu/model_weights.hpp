// model_weights: the weight tensors of a llama/qwen2 model as tensor_views into a gguf_file,
// checked against its model_config. Nothing is copied: the views point into the file's mapping,
// so the gguf_file must outlive the model_weights (the shard that opened it owns both).
//
// GGUF shapes, ne0 (the row length) first -- a view has cols = ne0, rows = ne1:
//   token_embd.weight          [n_embd, n_vocab]
//   output_norm.weight         [n_embd]
//   output.weight              [n_embd, n_vocab]      absent when tied: token_embd is the LM head
//   rope_freqs.weight          [n_rot / 2]            optional (Llama 3.1+ rope scaling)
//   blk.N.attn_norm.weight     [n_embd]
//   blk.N.attn_q.weight        [n_embd, n_head * head_dim]       (+ .bias [n_head * head_dim])
//   blk.N.attn_k.weight        [n_embd, n_head_kv * head_dim]    (+ .bias)
//   blk.N.attn_v.weight        [n_embd, n_head_kv * head_dim_v]  (+ .bias)
//   blk.N.attn_output.weight   [n_head * head_dim_v, n_embd]     (+ .bias when attn_output_bias)
//   blk.N.ffn_norm.weight      [n_embd]
//   blk.N.ffn_gate.weight      [n_embd, n_ff]
//   blk.N.ffn_up.weight        [n_embd, n_ff]
//   blk.N.ffn_down.weight      [n_ff, n_embd]
//
// Pipeline shards load a layer range [first, last): the shard with layer 0 also gets token_embd,
// the shard ending at n_layer gets output_norm and output (token_embd again when tied).
//
// Failure: one invalid_argument listing every missing, mis-shaped or unsupported-type tensor by
// name (up to a limit), or out_of_range for a bad layer range. Pure: safe from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "gpu/gguf.hpp"
#include "gpu/model_config.hpp"
#include "gpu/tensor_view.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

struct layer_weights {
  tensor_view attn_norm;
  tensor_view wq, wk, wv, wo;
  tensor_view bq, bk, bv, bo;  // empty unless config.attn_bias (bo: attn_output_bias)
  tensor_view ffn_norm;
  tensor_view ffn_gate, ffn_up, ffn_down;
};

struct layer_range {
  std::int32_t first = 0;
  std::int32_t last = -1;  // exclusive; -1 means n_layer
};

struct model_weights {
  std::int32_t first_layer = 0;
  std::int32_t last_layer = 0;   // exclusive
  tensor_view token_embd;        // set when first_layer == 0
  tensor_view output_norm;       // set when last_layer == n_layer
  tensor_view output;            // set when last_layer == n_layer; == token_embd's data when tied
  tensor_view rope_freqs;        // set when config.rope_freq_factors
  std::vector<layer_weights> layers;  // layers[i] is layer first_layer + i

  const layer_weights& layer(std::int32_t il) const { return layers[static_cast<std::size_t>(il - first_layer)]; }
};

// Maps and checks the tensors for `range` (default: every layer).
result<model_weights> load_model_weights(const gguf_file& file, const model_config& config,
                                         layer_range range = {});

}  // namespace holo::gpu
