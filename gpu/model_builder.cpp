#include "gpu/model_builder.hpp"

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numbers>

#include "gpu/gguf_writer.hpp"
#include "gpu/quant.hpp"

namespace holo::gpu {

namespace {

constexpr float weight_std = 0.02f;  // small, so activations stay near unit scale in any depth

struct mix_info {
  weight_mix mix;
  std::string_view name;
  tensor_type base;
  std::uint32_t file_type;  // llama_ftype
};

constexpr mix_info mixes[] = {
    {weight_mix::f32, "F32", tensor_type::f32, 0},       {weight_mix::f16, "F16", tensor_type::f16, 1},
    {weight_mix::bf16, "BF16", tensor_type::bf16, 32},   {weight_mix::q8_0, "Q8_0", tensor_type::q8_0, 7},
    {weight_mix::q4_0, "Q4_0", tensor_type::q4_0, 2},    {weight_mix::q4_k, "Q4_K", tensor_type::q4_k, 14},
    {weight_mix::q5_k, "Q5_K", tensor_type::q5_k, 16},   {weight_mix::q6_k, "Q6_K", tensor_type::q6_k, 18},
    {weight_mix::q4_k_m, "Q4_K_M", tensor_type::q4_k, 15}, {weight_mix::q5_k_m, "Q5_K_M", tensor_type::q5_k, 17},
};

const mix_info& info(weight_mix m) {
  for (const auto& i : mixes)
    if (i.mix == m) return i;
  return mixes[0];
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third in between.
bool use_more_bits(int i_layer, int n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

int layer_of(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return -1;
  int il = 0;
  for (std::size_t i = 4; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i)
    il = il * 10 + (name[i] - '0');
  return il;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// splitmix64 (Steele, Lea, Flood): tiny, fast, and the same on every platform -- unlike
// std::normal_distribution, whose algorithm each standard library chooses.
class normal_stream {
 public:
  explicit normal_stream(std::uint64_t seed) : state_(seed) {}

  void fill(float* dst, std::int64_t n, float mean, float std) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = mean + std * static_cast<float>(next_normal());
  }

 private:
  std::uint64_t next_u64() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
  double next_normal() {  // Box-Muller, both outputs used
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(1.0 - uniform()));
    const double a = 2.0 * std::numbers::pi * uniform();
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }

  std::uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

std::uint64_t tensor_seed(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001B3ull;
  return h ^ (seed * 0x9E3779B97F4A7C15ull);
}

float mean_of(std::string_view name) { return name.find("_norm.") != std::string_view::npos ? 1.0f : 0.0f; }

struct planned_tensor {
  std::string name;
  std::int64_t ne0 = 0;
  std::int64_t ne1 = 1;
  bool is_1d = false;
};

std::vector<planned_tensor> plan(const model_spec& s) {
  const std::int64_t head_dim = s.n_embd / s.n_head;
  const std::int64_t n_embd_kv = head_dim * s.n_head_kv;
  std::vector<planned_tensor> p;
  p.push_back({"token_embd.weight", s.n_embd, s.n_vocab});
  p.push_back({"output_norm.weight", s.n_embd, 1, true});
  if (!s.tied_output) p.push_back({"output.weight", s.n_embd, s.n_vocab});
  for (int il = 0; il < s.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    p.push_back({b + "attn_norm.weight", s.n_embd, 1, true});
    p.push_back({b + "attn_q.weight", s.n_embd, s.n_embd});
    p.push_back({b + "attn_k.weight", s.n_embd, n_embd_kv});
    p.push_back({b + "attn_v.weight", s.n_embd, n_embd_kv});
    if (s.arch == model_arch::qwen2) {
      p.push_back({b + "attn_q.bias", s.n_embd, 1, true});
      p.push_back({b + "attn_k.bias", n_embd_kv, 1, true});
      p.push_back({b + "attn_v.bias", n_embd_kv, 1, true});
    }
    p.push_back({b + "attn_output.weight", s.n_embd, s.n_embd});
    p.push_back({b + "ffn_norm.weight", s.n_embd, 1, true});
    p.push_back({b + "ffn_gate.weight", s.n_embd, s.n_ff});
    p.push_back({b + "ffn_up.weight", s.n_embd, s.n_ff});
    p.push_back({b + "ffn_down.weight", s.n_ff, s.n_embd});
  }
  return p;
}

void add_hparams(gguf_writer& w, const model_spec& s, const std::string& name) {
  const std::string a(to_string(s.arch));
  w.add_string("general.architecture", a);
  w.add_string("general.name", name);
  w.add_u32(a + ".vocab_size", static_cast<std::uint32_t>(s.n_vocab));
  w.add_u32(a + ".context_length", static_cast<std::uint32_t>(s.n_ctx));
  w.add_u32(a + ".embedding_length", static_cast<std::uint32_t>(s.n_embd));
  w.add_u32(a + ".block_count", static_cast<std::uint32_t>(s.n_layer));
  w.add_u32(a + ".feed_forward_length", static_cast<std::uint32_t>(s.n_ff));
  w.add_u32(a + ".attention.head_count", static_cast<std::uint32_t>(s.n_head));
  w.add_u32(a + ".attention.head_count_kv", static_cast<std::uint32_t>(s.n_head_kv));
  w.add_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  w.add_f32(a + ".rope.freq_base", s.rope_freq_base);
  w.add_u32(a + ".rope.dimension_count", static_cast<std::uint32_t>(s.n_embd / s.n_head));
  w.add_u32("general.file_type", file_type_of(s.weights));
  if (s.weights != weight_mix::f32 && s.weights != weight_mix::f16 && s.weights != weight_mix::bf16)
    w.add_u32("general.quantization_version", 2);
}

void add_vocab(gguf_writer& w, const vocab_data& v) {
  w.add_string("tokenizer.ggml.model", v.model);
  if (!v.pre.empty()) w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_array_strings("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.add_array_f32("tokenizer.ggml.scores", v.scores);
  w.add_array_i32("tokenizer.ggml.token_type", v.token_types);
  if (!v.merges.empty()) w.add_array_strings("tokenizer.ggml.merges", v.merges);
  auto id = [&](std::string_view key, const std::optional<std::int32_t>& v) {
    if (v) w.add_u32(key, static_cast<std::uint32_t>(*v));
  };
  id("tokenizer.ggml.bos_token_id", v.bos_token_id);
  id("tokenizer.ggml.eos_token_id", v.eos_token_id);
  id("tokenizer.ggml.eot_token_id", v.eot_token_id);
  id("tokenizer.ggml.unknown_token_id", v.unknown_token_id);
  id("tokenizer.ggml.padding_token_id", v.padding_token_id);
  if (v.add_bos_token) w.add_bool("tokenizer.ggml.add_bos_token", *v.add_bos_token);
  if (v.add_eos_token) w.add_bool("tokenizer.ggml.add_eos_token", *v.add_eos_token);
  if (!v.chat_template.empty()) w.add_string("tokenizer.chat_template", v.chat_template);
}

}  // namespace

std::string_view to_string(weight_mix m) { return info(m).name; }

result<weight_mix> parse_weight_mix(std::string_view name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string names;
  for (const auto& i : mixes) {
    if (i.name == upper) return i.mix;
    names += (names.empty() ? "" : ", ") + std::string(i.name);
  }
  return status::invalid_argument("unknown weight type '" + std::string(name) + "' (known: " + names + ")");
}

std::uint32_t file_type_of(weight_mix m) { return info(m).file_type; }

result<model_spec> model_preset(std::string_view name) {
  model_spec s;  // the defaults are the tiny preset
  if (name == "tiny") return s;
  if (name == "100m") {
    s.n_embd = 768, s.n_layer = 12, s.n_head = 12, s.n_head_kv = 12, s.n_ff = 2048, s.n_ctx = 2048;
    s.n_vocab = 32000;
    return s;
  }
  if (name == "1b") {
    s.n_embd = 2048, s.n_layer = 22, s.n_head = 32, s.n_head_kv = 4, s.n_ff = 5632, s.n_ctx = 2048;
    s.n_vocab = 32000;
    return s;
  }
  return status::invalid_argument("unknown preset '" + std::string(name) + "' (known: tiny, 100m, 1b)");
}

status validate_model_spec(const model_spec& s) {
  if (s.n_head <= 0 || s.n_embd <= 0 || s.n_embd % s.n_head != 0)
    return status::invalid_argument("n_embd (" + std::to_string(s.n_embd) +
                                    ") must be a positive multiple of n_head (" + std::to_string(s.n_head) + ")");
  if (s.n_vocab < vocab_size_min)
    return status::invalid_argument("vocabulary size " + std::to_string(s.n_vocab) + " is below the minimum " +
                                    std::to_string(vocab_size_min));
  model_config c;
  c.arch = s.arch;
  c.n_vocab = s.n_vocab, c.n_embd = s.n_embd, c.n_layer = s.n_layer, c.n_head = s.n_head;
  c.n_head_kv = s.n_head_kv, c.head_dim = s.n_embd / s.n_head, c.head_dim_v = c.head_dim;
  c.n_rot = c.head_dim, c.n_ff = s.n_ff, c.n_ctx_train = s.n_ctx;
  c.rms_eps = s.rms_eps, c.rope_freq_base = s.rope_freq_base;
  HOLO_TRY(validate_model_config(c));
  if (traits(info(s.weights).base).block_elems > 1 && (s.n_embd % 32 != 0 || s.n_ff % 32 != 0))
    return status::invalid_argument("quantized weights need n_embd and n_ff multiples of 32 (got " +
                                    std::to_string(s.n_embd) + " and " + std::to_string(s.n_ff) + ")");
  return ok_status();
}

std::int64_t parameter_count(const model_spec& spec) {
  std::int64_t n = 0;
  for (const auto& t : plan(spec)) n += t.ne0 * t.ne1;
  return n;
}

tensor_type builder_tensor_type(const model_spec& spec, std::string_view name, std::int64_t ne0, bool is_1d) {
  if (is_1d) return tensor_type::f32;
  tensor_type t = info(spec.weights).base;
  if (spec.weights == weight_mix::q4_k_m || spec.weights == weight_mix::q5_k_m) {
    const bool lm_head = name == "output.weight" || (spec.tied_output && name == "token_embd.weight");
    const bool more_bits = (ends_with(name, "attn_v.weight") || ends_with(name, "ffn_down.weight")) &&
                           use_more_bits(layer_of(name), spec.n_layer);
    if (lm_head || more_bits) t = tensor_type::q6_k;
  }
  const auto block = static_cast<std::int64_t>(traits(t).block_elems);
  if (ne0 % block != 0) t = ne0 % qk8_0 == 0 ? tensor_type::q8_0 : tensor_type::f16;
  return t;
}

std::vector<float> seeded_tensor_values(const model_spec& spec, std::string_view name, std::int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  normal_stream(tensor_seed(spec.seed, name)).fill(v.data(), n, mean_of(name), weight_std);
  return v;
}

result<build_summary> build_model(const model_spec& spec, const std::string& path,
                                  const std::function<void(const build_progress&)>& on_progress) {
  HOLO_TRY(validate_model_spec(spec));
  auto vocab = build_vocab(spec);
  if (!vocab) return vocab.error();
  const std::string name = spec.name.empty() ? "holo-test-" + std::string(to_string(spec.arch)) + "-" +
                                                   (spec.vocab == vocab_kind::spm ? "spm" : "bpe")
                                             : spec.name;
  gguf_writer w;
  add_hparams(w, spec, name);
  add_vocab(w, *vocab);

  const auto tensors = plan(spec);
  build_summary summary;
  std::vector<float> row;
  std::vector<std::byte> bytes;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const tensor_type type = builder_tensor_type(spec, t.name, t.ne0, t.is_1d);
    const std::size_t row_size = row_bytes(type, static_cast<std::size_t>(t.ne0));
    row.resize(static_cast<std::size_t>(t.ne0));
    bytes.assign(row_size * static_cast<std::size_t>(t.ne1), std::byte{0});
    normal_stream values(tensor_seed(spec.seed, t.name));
    const std::int64_t drawn = spec.distinct_rows > 0 ? std::min<std::int64_t>(t.ne1, spec.distinct_rows) : t.ne1;
    for (std::int64_t r = 0; r < drawn; ++r) {
      values.fill(row.data(), t.ne0, mean_of(t.name), weight_std);
      HOLO_TRY(quantize_row(type, row.data(), bytes.data() + static_cast<std::size_t>(r) * row_size, t.ne0));
    }
    for (std::int64_t r = drawn; r < t.ne1; ++r)  // benchmark models: repeat the drawn rows
      std::memcpy(bytes.data() + static_cast<std::size_t>(r) * row_size,
                  bytes.data() + static_cast<std::size_t>(r % drawn) * row_size, row_size);
    const std::int64_t dims[2] = {t.ne0, t.ne1};
    w.add_tensor(t.name, type, std::span<const std::int64_t>(dims, t.is_1d ? 1 : 2), bytes);
    summary.n_params += t.ne0 * t.ne1;
    if (on_progress) on_progress({i + 1, tensors.size(), t.name});
  }
  if (!w.error().ok()) return w.error();
  HOLO_TRY(w.write(path));
  std::error_code ec;
  summary.file_bytes = std::filesystem::file_size(path, ec);
  summary.n_tensors = tensors.size();
  return summary;
}

}  // namespace holo::gpu
