// Helpers shared by the engine tests (gpu/forward.test.cpp, gpu/engine.test.cpp,
// gpu/llamacpp_parity.test.cpp): a temp directory, tiny seeded models written with model_builder,
// and loading them with either backend.
#pragma once

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "gpu/engine.hpp"
#include "gpu/model_builder.hpp"
#include "test/temp_dir.hpp"

namespace holo::gpu::test {

// test/temp_dir.hpp's, its folder named holo_TAG-XXXXXX.
struct temp_dir : holo::test::temp_dir {
  explicit temp_dir(const std::string& tag) : holo::test::temp_dir("holo_" + tag) {}
};

// A tiny model (model_builder's defaults: n_embd 256, 2 layers, 4 heads / 2 KV heads, vocab 1024)
// of `arch` and `mix`, qwen2 with a BPE vocabulary as the real ones have.
inline model_spec tiny_spec(model_arch arch, weight_mix mix, std::uint64_t seed = 7) {
  model_spec s;
  s.arch = arch;
  s.weights = mix;
  s.vocab = arch == model_arch::qwen2 ? vocab_kind::bpe : vocab_kind::spm;
  s.tied_output = arch == model_arch::qwen2;  // Qwen2 0.5B ties its LM head
  s.seed = seed;
  return s;
}

inline std::string build_tiny(const temp_dir& dir, const model_spec& spec) {
  const std::string path = dir.file(std::string(to_string(spec.arch)) + "_" + std::string(to_string(spec.weights)) +
                                    "_" + std::to_string(spec.seed) + ".gguf");
  if (!std::filesystem::exists(path)) {
    auto r = build_model(spec, path);
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
  }
  return path;
}

inline std::shared_ptr<model> load_or_fail(const std::string& path, const std::string& backend_name,
                                           int threads = 2, std::int32_t ctx = 256, std::int32_t batch = 512) {
  load_options o;
  o.backend = backend_name;
  o.threads = threads;
  o.ctx_size = ctx;
  o.batch_max = batch;
  auto m = model::load(path, o);
  BOOST_REQUIRE_MESSAGE(m.ok(), (m.ok() ? std::string() : m.error().to_string()));
  return *m;
}

inline std::unique_ptr<session> session_or_fail(const std::shared_ptr<model>& m) {
  auto s = session::create(m);
  BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? std::string() : s.error().to_string()));
  return std::move(*s);
}

inline std::int32_t argmax(std::span<const float> v) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;
  return static_cast<std::int32_t>(best);
}

// Greedy continuation of `prompt` for n tokens, through prefill + decode (the last token is fed too,
// which costs nothing here and keeps the loop plain).
inline std::vector<std::int32_t> greedy(session& s, const std::vector<std::int32_t>& prompt, int n) {
  std::vector<std::int32_t> out;
  auto logits = s.prefill(prompt);
  BOOST_REQUIRE_MESSAGE(logits.ok(), (logits.ok() ? std::string() : logits.error().to_string()));
  for (int i = 0; i < n; ++i) {
    const std::int32_t id = argmax(*logits);
    out.push_back(id);
    if (i + 1 == n) break;
    logits = s.decode(id);
    BOOST_REQUIRE_MESSAGE(logits.ok(), (logits.ok() ? std::string() : logits.error().to_string()));
  }
  return out;
}

}  // namespace holo::gpu::test
