// Llama (llama.cpp's llm_build_llama): pre-norm blocks, RMSNorm, rope with pairs (2i, 2i+1)
// ("normal", LLAMA_ROPE_TYPE_NORM), no embedding scale, attention scale 1/sqrt(head_dim), SwiGLU FFN.
// Some fine-tunes add q/k/v (and output) biases; the weights carry them when the file has them.
#include "gpu/arch/arch.hpp"

namespace holo::gpu {

arch_hooks llama_arch_hooks(const model_config& c) {
  arch_hooks h;
  h.rope = rope_mode::normal;
  h.qkv_bias = c.attn_bias;
  h.embd_scale = 1.0f;
  return h;
}

}  // namespace holo::gpu
