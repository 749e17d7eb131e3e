#define BOOST_TEST_MODULE client_protocol
#include <boost/test/unit_test.hpp>

#include <msgpack.hpp>

#include "runtime/client_protocol.hpp"

using namespace holo::proto;

namespace {
std::string pack(const msgpack::sbuffer& b) { return {b.data(), b.size()}; }
}  // namespace

BOOST_AUTO_TEST_CASE(health_round_trip) {
  auto req = decode_request_header(encode_health_request("h1"));
  BOOST_REQUIRE(req.ok());
  BOOST_CHECK_EQUAL(req->kind, "health");
  BOOST_CHECK_EQUAL(req->id, "h1");
  health_reply h{"n1", "c", "up", "0.1.0", 1234, {{"router", "running"}, {"store", "unresponsive"}}};
  auto back = decode_health_reply(encode_health_reply("h1", h), "h1");
  BOOST_REQUIRE(back.ok());
  BOOST_CHECK_EQUAL(back->node, "n1");
  BOOST_CHECK_EQUAL(back->uptime_ms, 1234);
  BOOST_REQUIRE_EQUAL(back->actors.size(), 2u);
  BOOST_CHECK_EQUAL(back->actors[1].state, "unresponsive");
  BOOST_CHECK(!decode_health_reply(encode_health_reply("h1", h), "h2").ok());
}

BOOST_AUTO_TEST_CASE(errors_come_back_as_status) {
  auto r = decode_health_reply(encode_error("h1", holo::status_code::unavailable, "restarting"), "h1");
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.error().message().find("unavailable: restarting") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_headers_are_rejected_with_a_reason) {
  auto msg = [](auto fill) {
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    fill(pk);
    return pack(b);
  };
  struct cse {
    std::string frame;
    std::string expect;
  };
  std::vector<cse> cases{
      {"", "malformed"},
      {"\xc1", "malformed"},
      {msg([](auto& pk) { pk.pack_array(1); pk.pack(1); }), "not a map"},
      {msg([](auto& pk) { pk.pack_map(1); pk.pack("kind"); pk.pack("health"); }), "field 'v'"},
      {msg([](auto& pk) { pk.pack_map(3); pk.pack("v"); pk.pack(2); pk.pack("kind"); pk.pack("x"); pk.pack("id"); pk.pack("i"); }),
       "unsupported protocol version 2"},
      {msg([](auto& pk) { pk.pack_map(2); pk.pack("v"); pk.pack(1); pk.pack("kind"); pk.pack(7); }), "field 'kind'"},
      {msg([](auto& pk) { pk.pack_map(3); pk.pack("v"); pk.pack(1); pk.pack("kind"); pk.pack("health"); pk.pack("id"); pk.pack(""); }),
       "field 'id'"},
      {msg([](auto& pk) { pk.pack_map(3); pk.pack("v"); pk.pack(1); pk.pack("kind"); pk.pack("health"); pk.pack("id"); pk.pack(std::string(200, 'x')); }),
       "field 'id'"},
      {encode_health_request("a") + "x", "trailing bytes"},
  };
  for (auto& c : cases) {
    auto r = decode_request_header(c.frame);
    BOOST_REQUIRE_MESSAGE(!r.ok(), "accepted: " << c.expect);
    BOOST_CHECK_MESSAGE(r.error().message().find(c.expect) != std::string::npos,
                        r.error().message() << " lacks " << c.expect);
  }
}

BOOST_AUTO_TEST_CASE(unpack_limits_stop_hostile_sizes) {
  // A map header claiming 4 billion entries must fail fast, not allocate.
  std::string huge_map("\xdf\xff\xff\xff\xff", 5);
  BOOST_CHECK(!decode_request_header(huge_map).ok());
  // Nesting deeper than the limit.
  std::string deep(40, '\x91');
  deep += '\x01';
  BOOST_CHECK(!decode_request_header(deep).ok());
  // A string header larger than the frame.
  std::string long_str("\x81\xdb\x7f\xff\xff\xff", 6);
  BOOST_CHECK(!decode_request_header(long_str).ok());
  // Oversized frame.
  BOOST_CHECK(!decode_request_header(std::string(client_frame_bytes_max + 1, '\x90')).ok());
}
