#define BOOST_TEST_MODULE ollama_store
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "gpu/ollama_store.hpp"

using namespace holo::gpu;
using holo::status_code;
namespace fs = std::filesystem;

namespace {

const std::string hex_a(64, 'a');
const std::string hex_b = std::string(63, 'b') + "1";

// A fake Ollama store: <root>/manifests/registry.ollama.ai/..., <root>/blobs/sha256-...
struct fake_store {
  fs::path base;
  fs::path root;
  fake_store() {
    base = fs::temp_directory_path() / ("holo_ollama_" + std::to_string(::getpid()));
    root = base / "models";
    fs::create_directories(root / "blobs");
  }
  ~fake_store() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  static void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
  static std::string manifest_json(const std::string& digest, std::size_t size,
                                   const std::string& media = "application/vnd.ollama.image.model") {
    return R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
           R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:)" +
           hex_b + R"(","size":485},"layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:)" +
           hex_b + R"(","size":11344},{"mediaType":")" + media + R"(","digest":")" + digest +
           R"(","size":)" + std::to_string(size) + "}]}";
  }
  fs::path manifest(const std::string& ns, const std::string& name, const std::string& tag,
                    const std::string& host = "registry.ollama.ai") const {
    return root / "manifests" / host / ns / name / tag;
  }
  // A model whose blob holds `blob` bytes.
  void add(const std::string& ns, const std::string& name, const std::string& tag, const std::string& hex,
           const std::string& blob = "GGUF....") const {
    write(manifest(ns, name, tag), manifest_json("sha256:" + hex, blob.size()));
    write(root / "blobs" / ("sha256-" + hex), blob);
  }
  std::vector<std::string> roots() const { return {root.string()}; }
};

status_code code_of(const fake_store& s, const std::string& ref) {
  const auto roots = s.roots();
  auto r = resolve_ollama_model(ref, roots);
  return r.ok() ? status_code::ok : r.error().code();
}

}  // namespace

BOOST_AUTO_TEST_CASE(parses_references) {
  auto r = parse_ollama_ref("ollama:qwen2:0.5b");
  BOOST_TEST_REQUIRE(r.ok());
  BOOST_TEST(r->to_string() == "registry.ollama.ai/library/qwen2:0.5b");
  BOOST_TEST(parse_ollama_ref("qwen2")->tag == "latest");
  BOOST_TEST(parse_ollama_ref("library/qwen2:7b")->to_string() == "registry.ollama.ai/library/qwen2:7b");
  BOOST_TEST(parse_ollama_ref("user/model:tag")->ns == "user");
  BOOST_TEST(parse_ollama_ref("hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_M")->host == "hf.co");
  BOOST_TEST(parse_ollama_ref("qwen2:7b-instruct-q4_K_M")->tag == "7b-instruct-q4_K_M");
  for (const char* bad : {"", ":", "qwen2:", "Qwen2", "../qwen2", "qwen2/..:x", "a..b", "lib/../x:y", "a/b/c/d",
                          "-x", ".x", "x y", "x:a/b", "x:..", "x:.a", "x:-a", "x\\y", "x%2f", "x:t\n",
                          "ollama:", "/abs", "x//y"}) {
    BOOST_TEST_CONTEXT("ref '" << bad << "'") { BOOST_TEST(!parse_ollama_ref(bad).ok()); }
  }
  BOOST_TEST(!parse_ollama_ref(std::string(81, 'a')).ok());
  BOOST_TEST(!parse_ollama_ref("a:" + std::string(129, 'a')).ok());
  BOOST_TEST(parse_ollama_ref(std::string(80, 'a')).ok());
}

BOOST_AUTO_TEST_CASE(resolves_with_default_tag_and_namespace) {
  fake_store s;
  s.add("library", "qwen2", "latest", hex_a, "GGUF-latest");
  s.add("library", "qwen2", "0.5b", hex_b, "GGUF-0.5b");
  s.add("someone", "model", "v1", std::string(64, 'c'));
  const auto roots = s.roots();
  auto m = resolve_ollama_model("ollama:qwen2", roots);
  BOOST_TEST_REQUIRE(m.ok(), (m.ok() ? "" : m.error().to_string()));
  BOOST_TEST(m->digest == "sha256:" + hex_a);
  BOOST_TEST(m->size_bytes == 11u);
  BOOST_TEST(fs::path(m->blob_path) == fs::canonical(s.root / "blobs" / ("sha256-" + hex_a)));
  BOOST_TEST(resolve_ollama_model("library/qwen2:0.5b", roots)->digest == "sha256:" + hex_b);
  BOOST_TEST(resolve_ollama_model("ollama:someone/model:v1", roots).ok());
}

BOOST_AUTO_TEST_CASE(searches_roots_in_order_and_lists_them) {
  fake_store s;
  s.add("library", "tiny", "latest", hex_a);
  const std::vector<std::string> roots = {(s.base / "missing").string(), s.root.string()};
  auto m = resolve_ollama_model("tiny", roots);
  BOOST_TEST_REQUIRE(m.ok());
  BOOST_TEST(m->root == s.root.string());
  auto nf = resolve_ollama_model("other:1b", roots);
  BOOST_TEST_REQUIRE(!nf.ok());
  BOOST_TEST((nf.error().code() == status_code::not_found));
  BOOST_TEST(nf.error().message().find((s.base / "missing").string() + " (no such directory)") != std::string::npos);
  BOOST_TEST(nf.error().message().find(s.root.string()) != std::string::npos);
  BOOST_TEST(nf.error().message().find("ollama pull other:1b") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(default_roots_follow_the_environment) {
  ::setenv("OLLAMA_MODELS", "/srv/models", 1);
  ::setenv("HOME", "/home/u", 1);
  const auto roots = ollama_default_roots();
  BOOST_TEST_REQUIRE(roots.size() == 3u);
  BOOST_TEST(roots[0] == "/srv/models");
  BOOST_TEST(roots[1] == "/home/u/.ollama/models");
  BOOST_TEST(roots[2] == "/usr/share/ollama/.ollama/models");
  ::unsetenv("OLLAMA_MODELS");
  BOOST_TEST(ollama_default_roots().size() == 2u);
  BOOST_TEST(resolve_model_path("/some/file.gguf").value() == "/some/file.gguf");
}

BOOST_AUTO_TEST_CASE(hostile_digests_are_refused) {
  fake_store s;
  const std::vector<std::string> digests = {
      "sha256:" + std::string(64, 'A'),          // uppercase
      "sha256:" + std::string(63, 'a'),          // short
      "sha256:" + std::string(65, 'a'),          // long
      "sha512:" + hex_a,                         // other algorithm
      "sha256:../../../../etc/passwd" + std::string(40, 'a'),
      "sha256-" + hex_a,                         // wrong separator
      "sha256:" + std::string(62, 'a') + "/a",   // slash
      "sha256:" + std::string(63, 'a') + "g",    // not hex
  };
  for (std::size_t i = 0; i < digests.size(); ++i) {
    const std::string name = "m" + std::to_string(i);
    fake_store::write(s.manifest("library", name, "latest"), fake_store::manifest_json(digests[i], 4));
    BOOST_TEST_CONTEXT("digest " << digests[i]) { BOOST_TEST((code_of(s, name) == status_code::invalid_argument)); }
  }
}

BOOST_AUTO_TEST_CASE(bad_manifests_are_refused) {
  fake_store s;
  fake_store::write(s.manifest("library", "notjson", "latest"), "{\"layers\": [,]}");
  BOOST_TEST((code_of(s, "notjson") == status_code::invalid_argument));
  fake_store::write(s.manifest("library", "nolayers", "latest"), "{\"config\": {}}");
  BOOST_TEST((code_of(s, "nolayers") == status_code::invalid_argument));
  fake_store::write(s.manifest("library", "nomodel", "latest"),
                    fake_store::manifest_json("sha256:" + hex_a, 4, "application/vnd.ollama.image.template"));
  BOOST_TEST((code_of(s, "nomodel") == status_code::not_found));
  fake_store::write(s.manifest("library", "huge", "latest"), std::string((1 << 20) + 1, ' '));
  BOOST_TEST((code_of(s, "huge") == status_code::invalid_argument));
  fake_store::write(s.manifest("library", "negsize", "latest"), fake_store::manifest_json("sha256:" + hex_a, 0));
  {  // size -1
    std::string j = fake_store::manifest_json("sha256:" + hex_a, 0);
    j.replace(j.rfind("\"size\":0"), 8, "\"size\":-1");
    fake_store::write(s.manifest("library", "negsize", "latest"), j);
  }
  BOOST_TEST((code_of(s, "negsize") == status_code::invalid_argument));
  // The blob is missing, or its size differs from the manifest's.
  fake_store::write(s.manifest("library", "noblob", "latest"), fake_store::manifest_json("sha256:" + hex_a, 4));
  BOOST_TEST((code_of(s, "noblob") == status_code::not_found));
  fake_store::write(s.root / "blobs" / ("sha256-" + hex_b), "GGUF");
  fake_store::write(s.manifest("library", "short", "latest"), fake_store::manifest_json("sha256:" + hex_b, 5));
  BOOST_TEST((code_of(s, "short") == status_code::data_loss));
  // A directory where the manifest file should be.
  fs::create_directories(s.manifest("library", "dir", "latest"));
  BOOST_TEST((code_of(s, "dir") == status_code::failed_precondition));
}

BOOST_AUTO_TEST_CASE(symlink_escapes_are_refused) {
  fake_store s;
  fake_store::write(s.base / "outside" / "secret.gguf", "GGUF");
  // The blob is a symlink to a file outside the store.
  fake_store::write(s.manifest("library", "blobescape", "latest"), fake_store::manifest_json("sha256:" + hex_a, 4));
  fs::create_symlink(s.base / "outside" / "secret.gguf", s.root / "blobs" / ("sha256-" + hex_a));
  BOOST_TEST((code_of(s, "blobescape") == status_code::failed_precondition));
  // The manifest is a symlink out of the store.
  fake_store::write(s.base / "outside" / "manifest", fake_store::manifest_json("sha256:" + hex_b, 4));
  fs::create_directories(s.manifest("library", "manescape", "latest").parent_path());
  fs::create_symlink(s.base / "outside" / "manifest", s.manifest("library", "manescape", "latest"));
  BOOST_TEST((code_of(s, "manescape") == status_code::failed_precondition));
  // A namespace directory that is a symlink out of the store.
  fs::create_directories(s.base / "outside" / "ns" / "m");
  fake_store::write(s.base / "outside" / "ns" / "m" / "latest", fake_store::manifest_json("sha256:" + hex_b, 4));
  fs::create_symlink(s.base / "outside" / "ns", s.root / "manifests" / "registry.ollama.ai" / "evil");
  BOOST_TEST((code_of(s, "evil/m") == status_code::failed_precondition));
  // A symlink inside the store is fine (and resolved).
  fake_store::write(s.root / "blobs" / ("sha256-" + hex_b), "GGUF");
  fs::create_directories(s.manifest("library", "linked", "latest").parent_path());
  fs::create_symlink(s.root / "blobs" / ("sha256-" + hex_b), s.root / "blobs" / ("sha256-" + std::string(64, 'c')));
  fake_store::write(s.manifest("library", "linked", "latest"), fake_store::manifest_json("sha256:" + std::string(64, 'c'), 4));
  auto roots = s.roots();
  auto m = resolve_ollama_model("linked", roots);
  BOOST_TEST_REQUIRE(m.ok(), (m.ok() ? "" : m.error().to_string()));
  BOOST_TEST(fs::path(m->blob_path) == fs::canonical(s.root / "blobs" / ("sha256-" + hex_b)));
}

BOOST_AUTO_TEST_CASE(a_symlinked_root_is_followed) {
  fake_store s;
  s.add("library", "m", "latest", hex_a);
  fs::create_symlink(s.root, s.base / "link");
  const std::vector<std::string> roots = {(s.base / "link").string()};
  BOOST_TEST(resolve_ollama_model("m", roots).ok());
}
