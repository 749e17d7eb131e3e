#define BOOST_TEST_MODULE gguf_hostile
#include <boost/test/unit_test.hpp>

// Feeds gguf_file::parse thousands of damaged copies of a valid file: every truncation, every bit
// flip of the header and metadata, huge values written over every field position, random splices,
// and targeted corruptions of the tensor infos. Each copy sits right before a PROT_NONE page, so a
// read past the end faults here even without ASan. Accepted files must be self-consistent.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu/gguf.hpp"
#include "gpu/gguf_test_util.hpp"
#include "gpu/gguf_writer.hpp"

using namespace holo::gpu;

namespace {

// `capacity` writable bytes followed by an inaccessible page.
class guarded_buffer {
 public:
  explicit guarded_buffer(std::size_t capacity) {
    page_ = std::size_t(::sysconf(_SC_PAGESIZE));
    region_ = (capacity + page_ - 1) / page_ * page_;
    void* p = ::mmap(nullptr, region_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    BOOST_TEST_REQUIRE(p != MAP_FAILED);
    base_ = static_cast<std::byte*>(p);
    BOOST_TEST_REQUIRE(::mprotect(base_ + region_, page_, PROT_NONE) == 0);
  }
  ~guarded_buffer() { ::munmap(base_, region_ + page_); }
  guarded_buffer(const guarded_buffer&) = delete;
  guarded_buffer& operator=(const guarded_buffer&) = delete;

  // Copies `src` so that its last byte is the last accessible one.
  std::span<const std::byte> place(std::span<const std::byte> src) {
    BOOST_TEST_REQUIRE(src.size() <= region_);
    std::byte* dst = base_ + region_ - src.size();
    if (!src.empty()) std::memcpy(dst, src.data(), src.size());
    return {dst, src.size()};
  }

 private:
  std::size_t page_ = 0;
  std::size_t region_ = 0;
  std::byte* base_ = nullptr;
};

volatile unsigned sink_;  // keeps the touches below from being optimized away

void touch(std::span<const std::byte> s) {
  if (s.empty()) return;
  sink_ = sink_ + std::to_integer<unsigned>(s.front()) + std::to_integer<unsigned>(s.back());
}

void touch(std::string_view s) {
  if (!s.empty()) sink_ = sink_ + unsigned(s.front()) + unsigned(s.back());
}

void walk(const gguf_array& a) {
  touch(a.raw);
  for (auto s : a.string_views()) touch(s);
  for (const auto& inner : a.arrays) walk(inner);
}

// Reads everything an accepted file offers and checks it is consistent with the bytes it came from.
// Returns false (and reports) on an inconsistency.
bool walk_and_check(const gguf_file& f, std::span<const std::byte> bytes) {
  for (const auto& kv : f.metadata()) {
    touch(kv.key);
    if (auto* s = std::get_if<std::string_view>(&kv.value.data)) touch(*s);
    if (auto* a = std::get_if<gguf_array>(&kv.value.data)) walk(*a);
    (void)f.get_u32(kv.key);
    (void)f.get_f32(kv.key);
    (void)f.get_string(kv.key);
    (void)f.get_array_i32(kv.key);
    (void)f.get_array_f32(kv.key);
    (void)f.get_array_strings(kv.key);
  }
  if (f.data_offset() % f.alignment() != 0) return false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& t : f.tensors()) {
    touch(t.name);
    touch(t.data);
    const auto begin = std::uint64_t(t.data.data() - bytes.data());
    if (t.data.data() < bytes.data() || begin + t.data.size() > bytes.size()) return false;
    if (begin != f.data_offset() + t.offset || t.offset % f.alignment() != 0) return false;
    std::int64_t n = 1;
    for (std::uint32_t d = 0; d < t.n_dims; ++d) n *= t.dims[d];
    if (n != t.n_elements || t.data.size() != row_bytes(t.type, std::size_t(n))) return false;
    if (!t.data.empty()) ranges.emplace_back(begin, begin + t.data.size());
    if (f.find_tensor(t.name) == nullptr) return false;
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i - 1].second > ranges[i].first) return false;
  }
  return true;
}

struct outcome {
  int parsed = 0;
  int rejected = 0;
};

// Parses `bytes` from the guarded buffer; false when an accepted file is inconsistent.
bool run_one(guarded_buffer& g, std::span<const std::byte> bytes, outcome& out) {
  const auto placed = g.place(bytes);
  auto f = gguf_file::parse(placed);
  ++out.parsed;
  if (!f.ok()) {
    ++out.rejected;
    const auto code = f.error().code();
    // Every rejection says why, with one of the two codes the contract names.
    return !f.error().message().empty() &&
           (code == holo::status_code::invalid_argument || code == holo::status_code::data_loss);
  }
  return walk_and_check(*f, placed);
}

struct base_file {
  std::vector<std::byte> bytes;
  std::uint64_t data_offset = 0;
  std::uint64_t data_end = 0;  // end of the last tensor's data: any shorter file lacks data
  std::vector<std::size_t> tensor_offset_fields;  // file positions of each tensor info's offset
  std::vector<std::size_t> tensor_type_fields;
};

base_file make_base() {
  gguf_writer w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_f32("llama.rope.freq_base", 10000.0f);
  w.add_bool("flag", true);
  w.add_i64("big", -5);
  w.add_f64("pi", 3.14159);
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "hello", "world"};
  w.add_array_strings("tokenizer.ggml.tokens", tokens);
  const std::vector<float> scores = {0, 0, 0, -1.5f, -2.5f};
  w.add_array_f32("tokenizer.ggml.scores", scores);
  const std::vector<std::int32_t> types = {2, 3, 3, 1, 1};
  w.add_array_i32("tokenizer.ggml.token_type", types);
  const std::vector<std::uint8_t> bools = {0, 1};
  w.add_array("bools", gguf_array_value::of(gguf_value_type::boolean, std::span<const std::uint8_t>(bools)));
  w.add_array("nested", gguf_array_value::of_arrays({gguf_array_value::of_strings({"a"}),
                                                     gguf_array_value::of_arrays({})}));
  std::vector<std::byte> q40(2 * 18, std::byte{0x11});
  std::vector<std::byte> f32(8 * 4, std::byte{0x22});
  std::vector<std::byte> q6k(210, std::byte{0x33});
  const std::int64_t d_q40[] = {32, 2};
  const std::int64_t d_f32[] = {8};
  const std::int64_t d_q6k[] = {256, 1};
  w.add_tensor("tok_embd.weight", tensor_type::q4_0, d_q40, q40);
  w.add_tensor("output_norm.weight", tensor_type::f32, d_f32, f32);
  w.add_tensor("output.weight", tensor_type::q6_k, d_q6k, q6k);
  auto bytes = w.to_bytes();
  BOOST_TEST_REQUIRE(bytes.ok());

  base_file b;
  b.bytes = std::move(*bytes);
  auto f = gguf_file::parse(b.bytes);
  BOOST_TEST_REQUIRE(f.ok());
  b.data_offset = f->data_offset();
  for (const auto& t : f->tensors()) {
    b.data_end = std::max<std::uint64_t>(b.data_end, b.data_offset + t.offset + t.data.size());
    // Find the tensor info by its name (preceded by its u64 length) to locate its fields.
    const std::string_view all(reinterpret_cast<const char*>(b.bytes.data()), b.bytes.size());
    const std::size_t name_at = all.rfind(t.name, b.data_offset);
    BOOST_TEST_REQUIRE(name_at != std::string_view::npos);
    const std::size_t type_at = name_at + t.name.size() + 4 + 8 * t.n_dims;
    b.tensor_type_fields.push_back(type_at);
    b.tensor_offset_fields.push_back(type_at + 4);
  }
  return b;
}

template <class T>
std::vector<std::byte> with_field(const std::vector<std::byte>& src, std::size_t at, T v) {
  auto out = src;
  std::memcpy(out.data() + at, &v, sizeof v);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_truncation_fails_cleanly) {
  const auto base = make_base();
  guarded_buffer g(base.bytes.size());
  outcome out;
  for (std::size_t len = 0; len <= base.bytes.size(); ++len) {
    const std::span<const std::byte> cut(base.bytes.data(), len);
    BOOST_TEST_REQUIRE(run_one(g, cut, out), "length " << len);
    const bool valid = gguf_file::parse(g.place(cut)).ok();
    if (len < base.data_end) BOOST_TEST_REQUIRE(!valid, "truncated to " << len << " bytes was accepted");
  }
  BOOST_TEST(out.rejected >= int(base.data_end));
}

BOOST_AUTO_TEST_CASE(every_bit_flip_of_the_header_is_safe) {
  const auto base = make_base();
  guarded_buffer g(base.bytes.size());
  outcome out;
  for (std::size_t i = 0; i < base.data_offset; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto m = base.bytes;
      m[i] ^= std::byte(1u << bit);
      BOOST_TEST_REQUIRE(run_one(g, m, out), "byte " << i << " bit " << bit);
    }
  }
  BOOST_TEST_MESSAGE("bit flips: " << out.parsed << " parsed, " << out.rejected << " rejected");
  BOOST_TEST(out.rejected > out.parsed / 4);  // most flips land on lengths, counts, types
}

BOOST_AUTO_TEST_CASE(huge_values_over_every_field_are_safe) {
  const auto base = make_base();
  guarded_buffer g(base.bytes.size());
  outcome out;
  const std::uint64_t size = base.bytes.size();
  const std::uint64_t u64s[] = {0, 1, 0x7f, 0xffffffffull, 1ull << 31, 1ull << 40, 1ull << 62,
                                ~0ull, ~0ull - 31, size, size + 1, size - 1};
  const std::uint32_t u32s[] = {0, 4, 9, 12, 13, 31, 0x80000000u, 0xffffffffu};
  for (std::size_t at = 0; at + 8 <= base.data_offset; ++at) {
    for (auto v : u64s) BOOST_TEST_REQUIRE(run_one(g, with_field(base.bytes, at, v), out), "u64 " << v << " at " << at);
    for (auto v : u32s) BOOST_TEST_REQUIRE(run_one(g, with_field(base.bytes, at, v), out), "u32 " << v << " at " << at);
  }
  // The header fields themselves must make the file invalid when huge.
  for (std::size_t at : {8u, 16u}) {
    for (auto v : {1ull << 40, ~0ull, 1ull << 62}) {
      BOOST_TEST(!gguf_file::parse(g.place(with_field(base.bytes, at, v))).ok(), "count " << v << " at " << at);
    }
  }
  BOOST_TEST_MESSAGE("field smashes: " << out.parsed << " parsed, " << out.rejected << " rejected");
}

BOOST_AUTO_TEST_CASE(corrupt_tensor_infos_are_rejected) {
  const auto base = make_base();
  guarded_buffer g(base.bytes.size() + 64);
  std::vector<std::uint64_t> offsets;
  for (auto at : base.tensor_offset_fields) {
    std::uint64_t v;
    std::memcpy(&v, base.bytes.data() + at, 8);
    offsets.push_back(v);
  }
  BOOST_TEST_REQUIRE(offsets.size() == 3u);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const auto at = base.tensor_offset_fields[i];
    const std::uint64_t bad_offsets[] = {offsets[i] + 1, offsets[i] + 16, offsets[(i + 1) % 3],
                                         ~0ull - 31, 1ull << 40, base.bytes.size()};
    for (auto v : bad_offsets) {
      auto f = gguf_file::parse(g.place(with_field(base.bytes, at, v)));
      BOOST_TEST(!f.ok(), "tensor " << i << " offset " << v << " accepted");
    }
    for (std::uint32_t type : {4u, 5u, 16u, 29u, 31u, 1000u, 0xffffffffu}) {
      auto f = gguf_file::parse(g.place(with_field(base.bytes, base.tensor_type_fields[i], type)));
      BOOST_TEST(!f.ok(), "tensor " << i << " type " << type << " accepted");
    }
  }
}

BOOST_AUTO_TEST_CASE(random_splices_are_safe) {
  const auto base = make_base();
  guarded_buffer g(base.bytes.size() * 3 + 4096);
  std::mt19937 rng(2024);
  outcome out;
  for (int round = 0; round < 20000; ++round) {
    auto m = base.bytes;
    const int ops = 1 + int(rng() % 4);
    for (int op = 0; op < ops && !m.empty(); ++op) {
      const std::size_t at = rng() % m.size();
      switch (rng() % 5) {
        case 0: m[at] = std::byte(rng()); break;
        case 1: m.erase(m.begin() + std::ptrdiff_t(at), m.begin() + std::ptrdiff_t(std::min(m.size(), at + 1 + rng() % 16))); break;
        case 2: {
          std::vector<std::byte> ins(1 + rng() % 16);
          for (auto& b : ins) b = std::byte(rng());
          m.insert(m.begin() + std::ptrdiff_t(at), ins.begin(), ins.end());
          break;
        }
        case 3: m.resize(at); break;
        case 4: {  // duplicate a slice (repeats keys, tensors)
          const std::size_t len = std::min<std::size_t>(m.size() - at, 1 + rng() % 64);
          std::vector<std::byte> slice(m.begin() + std::ptrdiff_t(at), m.begin() + std::ptrdiff_t(at + len));
          m.insert(m.begin() + std::ptrdiff_t(rng() % m.size()), slice.begin(), slice.end());
          break;
        }
      }
    }
    BOOST_TEST_REQUIRE(run_one(g, m, out), "round " << round);
  }
  BOOST_TEST_MESSAGE("random splices: " << out.parsed << " parsed, " << out.rejected << " rejected");
  BOOST_TEST(out.rejected > 0);
}
