#include "gpu/gguf_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

namespace holo::gpu {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

namespace {

template <class T>
void put(std::vector<std::byte>& out, T v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

void put_string(std::vector<std::byte>& out, std::string_view s) {
  put<std::uint64_t>(out, s.size());
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

std::uint64_t align_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }

// Sink into memory for to_bytes().
struct vector_sink {
  std::vector<std::byte>& out;
  status operator()(std::span<const std::byte> b) {
    out.insert(out.end(), b.begin(), b.end());
    return ok_status();
  }
};

// Sink into a file descriptor; retries short writes and EINTR.
struct fd_sink {
  int fd;
  const std::string& path;
  status operator()(std::span<const std::byte> b) {
    while (!b.empty()) {
      const ssize_t n = ::write(fd, b.data(), b.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return status::unavailable("gguf writer: write to '" + path + "' failed: " + std::strerror(errno));
      }
      b = b.subspan(std::size_t(n));
    }
    return ok_status();
  }
};

}  // namespace

gguf_array_value gguf_array_value::of_strings(std::vector<std::string> values) {
  gguf_array_value a;
  a.type = gguf_value_type::string;
  a.count = values.size();
  a.strings = std::move(values);
  return a;
}

gguf_array_value gguf_array_value::of_arrays(std::vector<gguf_array_value> values) {
  gguf_array_value a;
  a.type = gguf_value_type::array;
  a.count = values.size();
  a.arrays = std::move(values);
  return a;
}

gguf_writer::gguf_writer(std::uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > gguf_limits::alignment_max) {
    fail(status::invalid_argument("gguf writer: alignment " + std::to_string(alignment) +
                                  " is not a power of two up to " + std::to_string(gguf_limits::alignment_max)));
    return;
  }
  if (alignment != gguf_limits::alignment_default) {
    // Readers learn a non-default alignment only from this key, so it goes first.
    if (begin_kv("general.alignment", gguf_value_type::u32, true)) put<std::uint32_t>(kv_bytes_, alignment);
  }
}

void gguf_writer::fail(status s) {
  if (error_.ok()) error_ = std::move(s);
}

bool gguf_writer::begin_kv(std::string_view key, gguf_value_type type, bool from_constructor) {
  if (!error_.ok()) return false;
  const std::string k(key);
  if (key.size() > gguf_limits::key_bytes_max) {
    fail(status::invalid_argument("gguf writer: key of " + std::to_string(key.size()) + " bytes is too long"));
    return false;
  }
  if (key == "general.alignment" && !from_constructor) {
    // One source of truth: a key disagreeing with the padding would make the file unreadable.
    fail(status::invalid_argument("gguf writer: general.alignment is set through the constructor"));
    return false;
  }
  if (!keys_.insert(k).second) {
    fail(status::invalid_argument("gguf writer: duplicate key '" + k + "'"));
    return false;
  }
  if (kv_count_ + 1 > gguf_limits::kv_count_max) {
    fail(status::invalid_argument("gguf writer: more than " + std::to_string(gguf_limits::kv_count_max) + " keys"));
    return false;
  }
  put_string(kv_bytes_, key);
  put<std::uint32_t>(kv_bytes_, std::uint32_t(type));
  ++kv_count_;
  return true;
}

template <class T>
void gguf_writer::add_scalar(std::string_view key, gguf_value_type type, T v) {
  if (begin_kv(key, type)) put<T>(kv_bytes_, v);
}

void gguf_writer::add_u8(std::string_view key, std::uint8_t v) { add_scalar(key, gguf_value_type::u8, v); }
void gguf_writer::add_i8(std::string_view key, std::int8_t v) { add_scalar(key, gguf_value_type::i8, v); }
void gguf_writer::add_u16(std::string_view key, std::uint16_t v) { add_scalar(key, gguf_value_type::u16, v); }
void gguf_writer::add_i16(std::string_view key, std::int16_t v) { add_scalar(key, gguf_value_type::i16, v); }
void gguf_writer::add_u32(std::string_view key, std::uint32_t v) { add_scalar(key, gguf_value_type::u32, v); }
void gguf_writer::add_i32(std::string_view key, std::int32_t v) { add_scalar(key, gguf_value_type::i32, v); }
void gguf_writer::add_u64(std::string_view key, std::uint64_t v) { add_scalar(key, gguf_value_type::u64, v); }
void gguf_writer::add_i64(std::string_view key, std::int64_t v) { add_scalar(key, gguf_value_type::i64, v); }
void gguf_writer::add_f32(std::string_view key, float v) { add_scalar(key, gguf_value_type::f32, v); }
void gguf_writer::add_f64(std::string_view key, double v) { add_scalar(key, gguf_value_type::f64, v); }
void gguf_writer::add_bool(std::string_view key, bool v) {
  add_scalar<std::uint8_t>(key, gguf_value_type::boolean, v ? 1 : 0);
}

void gguf_writer::add_string(std::string_view key, std::string_view v) {
  if (v.size() > gguf_limits::string_bytes_max) {
    fail(status::invalid_argument("gguf writer: string value of key '" + std::string(key) + "' is too long"));
    return;
  }
  if (begin_kv(key, gguf_value_type::string)) put_string(kv_bytes_, v);
}

status gguf_writer::append_array(const gguf_array_value& a, int depth) {
  if (depth >= gguf_limits::array_depth_max) return status::invalid_argument("arrays nested too deep");
  if (a.count > gguf_limits::array_elems_max) {
    return status::invalid_argument("array of " + std::to_string(a.count) + " elements is too long");
  }
  const std::size_t elem = gguf_value_size(a.type);
  const bool consistent = elem ? a.raw.size() == a.count * elem
                          : a.type == gguf_value_type::string ? a.strings.size() == a.count
                          : a.type == gguf_value_type::array  ? a.arrays.size() == a.count
                                                              : false;
  if (!consistent) {
    return status::invalid_argument("array of " + std::string(to_string(a.type)) +
                                    " does not hold its count of " + std::to_string(a.count) + " elements");
  }
  put<std::uint32_t>(kv_bytes_, std::uint32_t(a.type));
  put<std::uint64_t>(kv_bytes_, a.count);
  if (elem) {
    kv_bytes_.insert(kv_bytes_.end(), a.raw.begin(), a.raw.end());
  } else if (a.type == gguf_value_type::string) {
    for (const auto& s : a.strings) {
      if (s.size() > gguf_limits::string_bytes_max) return status::invalid_argument("array string too long");
      put_string(kv_bytes_, s);
    }
  } else {
    for (const auto& inner : a.arrays) HOLO_TRY(append_array(inner, depth + 1));
  }
  return ok_status();
}

void gguf_writer::add_array(std::string_view key, const gguf_array_value& v) {
  if (!begin_kv(key, gguf_value_type::array)) return;
  if (auto s = append_array(v, 0); !s.ok()) fail(s.with_context("gguf writer: key '" + std::string(key) + "'"));
}

void gguf_writer::add_array_strings(std::string_view key, std::span<const std::string> v) {
  add_array(key, gguf_array_value::of_strings(std::vector<std::string>(v.begin(), v.end())));
}

void gguf_writer::add_array_f32(std::string_view key, std::span<const float> v) {
  add_array(key, gguf_array_value::of(gguf_value_type::f32, v));
}

void gguf_writer::add_array_i32(std::string_view key, std::span<const std::int32_t> v) {
  add_array(key, gguf_array_value::of(gguf_value_type::i32, v));
}

void gguf_writer::add_tensor(std::string_view name, tensor_type type, std::span<const std::int64_t> dims,
                             std::span<const std::byte> data) {
  if (!error_.ok()) return;
  const std::string ctx = "gguf writer: tensor '" + std::string(name) + "'";
  const auto tr = traits(type);
  if (name.size() > gguf_limits::tensor_name_bytes_max) return fail(status::invalid_argument(ctx + ": name too long"));
  if (tr.block_elems == 0) return fail(status::invalid_argument(ctx + ": unknown type"));
  if (dims.empty() || dims.size() > gguf_limits::n_dims_max) {
    return fail(status::invalid_argument(ctx + ": needs 1.." + std::to_string(gguf_limits::n_dims_max) + " dims"));
  }
  std::uint64_t n = 1;
  for (const auto d : dims) {
    if (d < 0 || (d != 0 && n > std::uint64_t(INT64_MAX) / std::uint64_t(d))) {
      return fail(status::invalid_argument(ctx + ": bad dimension " + std::to_string(d)));
    }
    n *= std::uint64_t(d);
  }
  if (dims[0] % std::int64_t(tr.block_elems) != 0) {
    return fail(status::invalid_argument(ctx + ": first dimension " + std::to_string(dims[0]) +
                                         " is not a multiple of the block size " + std::to_string(tr.block_elems)));
  }
  if (n / tr.block_elems * tr.block_bytes != data.size()) {
    return fail(status::invalid_argument(ctx + ": " + std::to_string(data.size()) + " bytes of data, " +
                                         std::string(tr.name) + " of " + std::to_string(n) + " elements needs " +
                                         std::to_string(n / tr.block_elems * tr.block_bytes)));
  }
  if (tensors_.size() + 1 > gguf_limits::tensor_count_max) return fail(status::invalid_argument(ctx + ": too many tensors"));
  if (!tensor_names_.insert(std::string(name)).second) return fail(status::invalid_argument(ctx + ": duplicate name"));
  tensors_.push_back({std::string(name), type, {dims.begin(), dims.end()}, {data.begin(), data.end()}, data_bytes_});
  data_bytes_ += align_up(data.size(), alignment_);
}

template <class Sink>
status gguf_writer::emit(Sink& sink) const {
  HOLO_TRY(error_);
  std::vector<std::byte> head;
  head.insert(head.end(), {std::byte('G'), std::byte('G'), std::byte('U'), std::byte('F')});
  put<std::uint32_t>(head, 3);
  put<std::uint64_t>(head, tensors_.size());
  put<std::uint64_t>(head, kv_count_);
  head.insert(head.end(), kv_bytes_.begin(), kv_bytes_.end());
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<std::uint32_t>(head, std::uint32_t(t.dims.size()));
    for (const auto d : t.dims) put<std::uint64_t>(head, std::uint64_t(d));
    put<std::uint32_t>(head, std::uint32_t(t.type));
    put<std::uint64_t>(head, t.offset);
  }
  head.resize(align_up(head.size(), alignment_), std::byte{0});
  HOLO_TRY(sink(std::span<const std::byte>(head)));
  const std::vector<std::byte> zeros(alignment_, std::byte{0});
  for (const auto& t : tensors_) {
    HOLO_TRY(sink(std::span<const std::byte>(t.data)));
    const std::size_t pad = align_up(t.data.size(), alignment_) - t.data.size();
    HOLO_TRY(sink(std::span<const std::byte>(zeros.data(), pad)));
  }
  return ok_status();
}

result<std::vector<std::byte>> gguf_writer::to_bytes() const {
  std::vector<std::byte> out;
  vector_sink sink{out};
  HOLO_TRY(emit(sink));
  return out;
}

status gguf_writer::write(const std::string& path) const {
  HOLO_TRY(error_);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return status::failed_precondition("gguf writer: cannot create '" + tmp + "': " + std::strerror(errno));
  }
  fd_sink sink{fd, tmp};
  status s = emit(sink);
  if (s.ok() && ::fsync(fd) != 0) {
    s = status::unavailable("gguf writer: fsync of '" + tmp + "' failed: " + std::strerror(errno));
  }
  if (::close(fd) != 0 && s.ok()) {
    s = status::unavailable("gguf writer: close of '" + tmp + "' failed: " + std::strerror(errno));
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = status::failed_precondition("gguf writer: rename to '" + path + "' failed: " + std::strerror(errno));
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace holo::gpu
