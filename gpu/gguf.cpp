#include "gpu/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>

namespace holo::gpu {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

// ---- mapping ----------------------------------------------------------------------------------

// Maps the file read-only at a 2 MiB-aligned address and asks for huge pages: the page cache keeps
// large files in 2 MiB folios, which the kernel can then map through page-middle-directory
// entries (FilePmdMapped), one TLB entry per 2 MiB instead of per 4 KiB while decode streams the
// weights (llama.cpp's mapping gets the same). The gain measured on this project's noisy test host
// is small and uncertain (docs/benchmarks.md); nothing is lost where the kernel declines.
namespace {
void* map_aligned(int fd, std::size_t size) {
  constexpr std::size_t huge = std::size_t(2) << 20;
  void* reserve = ::mmap(nullptr, size + huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserve == MAP_FAILED) return ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const auto base = reinterpret_cast<std::uintptr_t>(reserve);
  const std::uintptr_t aligned = (base + huge - 1) & ~std::uintptr_t(huge - 1);
  void* addr = ::mmap(reinterpret_cast<void*>(aligned), size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (addr == MAP_FAILED) {
    const int e = errno;
    ::munmap(reserve, size + huge);
    errno = e;
    return MAP_FAILED;
  }
  // Give back the reservation's slack before and after the mapping.
  if (aligned > base) ::munmap(reserve, aligned - base);
  const std::uintptr_t end = aligned + size, reserve_end = base + size + huge;
  const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t tail = (end + page - 1) & ~(page - 1);
  if (reserve_end > tail) ::munmap(reinterpret_cast<void*>(tail), reserve_end - tail);
  ::madvise(addr, size, MADV_HUGEPAGE);  // advice only: ignored where unsupported
  return addr;
}
}  // namespace

class mapped_file {
 public:
  mapped_file(void* addr, std::size_t size) : addr_(addr), size_(size) {}
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() { ::munmap(addr_, size_); }
  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(addr_), size_}; }

 private:
  void* addr_;
  std::size_t size_;
};

// ---- value types ------------------------------------------------------------------------------

std::string_view to_string(gguf_value_type t) {
  switch (t) {
    case gguf_value_type::u8: return "u8";
    case gguf_value_type::i8: return "i8";
    case gguf_value_type::u16: return "u16";
    case gguf_value_type::i16: return "i16";
    case gguf_value_type::u32: return "u32";
    case gguf_value_type::i32: return "i32";
    case gguf_value_type::f32: return "f32";
    case gguf_value_type::boolean: return "bool";
    case gguf_value_type::string: return "string";
    case gguf_value_type::array: return "array";
    case gguf_value_type::u64: return "u64";
    case gguf_value_type::i64: return "i64";
    case gguf_value_type::f64: return "f64";
  }
  return "unknown";
}

std::size_t gguf_value_size(gguf_value_type t) {
  switch (t) {
    case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::boolean: return 1;
    case gguf_value_type::u16: case gguf_value_type::i16: return 2;
    case gguf_value_type::u32: case gguf_value_type::i32: case gguf_value_type::f32: return 4;
    case gguf_value_type::u64: case gguf_value_type::i64: case gguf_value_type::f64: return 8;
    case gguf_value_type::string: case gguf_value_type::array: return 0;
  }
  return 0;
}

namespace {

bool is_unsigned(gguf_value_type t) {
  return t == gguf_value_type::u8 || t == gguf_value_type::u16 || t == gguf_value_type::u32 ||
         t == gguf_value_type::u64;
}
bool is_signed(gguf_value_type t) {
  return t == gguf_value_type::i8 || t == gguf_value_type::i16 || t == gguf_value_type::i32 ||
         t == gguf_value_type::i64;
}
bool is_known(std::uint32_t t) { return t <= std::uint32_t(gguf_value_type::f64); }

// Smallest encoding of one value of each kind: a bound that lets counts be checked against the
// bytes left before anything is reserved.
constexpr std::uint64_t string_bytes_min = 8;       // u64 length
constexpr std::uint64_t array_header_bytes = 12;    // u32 type + u64 count
constexpr std::uint64_t kv_bytes_min = 8 + 4 + 1;   // key length, type, smallest value
constexpr std::uint64_t tensor_info_bytes_min = 8 + 4 + 8 + 4 + 8;  // name len, n_dims, 1 dim, type, offset

std::string quoted(std::string_view s) {
  // Keys and names come from the file: cut long ones and hide control bytes in messages.
  constexpr std::size_t shown_max = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < shown_max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : char(c);
  }
  if (s.size() > shown_max) out += "...";
  return out + "'";
}

std::string at(std::uint64_t offset) { return " at offset " + std::to_string(offset); }

// A bounds-checked reader over the file bytes. Every read states what it reads, for the message.
class cursor {
 public:
  explicit cursor(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return bytes_.size() - pos_; }

  status need(std::uint64_t n, std::string_view what) const {
    if (n <= left()) return ok_status();
    return status::data_loss("truncated" + at(pos_) + " reading " + std::string(what) + ": need " +
                             std::to_string(n) + " bytes, " + std::to_string(left()) + " left");
  }
  template <class T>
  status read(T* out, std::string_view what) {
    HOLO_TRY(need(sizeof(T), what));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return ok_status();
  }
  status read_span(std::uint64_t n, std::span<const std::byte>* out, std::string_view what) {
    HOLO_TRY(need(n, what));
    *out = bytes_.subspan(pos_, n);
    pos_ += n;
    return ok_status();
  }
  // A GGUF string: u64 length, then that many bytes (no terminator).
  status read_string(std::uint64_t bytes_max, std::string_view* out, std::string_view what) {
    const std::uint64_t start = pos_;
    std::uint64_t len = 0;
    HOLO_TRY(read(&len, what));
    if (len > bytes_max) {
      return status::invalid_argument(std::string(what) + " length " + std::to_string(len) + " exceeds " +
                                      std::to_string(bytes_max) + " bytes" + at(start));
    }
    std::span<const std::byte> s;
    HOLO_TRY(read_span(len, &s, what));
    *out = std::string_view(reinterpret_cast<const char*>(s.data()), s.size());
    return ok_status();
  }

 private:
  std::span<const std::byte> bytes_;
  std::uint64_t pos_ = 0;
};

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

// ---- parser -----------------------------------------------------------------------------------

class gguf_parser {
 public:
  explicit gguf_parser(gguf_file& f) : f_(f), cur_(f.bytes_) {}

  status run() {
    HOLO_TRY(parse_header());
    for (std::uint64_t i = 0; i < kv_count_; ++i) HOLO_TRY(parse_kv(i));
    HOLO_TRY(parse_alignment());
    for (std::uint64_t i = 0; i < tensor_count_; ++i) HOLO_TRY(parse_tensor_info(i));
    return place_tensors();
  }

 private:
  status parse_header();
  status parse_kv(std::uint64_t index);
  status parse_value(gguf_value_type type, int depth, const std::string& ctx, gguf_value* out);
  status parse_array(int depth, const std::string& ctx, gguf_array* out);
  status parse_alignment();
  status parse_tensor_info(std::uint64_t index);
  status place_tensors();

  gguf_file& f_;
  cursor cur_;
  std::uint64_t kv_count_ = 0;
  std::uint64_t tensor_count_ = 0;
};

status gguf_parser::parse_header() {
  std::uint32_t magic = 0;
  HOLO_TRY(cur_.read(&magic, "magic"));
  if (std::memcmp(&magic, "GGUF", 4) != 0) {
    return status::invalid_argument("not a GGUF file: bad magic" + at(0));
  }
  HOLO_TRY(cur_.read(&f_.version_, "version"));
  const std::uint32_t v = f_.version_;
  if (v != 2 && v != 3) {
    if ((v & 0xffffu) == 0 && (v >> 16) != 0) {
      return status::invalid_argument("big-endian GGUF files are not supported" + at(4));
    }
    return status::invalid_argument("unsupported GGUF version " + std::to_string(v) +
                                    " (supported: 2, 3)" + at(4));
  }
  HOLO_TRY(cur_.read(&tensor_count_, "tensor count"));
  HOLO_TRY(cur_.read(&kv_count_, "metadata count"));
  if (tensor_count_ > gguf_limits::tensor_count_max) {
    return status::invalid_argument("tensor count " + std::to_string(tensor_count_) + " exceeds " +
                                    std::to_string(gguf_limits::tensor_count_max) + at(8));
  }
  if (kv_count_ > gguf_limits::kv_count_max) {
    return status::invalid_argument("metadata count " + std::to_string(kv_count_) + " exceeds " +
                                    std::to_string(gguf_limits::kv_count_max) + at(16));
  }
  // Both counts are bounded now, so these products cannot overflow.
  if (kv_count_ * kv_bytes_min + tensor_count_ * tensor_info_bytes_min > cur_.left()) {
    return status::data_loss("file of " + std::to_string(f_.bytes_.size()) + " bytes is too short for " +
                             std::to_string(kv_count_) + " metadata entries and " +
                             std::to_string(tensor_count_) + " tensors");
  }
  f_.kvs_.reserve(kv_count_);
  f_.tensors_.reserve(tensor_count_);
  return ok_status();
}

status gguf_parser::parse_kv(std::uint64_t index) {
  gguf_kv kv;
  kv.offset = cur_.pos();
  const std::string what = "key of metadata entry " + std::to_string(index);
  HOLO_TRY(cur_.read_string(gguf_limits::key_bytes_max, &kv.key, what));
  const std::string ctx = "key " + quoted(kv.key);
  if (f_.kv_index_.count(kv.key)) return status::invalid_argument("duplicate " + ctx + at(kv.offset));
  std::uint32_t type = 0;
  const std::uint64_t type_at = cur_.pos();
  HOLO_TRY(cur_.read(&type, ctx + " value type"));
  if (!is_known(type)) {
    return status::invalid_argument(ctx + ": unknown value type " + std::to_string(type) + at(type_at));
  }
  HOLO_TRY(parse_value(gguf_value_type(type), 0, ctx, &kv.value));
  f_.kv_index_.emplace(kv.key, f_.kvs_.size());
  f_.kvs_.push_back(std::move(kv));
  return ok_status();
}

status gguf_parser::parse_value(gguf_value_type type, int depth, const std::string& ctx, gguf_value* out) {
  out->type = type;
  const std::uint64_t start = cur_.pos();
  std::span<const std::byte> b;
  if (type == gguf_value_type::string) {
    std::string_view s;
    HOLO_TRY(cur_.read_string(gguf_limits::string_bytes_max, &s, ctx + " string"));
    out->data = s;
    return ok_status();
  }
  if (type == gguf_value_type::array) {
    gguf_array a;
    HOLO_TRY(parse_array(depth, ctx, &a));
    out->data = std::move(a);
    return ok_status();
  }
  HOLO_TRY(cur_.read_span(gguf_value_size(type), &b, ctx + " " + std::string(to_string(type))));
  switch (type) {
    case gguf_value_type::u8: out->data = std::uint64_t(load<std::uint8_t>(b.data())); break;
    case gguf_value_type::u16: out->data = std::uint64_t(load<std::uint16_t>(b.data())); break;
    case gguf_value_type::u32: out->data = std::uint64_t(load<std::uint32_t>(b.data())); break;
    case gguf_value_type::u64: out->data = load<std::uint64_t>(b.data()); break;
    case gguf_value_type::i8: out->data = std::int64_t(load<std::int8_t>(b.data())); break;
    case gguf_value_type::i16: out->data = std::int64_t(load<std::int16_t>(b.data())); break;
    case gguf_value_type::i32: out->data = std::int64_t(load<std::int32_t>(b.data())); break;
    case gguf_value_type::i64: out->data = load<std::int64_t>(b.data()); break;
    case gguf_value_type::f32: out->data = double(load<float>(b.data())); break;
    case gguf_value_type::f64: out->data = load<double>(b.data()); break;
    case gguf_value_type::boolean: {
      const auto v = load<std::uint8_t>(b.data());
      if (v > 1) return status::invalid_argument(ctx + ": bool byte " + std::to_string(v) + at(start));
      out->data = v == 1;
      break;
    }
    default: return status::internal(ctx + ": value type dispatch");
  }
  return ok_status();
}

status gguf_parser::parse_array(int depth, const std::string& ctx, gguf_array* out) {
  const std::uint64_t start = cur_.pos();
  if (depth >= gguf_limits::array_depth_max) {
    return status::invalid_argument(ctx + ": arrays nested deeper than " +
                                    std::to_string(gguf_limits::array_depth_max) + at(start));
  }
  std::uint32_t type = 0;
  HOLO_TRY(cur_.read(&type, ctx + " array element type"));
  if (!is_known(type)) {
    return status::invalid_argument(ctx + ": unknown array element type " + std::to_string(type) + at(start));
  }
  out->type = gguf_value_type(type);
  HOLO_TRY(cur_.read(&out->count, ctx + " array length"));
  if (out->count > gguf_limits::array_elems_max) {
    return status::invalid_argument(ctx + ": array of " + std::to_string(out->count) + " elements exceeds " +
                                    std::to_string(gguf_limits::array_elems_max) + at(start));
  }
  // count is bounded, so count * 12 cannot overflow: check it fits before reserving anything.
  const std::size_t elem = gguf_value_size(out->type);
  const std::uint64_t min_bytes = out->count * (elem ? elem
                                                : out->type == gguf_value_type::string ? string_bytes_min
                                                                                       : array_header_bytes);
  HOLO_TRY(cur_.need(min_bytes, ctx + " array of " + std::to_string(out->count) + " " +
                                    std::string(to_string(out->type))));
  if (elem) {
    HOLO_TRY(cur_.read_span(min_bytes, &out->raw, ctx + " array"));
    if (out->type == gguf_value_type::boolean) {
      for (std::uint64_t i = 0; i < out->count; ++i) {
        if (std::to_integer<unsigned>(out->raw[i]) > 1) {
          return status::invalid_argument(ctx + ": bool element " + std::to_string(i) + " is not 0 or 1" +
                                          at(start + array_header_bytes + i));
        }
      }
    }
    return ok_status();
  }
  if (out->type == gguf_value_type::string) {
    // Every length is checked now; the views are made again when asked for (gguf_array::string_views).
    const std::uint64_t first = cur_.pos();
    for (std::uint64_t i = 0; i < out->count; ++i) {
      std::string_view ignored;
      // Context is built only on failure: vocabularies hold 100k+ strings.
      if (auto s = cur_.read_string(gguf_limits::string_bytes_max, &ignored, "array string"); !s.ok()) {
        return s.with_context(ctx + " element " + std::to_string(i));
      }
    }
    out->raw = f_.bytes_.subspan(first, cur_.pos() - first);
    return ok_status();
  }
  out->arrays.resize(out->count);
  for (std::uint64_t i = 0; i < out->count; ++i) {
    HOLO_TRY(parse_array(depth + 1, ctx + "[" + std::to_string(i) + "]", &out->arrays[i]));
  }
  return ok_status();
}

status gguf_parser::parse_alignment() {
  const auto it = f_.kv_index_.find("general.alignment");
  if (it == f_.kv_index_.end()) return ok_status();
  const gguf_kv& kv = f_.kvs_[it->second];
  if (kv.value.type != gguf_value_type::u32) {
    return status::invalid_argument("key 'general.alignment' must be u32, is " +
                                    std::string(to_string(kv.value.type)) + at(kv.offset));
  }
  const auto a = std::get<std::uint64_t>(kv.value.data);
  if (a == 0 || !std::has_single_bit(a) || a > gguf_limits::alignment_max) {
    return status::invalid_argument("key 'general.alignment' = " + std::to_string(a) +
                                    " is not a power of two up to " +
                                    std::to_string(gguf_limits::alignment_max) + at(kv.offset));
  }
  f_.alignment_ = std::uint32_t(a);
  return ok_status();
}

status gguf_parser::parse_tensor_info(std::uint64_t index) {
  gguf_tensor t;
  const std::uint64_t start = cur_.pos();
  HOLO_TRY(cur_.read_string(gguf_limits::tensor_name_bytes_max, &t.name,
                            "name of tensor " + std::to_string(index)));
  const std::string ctx = "tensor " + quoted(t.name);
  if (f_.tensor_index_.count(t.name)) return status::invalid_argument("duplicate " + ctx + at(start));
  HOLO_TRY(cur_.read(&t.n_dims, ctx + " n_dims"));
  if (t.n_dims < 1 || t.n_dims > gguf_limits::n_dims_max) {
    return status::invalid_argument(ctx + ": n_dims " + std::to_string(t.n_dims) + " is not 1.." +
                                    std::to_string(gguf_limits::n_dims_max) + at(start));
  }
  std::int64_t n = 1;
  for (std::uint32_t d = 0; d < t.n_dims; ++d) {
    std::uint64_t dim = 0;
    HOLO_TRY(cur_.read(&dim, ctx + " dimension " + std::to_string(d)));
    constexpr auto i64_max = std::uint64_t(std::numeric_limits<std::int64_t>::max());
    if (dim > i64_max || (dim != 0 && std::uint64_t(n) > i64_max / dim)) {
      return status::invalid_argument(ctx + ": element count overflows at dimension " + std::to_string(d) +
                                      " (" + std::to_string(dim) + ")" + at(start));
    }
    t.dims[d] = std::int64_t(dim);
    n *= std::int64_t(dim);
  }
  t.n_elements = n;
  std::uint32_t type = 0;
  const std::uint64_t type_at = cur_.pos();
  HOLO_TRY(cur_.read(&type, ctx + " type"));
  t.type = tensor_type(type);
  const auto tr = traits(t.type);
  if (tr.block_elems == 0) {
    return status::invalid_argument(ctx + ": unknown tensor type id " + std::to_string(type) + at(type_at));
  }
  if (t.dims[0] % std::int64_t(tr.block_elems) != 0) {
    return status::invalid_argument(ctx + ": first dimension " + std::to_string(t.dims[0]) +
                                    " is not a multiple of " + std::string(tr.name) + "'s block of " +
                                    std::to_string(tr.block_elems) + at(start));
  }
  HOLO_TRY(cur_.read(&t.offset, ctx + " offset"));
  if (t.offset % f_.alignment_ != 0) {
    return status::invalid_argument(ctx + ": data offset " + std::to_string(t.offset) +
                                    " is not a multiple of the alignment " + std::to_string(f_.alignment_) +
                                    at(start));
  }
  f_.tensor_index_.emplace(t.name, f_.tensors_.size());
  f_.tensors_.push_back(t);
  return ok_status();
}

status gguf_parser::place_tensors() {
  const std::uint64_t size = f_.bytes_.size();
  const std::uint64_t a = f_.alignment_;
  const std::uint64_t end_of_infos = cur_.pos();
  f_.data_offset_ = (end_of_infos + a - 1) / a * a;  // end_of_infos <= size, a <= 2^20: no overflow
  if (f_.tensors_.empty()) return ok_status();
  if (f_.data_offset_ > size) {
    return status::data_loss("data section would start" + at(f_.data_offset_) + ", past the end of the " +
                             std::to_string(size) + "-byte file");
  }
  const std::uint64_t data_bytes = size - f_.data_offset_;
  for (auto& t : f_.tensors_) {
    const auto tr = traits(t.type);
    const std::uint64_t blocks = std::uint64_t(t.n_elements) / tr.block_elems;
    const std::string ctx = "tensor " + quoted(t.name);
    if (blocks > data_bytes / tr.block_bytes || t.offset > data_bytes ||
        blocks * tr.block_bytes > data_bytes - t.offset) {
      return status::data_loss(ctx + ": data offset " + std::to_string(t.offset) + " + " + std::to_string(blocks) +
                               " blocks of " + std::to_string(tr.block_bytes) +
                               " bytes runs past the end of the file (data section of " +
                               std::to_string(data_bytes) + " bytes" + at(f_.data_offset_) + ")");
    }
    t.data = f_.bytes_.subspan(f_.data_offset_ + t.offset, blocks * tr.block_bytes);
  }
  std::vector<std::size_t> order(f_.tensors_.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::sort(order.begin(), order.end(),
            [&](std::size_t x, std::size_t y) { return f_.tensors_[x].offset < f_.tensors_[y].offset; });
  const gguf_tensor* prev = nullptr;
  for (const std::size_t i : order) {
    const gguf_tensor& t = f_.tensors_[i];
    if (t.data.empty()) continue;
    if (prev && prev->offset + prev->data.size() > t.offset) {
      return status::invalid_argument("tensor " + quoted(t.name) + " at data offset " +
                                      std::to_string(t.offset) + " overlaps tensor " + quoted(prev->name) +
                                      " at data offset " + std::to_string(prev->offset));
    }
    prev = &t;
  }
  return ok_status();
}

// ---- gguf_file --------------------------------------------------------------------------------

gguf_file::gguf_file() = default;
gguf_file::gguf_file(gguf_file&&) noexcept = default;
gguf_file& gguf_file::operator=(gguf_file&&) noexcept = default;
gguf_file::~gguf_file() = default;

result<gguf_file> gguf_file::parse(std::span<const std::byte> bytes) {
  gguf_file f;
  f.bytes_ = bytes;
  if (auto s = gguf_parser(f).run(); !s.ok()) return s.with_context("gguf");
  return f;
}

result<gguf_file> gguf_file::open(const std::string& path) {
  const std::string ctx = "gguf " + quoted(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    std::string m = ctx + ": cannot open: " + std::strerror(e);
    return e == ENOENT ? status::not_found(m) : status::failed_precondition(m);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return status::invalid_argument(ctx + ": not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return status::data_loss(ctx + ": empty file");
  }
  const auto size = std::size_t(st.st_size);
  void* addr = map_aligned(fd, size);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps its own reference to the file
  if (addr == MAP_FAILED) {
    return status::resource_exhausted(ctx + ": mmap of " + std::to_string(size) +
                                      " bytes failed: " + std::strerror(map_errno));
  }
  auto mapping = std::make_unique<mapped_file>(addr, size);
  auto parsed = parse(mapping->bytes());
  if (!parsed.ok()) return parsed.error().with_context(ctx);
  gguf_file f = std::move(parsed).value();
  f.mapping_ = std::move(mapping);
  return f;
}

const gguf_value* gguf_file::find(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const gguf_tensor* gguf_file::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

result<gguf_tensor> gguf_file::tensor(std::string_view name) const {
  if (const auto* t = find_tensor(name)) return *t;
  return status::not_found("gguf: no tensor " + quoted(name));
}

// ---- typed getters ----------------------------------------------------------------------------

namespace {

status missing(std::string_view key) { return status::not_found("gguf: no key " + quoted(key)); }

status mismatch(std::string_view key, gguf_value_type got, std::string_view want) {
  return status::invalid_argument("gguf: key " + quoted(key) + " is " + std::string(to_string(got)) +
                                  ", expected " + std::string(want));
}

// An integer value as the widest signed/unsigned pair; false when the value is not an integer.
bool integer_of(const gguf_value& v, bool* negative, std::uint64_t* magnitude) {
  if (is_unsigned(v.type)) {
    *negative = false;
    *magnitude = std::get<std::uint64_t>(v.data);
    return true;
  }
  if (is_signed(v.type)) {
    const std::int64_t i = std::get<std::int64_t>(v.data);
    *negative = i < 0;
    *magnitude = i < 0 ? std::uint64_t(0) - std::uint64_t(i) : std::uint64_t(i);
    return true;
  }
  return false;
}

template <class T>
result<T> integer_as(std::string_view key, const gguf_value& v, std::string_view want) {
  bool neg = false;
  std::uint64_t mag = 0;
  if (!integer_of(v, &neg, &mag)) return mismatch(key, v.type, want);
  using lim = std::numeric_limits<T>;
  const bool fits = neg ? (lim::is_signed && mag <= std::uint64_t(lim::max()) + 1) : mag <= std::uint64_t(lim::max());
  if (!fits) {
    return status::invalid_argument("gguf: key " + quoted(key) + " = " + (neg ? "-" : "") + std::to_string(mag) +
                                    " does not fit " + std::string(want));
  }
  return neg ? T(-std::int64_t(mag - 1) - 1) : T(mag);
}

// One element of a fixed-size array widened to int64 (u64 beyond int64 saturates: caller range-checks).
std::int64_t array_integer(const gguf_array& a, std::uint64_t i) {
  const std::byte* p = a.raw.data() + i * gguf_value_size(a.type);
  switch (a.type) {
    case gguf_value_type::u8: return load<std::uint8_t>(p);
    case gguf_value_type::i8: return load<std::int8_t>(p);
    case gguf_value_type::u16: return load<std::uint16_t>(p);
    case gguf_value_type::i16: return load<std::int16_t>(p);
    case gguf_value_type::u32: return load<std::uint32_t>(p);
    case gguf_value_type::i32: return load<std::int32_t>(p);
    case gguf_value_type::i64: return load<std::int64_t>(p);
    case gguf_value_type::u64: {
      const auto u = load<std::uint64_t>(p);
      return u > std::uint64_t(std::numeric_limits<std::int64_t>::max()) ? std::numeric_limits<std::int64_t>::max()
                                                                         : std::int64_t(u);
    }
    default: return 0;
  }
}

}  // namespace

result<std::uint32_t> gguf_file::get_u32(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return missing(key);
  return integer_as<std::uint32_t>(key, *v, "an integer fitting u32");
}

result<std::uint64_t> gguf_file::get_u64(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return missing(key);
  return integer_as<std::uint64_t>(key, *v, "an integer fitting u64");
}

result<std::int32_t> gguf_file::get_i32(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return missing(key);
  return integer_as<std::int32_t>(key, *v, "an integer fitting i32");
}

result<float> gguf_file::get_f32(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return missing(key);
  if (v->type != gguf_value_type::f32 && v->type != gguf_value_type::f64) return mismatch(key, v->type, "f32 or f64");
  return float(std::get<double>(v->data));
}

result<bool> gguf_file::get_bool(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return missing(key);
  if (v->type != gguf_value_type::boolean) return mismatch(key, v->type, "bool");
  return std::get<bool>(v->data);
}

result<std::string_view> gguf_file::get_string(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return missing(key);
  if (v->type != gguf_value_type::string) return mismatch(key, v->type, "string");
  return std::get<std::string_view>(v->data);
}

result<std::uint32_t> gguf_file::get_u32_or(std::string_view key, std::uint32_t fallback) const {
  return has(key) ? get_u32(key) : result<std::uint32_t>(fallback);
}

result<float> gguf_file::get_f32_or(std::string_view key, float fallback) const {
  return has(key) ? get_f32(key) : result<float>(fallback);
}

result<const gguf_array*> gguf_file::get_array(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return missing(key);
  if (v->type != gguf_value_type::array) return mismatch(key, v->type, "array");
  return &std::get<gguf_array>(v->data);
}

result<std::vector<std::string_view>> gguf_file::get_array_strings(std::string_view key) const {
  auto a = get_array(key);
  if (!a.ok()) return a.error();
  if ((*a)->type != gguf_value_type::string) return mismatch(key, (*a)->type, "array of string");
  return (*a)->string_views();
}

std::vector<std::string_view> gguf_array::string_views() const {
  std::vector<std::string_view> out;
  if (type != gguf_value_type::string) return out;
  out.reserve(count);
  // The parser checked every length against the file: walk the same (u64 length, bytes) records.
  std::size_t at = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t n = 0;
    std::memcpy(&n, raw.data() + at, sizeof n);
    at += sizeof n;
    out.emplace_back(reinterpret_cast<const char*>(raw.data() + at), static_cast<std::size_t>(n));
    at += static_cast<std::size_t>(n);
  }
  return out;
}

result<std::vector<float>> gguf_file::get_array_f32(std::string_view key) const {
  auto a = get_array(key);
  if (!a.ok()) return a.error();
  const gguf_array& arr = **a;
  if (arr.type != gguf_value_type::f32 && arr.type != gguf_value_type::f64) {
    return mismatch(key, arr.type, "array of f32 or f64");
  }
  std::vector<float> out(arr.count);
  const std::size_t elem = gguf_value_size(arr.type);
  for (std::uint64_t i = 0; i < arr.count; ++i) {
    const std::byte* p = arr.raw.data() + i * elem;
    out[i] = arr.type == gguf_value_type::f32 ? load<float>(p) : float(load<double>(p));
  }
  return out;
}

result<std::vector<std::int32_t>> gguf_file::get_array_i32(std::string_view key) const {
  auto a = get_array(key);
  if (!a.ok()) return a.error();
  const gguf_array& arr = **a;
  if (!is_unsigned(arr.type) && !is_signed(arr.type)) return mismatch(key, arr.type, "array of integers");
  std::vector<std::int32_t> out(arr.count);
  for (std::uint64_t i = 0; i < arr.count; ++i) {
    const std::int64_t v = array_integer(arr, i);
    if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max()) {
      return status::invalid_argument("gguf: key " + quoted(key) + " element " + std::to_string(i) + " = " +
                                      std::to_string(v) + " does not fit i32");
    }
    out[i] = std::int32_t(v);
  }
  return out;
}

}  // namespace holo::gpu
