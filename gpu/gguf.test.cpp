#define BOOST_TEST_MODULE gguf
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gpu/f16.hpp"
#include "gpu/gguf.hpp"
#include "gpu/gguf_test_util.hpp"
#include "gpu/gguf_writer.hpp"
#include "gpu/quant.hpp"

using namespace holo::gpu;
using holo::status_code;
using test::gguf_bytes;

namespace {

bool has_code(const holo::status& s, status_code c) { return s.code() == c; }
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Boost evaluates a check's message even when the check passes: never touch error() of an ok result.
template <class T>
std::string why(const holo::result<T>& r) { return r.ok() ? std::string() : r.error().to_string(); }

// Parses and expects failure with `code` and a message containing each of `parts`.
void expect_rejected(std::span<const std::byte> bytes, status_code code, std::vector<std::string_view> parts) {
  auto f = gguf_file::parse(bytes);
  BOOST_TEST_REQUIRE(!f.ok());
  const auto& s = f.error();
  BOOST_TEST_MESSAGE("rejected: " << s.to_string());
  BOOST_TEST(has_code(s, code), s.to_string());
  for (auto p : parts) BOOST_TEST(contains(s.message(), p), "'" << p << "' not in: " << s.message());
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("holo_gguf_test_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<std::byte> as_bytes(const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  return {b, b + n};
}

// A writer with one key of every type and tensors of several types.
struct sample {
  std::vector<float> f32_data = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 7.0f, -8.0f, 9.5f};
  std::vector<f16_bits> f16_data;
  std::vector<std::byte> q4k_data;
  std::vector<std::byte> q80_data;
  gguf_writer w;

  explicit sample(std::uint32_t alignment = 32) : w(alignment) {
    w.add_u8("t.u8", 200);
    w.add_i8("t.i8", -100);
    w.add_u16("t.u16", 60000);
    w.add_i16("t.i16", -30000);
    w.add_u32("t.u32", 4000000000u);
    w.add_i32("t.i32", -2000000000);
    w.add_u64("t.u64", 0xfedcba9876543210ull);
    w.add_i64("t.i64", -0x123456789abcll);
    w.add_f32("t.f32", 0.15625f);
    w.add_f64("t.f64", 2.718281828459045);
    w.add_bool("t.bool", true);
    w.add_string("t.string", "hello, gguf");
    w.add_string("t.empty", "");
    const std::vector<std::string> tokens = {"<s>", "", "hello", std::string("a\0b", 3)};
    w.add_array_strings("t.tokens", tokens);
    const std::vector<float> scores = {0.5f, -1.0f, 3.0f};
    w.add_array_f32("t.scores", scores);
    const std::vector<std::int32_t> types = {1, -2, 3, 2147483647};
    w.add_array_i32("t.types", types);
    const std::vector<std::uint8_t> bytes = {1, 2, 255};
    w.add_array("t.u8s", gguf_array_value::of(gguf_value_type::u8, std::span<const std::uint8_t>(bytes)));
    const std::vector<std::uint32_t> big = {7, 4000000000u};
    w.add_array("t.u32s", gguf_array_value::of(gguf_value_type::u32, std::span<const std::uint32_t>(big)));
    const std::vector<double> doubles = {1.5, -0.25};
    w.add_array("t.f64s", gguf_array_value::of(gguf_value_type::f64, std::span<const double>(doubles)));
    const std::vector<std::uint8_t> bools = {1, 0, 1};
    w.add_array("t.bools", gguf_array_value::of(gguf_value_type::boolean, std::span<const std::uint8_t>(bools)));
    w.add_array("t.nested", gguf_array_value::of_arrays(
                                {gguf_array_value::of_strings({"x", "yz"}),
                                 gguf_array_value::of(gguf_value_type::i16, std::span<const std::int16_t>(
                                                                                std::vector<std::int16_t>{-5, 6})),
                                 gguf_array_value::of_arrays({})}));
    w.add_array("t.empty_array", gguf_array_value::of_strings({}));

    const std::int64_t f32_dims[] = {4, 2};
    w.add_tensor("f32", tensor_type::f32, f32_dims, as_bytes(f32_data.data(), f32_data.size() * 4));
    f16_data.resize(3);
    f32_to_f16_row(f32_data.data(), f16_data.data(), 3);
    const std::int64_t f16_dims[] = {3};
    w.add_tensor("f16 odd size", tensor_type::f16, f16_dims, as_bytes(f16_data.data(), 6));
    std::vector<float> x(256 * 2 * 3);
    std::mt19937 rng(1);
    std::normal_distribution<float> n01;
    for (auto& v : x) v = n01(rng);
    q4k_data.resize(row_bytes(tensor_type::q4_k, x.size()));
    BOOST_TEST_REQUIRE(quantize_row(tensor_type::q4_k, x.data(), q4k_data.data(), std::int64_t(x.size())).ok());
    const std::int64_t q4k_dims[] = {256, 2, 3};
    w.add_tensor("blk.0.attn_q.weight", tensor_type::q4_k, q4k_dims, q4k_data);
    q80_data.resize(row_bytes(tensor_type::q8_0, 64));
    BOOST_TEST_REQUIRE(quantize_row(tensor_type::q8_0, x.data(), q80_data.data(), 64).ok());
    const std::int64_t q80_dims[] = {32, 1, 1, 2};
    w.add_tensor("q8_0 4d", tensor_type::q8_0, q80_dims, q80_data);
  }
};

void check_sample(const gguf_file& f, const sample& s, std::uint32_t alignment) {
  BOOST_TEST(f.version() == 3u);
  BOOST_TEST(f.alignment() == alignment);
  BOOST_TEST(f.data_offset() % alignment == 0u);
  BOOST_TEST(*f.get_u32("t.u8") == 200u);
  BOOST_TEST(*f.get_i32("t.i8") == -100);
  BOOST_TEST(*f.get_u32("t.u16") == 60000u);
  BOOST_TEST(*f.get_i32("t.i16") == -30000);
  BOOST_TEST(*f.get_u32("t.u32") == 4000000000u);
  BOOST_TEST(*f.get_i32("t.i32") == -2000000000);
  BOOST_TEST(*f.get_u64("t.u64") == 0xfedcba9876543210ull);
  BOOST_TEST(std::get<std::int64_t>(f.find("t.i64")->data) == -0x123456789abcll);
  BOOST_TEST(*f.get_f32("t.f32") == 0.15625f);
  BOOST_TEST(std::get<double>(f.find("t.f64")->data) == 2.718281828459045);
  BOOST_TEST(*f.get_bool("t.bool"));
  BOOST_TEST(*f.get_string("t.string") == "hello, gguf");
  BOOST_TEST(f.get_string("t.empty")->empty());
  auto tokens = f.get_array_strings("t.tokens");
  BOOST_TEST_REQUIRE(tokens.ok());
  BOOST_TEST_REQUIRE(tokens->size() == 4u);
  BOOST_TEST((*tokens)[0] == "<s>");
  BOOST_TEST((*tokens)[1].empty());
  BOOST_TEST((*tokens)[3] == std::string_view("a\0b", 3));
  BOOST_TEST(*f.get_array_f32("t.scores") == (std::vector<float>{0.5f, -1.0f, 3.0f}));
  BOOST_TEST(*f.get_array_f32("t.f64s") == (std::vector<float>{1.5f, -0.25f}));
  BOOST_TEST(*f.get_array_i32("t.types") == (std::vector<std::int32_t>{1, -2, 3, 2147483647}));
  BOOST_TEST(*f.get_array_i32("t.u8s") == (std::vector<std::int32_t>{1, 2, 255}));
  BOOST_TEST((*f.get_array("t.bools"))->count == 3u);
  const gguf_array* nested = *f.get_array("t.nested");
  BOOST_TEST_REQUIRE(nested->arrays.size() == 3u);
  BOOST_TEST(nested->arrays[0].string_views()[1] == "yz");
  BOOST_TEST((nested->arrays[1].type == gguf_value_type::i16));
  std::int16_t second = 0;
  std::memcpy(&second, nested->arrays[1].raw.data() + 2, 2);
  BOOST_TEST(second == 6);
  BOOST_TEST(nested->arrays[2].count == 0u);
  BOOST_TEST(f.get_array_strings("t.empty_array")->empty());

  BOOST_TEST_REQUIRE(f.tensors().size() == 4u);
  BOOST_TEST(f.tensors()[2].name == "blk.0.attn_q.weight");  // file order kept
  auto t = f.tensor("f32");
  BOOST_TEST_REQUIRE(t.ok());
  BOOST_TEST(t->n_dims == 2u);
  BOOST_TEST(t->dims[0] == 4);
  BOOST_TEST(t->dims[1] == 2);
  BOOST_TEST(t->dims[2] == 1);
  BOOST_TEST(t->n_elements == 8);
  BOOST_TEST_REQUIRE(t->data.size() == 32u);
  BOOST_TEST(std::memcmp(t->data.data(), s.f32_data.data(), 32) == 0);
  auto q = f.tensor("blk.0.attn_q.weight");
  BOOST_TEST_REQUIRE(q.ok());
  BOOST_TEST((q->type == tensor_type::q4_k));
  BOOST_TEST(q->n_elements == 256 * 6);
  BOOST_TEST(q->dims[2] == 3);
  BOOST_TEST_REQUIRE(q->data.size() == s.q4k_data.size());
  BOOST_TEST(std::memcmp(q->data.data(), s.q4k_data.data(), s.q4k_data.size()) == 0);
  auto h = f.tensor("f16 odd size");
  BOOST_TEST_REQUIRE(h.ok());
  BOOST_TEST(h->data.size() == 6u);
  auto q8 = f.tensor("q8_0 4d");
  BOOST_TEST_REQUIRE(q8.ok());
  BOOST_TEST(q8->n_dims == 4u);
  BOOST_TEST(q8->dims[3] == 2);
  BOOST_TEST(std::memcmp(q8->data.data(), s.q80_data.data(), s.q80_data.size()) == 0);
  for (const auto& ti : f.tensors()) {
    BOOST_TEST(ti.offset % alignment == 0u);
    BOOST_TEST(std::uint64_t(ti.data.data() - f.bytes().data()) == f.data_offset() + ti.offset);
  }
  BOOST_TEST(f.find_tensor("missing") == nullptr);
  BOOST_TEST(has_code(f.tensor("missing").error(), status_code::not_found));
}

}  // namespace

BOOST_AUTO_TEST_CASE(writer_reader_round_trip_in_memory) {
  sample s;
  auto bytes = s.w.to_bytes();
  BOOST_TEST_REQUIRE(bytes.ok(), why(bytes));
  auto f = gguf_file::parse(*bytes);
  BOOST_TEST_REQUIRE(f.ok(), why(f));
  check_sample(*f, s, 32);
  BOOST_TEST(!f->has("general.alignment"));
}

BOOST_AUTO_TEST_CASE(writer_reader_round_trip_through_file) {
  for (std::uint32_t alignment : {32u, 64u, 8u}) {
    sample s(alignment);
    const auto path = temp_path("round_trip_" + std::to_string(alignment) + ".gguf");
    BOOST_TEST_REQUIRE(s.w.write(path.string()).ok());
    auto f = gguf_file::open(path.string());
    BOOST_TEST_REQUIRE(f.ok(), why(f));
    check_sample(*f, s, alignment);
    BOOST_TEST(f->has("general.alignment") == (alignment != 32));
    if (alignment != 32) BOOST_TEST(*f->get_u32("general.alignment") == alignment);
    // Moving keeps the views valid: the mapping does not move.
    gguf_file moved = std::move(*f);
    BOOST_TEST(*moved.get_string("t.string") == "hello, gguf");
    check_sample(moved, s, alignment);
    std::filesystem::remove(path);
    // No temporary left behind.
    for (const auto& e : std::filesystem::directory_iterator(path.parent_path())) {
      BOOST_TEST(!contains(e.path().filename().string(), path.filename().string() + ".tmp"));
    }
  }
}

// The writer's bytes for a tiny file, field by field as the GGUF spec lays them out.
BOOST_AUTO_TEST_CASE(writer_bytes_match_the_spec) {
  gguf_writer w;
  w.add_u32("a", 7);
  w.add_string("name", "xy");
  const float data[4] = {1, 2, 3, 4};
  const std::int64_t dims[] = {4};
  w.add_tensor("t", tensor_type::f32, dims, as_bytes(data, sizeof data));
  const float data2[2] = {5, 6};
  const std::int64_t dims2[] = {2, 1};
  w.add_tensor("u", tensor_type::f32, dims2, as_bytes(data2, sizeof data2));
  auto bytes = w.to_bytes();
  BOOST_TEST_REQUIRE(bytes.ok());

  gguf_bytes want;
  want.header(2, 2).str("a").u32(4).u32(7).str("name").u32(8).str("xy");
  want.tensor("t", {4}, 0, 0).tensor("u", {2, 1}, 0, 32).pad(32);
  want.raw(data, sizeof data).pad(32).raw(data2, sizeof data2).pad(32);
  BOOST_TEST(*bytes == want.b);
}

BOOST_AUTO_TEST_CASE(reads_hand_built_v2_and_v3) {
  for (std::uint32_t version : {2u, 3u}) {
    gguf_bytes b;
    b.header(1, 2, version).str("general.architecture").u32(8).str("llama");
    b.str("llama.block_count").u32(4).u32(12);
    b.tensor("w", {32, 2}, 8, 0).pad(32);
    b.zeros(2 * 34);
    auto f = gguf_file::parse(b.span());
    BOOST_TEST_REQUIRE(f.ok(), why(f));
    BOOST_TEST(f->version() == version);
    BOOST_TEST(*f->get_string("general.architecture") == "llama");
    BOOST_TEST(*f->get_u32("llama.block_count") == 12u);
    BOOST_TEST(f->tensors()[0].data.size() == 68u);
    BOOST_TEST(f->data_offset() % 32 == 0u);
  }
}

BOOST_AUTO_TEST_CASE(typed_getters_report_mismatches) {
  sample s;
  auto bytes = s.w.to_bytes();
  auto f = gguf_file::parse(*bytes);
  BOOST_TEST_REQUIRE(f.ok());
  auto e = f->get_u32("t.string");
  BOOST_TEST(has_code(e.error(), status_code::invalid_argument));
  BOOST_TEST(contains(e.error().message(), "t.string"));
  BOOST_TEST(contains(e.error().message(), "string"));
  BOOST_TEST(has_code(f->get_u32("nope").error(), status_code::not_found));
  BOOST_TEST(contains(f->get_u32("nope").error().message(), "nope"));
  BOOST_TEST(!f->get_u32("t.i8").ok());     // negative
  BOOST_TEST(!f->get_i32("t.u32").ok());    // 4e9 does not fit
  BOOST_TEST(!f->get_u32("t.u64").ok());
  BOOST_TEST(f->get_u64("t.u64").ok());
  BOOST_TEST(!f->get_f32("t.u32").ok());
  BOOST_TEST(*f->get_f32("t.f64") == 2.718281828459045f);
  BOOST_TEST(!f->get_bool("t.u8").ok());
  BOOST_TEST(!f->get_string("t.tokens").ok());
  BOOST_TEST(!f->get_array_strings("t.scores").ok());
  BOOST_TEST(!f->get_array_f32("t.tokens").ok());
  BOOST_TEST(!f->get_array_i32("t.scores").ok());
  auto big = f->get_array_i32("t.u32s");  // 4e9 in a u32 array
  BOOST_TEST(!big.ok());
  BOOST_TEST(contains(big.error().message(), "element 1"));
  BOOST_TEST(*f->get_u32_or("absent", 77) == 77u);
  BOOST_TEST(*f->get_u32_or("t.u16", 77) == 60000u);
  BOOST_TEST(!f->get_u32_or("t.string", 77).ok());
  BOOST_TEST(*f->get_f32_or("absent", 0.5f) == 0.5f);
}

BOOST_AUTO_TEST_CASE(writer_rejects_bad_input) {
  {
    gguf_writer w;
    w.add_u32("k", 1);
    w.add_string("k", "again");
    BOOST_TEST(contains(w.error().message(), "duplicate key 'k'"));
    BOOST_TEST(!w.to_bytes().ok());
  }
  {
    gguf_writer w;
    const float data[3] = {};
    const std::int64_t dims[] = {4};
    w.add_tensor("t", tensor_type::f32, dims, as_bytes(data, sizeof data));
    BOOST_TEST(contains(w.error().message(), "12 bytes"));
  }
  {
    gguf_writer w;
    std::vector<std::byte> data(18 * 2);
    const std::int64_t dims[] = {48};  // not a multiple of Q4_0's 32
    w.add_tensor("t", tensor_type::q4_0, dims, data);
    BOOST_TEST(!w.error().ok());
  }
  {
    gguf_writer w(48);
    BOOST_TEST(contains(w.error().message(), "alignment"));
  }
  {
    gguf_writer w;
    w.add_u32("general.alignment", 64);
    BOOST_TEST(!w.error().ok());
  }
  {
    gguf_writer w;
    const std::int64_t dims[] = {1};
    const float one = 1;
    w.add_tensor("t", tensor_type::f32, dims, as_bytes(&one, 4));
    w.add_tensor("t", tensor_type::f32, dims, as_bytes(&one, 4));
    BOOST_TEST(contains(w.error().message(), "duplicate"));
    BOOST_TEST(!w.write(temp_path("never.gguf").string()).ok());
    BOOST_TEST(!std::filesystem::exists(temp_path("never.gguf")));
  }
}

BOOST_AUTO_TEST_CASE(open_reports_missing_and_empty_files) {
  auto missing = gguf_file::open(temp_path("does_not_exist.gguf").string());
  BOOST_TEST(has_code(missing.error(), status_code::not_found));
  BOOST_TEST(contains(missing.error().message(), "does_not_exist.gguf"));
  const auto empty = temp_path("empty.gguf");
  std::ofstream(empty).close();
  auto e = gguf_file::open(empty.string());
  BOOST_TEST(has_code(e.error(), status_code::data_loss));
  std::filesystem::remove(empty);
  const auto junk = temp_path("junk.gguf");
  std::ofstream(junk) << "this is not a model file";
  auto j = gguf_file::open(junk.string());
  BOOST_TEST(has_code(j.error(), status_code::invalid_argument));
  BOOST_TEST(contains(j.error().message(), "junk.gguf"));
  BOOST_TEST(contains(j.error().message(), "magic"));
  std::filesystem::remove(junk);
}

// ---- rejection of specific corruptions --------------------------------------------------------

BOOST_AUTO_TEST_CASE(rejects_bad_header) {
  gguf_bytes b;
  b.raw("GGML", 4).u32(3).u64(0).u64(0);
  expect_rejected(b.span(), status_code::invalid_argument, {"magic"});
  expect_rejected(gguf_bytes().header(0, 0, 1).span(), status_code::invalid_argument, {"version 1"});
  expect_rejected(gguf_bytes().header(0, 0, 0x03000000).span(), status_code::invalid_argument, {"big-endian"});
  expect_rejected(gguf_bytes().raw("GGUF", 4).u32(3).span(), status_code::data_loss, {"truncated", "tensor count"});
  expect_rejected(gguf_bytes().header(std::uint64_t(1) << 40, 0).span(), status_code::invalid_argument,
                  {"tensor count"});
  expect_rejected(gguf_bytes().header(0, ~std::uint64_t(0)).span(), status_code::invalid_argument, {"metadata count"});
  expect_rejected(gguf_bytes().header(1000, 1000).span(), status_code::data_loss, {"too short"});
}

BOOST_AUTO_TEST_CASE(rejects_bad_metadata) {
  expect_rejected(gguf_bytes().header(0, 1).u64(~std::uint64_t(0)).zeros(16).span(), status_code::invalid_argument,
                  {"key", "length", "offset 24"});
  expect_rejected(gguf_bytes().header(0, 1).str("abc").u32(13).u32(0).span(), status_code::invalid_argument,
                  {"'abc'", "unknown value type 13", "offset 35"});
  expect_rejected(gguf_bytes().header(0, 1).str("s").u32(8).u64(std::uint64_t(1) << 40).span(),
                  status_code::invalid_argument, {"'s'", "string", "exceeds"});
  expect_rejected(gguf_bytes().header(0, 1).str("s").u32(8).u64(100).raw("short", 5).span(), status_code::data_loss,
                  {"'s'", "truncated", "need 100 bytes, 5 left"});
  expect_rejected(gguf_bytes().header(0, 1).str("arr").u32(9).u32(4).u64(std::uint64_t(1) << 62).span(),
                  status_code::invalid_argument, {"'arr'", "array", "exceeds"});
  expect_rejected(gguf_bytes().header(0, 1).str("arr").u32(9).u32(8).u64(1000).u64(0).u64(0).span(),
                  status_code::data_loss, {"'arr'", "array of 1000 string"});
  expect_rejected(gguf_bytes().header(0, 1).str("arr").u32(9).u32(99).u64(1).u32(0).span(),
                  status_code::invalid_argument, {"'arr'", "unknown array element type 99"});
  expect_rejected(gguf_bytes().header(0, 1).str("b").u32(7).u8(2).span(), status_code::invalid_argument,
                  {"'b'", "bool"});
  expect_rejected(gguf_bytes().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).span(),
                  status_code::invalid_argument, {"duplicate key 'k'"});
  {  // arrays nested deeper than the limit
    gguf_bytes b;
    b.header(0, 1).str("deep").u32(9);
    for (int i = 0; i < 20; ++i) b.u32(9).u64(1);
    b.u32(4).u64(0);
    expect_rejected(b.span(), status_code::invalid_argument, {"'deep'", "nested"});
  }
  expect_rejected(gguf_bytes().header(0, 1).str("general.alignment").u32(4).u32(48).span(),
                  status_code::invalid_argument, {"general.alignment", "48", "power of two"});
  expect_rejected(gguf_bytes().header(0, 1).str("general.alignment").u32(10).u64(32).span(),
                  status_code::invalid_argument, {"general.alignment", "u32"});
}

BOOST_AUTO_TEST_CASE(rejects_bad_tensor_infos) {
  auto one = [](std::vector<std::uint64_t> dims, std::uint32_t type, std::uint64_t offset, std::size_t data) {
    gguf_bytes b;
    b.header(1, 0).tensor("w.weight", std::move(dims), type, offset).pad(32).zeros(data);
    return b;
  };
  expect_rejected(one({4}, 0, 0, 8).span(), status_code::data_loss, {"'w.weight'", "past the end"});
  expect_rejected(one({4}, 0, 16, 64).span(), status_code::invalid_argument, {"'w.weight'", "alignment 32"});
  expect_rejected(one({4}, 0, 64, 64).span(), status_code::data_loss, {"'w.weight'", "data offset 64"});
  expect_rejected(one({4}, 4, 0, 64).span(), status_code::invalid_argument, {"'w.weight'", "unknown tensor type id 4"});
  expect_rejected(one({4}, 1000, 0, 64).span(), status_code::invalid_argument, {"unknown tensor type id 1000"});
  expect_rejected(one({48}, 12, 0, 1024).span(), status_code::invalid_argument, {"'w.weight'", "48", "Q4_K"});
  expect_rejected(one({1, 1, 1, 1, 1}, 0, 0, 64).span(), status_code::invalid_argument, {"n_dims 5"});
  expect_rejected(one({}, 0, 0, 64).span(), status_code::invalid_argument, {"n_dims 0"});
  expect_rejected(one({std::uint64_t(1) << 40, std::uint64_t(1) << 40}, 0, 0, 64).span(),
                  status_code::invalid_argument, {"'w.weight'", "overflows"});
  expect_rejected(one({~std::uint64_t(0)}, 0, 0, 64).span(), status_code::invalid_argument, {"overflows"});
  expect_rejected(one({std::uint64_t(1) << 62}, 0, 0, 64).span(), status_code::data_loss, {"past the end"});
  {  // offset near 2^64: the range check must not wrap
    expect_rejected(one({8}, 0, ~std::uint64_t(31), 64).span(), status_code::data_loss, {"past the end"});
  }
  {
    gguf_bytes b;
    b.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad(32).zeros(128);
    expect_rejected(b.span(), status_code::invalid_argument, {"'b'", "overlaps", "'a'"});
  }
  {
    gguf_bytes b;
    b.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad(32).zeros(128);
    expect_rejected(b.span(), status_code::invalid_argument, {"duplicate tensor 'a'"});
  }
  {  // the data section itself missing
    gguf_bytes b;
    b.header(1, 0).tensor("a", {8}, 0, 0);
    b.u8(0);
    expect_rejected(b.span(), status_code::data_loss, {"data section"});
  }
  {  // a custom alignment applies to the offsets
    gguf_bytes b;
    b.header(1, 1).str("general.alignment").u32(4).u32(64).tensor("a", {8}, 0, 32).pad(64).zeros(128);
    expect_rejected(b.span(), status_code::invalid_argument, {"alignment 64"});
  }
  {  // non-overlapping tensors in any order, and zero-size tensors, are fine
    gguf_bytes b;
    b.header(3, 0).tensor("late", {8}, 0, 32).tensor("early", {8}, 0, 0).tensor("empty", {0, 3}, 0, 0);
    b.pad(32).zeros(64);
    auto f = gguf_file::parse(b.span());
    BOOST_TEST_REQUIRE(f.ok(), why(f));
    BOOST_TEST(f->tensor("empty")->data.size() == 0u);
  }
}
