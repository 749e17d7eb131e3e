#define BOOST_TEST_MODULE logging
#include <boost/test/unit_test.hpp>

#include <cstdio>

#include "runtime/logging.hpp"

using namespace holo::log;

BOOST_AUTO_TEST_CASE(levels_parse_and_filter) {
  BOOST_CHECK(parse_level("warn") == level::warn);
  BOOST_CHECK(!parse_level("loud"));
  BOOST_CHECK(parse_format("json") == format::json);
  sink s(level::warn, format::text, stderr);
  BOOST_CHECK(!s.enabled(level::info));
  BOOST_CHECK(s.enabled(level::error));
  sink off(level::off, format::text, stderr);
  BOOST_CHECK(!off.enabled(level::error));
}

BOOST_AUTO_TEST_CASE(text_lines_quote_only_what_needs_it) {
  sink s(level::trace, format::text, stderr);
  auto line = s.format_line(level::info, "node", "ready", {{"node", "local-1"}, {"note", "two words"}, {"n", 3}});
  // 2026-11-25T17:55:01.123Z info  node: ready node=local-1 note="two words" n=3
  BOOST_CHECK_EQUAL(line.size() > 25, true);
  BOOST_CHECK_EQUAL(line[10], 'T');
  BOOST_CHECK_EQUAL(line[23], 'Z');
  BOOST_CHECK_EQUAL(line.substr(24), " info  node: ready node=local-1 note=\"two words\" n=3\n");
}

BOOST_AUTO_TEST_CASE(json_lines_escape_and_keep_numbers_bare) {
  sink s(level::trace, format::json, stderr);
  auto line = s.format_line(level::error, "client_api", "bad \"frame\"\n",
                            {{"bytes", std::int64_t{42}}, {"ok", false}, {"ctl", std::string("a\x01")}, {"r", 0.5}});
  auto body = line.substr(line.find("\"level\""));
  BOOST_CHECK_EQUAL(body,
                    "\"level\":\"error\",\"component\":\"client_api\",\"msg\":\"bad \\\"frame\\\"\\n\","
                    "\"bytes\":42,\"ok\":false,\"ctl\":\"a\\u0001\",\"r\":0.5}\n");
  BOOST_CHECK_EQUAL(line.rfind("{\"ts\":\"", 0), 0u);
}

BOOST_AUTO_TEST_CASE(writes_whole_lines_to_the_stream) {
  std::FILE* f = std::tmpfile();
  BOOST_REQUIRE(f);
  auto s = std::make_shared<sink>(level::info, format::text, f);
  logger root(s, "node");
  root.debug("hidden");
  root.child("health").info("seen", {{"k", "v"}});
  std::rewind(f);
  char buf[256] = {};
  auto n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string out(buf, n);
  BOOST_CHECK(out.find("hidden") == std::string::npos);
  BOOST_CHECK(out.find(" info  health: seen k=v\n") != std::string::npos);
  logger none;
  none.error("goes nowhere");  // a default logger discards, and must not crash
}
