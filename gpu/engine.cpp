#include "gpu/engine.hpp"

#include "gpu/generation.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <new>
#include <thread>

#include "gpu/cuda/cuda_backend.hpp"
#include "gpu/devices.hpp"
#include "gpu/ollama_store.hpp"
#include "gpu/stop_matcher.hpp"
#include "gpu/vocab_loader.hpp"

namespace holo::gpu {

namespace {

void report(const load_options& o, std::string_view stage, double fraction) {
  if (o.progress) o.progress(load_progress{stage, fraction});
}

// Every tensor the forward pass reads, once each (a tied LM head is token_embd again).
std::vector<const tensor_view*> weight_tensors(const model_weights& w) {
  std::vector<const tensor_view*> out;
  for (const tensor_view* t : {&w.token_embd, &w.output_norm, &w.output, &w.rope_freqs})
    if (!t->empty()) out.push_back(t);
  for (const layer_weights& l : w.layers) {
    for (const tensor_view* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.bo, &l.ffn_norm,
                                 &l.ffn_gate, &l.ffn_up, &l.ffn_down})
      if (!t->empty()) out.push_back(t);
  }
  return out;
}

std::uint64_t matrix_bytes(const tensor_view& t) { return t.empty() ? 0 : t.row_size() * std::uint64_t(t.rows); }

// Copies the weights to a device backend (progress from 0.5 to 1.0 of the load, by bytes).
status upload_weights(backend& be, const model_weights& w, const load_options& o) {
  const auto tensors = weight_tensors(w);
  std::uint64_t total = 0, done = 0, next_report = 0;
  for (const tensor_view* t : tensors) total += matrix_bytes(*t);
  constexpr std::uint64_t report_every = std::uint64_t(64) << 20;
  for (const tensor_view* t : tensors) {
    HOLO_TRY(be.upload_weight(*t));
    done += matrix_bytes(*t);
    if (done >= next_report) {
      report(o, "upload", 0.5 + 0.5 * double(done) / double(total ? total : 1));
      next_report = done + report_every;
    }
  }
  return be.synchronize();
}

// "auto": the first CUDA device when there is one and the weights plus one KV cache fit in 90% of
// its free memory; every device as a pipeline when they fit only in the devices' free memory
// together; else the CPU. Says which and why in `why`.
std::string choose_backend(std::uint64_t need_bytes, std::string* why) {
  std::string none;
  const auto devices = list_cuda_devices(&none);
  if (devices.empty()) {
    *why = none;
    return "cpu";
  }
  std::uint64_t free_all = 0, free_first = 0;
  std::string all;
  for (const auto& d : devices) {
    auto mem = cuda_memory(d.index);
    if (!mem) {
      *why = mem.error().to_string();
      return "cpu";
    }
    if (all.empty()) free_first = mem->free_bytes;
    free_all += mem->free_bytes;
    all += (all.empty() ? "" : ",") + std::string("cuda:") + std::to_string(d.index);
  }
  if (double(need_bytes) <= 0.9 * double(free_first)) {
    *why = devices.front().name;
    return "cuda:" + std::to_string(devices.front().index);
  }
  if (devices.size() > 1 && double(need_bytes) <= 0.9 * double(free_all)) {
    *why = "a pipeline over " + std::to_string(devices.size()) + " GPUs: " + std::to_string(need_bytes >> 20) +
           " MiB do not fit in one";
    return all;
  }
  *why = "model needs " + std::to_string(need_bytes >> 20) + " MiB, the GPUs have " + std::to_string(free_all >> 20) +
         " MiB free";
  return "cpu";
}

// Reads one byte per page of every tensor, so the page cache holds the weights before the first
// token (progress from 0.5 to 1.0 of the load). The sum keeps the compiler from dropping the reads.
void prefault(const gguf_file& f, const load_options& o) {
  constexpr std::size_t page = 4096, report_every = std::size_t(64) << 20;
  const auto bytes = f.bytes();
  const std::size_t start = static_cast<std::size_t>(std::min<std::uint64_t>(f.data_offset(), bytes.size()));
  volatile unsigned char sink = 0;
  unsigned char sum = 0;
  for (std::size_t off = start, next = start + report_every; off < bytes.size(); off += page) {
    sum = static_cast<unsigned char>(sum + static_cast<unsigned char>(bytes[off]));
    if (off >= next) {
      report(o, "prefault", 0.5 + 0.5 * double(off - start) / double(bytes.size() - start));
      next += report_every;
    }
  }
  sink = sum;
  (void)sink;
}

}  // namespace

result<std::shared_ptr<model>> model::load(std::string_view path_or_ref, const load_options& options) {
  load_options o = options;
  report(o, "open", 0.0);
  auto path = resolve_model_path(path_or_ref);
  if (!path) return path.error();
  auto file = gguf_file::open(*path);
  if (!file) return file.error();
  std::shared_ptr<model> m(new model(std::move(*file), *path));
  report(o, "config", 0.1);
  auto cfg = read_model_config(m->file_);
  if (!cfg) return cfg.error().with_context(*path);
  m->config_ = std::move(*cfg);
  report(o, "tokenizer", 0.2);
  auto tok = load_tokenizer(m->file_);
  if (!tok) return tok.error().with_context(*path);
  m->tokenizer_.emplace(std::move(*tok));
  report(o, "weights", 0.4);
  if (o.choose_layers) {
    auto range = o.choose_layers(m->config_);
    if (!range) return range.error().with_context(*path);
    o.layers = *range;
  }
  auto w = load_model_weights(m->file_, m->config_, o.layers);
  if (!w) return w.error().with_context(*path);
  m->weights_ = std::move(*w);

  if (o.threads <= 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o.ctx_size <= 0) o.ctx_size = m->config_.n_ctx_train > 0 ? std::min(m->config_.n_ctx_train, 4096) : 4096;
  if (o.ctx_size > model_limits::n_ctx_max) return status::invalid_argument("ctx_size beyond n_ctx_max");
  if (o.batch_max <= 0) return status::invalid_argument("batch_max must be positive");
  o.batch_max = std::min(o.batch_max, o.ctx_size);
  if (o.backend == "auto") {
    std::uint64_t need = m->kv_cache_bytes_for(o.ctx_size);
    for (const tensor_view* t : weight_tensors(m->weights_)) need += matrix_bytes(*t);
    std::string why;
    o.backend = choose_backend(need, &why);
    m->backend_choice_ = o.backend + " (" + why + ")";
  }
  m->options_ = o;
  // One stage per backend named; layers split evenly (the first stages take the remainder last).
  std::vector<std::string> names;
  for (std::size_t start = 0;;) {
    const auto comma = o.backend.find(',', start);
    names.push_back(o.backend.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const std::int32_t first = m->weights_.first_layer, layers = m->weights_.last_layer - m->weights_.first_layer;
  if (names.size() > static_cast<std::size_t>(layers)) {
    return status::invalid_argument("backend \"" + o.backend + "\": " + std::to_string(names.size()) +
                                    " pipeline stages for " + std::to_string(layers) + " layers");
  }
  const auto k = static_cast<std::int32_t>(names.size());
  for (std::int32_t i = 0; i < k; ++i) {
    auto be = create_backend(names[static_cast<std::size_t>(i)], o.threads);
    if (!be) return be.error();
    stage st;
    st.compute = std::move(*be);
    if (k == 1) {
      st.weights = m->weights_;
    } else {
      auto sw = load_model_weights(m->file_, m->config_, {first + layers * i / k, first + layers * (i + 1) / k});
      if (!sw) return sw.error().with_context(*path);
      st.weights = std::move(*sw);
    }
    const backend_limits limits = transformer::backend_limits_for(m->config_, m->forward_options(), *st.compute);
    HOLO_TRY(st.compute->reserve(limits));
    if (st.compute->device_memory()) {
      if (auto s = upload_weights(*st.compute, st.weights, o); !s.ok()) return s.with_context(*path);
    }
    m->stages_.push_back(std::move(st));
  }
  bool host_stage = false;
  for (const stage& st : m->stages_) host_stage = host_stage || !st.compute->device_memory();
  if (host_stage && o.prefault) prefault(m->file_, o);
#if defined(__GLIBC__)
  // The tokenizer's build (the vocabulary as strings, the merges) freed many small blocks that
  // glibc keeps resident in the heap; give those pages back before serving (0.1 MiB for a 32k
  // SentencePiece vocabulary; a BPE one frees its merges' strings too).
  ::malloc_trim(0);
#endif
  report(o, "ready", 1.0);
  return m;
}

std::uint64_t model::decode_weight_bytes() const {
  std::uint64_t total = matrix_bytes(weights_.output);
  for (const layer_weights& l : weights_.layers) {
    for (const tensor_view* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down})
      total += matrix_bytes(*t);
  }
  return total;
}

std::uint64_t model::kv_cache_bytes() const { return kv_cache_bytes_for(options_.ctx_size); }

std::uint64_t model::kv_cache_bytes_for(std::int64_t ctx_size) const {
  return kv_cache::bytes_for({weights_.last_layer - weights_.first_layer, config_.n_head_kv, config_.head_dim,
                              ctx_size});
}

// ---- session ----

session::session(std::shared_ptr<model> m, std::vector<transformer> stages)
    : model_(std::move(m)), stages_(std::move(stages)) {
  tokens_.reserve(static_cast<std::size_t>(ctx_size()));
  partial_ = model_->weights().last_layer < model_->config().n_layer;
  if (stages_.size() > 1 || partial_) {
    hidden_.resize(static_cast<std::size_t>(model_->batch_max()) * static_cast<std::size_t>(model_->config().n_embd));
    logits_.resize(static_cast<std::size_t>(model_->config().n_vocab));
  }
  if (partial_) window_.reserve(static_cast<std::size_t>(ctx_size()));
}

namespace {

// One transformer (with its own KV cache) per in-process stage of `m`: what a session of either
// kind evaluates.
result<std::vector<transformer>> transformers_of(const model& m) {
  std::vector<transformer> stages;
  for (const model::stage& st : m.stages()) {
    auto t = transformer::create(m.config(), st.weights, *st.compute, m.forward_options());
    if (!t) return t.error();
    stages.push_back(std::move(*t));
  }
  return stages;
}

}  // namespace

result<std::unique_ptr<session>> session::create(std::shared_ptr<model> m) {
  if (!m) return status::invalid_argument("session needs a model");
  auto stages = transformers_of(*m);
  if (!stages) return stages.error();
  try {
    return std::unique_ptr<session>(new session(std::move(m), std::move(*stages)));
  } catch (const std::bad_alloc&) {
    return status::resource_exhausted("session");
  }
}

status session::eval(const std::int32_t* tokens, std::int64_t n, std::int64_t pos0) {
  if (stages_.size() == 1 && !partial_) return stages_.front().eval(tokens, n, pos0);
  if (partial_ && !tail_)
    return status::failed_precondition("this model holds layers " + std::to_string(model_->weights().first_layer) +
                                       ".." + std::to_string(model_->weights().last_layer - 1) + " of " +
                                       std::to_string(model_->config().n_layer) +
                                       ": its session needs a remote tail for the rest");
  // A pipeline: each batch is embedded by the first stage, carried through every stage's layers
  // in host memory (each stage copies it to and from its backend), and the last stage makes the
  // logits of the batch's last token.
  if (n < 1) return status::invalid_argument("eval: no tokens");
  if (pos0 < 0 || pos0 + n > ctx_size()) {
    return status::out_of_range("positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + n - 1) +
                                " beyond the context of " + std::to_string(ctx_size()) + " tokens");
  }
  const std::int64_t n_embd = model_->config().n_embd;
  for (std::int64_t done = 0; done < n;) {
    const std::int64_t b = std::min<std::int64_t>(model_->batch_max(), n - done);
    HOLO_TRY(stages_.front().embed(tokens + done, b, hidden_.data()));
    for (transformer& t : stages_) HOLO_TRY(t.forward_layers(hidden_.data(), pos0 + done, b, hidden_.data()));
    done += b;
    if (partial_) {
      tail_batch tb{hidden_.data(), pos0 + done - b, b};
      std::int32_t token = -1;
      if (done == n) {
        tb.logits = logits_.data();
        if (sample_armed_) {
          next_sample_.history = penalty_window(tokens, n);
          tb.sample = &next_sample_;
          tb.token = &token;
        }
      }
      HOLO_TRY(tail_(tb));
      if (tb.sample) {
        if (token < 0 || token >= model_->config().n_vocab)
          return status::data_loss("the pipeline's last stage sampled token " + std::to_string(token) +
                                   " of a vocabulary of " + std::to_string(model_->config().n_vocab));
        sampled_ = token;
      }
      continue;
    }
    if (done == n) return stages_.back().output_logits(hidden_.data() + (b - 1) * n_embd, logits_.data());
  }
  return {};
}

std::span<const std::int32_t> session::penalty_window(const std::int32_t* tokens, std::int64_t n) {
  const sampling_params& p = *next_sample_.params;
  window_.clear();
  if (p.repeat_last_n == 0 || (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f))
    return {};
  // The history the sampler would see here: every stored token, then this call's.
  const std::size_t total = tokens_.size() + static_cast<std::size_t>(n);
  const std::size_t want = p.repeat_last_n < 0 ? total : std::min<std::size_t>(total, static_cast<std::size_t>(p.repeat_last_n));
  const std::size_t from_call = std::min<std::size_t>(want, static_cast<std::size_t>(n));
  window_.insert(window_.end(), tokens_.end() - static_cast<std::ptrdiff_t>(want - from_call), tokens_.end());
  window_.insert(window_.end(), tokens + n - static_cast<std::ptrdiff_t>(from_call), tokens + n);
  return window_;
}

std::span<float> session::logits() {
  return stages_.size() == 1 && !partial_ ? stages_.front().logits() : std::span<float>(logits_);
}

// ---- stage_session ----

stage_session::stage_session(std::shared_ptr<model> m, std::vector<transformer> stages)
    : model_(std::move(m)), stages_(std::move(stages)) {
  if (ends_model()) logits_.resize(static_cast<std::size_t>(model_->config().n_vocab));
}

bool stage_session::ends_model() const { return model_->weights().last_layer == model_->config().n_layer; }

result<std::unique_ptr<stage_session>> stage_session::create(std::shared_ptr<model> m) {
  if (!m) return status::invalid_argument("stage session needs a model");
  auto stages = transformers_of(*m);
  if (!stages) return stages.error();
  try {
    return std::unique_ptr<stage_session>(new stage_session(std::move(m), std::move(*stages)));
  } catch (const std::bad_alloc&) {
    return status::resource_exhausted("stage session");
  }
}

status stage_session::forward(float* hidden, std::int64_t pos0, std::int64_t n) {
  if (n < 1) return status::invalid_argument("stage forward: no rows");
  const std::int64_t ctx = stages_.front().cache().ctx_size();
  if (pos0 < 0 || pos0 + n > ctx) {
    return status::out_of_range("positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + n - 1) +
                                " beyond the context of " + std::to_string(ctx) + " tokens");
  }
  if (pos0 > filled_) {
    return status::out_of_range("position " + std::to_string(pos0) + " after a gap: this stage holds positions 0.." +
                                std::to_string(filled_ - 1) + " only (it restarted, or lost frames)");
  }
  const std::int64_t n_embd = model_->config().n_embd;
  filled_ = pos0;  // what follows pos0 is overwritten (a head restarting its sequence)
  for (std::int64_t done = 0; done < n;) {
    const std::int64_t b = std::min<std::int64_t>(model_->batch_max(), n - done);
    float* rows = hidden + done * n_embd;
    for (transformer& t : stages_) HOLO_TRY(t.forward_layers(rows, pos0 + done, b, rows));
    done += b;
    filled_ = pos0 + done;
  }
  return {};
}

result<std::span<const float>> stage_session::logits(const float* row) {
  if (!ends_model()) return status::failed_precondition("this stage does not hold the model's last layer");
  HOLO_TRY(stages_.back().output_logits(row, logits_.data()));
  return std::span<const float>(logits_);
}

result<std::int32_t> stage_session::sample(const float* row, sampler& smp, const std::vector<std::int32_t>& history,
                                            std::uint64_t request_key, std::uint64_t token_index) {
  if (!ends_model()) return status::failed_precondition("this stage does not hold the model's last layer");
  HOLO_TRY(stages_.back().output_logits(row, logits_.data()));
  return smp.sample(logits_, history, request_key, token_index);
}

result<std::span<float>> session::prefill(std::span<const std::int32_t> tokens) {
  if (tokens.empty()) return status::invalid_argument("prefill: no tokens");
  sampled_.reset();
  const status s = eval(tokens.data(), static_cast<std::int64_t>(tokens.size()), position());
  sample_armed_ = false;  // for one call, whatever its outcome
  HOLO_TRY(s);
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());  // within the reserved capacity
  return sampled_ ? std::span<float>() : logits();
}

result<std::span<float>> session::decode(std::int32_t token) {
  sampled_.reset();
  const status s = eval(&token, 1, position());
  sample_armed_ = false;
  HOLO_TRY(s);
  tokens_.push_back(token);
  return sampled_ ? std::span<float>() : logits();
}

status session::truncate(std::int64_t n) {
  if (n < 0 || n > position()) {
    return status::out_of_range("truncate to " + std::to_string(n) + " of " + std::to_string(position()) + " tokens");
  }
  tokens_.resize(static_cast<std::size_t>(n));
  return {};
}

// ---- generation ----

std::string_view to_string(finish_reason r) {
  switch (r) {
    case finish_reason::length: return "length";
    case finish_reason::eog: return "eog";
    case finish_reason::stop: return "stop";
    case finish_reason::context: return "context";
    case finish_reason::cancelled: return "cancelled";
  }
  return "unknown";
}

result<generation_result> generate(session& s, std::span<const std::int32_t> prompt,
                                   const generation_options& options, const token_callback& on_token) {
  auto g = generation::create(s, std::vector<std::int32_t>(prompt.begin(), prompt.end()), options);
  if (!g) return g.error();
  generation_result r;
  for (;;) {
    auto ev = (*g)->step();
    if (!ev) return ev.error();
    if (ev->has_token) {
      r.tokens.push_back(ev->id);
      r.text += ev->text;
      if (on_token && !on_token(generated_token{ev->id, ev->text})) {
        (*g)->cancel();
        break;
      }
    } else if (ev->finished && (*g)->reason() == finish_reason::eog) {
      r.tokens.push_back(ev->id);  // the EOG that ended it, never shown as text
    }
    if (!ev->tail.empty()) {
      r.text += ev->tail;
      if (on_token) on_token(generated_token{-1, ev->tail});
    }
    if (ev->finished) break;
  }
  r.reason = (*g)->reason();
  r.timings = (*g)->timings();
  r.timings.generated_tokens = static_cast<std::int64_t>(r.tokens.size());
  return r;
}

}  // namespace holo::gpu
