#define BOOST_TEST_MODULE json_lite
#include <boost/test/unit_test.hpp>

#include <string>

#include "gpu/json_lite.hpp"

using namespace holo::gpu;

BOOST_AUTO_TEST_CASE(parses_values) {
  auto v = parse_json(R"( {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude42"}, "n": 0} )");
  BOOST_TEST_REQUIRE(v.ok(), (v.ok() ? "" : v.error().to_string()));
  BOOST_TEST(v->is_object());
  const auto& a = v->find("a")->items();
  BOOST_TEST_REQUIRE(a.size() == 5u);
  BOOST_TEST(a[0].as_int64().value() == 1);
  BOOST_TEST(a[1].as_double() == -2500.0);
  BOOST_TEST(!a[1].as_int64().has_value());
  BOOST_TEST(a[2].as_bool());
  BOOST_TEST(!a[3].as_bool());
  BOOST_TEST(a[4].is_null());
  BOOST_TEST(v->find("b")->find("c")->as_string() == "x\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x99\x82");
  BOOST_TEST(v->find("n")->as_int64().value() == 0);
  BOOST_TEST(v->find("missing") == nullptr);
  BOOST_TEST(parse_json("[]")->items().empty());
  BOOST_TEST(parse_json("{}")->members().empty());
  BOOST_TEST(parse_json("\"caf\xC3\xA9\"")->as_string() == "caf\xC3\xA9");
  BOOST_TEST(parse_json("9223372036854775807")->as_int64().value() == 9223372036854775807LL);
  BOOST_TEST(!parse_json("9223372036854775808")->as_int64().has_value());
}

BOOST_AUTO_TEST_CASE(rejects_what_rfc_8259_rejects) {
  for (const char* bad : {"", " ", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{a:1}", "'x'", "01", "-", "1.",
                          ".5", "1e", "+1", "NaN", "Infinity", "tru", "nul", "[", "{", "\"abc", "\"\\x\"",
                          "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\nb\"", "\"\t\"",
                          "\"\xC3\"", "\"\xED\xA0\x80\"", "\"\xC0\xAF\"", "1 2", "[1]x", "{\"a\":1,\"a\":2}",
                          "/* c */ 1", "[1]//"}) {
    BOOST_TEST_CONTEXT("input '" << bad << "'") { BOOST_TEST(!parse_json(bad).ok()); }
  }
}

BOOST_AUTO_TEST_CASE(limits_hold) {
  json_limits l;
  l.depth_max = 4;
  BOOST_TEST(parse_json("[[[[1]]]]", l).ok());
  BOOST_TEST((parse_json("[[[[[1]]]]]", l).error().code() == holo::status_code::resource_exhausted));
  BOOST_TEST(!parse_json(std::string(100000, '['), {}).ok());  // no stack overflow
  l = {};
  l.string_bytes_max = 8;
  BOOST_TEST(parse_json("\"12345678\"", l).ok());
  BOOST_TEST(!parse_json("\"123456789\"", l).ok());
  l = {};
  l.elements_max = 3;
  BOOST_TEST(parse_json("[1,2]", l).ok());
  BOOST_TEST(!parse_json("[1,2,3]", l).ok());
  l = {};
  l.document_bytes_max = 4;
  BOOST_TEST(!parse_json("[1,2]", l).ok());
}
