#define BOOST_TEST_MODULE persistence_checkpoint_blob
#include <boost/test/unit_test.hpp>

#include "persistence/checkpoint_blob.hpp"

using namespace holo;
using namespace holo::persist;

BOOST_AUTO_TEST_CASE(round_trip) {
  checkpoint_blob c{"router.generation", 3, 77, -5, std::string("\x00\x01\x02msgpack", 10)};
  auto bytes = encode_checkpoint(c);
  auto back = decode_checkpoint(bytes);
  BOOST_REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().to_string()));
  BOOST_CHECK(*back == c);
  checkpoint_blob empty;
  BOOST_CHECK(*decode_checkpoint(encode_checkpoint(empty)) == empty);
}

BOOST_AUTO_TEST_CASE(crc32c_known_vector) {
  BOOST_CHECK_EQUAL(crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
  BOOST_CHECK_EQUAL(crc32c(""), 0u);
}

BOOST_AUTO_TEST_CASE(every_flipped_bit_and_every_truncation_is_detected) {
  auto bytes = encode_checkpoint({"k", 1, 2, 3, "payload bytes"});
  for (std::size_t i = 0; i < bytes.size() * 8; ++i) {
    auto bad = bytes;
    bad[i / 8] = static_cast<char>(bad[i / 8] ^ (1 << (i % 8)));
    auto r = decode_checkpoint(bad);
    BOOST_REQUIRE_MESSAGE(!r.ok(), "bit " << i);
    BOOST_CHECK(r.error().code() == status_code::data_loss);
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) BOOST_CHECK(!decode_checkpoint(bytes.substr(0, n)).ok());
}

BOOST_AUTO_TEST_CASE(a_newer_format_is_refused_by_name) {
  // Re-encode by hand with format_version 2 and a valid checksum.
  auto bytes = encode_checkpoint({"k", 1, 2, 3, "p"});
  std::string body = bytes.substr(0, bytes.size() - 4);
  auto pos = body.find("holo.ckpt") + 9;
  BOOST_REQUIRE_EQUAL(static_cast<int>(body[pos]), 1);
  body[pos] = 2;
  auto crc = crc32c(body);
  for (int i = 0; i < 4; ++i) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  auto r = decode_checkpoint(body);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.error().code() == status_code::failed_precondition);
  BOOST_CHECK(decode_checkpoint(std::string(20, 'x')).error().code() == status_code::data_loss);
}
