// Reads a model's tokenizer from GGUF metadata into vocab_data (the key -> field mapping is the
// one in gpu/vocab.hpp's top comment), and builds a tokenizer from it.
//
// The loader copies what the file says and invents nothing: absent optional keys stay empty or
// std::nullopt, and tokenizer::create applies llama.cpp's defaults and validates the whole.
// Failure: not_found when tokenizer.ggml.model or tokenizer.ggml.tokens is missing,
// invalid_argument when a key has the wrong type or an id does not fit int32; each names the key.
// Pure: safe from any thread. The result owns its strings (no views into the file).
#pragma once

#include "gpu/gguf.hpp"
#include "gpu/tokenizer.hpp"
#include "gpu/vocab.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

result<vocab_data> read_vocab(const gguf_file& file);

// read_vocab, then tokenizer::create.
result<tokenizer> load_tokenizer(const gguf_file& file);

}  // namespace holo::gpu
