#define BOOST_TEST_MODULE model_weights
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

#include "gpu/gguf.hpp"
#include "gpu/gguf_writer.hpp"
#include "gpu/model_builder.hpp"
#include "gpu/model_config.hpp"
#include "gpu/model_weights.hpp"

using namespace holo::gpu;
using holo::status_code;
namespace fs = std::filesystem;

namespace {

struct built_model {
  fs::path path;
  gguf_file file;
  model_config config;
};

built_model build(const model_spec& spec, const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("holo_model_weights_" + std::to_string(::getpid()) + "_" + name);
  auto r = build_model(spec, p.string());
  BOOST_REQUIRE(r.ok());
  auto f = gguf_file::open(p.string());
  BOOST_REQUIRE(f.ok());
  fs::remove(p);  // the mapping stays valid
  auto c = read_model_config(*f);
  BOOST_REQUIRE(c.ok());
  return {p, std::move(*f), *c};
}

// A llama model of F32 tensors written by hand; `shape` may change or drop (empty dims) a tensor.
struct hand_model {
  std::vector<std::byte> bytes;  // the file borrows them
  std::optional<gguf_file> file;
  model_config config;
};

hand_model make_hand_model(const std::function<std::vector<std::int64_t>(const std::string&, std::vector<std::int64_t>)>& shape) {
  gguf_writer w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.vocab_size", 64);
  w.add_u32("llama.context_length", 128);
  w.add_u32("llama.embedding_length", 32);
  w.add_u32("llama.block_count", 2);
  w.add_u32("llama.feed_forward_length", 64);
  w.add_u32("llama.attention.head_count", 4);
  w.add_u32("llama.attention.head_count_kv", 2);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> ts = {
      {"token_embd.weight", {32, 64}}, {"output_norm.weight", {32}}, {"output.weight", {32, 64}}};
  for (int il = 0; il < 2; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    ts.push_back({b + "attn_norm.weight", {32}});
    ts.push_back({b + "attn_q.weight", {32, 32}});
    ts.push_back({b + "attn_k.weight", {32, 16}});
    ts.push_back({b + "attn_v.weight", {32, 16}});
    ts.push_back({b + "attn_output.weight", {32, 32}});
    ts.push_back({b + "ffn_norm.weight", {32}});
    ts.push_back({b + "ffn_gate.weight", {32, 64}});
    ts.push_back({b + "ffn_up.weight", {32, 64}});
    ts.push_back({b + "ffn_down.weight", {64, 32}});
  }
  for (auto& [name, dims] : ts) {
    const auto d = shape(name, dims);
    if (d.empty()) continue;
    std::int64_t n = 1;
    for (auto x : d) n *= x;
    std::vector<float> zeros(static_cast<std::size_t>(n));
    w.add_tensor(name, tensor_type::f32, d, std::as_bytes(std::span<const float>(zeros)));
  }
  hand_model m;
  auto b = w.to_bytes();
  BOOST_REQUIRE(b.ok());
  m.bytes = std::move(*b);
  auto f = gguf_file::parse(m.bytes);
  BOOST_REQUIRE(f.ok());
  m.file.emplace(std::move(*f));
  auto c = read_model_config(*m.file);
  BOOST_REQUIRE(c.ok());
  m.config = *c;
  return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(maps_every_tensor) {
  model_spec spec;
  spec.weights = weight_mix::q4_k_m;
  auto m = build(spec, "full");
  auto w = load_model_weights(m.file, m.config);
  BOOST_TEST_REQUIRE(w.ok(), (w.ok() ? "" : w.error().to_string()));
  BOOST_TEST(w->first_layer == 0);
  BOOST_TEST(w->last_layer == 2);
  BOOST_TEST((w->token_embd.type == tensor_type::q4_k));
  BOOST_TEST(w->token_embd.cols == 256);
  BOOST_TEST(w->token_embd.rows == spec.n_vocab);
  BOOST_TEST((w->output.type == tensor_type::q6_k));
  BOOST_TEST(w->output_norm.rows == 1);
  BOOST_TEST((w->output_norm.type == tensor_type::f32));
  const auto& l = w->layer(1);
  BOOST_TEST(l.wq.cols == 256);
  BOOST_TEST(l.wq.rows == 256);
  BOOST_TEST(l.wk.rows == 128);
  BOOST_TEST(l.wv.rows == 128);
  BOOST_TEST((l.wv.type == tensor_type::q6_k));  // use_more_bits(1, 2)
  BOOST_TEST(l.ffn_down.cols == 512);
  BOOST_TEST(l.ffn_down.rows == 256);
  BOOST_TEST(l.bq.empty());
  BOOST_TEST(l.wq.data == m.file.find_tensor("blk.1.attn_q.weight")->data.data());
  BOOST_TEST(l.wq.row_size() == 144u);
  BOOST_TEST(w->rope_freqs.empty());
}

BOOST_AUTO_TEST_CASE(layer_ranges_for_pipeline_shards) {
  model_spec spec;
  spec.n_layer = 4;
  spec.arch = model_arch::qwen2;
  auto m = build(spec, "shards");
  auto first = load_model_weights(m.file, m.config, {0, 2});
  BOOST_TEST_REQUIRE(first.ok());
  BOOST_TEST(!first->token_embd.empty());
  BOOST_TEST(first->output.empty());
  BOOST_TEST(first->output_norm.empty());
  BOOST_TEST(first->layers.size() == 2u);
  BOOST_TEST(!first->layer(1).bq.empty());
  auto mid = load_model_weights(m.file, m.config, {1, 3});
  BOOST_TEST_REQUIRE(mid.ok());
  BOOST_TEST(mid->token_embd.empty());
  BOOST_TEST(mid->output.empty());
  BOOST_TEST(mid->layer(2).wq.data == m.file.find_tensor("blk.2.attn_q.weight")->data.data());
  auto last = load_model_weights(m.file, m.config, {3, -1});
  BOOST_TEST_REQUIRE(last.ok());
  BOOST_TEST(last->token_embd.empty());
  BOOST_TEST(!last->output.empty());
  BOOST_TEST(!last->output_norm.empty());
  for (layer_range bad : {layer_range{-1, 2}, layer_range{2, 2}, layer_range{0, 5}, layer_range{4, -1}}) {
    auto r = load_model_weights(m.file, m.config, bad);
    BOOST_TEST_REQUIRE(!r.ok());
    BOOST_TEST((r.error().code() == status_code::out_of_range));
  }
}

BOOST_AUTO_TEST_CASE(tied_output_last_shard_gets_the_embedding) {
  model_spec spec;
  spec.tied_output = true;
  auto m = build(spec, "tied");
  BOOST_TEST(m.config.tied_output);
  auto last = load_model_weights(m.file, m.config, {1, 2});
  BOOST_TEST_REQUIRE(last.ok(), (last.ok() ? "" : last.error().to_string()));
  BOOST_TEST(last->token_embd.empty());
  BOOST_TEST(last->output.data == m.file.find_tensor("token_embd.weight")->data.data());
  BOOST_TEST(last->output.rows == spec.n_vocab);
}

BOOST_AUTO_TEST_CASE(every_problem_is_named) {
  auto m = make_hand_model([](const std::string& name, std::vector<std::int64_t> dims) -> std::vector<std::int64_t> {
    if (name == "blk.0.attn_k.weight") return {};               // missing
    if (name == "blk.1.ffn_down.weight") return {32, 64};       // transposed
    if (name == "output_norm.weight") return {31};              // wrong length
    if (name == "blk.1.attn_norm.weight") return {32, 1, 2};    // 3-D
    return dims;
  });
  auto w = load_model_weights(*m.file, m.config);
  BOOST_TEST_REQUIRE(!w.ok());
  const std::string msg = w.error().message();
  BOOST_TEST((w.error().code() == status_code::invalid_argument));
  BOOST_TEST(msg.find("4 weight tensor(s)") != std::string::npos, msg);
  BOOST_TEST(msg.find("blk.0.attn_k.weight: missing, expected [32, 16]") != std::string::npos, msg);
  BOOST_TEST(msg.find("blk.1.ffn_down.weight: shape [32, 64], expected [64, 32]") != std::string::npos, msg);
  BOOST_TEST(msg.find("output_norm.weight: shape [31], expected [32]") != std::string::npos, msg);
  BOOST_TEST(msg.find("blk.1.attn_norm.weight: shape a 3-D tensor, expected [32]") != std::string::npos, msg);
  auto fine = make_hand_model([](const std::string&, std::vector<std::int64_t> d) { return d; });
  BOOST_TEST(load_model_weights(*fine.file, fine.config).ok());
}

BOOST_AUTO_TEST_CASE(missing_layers_are_all_counted) {
  auto m = make_hand_model([](const std::string& name, std::vector<std::int64_t> dims) -> std::vector<std::int64_t> {
    return name.rfind("blk.", 0) == 0 ? std::vector<std::int64_t>{} : dims;  // no layers at all
  });
  auto w = load_model_weights(*m.file, m.config);
  BOOST_TEST_REQUIRE(!w.ok());
  BOOST_TEST(w.error().message().find("18 weight tensor(s)") != std::string::npos);
  BOOST_TEST(w.error().message().find("blk.1.ffn_down.weight: missing") != std::string::npos);
}
