#define BOOST_TEST_MODULE stop_matcher
#include <boost/test/unit_test.hpp>

#include "gpu/stop_matcher.hpp"

using namespace holo::gpu;

BOOST_AUTO_TEST_CASE(stop_string_across_pieces) {
  stop_matcher m({"</s>", "STOP"});
  auto a = m.push("Hello <");
  BOOST_TEST(a.emit == "Hello ");
  BOOST_TEST(!a.stopped);
  BOOST_TEST(m.held_bytes() == 1u);
  auto b = m.push("/");
  BOOST_TEST(b.emit == "");
  auto c = m.push("s>tail");
  BOOST_TEST(c.emit == "");
  BOOST_TEST(c.stopped);
  BOOST_TEST(m.push("more").emit == "");
  BOOST_TEST(m.flush() == "");
}

BOOST_AUTO_TEST_CASE(false_alarm_is_released) {
  stop_matcher m({"</s>"});
  BOOST_TEST(m.push("a<").emit == "a");
  BOOST_TEST(m.push("b").emit == "<b");
  BOOST_TEST(m.push("</").emit == "");
  BOOST_TEST(m.flush() == "</");
}

BOOST_AUTO_TEST_CASE(overlapping_prefixes) {
  stop_matcher m({"abc"});
  BOOST_TEST(m.push("aab").emit == "a");
  auto s = m.push("c!");
  BOOST_TEST(s.stopped);
  BOOST_TEST(s.emit == "");
}

BOOST_AUTO_TEST_CASE(stop_inside_one_piece_and_earliest_wins) {
  stop_matcher m({"bar", "foo"});
  auto s = m.push("x foo bar");
  BOOST_TEST(s.stopped);
  BOOST_TEST(s.emit == "x ");
}

BOOST_AUTO_TEST_CASE(multibyte_stop_string) {
  stop_matcher m({"\xE4\xB8\x96\xE7\x95\x8C"});  // 世界
  BOOST_TEST(m.push("\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96").emit == "\xE4\xBD\xA0\xE5\xA5\xBD");  // 你好|世
  auto s = m.push("\xE7\x95\x8C!");
  BOOST_TEST(s.stopped);
  BOOST_TEST(s.emit == "");
}

BOOST_AUTO_TEST_CASE(no_stops_passes_everything) {
  stop_matcher m({});
  BOOST_TEST(m.push("abc").emit == "abc");
  BOOST_TEST(m.flush() == "");
}
