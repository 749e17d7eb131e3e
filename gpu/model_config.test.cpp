#define BOOST_TEST_MODULE model_config
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "gpu/gguf.hpp"
#include "gpu/gguf_writer.hpp"
#include "gpu/model_config.hpp"

using namespace holo::gpu;
using holo::status_code;

namespace {

// Metadata of a small llama/qwen2 model, written with gguf_writer; `edit` adds or changes keys
// (a key named in `skip` is left out).
struct meta {
  std::string arch = "llama";
  std::vector<std::string> skip;
  std::function<void(gguf_writer&)> extra;
  std::vector<std::string> tensors;  // names of 1-element F32 tensors to add

  std::vector<std::byte> bytes;
  holo::result<gguf_file> open() {
    gguf_writer w;
    auto u32 = [&](const std::string& k, std::uint32_t v) {
      for (auto& s : skip)
        if (s == k) return;
      w.add_u32(k, v);
    };
    if (std::find(skip.begin(), skip.end(), "general.architecture") == skip.end())
      w.add_string("general.architecture", arch);
    w.add_string("general.name", "test");
    const std::string a = arch;
    u32(a + ".vocab_size", 1000);
    u32(a + ".context_length", 4096);
    u32(a + ".embedding_length", 512);
    u32(a + ".block_count", 4);
    u32(a + ".feed_forward_length", 1376);
    u32(a + ".attention.head_count", 8);
    u32(a + ".attention.head_count_kv", 2);
    if (std::find(skip.begin(), skip.end(), "eps") == skip.end())
      w.add_f32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
    if (extra) extra(w);
    const float one = 1;
    const std::int64_t dims[1] = {1};
    for (auto& t : tensors)
      w.add_tensor(t, tensor_type::f32, dims, std::as_bytes(std::span<const float>(&one, 1)));
    auto b = w.to_bytes();
    BOOST_REQUIRE(b.ok());
    bytes = std::move(*b);
    return gguf_file::parse(bytes);
  }
  holo::result<model_config> config() {
    auto f = open();
    BOOST_REQUIRE(f.ok());
    return read_model_config(*f);
  }
};

void expect_error(meta m, status_code code, const std::string& in_message) {
  auto c = m.config();
  BOOST_TEST_REQUIRE(!c.ok());
  BOOST_TEST((c.error().code() == code), c.error().to_string());
  BOOST_TEST(c.error().message().find(in_message) != std::string::npos, c.error().message());
}

}  // namespace

BOOST_AUTO_TEST_CASE(llama_with_defaults) {
  meta m;
  auto c = m.config();
  BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().to_string()));
  BOOST_TEST((c->arch == model_arch::llama));
  BOOST_TEST(c->name == "test");
  BOOST_TEST(c->n_vocab == 1000);
  BOOST_TEST(c->n_embd == 512);
  BOOST_TEST(c->n_layer == 4);
  BOOST_TEST(c->n_head == 8);
  BOOST_TEST(c->n_head_kv == 2);
  BOOST_TEST(c->n_gqa() == 4);
  BOOST_TEST(c->head_dim == 64);
  BOOST_TEST(c->head_dim_v == 64);
  BOOST_TEST(c->n_rot == 64);
  BOOST_TEST(c->n_embd_k() == 128);
  BOOST_TEST(c->n_ff == 1376);
  BOOST_TEST(c->n_ctx_train == 4096);
  BOOST_TEST(c->rms_eps == 1e-6f);
  BOOST_TEST(c->rope_freq_base == 10000.0f);
  BOOST_TEST(c->rope_freq_scale == 1.0f);
  BOOST_TEST((c->rope == rope_kind::normal));
  BOOST_TEST(c->tied_output);  // no output.weight tensor
  BOOST_TEST(!c->attn_bias);
  BOOST_TEST(!c->rope_freq_factors);
}

BOOST_AUTO_TEST_CASE(qwen2_is_neox_with_biases) {
  meta m;
  m.arch = "qwen2";
  m.tensors = {"output.weight"};
  m.extra = [](gguf_writer& w) { w.add_f32("qwen2.rope.freq_base", 1000000.0f); };
  auto c = m.config();
  BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().to_string()));
  BOOST_TEST((c->arch == model_arch::qwen2));
  BOOST_TEST((c->rope == rope_kind::neox));
  BOOST_TEST(c->attn_bias);
  BOOST_TEST(!c->tied_output);
  BOOST_TEST(c->rope_freq_base == 1e6f);
}

BOOST_AUTO_TEST_CASE(optional_tensors_are_detected) {
  meta m;
  m.tensors = {"blk.0.attn_q.bias", "blk.0.attn_output.bias", "rope_freqs.weight"};
  auto c = m.config();
  BOOST_TEST_REQUIRE(c.ok());
  BOOST_TEST(c->attn_bias);
  BOOST_TEST(c->attn_output_bias);
  BOOST_TEST(c->rope_freq_factors);
}

BOOST_AUTO_TEST_CASE(explicit_head_sizes) {
  meta m;
  m.extra = [](gguf_writer& w) {
    w.add_u32("llama.attention.key_length", 128);
    w.add_u32("llama.attention.value_length", 96);
    w.add_u32("llama.rope.dimension_count", 32);
  };
  auto c = m.config();
  BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().to_string()));
  BOOST_TEST(c->head_dim == 128);
  BOOST_TEST(c->head_dim_v == 96);
  BOOST_TEST(c->n_rot == 32);
  BOOST_TEST(c->n_embd_q() == 1024);
  BOOST_TEST(c->n_embd_v() == 192);
}

BOOST_AUTO_TEST_CASE(vocab_size_sources) {
  meta m;
  m.skip = {"llama.vocab_size"};
  m.extra = [](gguf_writer& w) {
    std::vector<std::string> toks = {"a", "b", "c"};
    w.add_array_strings("tokenizer.ggml.tokens", toks);
  };
  BOOST_TEST(m.config()->n_vocab == 3);
  meta none;
  none.skip = {"llama.vocab_size"};
  expect_error(none, status_code::not_found, "vocabulary size");
}

BOOST_AUTO_TEST_CASE(rope_scaling) {
  meta lin;
  lin.extra = [](gguf_writer& w) {
    w.add_string("llama.rope.scaling.type", "linear");
    w.add_f32("llama.rope.scaling.factor", 4.0f);
  };
  BOOST_TEST(lin.config()->rope_freq_scale == 0.25f);
  meta legacy;
  legacy.extra = [](gguf_writer& w) { w.add_f32("llama.rope.scale_linear", 2.0f); };
  BOOST_TEST(legacy.config()->rope_freq_scale == 0.5f);
  meta none;
  none.extra = [](gguf_writer& w) { w.add_string("llama.rope.scaling.type", "none"); };
  BOOST_TEST(none.config()->rope_freq_scale == 1.0f);
  meta yarn;
  yarn.extra = [](gguf_writer& w) {
    w.add_string("llama.rope.scaling.type", "yarn");
    w.add_f32("llama.rope.scaling.factor", 4.0f);
  };
  expect_error(yarn, status_code::unimplemented, "'yarn' is not supported");
  meta neg;
  neg.extra = [](gguf_writer& w) {
    w.add_string("llama.rope.scaling.type", "linear");
    w.add_f32("llama.rope.scaling.factor", -2.0f);
  };
  expect_error(neg, status_code::invalid_argument, "rope.scaling.factor");
}

BOOST_AUTO_TEST_CASE(clear_errors) {
  meta arch;
  arch.arch = "gpt2";
  expect_error(arch, status_code::unimplemented, "architecture 'gpt2' is not supported");
  meta no_arch;
  no_arch.skip = {"general.architecture"};
  expect_error(no_arch, status_code::not_found, "general.architecture");
  meta no_layers;
  no_layers.skip = {"llama.block_count"};
  expect_error(no_layers, status_code::not_found, "llama.block_count");
  meta no_eps;
  no_eps.skip = {"eps"};
  expect_error(no_eps, status_code::not_found, "layer_norm_rms_epsilon");
  meta gqa;
  gqa.extra = [](gguf_writer& w) { w.add_u32("llama.attention.head_count_kv", 3); };
  gqa.skip = {"llama.attention.head_count_kv"};
  expect_error(gqa, status_code::invalid_argument, "not a multiple of n_head_kv");
  meta zero;
  zero.skip = {"llama.block_count"};
  zero.extra = [](gguf_writer& w) { w.add_u32("llama.block_count", 0); };
  expect_error(zero, status_code::invalid_argument, "llama.block_count = 0");
  meta huge;
  huge.skip = {"llama.embedding_length"};
  huge.extra = [](gguf_writer& w) { w.add_u64("llama.embedding_length", 1ull << 40); };
  expect_error(huge, status_code::invalid_argument, "llama.embedding_length");
  meta uneven;
  uneven.skip = {"llama.attention.head_count"};
  uneven.extra = [](gguf_writer& w) { w.add_u32("llama.attention.head_count", 7); };
  expect_error(uneven, status_code::invalid_argument, "not a multiple of llama.attention.head_count");
  meta odd_rot;
  odd_rot.extra = [](gguf_writer& w) { w.add_u32("llama.rope.dimension_count", 63); };
  expect_error(odd_rot, status_code::invalid_argument, "rope dimension count 63");
  meta big_rot;
  big_rot.extra = [](gguf_writer& w) { w.add_u32("llama.rope.dimension_count", 128); };
  expect_error(big_rot, status_code::invalid_argument, "rope dimension count 128");
  meta wrong_type;
  wrong_type.skip = {"llama.feed_forward_length"};
  wrong_type.extra = [](gguf_writer& w) { w.add_string("llama.feed_forward_length", "1376"); };
  expect_error(wrong_type, status_code::invalid_argument, "llama.feed_forward_length");
  meta moe;
  moe.extra = [](gguf_writer& w) { w.add_u32("llama.expert_count", 8); };
  expect_error(moe, status_code::unimplemented, "mixture-of-experts");
  meta bad_eps;
  bad_eps.skip = {"eps"};
  bad_eps.extra = [](gguf_writer& w) { w.add_f32("llama.attention.layer_norm_rms_epsilon", 0.0f); };
  expect_error(bad_eps, status_code::invalid_argument, "epsilon");
}
