// Qwen2 (llama.cpp's llm_build_qwen2): the llama block with q/k/v biases and NeoX rope (pairs
// (i, i + n_rot/2), LLAMA_ROPE_TYPE_NEOX). Everything else -- RMSNorm, SwiGLU, attention scale
// 1/sqrt(head_dim), tied or separate LM head -- is the shared transformer.
#include "gpu/arch/arch.hpp"

namespace holo::gpu {

arch_hooks qwen2_arch_hooks(const model_config&) {
  arch_hooks h;
  h.rope = rope_mode::neox;
  h.qkv_bias = true;
  h.embd_scale = 1.0f;
  return h;
}

}  // namespace holo::gpu
