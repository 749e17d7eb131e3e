#define BOOST_TEST_MODULE model_builder
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

#include "gpu/chat_template.hpp"
#include "gpu/gguf.hpp"
#include "gpu/model_builder.hpp"
#include "gpu/model_config.hpp"
#include "gpu/model_weights.hpp"
#include "gpu/quant.hpp"
#include "gpu/vocab_loader.hpp"
#include "test/temp_dir.hpp"

using namespace holo::gpu;
using holo::test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

gguf_file build_and_open(const model_spec& spec, const std::string& path) {
  auto summary = build_model(spec, path);
  BOOST_TEST_REQUIRE(summary.ok(), (summary.ok() ? "" : summary.error().to_string()));
  BOOST_TEST(summary->file_bytes == fs::file_size(path));
  auto f = gguf_file::open(path);
  BOOST_TEST_REQUIRE(f.ok(), (f.ok() ? "" : f.error().to_string()));
  return std::move(*f);
}

// sqrt(sum (a-b)^2 / sum b^2)
double normalized_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

std::vector<float> dequantize(const gguf_tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.n_elements));
  const std::int64_t ne0 = t.dims[0];
  const std::size_t rb = row_bytes(t.type, static_cast<std::size_t>(ne0));
  for (std::int64_t r = 0; r < t.n_elements / ne0; ++r)
    BOOST_REQUIRE(dequantize_row(t.type, t.data.data() + r * rb, out.data() + r * ne0, ne0).ok());
  return out;
}

double tolerance(tensor_type t) {
  switch (t) {
    case tensor_type::f32: return 0;
    case tensor_type::f16: return 1e-3;
    case tensor_type::bf16: return 5e-3;
    case tensor_type::q8_0: return 0.01;
    case tensor_type::q6_k: return 0.03;
    case tensor_type::q5_k: return 0.05;
    case tensor_type::q4_k: return 0.1;
    case tensor_type::q4_0: return 0.12;
    default: return 1;
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(tiny_llama_reads_back) {
  temp_dir dir;
  model_spec spec;  // tiny
  const gguf_file f = build_and_open(spec, dir.file("tiny.gguf"));
  auto c = read_model_config(f);
  BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().to_string()));
  BOOST_TEST((c->arch == model_arch::llama));
  BOOST_TEST(c->n_vocab == spec.n_vocab);
  BOOST_TEST(c->n_embd == 256);
  BOOST_TEST(c->n_layer == 2);
  BOOST_TEST(c->n_head == 4);
  BOOST_TEST(c->n_head_kv == 2);
  BOOST_TEST(c->head_dim == 64);
  BOOST_TEST(c->n_ff == 512);
  BOOST_TEST(c->n_ctx_train == 512);
  BOOST_TEST(c->n_rot == 64);
  BOOST_TEST(c->rms_eps == 1e-5f);
  BOOST_TEST((c->rope == rope_kind::normal));
  BOOST_TEST(!c->tied_output);
  BOOST_TEST(!c->attn_bias);
  BOOST_TEST(c->file_type == 1u);
  BOOST_TEST(c->name == "holo-test-llama-spm");
  auto w = load_model_weights(f, *c);
  BOOST_TEST_REQUIRE(w.ok(), (w.ok() ? "" : w.error().to_string()));
  BOOST_TEST(w->layers.size() == 2u);
  BOOST_TEST(f.alignment() == 32u);
  BOOST_TEST(parameter_count(spec) == 1'705'216);

  auto tok = load_tokenizer(f);
  BOOST_TEST_REQUIRE(tok.ok(), (tok.ok() ? "" : tok.error().to_string()));
  const auto ids = tok->encode("The quick brown fox jumps over the lazy dog.", true, false);
  BOOST_TEST(ids.front() == tok->bos_id());
  BOOST_TEST(ids.size() < 20u);  // pieces, not characters
  // Without the BOS, decoding drops the space SentencePiece prefixed (as llama.cpp does).
  BOOST_TEST(tok->decode(std::vector<std::int32_t>(ids.begin() + 1, ids.end())) ==
             "The quick brown fox jumps over the lazy dog.");
  BOOST_TEST(chat_template::detect(tok->chat_template()).ok());
}

BOOST_AUTO_TEST_CASE(every_weight_type_dequantizes_to_the_seeded_values) {
  temp_dir dir;
  for (auto mix : {weight_mix::f32, weight_mix::f16, weight_mix::bf16, weight_mix::q8_0, weight_mix::q4_0,
                   weight_mix::q4_k, weight_mix::q5_k, weight_mix::q6_k, weight_mix::q4_k_m, weight_mix::q5_k_m}) {
    BOOST_TEST_CONTEXT("type " << to_string(mix)) {
      model_spec spec;
      spec.weights = mix;
      spec.n_vocab = 600;
      spec.seed = 7;
      const gguf_file f = build_and_open(spec, dir.file("m.gguf"));
      auto c = read_model_config(f);
      BOOST_TEST_REQUIRE(c.ok());
      BOOST_TEST(c->file_type == file_type_of(mix));
      BOOST_TEST(load_model_weights(f, *c).ok());
      for (const auto& t : f.tensors()) {
        BOOST_TEST_CONTEXT("tensor " << t.name) {
          BOOST_TEST((t.type == builder_tensor_type(spec, t.name, t.dims[0], t.n_dims == 1)));
          const auto want = seeded_tensor_values(spec, t.name, t.n_elements);
          BOOST_TEST(normalized_error(dequantize(t), want) <= tolerance(t.type));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(q4_k_m_mixes_like_llama_cpp) {
  model_spec spec;
  spec.weights = weight_mix::q4_k_m;
  spec.n_layer = 16;
  BOOST_TEST((builder_tensor_type(spec, "output.weight", 256, false) == tensor_type::q6_k));
  BOOST_TEST((builder_tensor_type(spec, "token_embd.weight", 256, false) == tensor_type::q4_k));
  BOOST_TEST((builder_tensor_type(spec, "output_norm.weight", 256, true) == tensor_type::f32));
  // use_more_bits(i, 16): i < 2, i >= 14, (i - 2) % 3 == 2
  for (int il = 0; il < 16; ++il) {
    const bool more = il < 2 || il >= 14 || (il - 2) % 3 == 2;
    const auto want = more ? tensor_type::q6_k : tensor_type::q4_k;
    BOOST_TEST((builder_tensor_type(spec, "blk." + std::to_string(il) + ".attn_v.weight", 256, false) == want));
    BOOST_TEST((builder_tensor_type(spec, "blk." + std::to_string(il) + ".ffn_down.weight", 512, false) == want));
    BOOST_TEST((builder_tensor_type(spec, "blk." + std::to_string(il) + ".attn_q.weight", 256, false) ==
                tensor_type::q4_k));
  }
  spec.tied_output = true;
  BOOST_TEST((builder_tensor_type(spec, "token_embd.weight", 256, false) == tensor_type::q6_k));
  // Rows that cannot hold 256-element blocks fall back to Q8_0, then F16.
  BOOST_TEST((builder_tensor_type(spec, "blk.0.attn_q.weight", 96, false) == tensor_type::q8_0));
  BOOST_TEST((builder_tensor_type(spec, "blk.0.attn_q.weight", 80, false) == tensor_type::f16));
}

BOOST_AUTO_TEST_CASE(deterministic_by_seed) {
  temp_dir dir;
  model_spec spec;
  spec.weights = weight_mix::q4_k_m;
  spec.seed = 42;
  BOOST_REQUIRE(build_model(spec, dir.file("a.gguf")).ok());
  BOOST_REQUIRE(build_model(spec, dir.file("b.gguf")).ok());
  spec.seed = 43;
  BOOST_REQUIRE(build_model(spec, dir.file("c.gguf")).ok());
  BOOST_TEST((slurp(dir.file("a.gguf")) == slurp(dir.file("b.gguf"))));
  BOOST_TEST((slurp(dir.file("a.gguf")) != slurp(dir.file("c.gguf"))));
  BOOST_TEST(seeded_tensor_values(spec, "blk.0.attn_q.weight", 5) == seeded_tensor_values(spec, "blk.0.attn_q.weight", 5));
  BOOST_TEST(seeded_tensor_values(spec, "blk.0.attn_q.weight", 5) != seeded_tensor_values(spec, "blk.0.attn_k.weight", 5));
}

BOOST_AUTO_TEST_CASE(weights_look_like_a_model) {
  model_spec spec;
  const auto m = seeded_tensor_values(spec, "blk.0.ffn_up.weight", 100000);
  const auto n = seeded_tensor_values(spec, "blk.0.ffn_norm.weight", 100000);
  double mean_m = 0, var_m = 0, mean_n = 0;
  for (float v : m) mean_m += v;
  for (float v : n) mean_n += v;
  mean_m /= double(m.size());
  mean_n /= double(n.size());
  for (float v : m) var_m += (v - mean_m) * (v - mean_m);
  BOOST_TEST(std::abs(mean_m) < 1e-3);
  BOOST_TEST(std::sqrt(var_m / double(m.size())) == 0.02, boost::test_tools::tolerance(0.02));
  BOOST_TEST(mean_n == 1.0, boost::test_tools::tolerance(1e-3));
}

BOOST_AUTO_TEST_CASE(qwen2_bpe_tied) {
  temp_dir dir;
  model_spec spec;
  spec.arch = model_arch::qwen2;
  spec.vocab = vocab_kind::bpe;
  spec.tied_output = true;
  spec.weights = weight_mix::q8_0;
  const gguf_file f = build_and_open(spec, dir.file("qwen.gguf"));
  auto c = read_model_config(f);
  BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().to_string()));
  BOOST_TEST((c->arch == model_arch::qwen2));
  BOOST_TEST((c->rope == rope_kind::neox));
  BOOST_TEST(c->attn_bias);
  BOOST_TEST(c->tied_output);
  BOOST_TEST(f.find_tensor("output.weight") == nullptr);
  auto w = load_model_weights(f, *c);
  BOOST_TEST_REQUIRE(w.ok(), (w.ok() ? "" : w.error().to_string()));
  BOOST_TEST(w->output.data == w->token_embd.data);
  BOOST_TEST(!w->layers[0].bq.empty());
  BOOST_TEST(w->layers[1].bv.cols == 128);

  auto v = read_vocab(f);
  BOOST_TEST_REQUIRE(v.ok());
  BOOST_TEST(v->model == "gpt2");
  BOOST_TEST(v->pre == "qwen2");
  BOOST_TEST(v->scores.empty());
  BOOST_TEST(v->merges.size() > 300u);
  BOOST_TEST(v->tokens.size() == 1024u);
  BOOST_TEST((v->add_bos_token == std::optional<bool>(false)));
  auto tok = load_tokenizer(f);
  BOOST_TEST_REQUIRE(tok.ok(), (tok.ok() ? "" : tok.error().to_string()));
  const auto ids = tok->encode("<|im_start|>user\nHello world<|im_end|>", true, true);
  BOOST_TEST(ids.front() == tok->eos_id() - 1);  // <|im_start|>
  BOOST_TEST(tok->is_eog(ids.back()));
  auto t = chat_template::detect(tok->chat_template());
  BOOST_TEST_REQUIRE(t.ok());
  BOOST_TEST((t->family() == chat_family::chatml));
}

BOOST_AUTO_TEST_CASE(llama_bpe_vocab) {
  model_spec spec;
  spec.vocab = vocab_kind::bpe;
  auto v = build_vocab(spec);
  BOOST_TEST_REQUIRE(v.ok());
  BOOST_TEST(v->pre == "llama-bpe");
  BOOST_TEST(v->tokens[0] == "!");
  BOOST_TEST(v->tokens[*v->bos_token_id] == "<|begin_of_text|>");
  BOOST_TEST(v->tokens[*v->eot_token_id] == "<|eot_id|>");
  auto tok = tokenizer::create(*v);
  BOOST_TEST_REQUIRE(tok.ok(), (tok.ok() ? "" : tok.error().to_string()));
  BOOST_TEST(tok->decode(tok->encode(" Hello, world! 12345 café 🙂", false, false)) == " Hello, world! 12345 café 🙂");
  auto t = chat_template::detect(v->chat_template);
  BOOST_TEST_REQUIRE(t.ok());
  BOOST_TEST((t->family() == chat_family::llama3));
}

BOOST_AUTO_TEST_CASE(spm_vocab_layout) {
  model_spec spec;
  spec.n_vocab = 32000;
  auto v = build_vocab(spec);
  BOOST_TEST_REQUIRE(v.ok());
  BOOST_TEST(v->tokens.size() == 32000u);
  BOOST_TEST(v->tokens[0] == "<unk>");
  BOOST_TEST(v->tokens[1] == "<s>");
  BOOST_TEST(v->tokens[2] == "</s>");
  BOOST_TEST(v->tokens[3 + 0x0A] == "<0x0A>");
  BOOST_TEST(v->tokens[31999] == "[PAD31999]");
  BOOST_TEST(v->scores.size() == 32000u);
  BOOST_TEST(tokenizer::create(*v).ok());
}

BOOST_AUTO_TEST_CASE(presets_and_parsing) {
  auto p = model_preset("1b");
  BOOST_TEST_REQUIRE(p.ok());
  BOOST_TEST(p->n_embd == 2048);
  BOOST_TEST(p->n_head_kv == 4);
  BOOST_TEST(parameter_count(*p) == 1'100'048'384);  // TinyLlama-1.1B
  BOOST_TEST(validate_model_spec(*p).ok());
  auto m = model_preset("100m");
  BOOST_TEST_REQUIRE(m.ok());
  BOOST_TEST(validate_model_spec(*m).ok());
  BOOST_TEST(!model_preset("7b").ok());
  BOOST_TEST((parse_weight_mix("q4_k_m").value() == weight_mix::q4_k_m));
  BOOST_TEST(!parse_weight_mix("Q3_K").ok());
}

BOOST_AUTO_TEST_CASE(bad_specs_are_refused) {
  temp_dir dir;
  auto refused = [&](model_spec s) { return !build_model(s, dir.file("bad.gguf")).ok(); };
  model_spec s;
  s.n_head_kv = 3;
  BOOST_TEST(refused(s));
  s = {};
  s.n_embd = 250;
  BOOST_TEST(refused(s));
  s = {};
  s.n_vocab = 100;
  BOOST_TEST(refused(s));
  s = {};
  s.n_embd = 48, s.n_head = 2, s.weights = weight_mix::q8_0;  // 48 % 32
  BOOST_TEST(refused(s));
  s = {};
  s.n_layer = 0;
  BOOST_TEST(refused(s));
  BOOST_TEST(!fs::exists(dir.file("bad.gguf")));
}
