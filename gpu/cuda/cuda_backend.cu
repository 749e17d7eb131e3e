// cuda_backend: gpu/backend.hpp on one CUDA device (see cuda_backend.hpp for the design).
#include "gpu/cuda/cuda_backend.hpp"

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gpu/cuda/kernels.cuh"

namespace holo::gpu {
namespace {

status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  const std::string msg = std::string("cuda: ") + what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) return status::resource_exhausted(msg);
  return status::unavailable(msg);
}

struct device_weight {
  void* data = nullptr;
  std::size_t bytes = 0;
};

class cuda_backend final : public backend {
 public:
  explicit cuda_backend(int device) : device_(device) {
    // Fault injection for the failover tests (docs/operations.md): every allocation of backend
    // memory then asks the device for more than it has, so the session fails with the real
    // out-of-memory error of the CUDA runtime while the loaded weights stay fine.
    const char* fault = std::getenv("HOLO_FAULT_CUDA_ALLOC");
    fault_alloc_ = fault != nullptr && fault[0] != '\0' && fault[0] != '0';
    // HOLO_CUDA_GRAPHS=0 runs decode op by op (for `holo bench engine` comparisons and debugging).
    const char* graphs = std::getenv("HOLO_CUDA_GRAPHS");
    graphs_ = graphs == nullptr || graphs[0] != '0';
    // HOLO_CUDA_DP4A=0 keeps the f32 matrix-vector products for the quantized types (comparisons).
    const char* dp4a = std::getenv("HOLO_CUDA_DP4A");
    dp4a_ = dp4a == nullptr || dp4a[0] != '0';
    // HOLO_CUDA_MV_TPR (32, 64, 128) and HOLO_CUDA_MV_CAP (blocks per multiprocessor, 0: no cap)
    // override the integer matrix-vector launch shape (benchmark comparisons).
    if (const char* tpr = std::getenv("HOLO_CUDA_MV_TPR")) q8_launch_.threads_per_row = std::atoi(tpr);
    if (const char* cap = std::getenv("HOLO_CUDA_MV_CAP")) q8_launch_.blocks_per_sm = std::atoi(cap);
    // HOLO_CUDA_FUSE=0 launches q, k, v (gate, up) one matrix at a time and rope and kv_store
    // apart (comparisons).
    const char* fuse = std::getenv("HOLO_CUDA_FUSE");
    fuse_ = fuse == nullptr || fuse[0] != '0';
  }

  ~cuda_backend() override {
    cudaSetDevice(device_);
    if (stream_) cudaStreamSynchronize(stream_);
    for (auto& [host, w] : weights_) cudaFree(w.data);
    if (ids_) cudaFree(ids_);
    if (positions_) cudaFree(positions_);
    if (q8_.q) cudaFree(q8_.q);
    if (q8_.d) cudaFree(q8_.d);
    if (step_host_) cudaFreeHost(step_host_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  status init() {
    HOLO_TRY(cuda_status(cudaSetDevice(device_), "select device"));
    HOLO_TRY(cuda_status(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "create stream"));
    cudaDeviceProp prop{};
    HOLO_TRY(cuda_status(cudaGetDeviceProperties(&prop, device_), "device properties"));
    name_ = std::string("cuda:") + std::to_string(device_) + " (" + prop.name + ")";
    q8_launch_.sms = prop.multiProcessorCount;
    // Programmatic dependent launch (compute capability 9.0 and later; HOLO_CUDA_PDL=0 turns it
    // off): the next kernel of a decode step is scheduled while the current one drains (kernels.cuh).
    const char* pdl = std::getenv("HOLO_CUDA_PDL");
    pdl_ = (pdl == nullptr || pdl[0] != '0') && prop.major >= 9;
    // Pinned: a recorded step's copy of the token id and position reads it when the replay runs.
    HOLO_TRY(cuda_status(cudaMallocHost(&step_host_, 2 * sizeof(std::int32_t)), "pinned step scalars"));
    return {};
  }

  std::string_view name() const override { return name_; }
  int thread_count() const override { return 1; }
  bool device_memory() const override { return true; }

  void* allocate(std::size_t bytes) override {
    if (bytes == 0 || cudaSetDevice(device_) != cudaSuccess) return nullptr;
    void* p = nullptr;
    if (fault_alloc_) {
      std::size_t free_b = 0, total_b = 0;
      if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) bytes = 2 * total_b;
    }
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      cudaGetLastError();  // an allocation failure is not sticky; clear it for the next call
      return nullptr;
    }
    return p;
  }

  void deallocate(void* p) noexcept override {
    if (p == nullptr) return;
    cudaSetDevice(device_);
    cudaFree(p);  // synchronises with the device first
  }

  status copy_in(void* dst, const void* host_src, std::size_t bytes) override {
    q8_forget();
    if (bytes == 0) return {};
    HOLO_TRY(pending());
    // From pageable memory the copy returns once the source is staged: the caller may reuse it.
    return note(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_), "copy to device");
  }

  status copy_out(void* host_dst, const void* src, std::size_t bytes) override {
    if (bytes == 0) return synchronize();
    HOLO_TRY(pending());
    HOLO_TRY(note(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "copy to host"));
    return synchronize();
  }

  status upload_weight(const tensor_view& t) override {
    if (t.empty() || weights_.count(t.data) != 0) return {};
    const std::size_t bytes = t.row_size() * static_cast<std::size_t>(t.rows);
    HOLO_TRY(cuda_status(cudaSetDevice(device_), "select device"));
    device_weight w;
    w.bytes = bytes;
    if (cudaError_t e = cudaMalloc(&w.data, bytes); e != cudaSuccess) {
      cudaGetLastError();
      return status::resource_exhausted("cuda: " + std::to_string(bytes >> 20) + " MiB for a weight on " + name_ +
                                        ": " + cudaGetErrorString(e));
    }
    // Synchronous: the source is the file mapping, paged in as it is read.
    if (cudaError_t e = cudaMemcpy(w.data, t.data, bytes, cudaMemcpyHostToDevice); e != cudaSuccess) {
      cudaFree(w.data);
      return cuda_status(e, "upload weight");
    }
    weights_.emplace(t.data, w);
    uploaded_bytes_ += bytes;
    return {};
  }

  status synchronize() override {
    HOLO_TRY(pending());
    return note(cudaStreamSynchronize(stream_), "queued kernels");
  }

  status reserve(const backend_limits& limits) override {
    HOLO_TRY(check_limits(limits));
    if (limits.head_dim_max > cuda::attention_head_dim_max) {
      return status::unimplemented("cuda backend: head size " + std::to_string(limits.head_dim_max) +
                                   " above the attention kernel's " + std::to_string(cuda::attention_head_dim_max));
    }
    HOLO_TRY(cuda_status(cudaSetDevice(device_), "select device"));
    if (limits.tokens_max > limits_.tokens_max || ids_ == nullptr) {
      if (ids_) cudaFree(ids_);
      if (positions_) cudaFree(positions_);
      ids_ = positions_ = nullptr;
      const std::size_t bytes = static_cast<std::size_t>(limits.tokens_max) * sizeof(std::int32_t);
      HOLO_TRY(cuda_status(cudaMalloc(&ids_, bytes), "token id scratch"));
      HOLO_TRY(cuda_status(cudaMalloc(&positions_, bytes), "position scratch"));
      host_positions_.assign(static_cast<std::size_t>(limits.tokens_max), -1);
      positions_valid_ = 0;
    }
    // The q8 rounding of one matrix input of up to q8_tokens_max rows (integer products).
    const std::int64_t q8_values = cuda::q8_tokens_max * ((limits.cols_max + cuda::q8_block - 1) / cuda::q8_block) *
                                   cuda::q8_block;
    if (q8_values > q8_capacity_) {
      q8_forget();
      if (q8_.q) cudaFree(q8_.q);
      if (q8_.d) cudaFree(q8_.d);
      q8_ = {};
      q8_capacity_ = 0;
      HOLO_TRY(cuda_status(cudaMalloc(&q8_.q, static_cast<std::size_t>(q8_values)), "q8 activation scratch"));
      HOLO_TRY(cuda_status(cudaMalloc(&q8_.d, static_cast<std::size_t>(q8_values / cuda::q8_block) * sizeof(float2)),
                           "q8 activation scratch"));
      q8_capacity_ = q8_values;
    }
    limits_ = limits;
    return {};
  }

  status get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n, float* out) override {
    HOLO_TRY(check_get_rows(table, ids, n));
    q8_forget();
    if (n > limits_.tokens_max) return status::failed_precondition("get_rows beyond reserve()");
    auto w = weight(table.data);
    if (!w) return w.error();
    HOLO_TRY(pending());
    if (capturing_) {
      if (n != 1) return record_status(status::failed_precondition("a recorded step embeds one token"));
    } else {
      HOLO_TRY(note(cudaMemcpyAsync(ids_, ids, static_cast<std::size_t>(n) * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, stream_),
                    "copy token ids"));
    }
    cuda::get_rows(table.type, *w, table.row_size(), table.cols, ids_, n, out, launches());
    return note(cudaGetLastError(), "get_rows");
  }

  status matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias, float* out) override {
    HOLO_TRY(check_matmul(w, n, limits_));
    auto part = device_part(w, bias, out);
    if (!part) return part.error();
    HOLO_TRY(pending());
    if (integer_products(w.type, n, w.cols)) {
      round_q8(x, n * w.cols);
      cuda::matmul_q8(w.type, part->w, part->row_bytes, part->rows, w.cols, q8_, n, part->bias, out, q8_launch_,
                      launches());
    } else {
      cuda::matmul(w.type, part->w, part->row_bytes, part->rows, w.cols, x, n, part->bias, out, launches());
    }
    if (out == q8_of_) q8_forget();
    return note(cudaGetLastError(), "matmul");
  }

  status matmul_parts(const matmul_part* parts, std::size_t count, const float* x, std::int64_t n) override {
    // One launch per run of parts of one type (at most mv_parts_max), on the decode paths: the
    // integer products, or the f32 ones for the float types. Otherwise part by part.
    if (!fuse_ || count == 0 || n > cuda::q8_tokens_max) return backend::matmul_parts(parts, count, x, n);
    const tensor_view& w0 = *parts[0].w;
    for (std::size_t i = 0; i < count; ++i) {
      HOLO_TRY(check_matmul(*parts[i].w, n, limits_));
      if (parts[i].w->cols != w0.cols) return backend::matmul_parts(parts, count, x, n);
    }
    HOLO_TRY(pending());
    for (std::size_t i = 0; i < count;) {
      const tensor_type type = parts[i].w->type;
      cuda::mv_parts group;
      std::size_t j = i;
      for (; j < count && parts[j].w->type == type && group.count < cuda::mv_parts_max; ++j) {
        auto part = device_part(*parts[j].w, parts[j].bias, parts[j].out);
        if (!part) return part.error();
        group.p[group.count++] = *part;
      }
      if (integer_products(type, n, w0.cols)) {
        round_q8(x, n * w0.cols);
        cuda::matmul_q8_parts(type, group, w0.cols, q8_, n, q8_launch_, launches());
      } else {
        cuda::matvec_parts(type, group, w0.cols, x, n, launches());
      }
      HOLO_TRY(note(cudaGetLastError(), "matmul"));
      for (std::size_t k = i; k < j; ++k)
        if (parts[k].out == q8_of_) q8_forget();
      i = j;
    }
    return {};
  }

  status rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
              const std::int32_t* positions, const rope_params& p) override {
    HOLO_TRY(check_rope(n_tokens, n_heads, head_dim, p, limits_));
    return rope_launch(x, n_heads, nullptr, 0, n_tokens, head_dim, positions, p);
  }

  status rope_qk(float* q, std::int32_t n_head_q, float* k, std::int32_t n_head_k, std::int64_t n_tokens,
                 std::int32_t head_dim, const std::int32_t* positions, const rope_params& p) override {
    HOLO_TRY(check_rope(n_tokens, n_head_q, head_dim, p, limits_));
    HOLO_TRY(check_rope(n_tokens, n_head_k, head_dim, p, limits_));
    return rope_launch(q, n_head_q, k, n_head_k, n_tokens, head_dim, positions, p);
  }

  status rope_qk_store(float* q, float* k, const float* v, std::int64_t n_tokens, const std::int32_t* positions,
                       const rope_params& p, const kv_layer& cache, const attention_shape& shape,
                       std::int64_t pos0) override {
    if (!fuse_) return backend::rope_qk_store(q, k, v, n_tokens, positions, p, cache, shape, pos0);
    HOLO_TRY(check_rope(n_tokens, shape.n_head, shape.head_dim, p, limits_));
    HOLO_TRY(check_rope(n_tokens, shape.n_head_kv, shape.head_dim, p, limits_));
    HOLO_TRY(check_kv_store(cache, shape, pos0, n_tokens));
    HOLO_TRY(rope_positions(positions, n_tokens));
    cuda::rope_store(q, k, v, n_tokens, positions_, p, cache, shape, pos0, capturing_ ? positions_ : nullptr,
                     launches());
    return note(cudaGetLastError(), "rope_store");
  }

  status kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0, std::int64_t n_tokens,
                  const float* k, const float* v) override {
    HOLO_TRY(check_kv_store(cache, shape, pos0, n_tokens));
    q8_forget();
    HOLO_TRY(pending());
    cuda::kv_store(cache, shape, pos0, capturing_ ? positions_ : nullptr, n_tokens, k, v, launches());
    return note(cudaGetLastError(), "kv_store");
  }

  status attention(const float* q, const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                   std::int64_t n_tokens, float* out) override {
    HOLO_TRY(check_attention(cache, shape, pos0, n_tokens, limits_));
    q8_forget();
    HOLO_TRY(pending());
    const std::int64_t row = std::int64_t(shape.n_head) * shape.head_dim;
    const cuda::q8_activations q8 =
        shape.head_dim % cuda::q8_block == 0 ? fuse_q8(out, n_tokens, n_tokens * row, row) : cuda::q8_activations{};
    cuda::attention(q, cache, shape, pos0, capturing_ ? positions_ : nullptr, n_tokens, out, q8, launches());
    return note(cudaGetLastError(), "attention");
  }

  void rmsnorm(const float* x, const float* weight_host, std::int64_t n, std::int64_t dim, float eps,
               float* out) override {
    q8_forget();
    auto w = weight(weight_host);
    if (!w) return record(w.error());
    const cuda::q8_activations q8 = fuse_q8(out, n, n * dim, dim);
    cuda::rmsnorm(x, static_cast<const float*>(*w), n, dim, eps, out, q8, launches());
    record(note(cudaGetLastError(), "rmsnorm"));
  }
  void add_rmsnorm(float* x, const float* o, const float* weight_host, std::int64_t n, std::int64_t dim, float eps,
                   float* out) override {
    q8_forget();
    auto w = weight(weight_host);
    if (!w) return record(w.error());
    const cuda::q8_activations q8 = fuse_q8(out, n, n * dim, dim);
    cuda::add_rmsnorm(x, o, static_cast<const float*>(*w), n, dim, eps, out, q8, launches());
    record(note(cudaGetLastError(), "add_rmsnorm"));
  }
  void add(const float* a, const float* b, std::int64_t count, float* out) override {
    q8_forget();
    cuda::add(a, b, count, out, launches());
    record(note(cudaGetLastError(), "add"));
  }
  void swiglu(const float* gate, const float* up, std::int64_t count, float* out) override {
    q8_forget();
    const cuda::q8_activations q8 = fuse_q8(out, 1, count, count);
    cuda::swiglu(gate, up, count, out, q8, launches());
    record(note(cudaGetLastError(), "swiglu"));
  }
  void scale(float* x, std::int64_t count, float s) override {
    q8_forget();
    cuda::scale(x, count, s, launches());
    record(note(cudaGetLastError(), "scale"));
  }
  void softmax(float* x, std::int64_t n, std::int64_t dim) override {
    q8_forget();
    cuda::softmax(x, n, dim, launches());
    record(note(cudaGetLastError(), "softmax"));
  }

 // ---- recorded decode steps (CUDA graphs) ----

  struct cuda_step_graph final : step_graph {
    cudaGraphExec_t exec = nullptr;
    int device = 0;
    ~cuda_step_graph() override {
      if (exec) {
        cudaSetDevice(device);
        cudaGraphExecDestroy(exec);
      }
    }
  };

  status begin_step_capture() override {
    if (!graphs_) return status::unimplemented("recorded steps are off (HOLO_CUDA_GRAPHS=0)");
    if (capturing_) return status::failed_precondition("a step is already being recorded");
    HOLO_TRY(synchronize());
    HOLO_TRY(cuda_status(cudaSetDevice(device_), "select device"));
    HOLO_TRY(note(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "begin capture"));
    capturing_ = true;
    // The first recorded ops: the token id and position, read from pinned memory at replay time.
    record(cuda_status(cudaMemcpyAsync(ids_, step_host_, sizeof(std::int32_t), cudaMemcpyHostToDevice, stream_),
                       "record id copy"));
    record(cuda_status(cudaMemcpyAsync(positions_, step_host_ + 1, sizeof(std::int32_t), cudaMemcpyHostToDevice,
                                       stream_),
                       "record position copy"));
    return {};
  }

  result<std::unique_ptr<step_graph>> end_step_capture() override {
    if (!capturing_) return status::failed_precondition("no step is being recorded");
    capturing_ = false;
    positions_valid_ = 0;
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    status failed = pending();  // an op that failed while recording
    if (failed.ok()) failed = cuda_status(end, "end capture");
    auto g = std::make_unique<cuda_step_graph>();
    g->device = device_;
    if (failed.ok()) failed = cuda_status(cudaGraphInstantiate(&g->exec, graph, 0), "instantiate graph");
    if (graph) cudaGraphDestroy(graph);
    if (!failed.ok()) {
      cudaGetLastError();
      return failed;
    }
    return std::unique_ptr<step_graph>(std::move(g));
  }

  status replay_step(step_graph& g, std::int32_t token, std::int32_t pos) override {
    HOLO_TRY(pending());
    // The previous replay finished reading step_host_: every step ends with copy_out (a sync).
    step_host_[0] = token;
    step_host_[1] = pos;
    positions_valid_ = 0;  // the device positions now hold `pos`, not what the shadow says
    return note(cudaGraphLaunch(static_cast<cuda_step_graph&>(g).exec, stream_), "replay step");
  }

 private:
  // rope on x (and x2 when not null), arguments checked.
  status rope_launch(float* x, std::int32_t n_heads, float* x2, std::int32_t n_heads2, std::int64_t n_tokens,
                     std::int32_t head_dim, const std::int32_t* positions, const rope_params& p) {
    HOLO_TRY(rope_positions(positions, n_tokens));
    cuda::rope(x, n_tokens, n_heads, head_dim, positions_, p, launches(), x2, n_heads2);
    return note(cudaGetLastError(), "rope");
  }

  // Where the kernels go. Programmatic launches only in recorded decode steps: there the launch gaps
  // are most of a step's time (H200, 1B: decode +4-7%); a prefill's large kernels lost 1-5% with
  // them (the next kernel's blocks take room while the current one's last blocks still run).
  cuda::stream_ref launches() const { return {stream_, pdl_ && capturing_}; }

  // Before a rope: the device positions hold `positions` (a recorded step's hold the replayed one,
  // and it ropes one token).
  status rope_positions(const std::int32_t* positions, std::int64_t n_tokens) {
    q8_forget();
    HOLO_TRY(pending());
    if (capturing_) {
      if (n_tokens != 1) return record_status(status::failed_precondition("a recorded step ropes one token"));
      return {};
    }
    return upload_positions(positions, n_tokens);
  }

  // The device copies of a matrix and its bias (null when `bias` is), as a launch part writing `out`.
  result<cuda::mv_part> device_part(const tensor_view& w, const float* bias, float* out) const {
    auto dw = weight(w.data);
    if (!dw) return dw.error();
    const float* db = nullptr;
    if (bias) {
      auto b = weight(bias);
      if (!b) return b.error();
      db = static_cast<const float*>(*b);
    }
    return cuda::mv_part{*dw, w.row_size(), w.rows, db, out};
  }

  // Whether n tokens times a matrix of `type` with `cols` columns take the integer (dp4a) path.
  bool integer_products(tensor_type type, std::int64_t n, std::int64_t cols) const {
    return dp4a_ && n <= cuda::q8_tokens_max && cuda::matmul_q8_supported(type) && cols % cuda::q8_block == 0 &&
           n * cols <= q8_capacity_;
  }

  // x (count values) rounded to q8 into q8_, unless q8_ holds that rounding already (the RMSNorm,
  // SwiGLU or attention that wrote x usually made it).
  void round_q8(const float* x, std::int64_t count) {
    if (q8_of_ == x && q8_count_ == count) return;
    cuda::quantize_q8(x, count, q8_, launches());
    q8_of_ = x;
    q8_count_ = count;
  }

  // The q8 copy in q8_ holds the rounding of the `q8_count_` values at q8_of_ until any op other
  // than a matmul that does not write there runs (every op but matmul calls q8_forget first).
  void q8_forget() { q8_of_ = nullptr; }
  // The q8 buffers for an op that writes `count` values at `out` (rows of `row` values) and can
  // round them on the way, or none when the integer products would not read them.
  cuda::q8_activations fuse_q8(const float* out, std::int64_t n, std::int64_t count, std::int64_t row) {
    if (!dp4a_ || n > cuda::q8_tokens_max || row % cuda::q8_block != 0 || count > q8_capacity_) return {};
    q8_of_ = out;
    q8_count_ = count;
    return q8_;
  }

  status record_status(status s) {
    record(s);
    return s;
  }

  // The device copy of a weight uploaded from host pointer `host` (a tensor's data, or a norm
  // weight / bias pointer, which is its tensor's data).
  result<const void*> weight(const void* host) const {
    auto it = weights_.find(host);
    if (it == weights_.end())
      return status::failed_precondition("cuda backend: a weight was used before upload_weight()");
    return static_cast<const void*>(it->second.data);
  }

  // The transformer passes the same positions to both rope calls of every layer: upload them only
  // when they change (a compare of a few ints instead of a PCIe round trip per call).
  status upload_positions(const std::int32_t* positions, std::int64_t n) {
    const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(std::int32_t);
    if (positions_valid_ == n && std::memcmp(host_positions_.data(), positions, bytes) == 0) return {};
    std::memcpy(host_positions_.data(), positions, bytes);
    positions_valid_ = n;
    return note(cudaMemcpyAsync(positions_, host_positions_.data(), bytes, cudaMemcpyHostToDevice, stream_),
                "copy positions");
  }

  // Remembers the first failure (for the void ops) and returns `s`.
  status note(cudaError_t e, const char* what) {
    status s = cuda_status(e, what);
    record(s);
    return s;
  }
  void record(const status& s) {
    if (!s.ok() && error_.ok()) error_ = s;
  }
  // A failure recorded since the last report, reported once.
  status pending() {
    if (error_.ok()) return {};
    status s = std::exchange(error_, status{});
    positions_valid_ = 0;  // a failed copy may have left the device positions stale
    return s;
  }

  int device_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  bool pdl_ = false;  // programmatic launches allowed (device and HOLO_CUDA_PDL)
  backend_limits limits_;
  std::unordered_map<const void*, device_weight> weights_;
  std::uint64_t uploaded_bytes_ = 0;
  std::int32_t* ids_ = nullptr;
  std::int32_t* positions_ = nullptr;
  std::vector<std::int32_t> host_positions_;
  std::int64_t positions_valid_ = 0;
  status error_;
  bool fault_alloc_ = false;
  bool graphs_ = true;
  bool capturing_ = false;
  bool dp4a_ = true;
  bool fuse_ = true;
  cuda::q8_launch q8_launch_;
  cuda::q8_activations q8_;           // device scratch: q8 rounding of one matrix input
  std::int64_t q8_capacity_ = 0;      // values it holds
  const float* q8_of_ = nullptr;      // the device values it currently rounds, or null
  std::int64_t q8_count_ = 0;
  std::int32_t* step_host_ = nullptr;  // pinned {token, position} of the next replay
};

}  // namespace

result<std::unique_ptr<backend>> make_cuda_backend(int device) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    return status::unavailable(std::string("cuda:") + std::to_string(device) + ": no usable CUDA driver or device (" +
                               cudaGetErrorString(e) + ")");
  }
  if (device < 0 || device >= count) {
    return status::unavailable("cuda:" + std::to_string(device) + ": no such device (" + std::to_string(count) +
                               " CUDA device" + (count == 1 ? "" : "s") + " visible)");
  }
  auto be = std::make_unique<cuda_backend>(device);
  HOLO_TRY(be->init());
  return std::unique_ptr<backend>(std::move(be));
}

result<cuda_memory_info> cuda_memory(int device) {
  HOLO_TRY(cuda_status(cudaSetDevice(device), "select device"));
  std::size_t free_b = 0, total_b = 0;
  HOLO_TRY(cuda_status(cudaMemGetInfo(&free_b, &total_b), "memory info"));
  return cuda_memory_info{free_b, total_b};
}

result<double> cuda_copy_bandwidth(int device, std::size_t bytes) {
  HOLO_TRY(cuda_status(cudaSetDevice(device), "select device"));
  void* a = nullptr;
  void* b = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  auto release = [&] {
    if (a) cudaFree(a);
    if (b) cudaFree(b);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  };
  status s = cuda_status(cudaMalloc(&a, bytes), "bandwidth probe buffer");
  if (s.ok()) s = cuda_status(cudaMalloc(&b, bytes), "bandwidth probe buffer");
  if (s.ok()) s = cuda_status(cudaEventCreate(&start), "event");
  if (s.ok()) s = cuda_status(cudaEventCreate(&stop), "event");
  constexpr int reps = 10;
  float ms = 0;
  if (s.ok()) s = cuda_status(cudaMemset(a, 1, bytes), "memset");
  if (s.ok()) s = cuda_status(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice), "warm-up copy");
  if (s.ok()) {
    cudaEventRecord(start);
    for (int i = 0; i < reps; ++i) cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    s = cuda_status(cudaEventSynchronize(stop), "timed copies");
    if (s.ok()) s = cuda_status(cudaEventElapsedTime(&ms, start, stop), "elapsed time");
  }
  release();
  if (!s.ok()) return s;
  return 2.0 * double(bytes) * reps / (double(ms) / 1e3);
}

}  // namespace holo::gpu
