#include "gpu/ollama_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>

#include "gpu/json_lite.hpp"

namespace holo::gpu {

namespace {

constexpr std::size_t name_bytes_max = 80;
constexpr std::size_t tag_bytes_max = 128;
constexpr std::size_t host_bytes_max = 253;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

status check_part(std::string_view what, std::string_view s, std::size_t max, bool tag, bool host) {
  auto bad = [&](std::string why) {
    return status::invalid_argument("ollama " + std::string(what) + " '" + std::string(s) + "' " + why);
  };
  if (s.empty()) return bad("is empty");
  if (s.size() > max) return bad("is longer than " + std::to_string(max) + " bytes");
  if (s.find("..") != std::string_view::npos) return bad("contains '..'");
  const bool first_ok = tag ? (alnum(s[0]) || s[0] == '_') : lower_alnum(s[0]);
  if (!first_ok) return bad(tag ? "must start with a letter, digit or '_'" : "must start with a-z or 0-9");
  for (char c : s) {
    const bool ok = tag    ? alnum(c) || c == '.' || c == '_' || c == '-'
                    : host ? lower_alnum(c) || c == '.' || c == '-'
                           : lower_alnum(c) || c == '.' || c == '_' || c == '-';
    if (!ok)
      return bad(tag    ? "may only hold A-Z, a-z, 0-9, '.', '_' and '-'"
                 : host ? "may only hold a-z, 0-9, '.' and '-'"
                        : "may only hold a-z, 0-9, '.', '_' and '-'");
  }
  return ok_status();
}

bool is_digest(std::string_view d) {
  if (d.size() != 7 + 64 || d.substr(0, 7) != "sha256:") return false;
  for (char c : d.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The real path, or "" when it does not resolve.
std::string real_path(const std::string& p) {
  std::unique_ptr<char, decltype(&std::free)> r(::realpath(p.c_str(), nullptr), &std::free);
  return r ? std::string(r.get()) : std::string();
}

bool inside(const std::string& real_root, const std::string& real) {
  return real.size() > real_root.size() && real.compare(0, real_root.size(), real_root) == 0 &&
         (real_root == "/" || real[real_root.size()] == '/');
}

// A regular file inside the root: its real path; the errors the header lists otherwise.
result<std::string> contained_file(const std::string& real_root, const std::string& path, std::string_view what) {
  const std::string real = real_path(path);
  if (real.empty()) return status::not_found(std::string(what) + " " + path + " does not exist");
  if (!inside(real_root, real))
    return status::failed_precondition(std::string(what) + " " + path + " resolves to " + real +
                                       ", outside the Ollama store " + real_root);
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return status::failed_precondition(std::string(what) + " " + path + " is not a regular file");
  return real;
}

result<std::string> read_manifest(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return status::not_found("cannot open manifest " + path);
  std::string text;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > manifest_bytes_max) {
      ::close(fd);
      return status::invalid_argument("manifest " + path + " is larger than " + std::to_string(manifest_bytes_max) +
                                      " bytes");
    }
  }
  ::close(fd);
  return text;
}

struct model_layer {
  std::string digest;
  std::uint64_t size = 0;
};

result<model_layer> find_model_layer(const std::string& text, const std::string& path) {
  json_limits limits;
  limits.document_bytes_max = manifest_bytes_max;
  auto doc = parse_json(text, limits);
  if (!doc) return doc.error().with_context("manifest " + path);
  const json_value* layers = doc->find("layers");
  if (!layers || !layers->is_array())
    return status::invalid_argument("manifest " + path + " has no \"layers\" array");
  for (const auto& l : layers->items()) {
    const json_value* media = l.find("mediaType");
    if (!media || !media->is_string() || media->as_string() != ollama_model_media_type) continue;
    const json_value* digest = l.find("digest");
    const json_value* size = l.find("size");
    if (!digest || !digest->is_string() || !is_digest(digest->as_string()))
      return status::invalid_argument("manifest " + path +
                                      ": the model layer's digest is not sha256:<64 lowercase hex>");
    if (!size || !size->as_int64() || *size->as_int64() < 0)
      return status::invalid_argument("manifest " + path + ": the model layer's size is not a non-negative integer");
    return model_layer{digest->as_string(), static_cast<std::uint64_t>(*size->as_int64())};
  }
  return status::not_found("manifest " + path + " has no layer of type " + std::string(ollama_model_media_type));
}

result<ollama_model> resolve_in(const ollama_ref& r, const std::string& root, const std::string& real_root) {
  ollama_model m;
  m.root = root;
  m.manifest_path = root + "/manifests/" + r.host + "/" + r.ns + "/" + r.name + "/" + r.tag;
  auto manifest = contained_file(real_root, m.manifest_path, "manifest");
  if (!manifest) return manifest.error();
  auto text = read_manifest(*manifest);
  if (!text) return text.error();
  auto layer = find_model_layer(*text, m.manifest_path);
  if (!layer) return layer.error();
  m.digest = layer->digest;
  const std::string blob = root + "/blobs/sha256-" + m.digest.substr(7);
  auto real_blob = contained_file(real_root, blob, "blob");
  if (!real_blob) return real_blob.error().with_context(r.to_string());
  struct stat st {};
  if (::stat(real_blob->c_str(), &st) != 0) return status::not_found("cannot stat blob " + blob);
  if (static_cast<std::uint64_t>(st.st_size) != layer->size)
    return status::data_loss("blob " + blob + " has " + std::to_string(st.st_size) + " bytes, the manifest says " +
                             std::to_string(layer->size) + " (incomplete pull?)");
  m.blob_path = *real_blob;
  m.size_bytes = layer->size;
  return m;
}

}  // namespace

std::string ollama_ref::to_string() const { return host + "/" + ns + "/" + name + ":" + tag; }

result<ollama_ref> parse_ollama_ref(std::string_view ref) {
  if (is_ollama_ref(ref)) ref.remove_prefix(ollama_prefix.size());
  ollama_ref r;
  std::string_view path = ref;
  if (const auto colon = ref.rfind(':'); colon != std::string_view::npos) {
    r.tag = std::string(ref.substr(colon + 1));
    path = ref.substr(0, colon);
    if (r.tag.find('/') != std::string::npos)
      return status::invalid_argument("ollama tag '" + r.tag + "' contains '/'");
  }
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() > 3)
    return status::invalid_argument("ollama model '" + std::string(ref) + "' has more than host/namespace/name");
  r.name = std::string(parts.back());
  if (parts.size() >= 2) r.ns = std::string(parts[parts.size() - 2]);
  if (parts.size() == 3) r.host = std::string(parts[0]);
  HOLO_TRY(check_part("host", r.host, host_bytes_max, false, true));
  HOLO_TRY(check_part("namespace", r.ns, name_bytes_max, false, false));
  HOLO_TRY(check_part("name", r.name, name_bytes_max, false, false));
  HOLO_TRY(check_part("tag", r.tag, tag_bytes_max, true, false));
  return r;
}

std::vector<std::string> ollama_default_roots() {
  std::vector<std::string> roots;
  if (const char* e = std::getenv("OLLAMA_MODELS"); e && *e) roots.emplace_back(e);
  if (const char* h = std::getenv("HOME"); h && *h) roots.push_back(std::string(h) + "/.ollama/models");
  roots.emplace_back("/usr/share/ollama/.ollama/models");
  return roots;
}

result<ollama_model> resolve_ollama_model(std::string_view ref, std::span<const std::string> roots) {
  auto r = parse_ollama_ref(ref);
  if (!r) return r.error();
  std::string searched;
  for (const auto& root : roots) {
    const std::string real_root = real_path(root);
    const std::string manifest = root + "/manifests/" + r->host + "/" + r->ns + "/" + r->name + "/" + r->tag;
    struct stat st {};
    const bool present = !real_root.empty() && ::lstat(manifest.c_str(), &st) == 0;
    if (present) return resolve_in(*r, root, real_root);
    searched += "\n  " + root + (real_root.empty() ? " (no such directory)" : "");
  }
  const std::string pull = (r->ns == "library" ? "" : r->ns + "/") + r->name + ":" + r->tag;
  return status::not_found("ollama model " + r->to_string() + " not found (pull it with `ollama pull " + pull +
                           "`); searched:" + (searched.empty() ? std::string(" no roots") : searched));
}

result<std::string> resolve_model_path(std::string_view path_or_ref) {
  if (!is_ollama_ref(path_or_ref)) return std::string(path_or_ref);
  auto m = resolve_ollama_model(path_or_ref);
  if (!m) return m.error();
  return m->blob_path;
}

}  // namespace holo::gpu
