#include "gpu/model_weights.hpp"

#include <string>

namespace holo::gpu {

namespace {

constexpr std::size_t problems_listed_max = 20;  // lines in one error message

std::string shape_string(std::int64_t ne0, std::int64_t ne1) {
  return ne1 == 1 ? "[" + std::to_string(ne0) + "]"
                  : "[" + std::to_string(ne0) + ", " + std::to_string(ne1) + "]";
}

// Collects views and, for the ones that do not fit, one line each.
class tensor_mapper {
 public:
  explicit tensor_mapper(const gguf_file& f) : f_(f) {}

  // The view of `name`, expected to be [ne0] (ne1 == 1) or [ne0, ne1]; an empty view and a
  // recorded problem when it is missing or does not fit.
  tensor_view map(const std::string& name, std::int64_t ne0, std::int64_t ne1 = 1, bool required = true) {
    const gguf_tensor* t = f_.find_tensor(name);
    if (!t) {
      if (required) problem(name + ": missing, expected " + shape_string(ne0, ne1));
      return {};
    }
    const std::int64_t t1 = t->n_dims >= 2 ? t->dims[1] : 1;
    if (t->dims[0] != ne0 || t1 != ne1 || t->dims[2] != 1 || t->dims[3] != 1) {
      std::string got = shape_string(t->dims[0], t1);
      if (t->dims[2] != 1 || t->dims[3] != 1) got = "a " + std::to_string(t->n_dims) + "-D tensor";
      problem(name + ": shape " + got + ", expected " + shape_string(ne0, ne1));
      return {};
    }
    if (!traits(t->type).supported) {
      problem(name + ": type " + std::string(traits(t->type).name) + " is not supported");
      return {};
    }
    return {t->type, t->dims[0], t1, t->data.data()};
  }

  status result_status() const {
    if (problems_.empty()) return ok_status();
    std::string m = std::to_string(count_) + " weight tensor(s) missing or wrong:";
    for (const auto& p : problems_) m += "\n  " + p;
    if (count_ > problems_.size()) m += "\n  ... and " + std::to_string(count_ - problems_.size()) + " more";
    return status::invalid_argument(m);
  }

 private:
  void problem(std::string line) {
    ++count_;
    if (problems_.size() < problems_listed_max) problems_.push_back(std::move(line));
  }

  const gguf_file& f_;
  std::vector<std::string> problems_;
  std::size_t count_ = 0;
};

layer_weights map_layer(tensor_mapper& m, const model_config& c, std::int32_t il) {
  const std::string p = "blk." + std::to_string(il) + ".";
  layer_weights l;
  l.attn_norm = m.map(p + "attn_norm.weight", c.n_embd);
  l.wq = m.map(p + "attn_q.weight", c.n_embd, c.n_embd_q());
  l.wk = m.map(p + "attn_k.weight", c.n_embd, c.n_embd_k());
  l.wv = m.map(p + "attn_v.weight", c.n_embd, c.n_embd_v());
  l.wo = m.map(p + "attn_output.weight", std::int64_t(c.n_head) * c.head_dim_v, c.n_embd);
  if (c.attn_bias) {
    l.bq = m.map(p + "attn_q.bias", c.n_embd_q());
    l.bk = m.map(p + "attn_k.bias", c.n_embd_k());
    l.bv = m.map(p + "attn_v.bias", c.n_embd_v());
  }
  if (c.attn_output_bias) l.bo = m.map(p + "attn_output.bias", c.n_embd);
  l.ffn_norm = m.map(p + "ffn_norm.weight", c.n_embd);
  l.ffn_gate = m.map(p + "ffn_gate.weight", c.n_embd, c.n_ff);
  l.ffn_up = m.map(p + "ffn_up.weight", c.n_embd, c.n_ff);
  l.ffn_down = m.map(p + "ffn_down.weight", c.n_ff, c.n_embd);
  return l;
}

}  // namespace

result<model_weights> load_model_weights(const gguf_file& file, const model_config& c, layer_range range) {
  const std::int32_t last = range.last < 0 ? c.n_layer : range.last;
  if (range.first < 0 || range.first >= last || last > c.n_layer)
    return status::out_of_range("layer range [" + std::to_string(range.first) + ", " + std::to_string(last) +
                                ") is not a non-empty part of [0, " + std::to_string(c.n_layer) + ")");
  tensor_mapper m(file);
  model_weights w;
  w.first_layer = range.first;
  w.last_layer = last;
  const bool first_shard = range.first == 0;
  const bool last_shard = last == c.n_layer;
  if (first_shard || (last_shard && c.tied_output)) w.token_embd = m.map("token_embd.weight", c.n_embd, c.n_vocab);
  if (last_shard) {
    w.output_norm = m.map("output_norm.weight", c.n_embd);
    w.output = c.tied_output ? w.token_embd : m.map("output.weight", c.n_embd, c.n_vocab);
    if (!first_shard && c.tied_output) w.token_embd = {};  // only the LM head is this shard's
  }
  if (c.rope_freq_factors) w.rope_freqs = m.map("rope_freqs.weight", c.n_rot / 2);
  if (!w.rope_freqs.empty() && w.rope_freqs.type != tensor_type::f32)
    return status::invalid_argument("rope_freqs.weight: type " + std::string(traits(w.rope_freqs.type).name) +
                                    ", expected F32");
  w.layers.reserve(static_cast<std::size_t>(last - range.first));
  for (std::int32_t il = range.first; il < last; ++il) w.layers.push_back(map_layer(m, c, il));
  if (auto s = m.result_status(); !s.ok()) return s;
  return w;
}

}  // namespace holo::gpu
