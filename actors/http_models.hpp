// The models as HTTP clients name and see them (no CAF): resolving a name the way Ollama users
// write it ("qwen2:0.5b", "qwen2" = "qwen2:latest", "library/qwen2:0.5b") to a configured model,
// and describing a model's file (size, digest, family, parameter count, quantization) for
// /api/tags, /api/show and /v1/models. Reads files only; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/config.hpp"

namespace holo::http {

// The configured model a client's name means: a model name or alias first, exactly as written;
// then Ollama's reading of the name (default tag `latest`, namespace `library`), compared with the
// Ollama reference of models whose path is "ollama:..." and with model names that are Ollama
// names themselves. nullptr when none.
const config::model_config* resolve_model(const config::cluster_config& cluster, std::string_view asked);

// What the gateway can tell about a model's file without loading it. Fields it cannot learn stay
// empty/zero (a file not on this node: only the name).
struct model_description {
  std::string name;                // the configured name
  std::vector<std::string> aliases;
  std::string path;                // the GGUF file (the resolved blob for Ollama references)
  std::uint64_t size_bytes = 0;
  std::string digest;              // Ollama's blob digest without "sha256:"; empty for plain files
  std::int64_t modified_unix = 0;  // the file's mtime
  std::string architecture;        // general.architecture ("qwen2", "llama")
  std::string parameter_size;      // "494.03M", "7.6B" (as Ollama writes it)
  std::string quantization;        // the most common type among 2-D weights ("Q8_0", "Q4_K")
  std::int64_t context_length = 0; // the model's own (<arch>.context_length)
  std::string chat_template;       // tokenizer.chat_template (may be long)
  std::string error;               // why the file could not be read (empty: it was)
};

model_description describe_model(const config::cluster_config& cluster, const config::model_config& m);

// "494.03M" / "7.62B" from a parameter count, like Ollama's format.HumanNumber.
std::string human_parameters(std::uint64_t n);

}  // namespace holo::http
