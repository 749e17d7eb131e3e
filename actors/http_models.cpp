#include "actors/http_models.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <map>

#include "gpu/gguf.hpp"
#include "gpu/ollama_store.hpp"

namespace holo::http {

namespace {

// The canonical Ollama reference of a name ("host/ns/name:tag"), or "" when it is not one.
std::string canonical(std::string_view name) {
  auto r = gpu::parse_ollama_ref(name);
  return r.ok() ? r->to_string() : std::string();
}

}  // namespace

const config::model_config* resolve_model(const config::cluster_config& cluster, std::string_view asked) {
  if (asked.empty()) return nullptr;
  if (auto* m = cluster.find_model(std::string(asked))) return m;
  const auto want = canonical(asked);
  if (want.empty()) return nullptr;
  for (auto& m : cluster.models) {
    if (gpu::is_ollama_ref(m.path) && canonical(m.path.substr(gpu::ollama_prefix.size())) == want) return &m;
    if (canonical(m.name) == want) return &m;
    for (auto& a : m.aliases)
      if (canonical(a) == want) return &m;
  }
  return nullptr;
}

std::string human_parameters(std::uint64_t n) {
  char buf[32];
  const double x = static_cast<double>(n);
  if (n >= 1'000'000'000ull) std::snprintf(buf, sizeof buf, "%.2fB", x / 1e9);
  else if (n >= 1'000'000ull) std::snprintf(buf, sizeof buf, "%.2fM", x / 1e6);
  else if (n >= 1'000ull) std::snprintf(buf, sizeof buf, "%.2fK", x / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  std::string s = buf;
  // Ollama writes "494.03M" but "7B", not "7.00B".
  if (auto dot = s.find(".00"); dot != std::string::npos) s.erase(dot, 3);
  return s;
}

model_description describe_model(const config::cluster_config& cluster, const config::model_config& m) {
  model_description d;
  d.name = m.name;
  d.aliases = m.aliases;
  if (gpu::is_ollama_ref(m.path)) {
    auto om = gpu::resolve_ollama_model(m.path.substr(gpu::ollama_prefix.size()));
    if (!om) {
      d.error = om.error().message();
      return d;
    }
    d.path = om->blob_path;
    d.digest = om->digest.rfind("sha256:", 0) == 0 ? om->digest.substr(7) : om->digest;
  } else {
    d.path = cluster.resolve_path(m.path);
  }
  struct stat st{};
  if (::stat(d.path.c_str(), &st) != 0) {
    d.error = d.path + ": not on this node";
    return d;
  }
  d.size_bytes = static_cast<std::uint64_t>(st.st_size);
  d.modified_unix = static_cast<std::int64_t>(st.st_mtime);
  auto f = gpu::gguf_file::open(d.path);
  if (!f) {
    d.error = f.error().message();
    return d;
  }
  if (auto a = f->get_string("general.architecture"); a.ok()) d.architecture = std::string(*a);
  if (!d.architecture.empty())
    if (auto c = f->get_u64(d.architecture + ".context_length"); c.ok()) d.context_length = static_cast<std::int64_t>(*c);
  if (auto t = f->get_string("tokenizer.chat_template"); t.ok()) d.chat_template = std::string(*t);
  std::uint64_t params = 0;
  std::map<std::string_view, std::uint64_t> weight_types;  // type -> elements in 2-D tensors
  for (auto& t : f->tensors()) {
    params += static_cast<std::uint64_t>(t.n_elements);
    if (t.n_dims == 2) weight_types[gpu::traits(t.type).name] += static_cast<std::uint64_t>(t.n_elements);
  }
  d.parameter_size = human_parameters(params);
  std::uint64_t top = 0;
  for (auto& [type, n] : weight_types)
    if (n > top) top = n, d.quantization = std::string(type);
  return d;
}

}  // namespace holo::http
