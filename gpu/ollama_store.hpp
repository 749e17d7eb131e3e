// Finds the GGUF file of a model pulled with Ollama, read-only, from Ollama's on-disk store:
//   <root>/manifests/<host>/<namespace>/<name>/<tag>   JSON: {"layers": [{"mediaType", "digest", "size"}...]}
//   <root>/blobs/sha256-<64 hex>                        the layer whose mediaType is
//                                                       application/vnd.ollama.image.model is the GGUF
// References: "ollama:NAME[:TAG]" where NAME is `name`, `namespace/name` or `host/namespace/name`
// ("qwen2:0.5b", "library/qwen2:7b", "user/model:tag"); the defaults are tag `latest`, namespace
// `library`, host `registry.ollama.ai`. The "ollama:" prefix is optional for parse_ollama_ref.
// Roots, searched in order (ollama_default_roots): $OLLAMA_MODELS, ~/.ollama/models,
// /usr/share/ollama/.ollama/models; the first root holding the manifest is used.
//
// Strict, because the names come from users and the store may be shared: name and namespace match
// [a-z0-9][a-z0-9._-]* (at most 80 bytes), tags [A-Za-z0-9_][A-Za-z0-9._-]* (at most 128: Ollama's
// tags carry quant names such as q4_K_M), hosts [a-z0-9][a-z0-9.-]* (at most 253); no ".." anywhere;
// digests exactly "sha256:" + 64 lowercase hex; manifests at most manifest_bytes_max; the manifest
// and the blob must be regular files whose real paths stay inside the root's real path (a symlink
// out of the store is refused); the blob's size must equal the manifest's.
//
// Failure: invalid_argument (bad reference or manifest), not_found (no manifest in any root --
// the message lists the roots searched -- or no model layer, or a missing blob), data_loss (size
// mismatch), failed_precondition (escape from the store, not a regular file). Reads files only;
// safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/status.hpp"

namespace holo::gpu {

inline constexpr std::uint64_t manifest_bytes_max = 1 << 20;
inline constexpr std::string_view ollama_prefix = "ollama:";
inline constexpr std::string_view ollama_model_media_type = "application/vnd.ollama.image.model";

struct ollama_ref {
  std::string host = "registry.ollama.ai";
  std::string ns = "library";  // namespace
  std::string name;
  std::string tag = "latest";

  std::string to_string() const;  // "host/ns/name:tag"
};

result<ollama_ref> parse_ollama_ref(std::string_view ref);

// The roots to search, from the environment (entries whose variable is unset are left out).
std::vector<std::string> ollama_default_roots();

struct ollama_model {
  std::string blob_path;  // real path of the GGUF blob
  std::string digest;     // "sha256:<hex>"
  std::uint64_t size_bytes = 0;
  std::string manifest_path;
  std::string root;  // the root it was found in
};

result<ollama_model> resolve_ollama_model(std::string_view ref, std::span<const std::string> roots);
inline result<ollama_model> resolve_ollama_model(std::string_view ref) {
  const auto roots = ollama_default_roots();
  return resolve_ollama_model(ref, roots);
}

inline bool is_ollama_ref(std::string_view s) { return s.substr(0, ollama_prefix.size()) == ollama_prefix; }

// A model argument as users give it: "ollama:..." resolved through the default roots, anything
// else returned as the path it is.
result<std::string> resolve_model_path(std::string_view path_or_ref);

}  // namespace holo::gpu
