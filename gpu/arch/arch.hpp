// What differs between the decoder-only architectures the engine runs, as data the shared
// transformer (gpu/arch/transformer.hpp) reads. One .cpp per architecture defines its hooks
// (gpu/arch/llama.cpp, gpu/arch/qwen2.cpp), following llama.cpp's graph for that architecture
// (llm_build_llama, llm_build_qwen2); arch_hooks_for picks one from the config.
//
// Adding an architecture whose block is the same pre-norm attention + SwiGLU FFN: a new
// gpu/arch/NAME.cpp with its hooks, a case in arch_hooks_for (transformer.cpp), and the arch in
// gpu/model_config.{hpp,cpp}. Anything else (parallel blocks, other norms) needs a new hook here.
// See docs/engine.md, "Adding an architecture".
#pragma once

#include "gpu/backend.hpp"
#include "gpu/model_config.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

struct arch_hooks {
  rope_mode rope = rope_mode::normal;  // how q and k heads are rotated
  bool qkv_bias = false;               // q, k, v projections add a bias (required when true)
  float embd_scale = 1.0f;             // token embeddings are multiplied by this (1: none; gemma: sqrt(n_embd))
};

// llama.cpp LLM_ARCH_LLAMA: normal rope, biases only when the file has them, no embedding scale.
arch_hooks llama_arch_hooks(const model_config& c);
// llama.cpp LLM_ARCH_QWEN2: neox rope, q/k/v biases, no embedding scale.
arch_hooks qwen2_arch_hooks(const model_config& c);

// The hooks of c.arch; unimplemented for an architecture the transformer cannot run.
result<arch_hooks> arch_hooks_for(const model_config& c);

}  // namespace holo::gpu
