// A real `holo node` process: starts from config/local.toml, answers the liveness query over its
// ZeroMQ client endpoint, survives garbage, stops cleanly on SIGTERM/SIGINT; refuses broken configs
// with exit code 2 and a message naming file, line and key.
#define BOOST_TEST_MODULE node_process
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <string>

#include "runtime/client.hpp"
#include "test/process.hpp"

using namespace std::chrono_literals;
using holo::test::child_process;
using holo::test::temp_dir;

namespace {

const std::string holo_bin = HOLO_BIN;
const std::string local_toml = std::string(HOLO_SOURCE_DIR) + "/config/local.toml";

bool is_up(const std::string& endpoint) {
  holo::client c(endpoint);
  auto h = c.health(500ms);
  return h && h->state == "up";
}

}  // namespace

BOOST_AUTO_TEST_CASE(local_node_comes_up_answers_and_stops_on_sigterm) {
  temp_dir tmp;
  child_process node({holo_bin, "node", "--config", local_toml, "--name", "local-2"}, tmp.file("node.log"));
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(10s, [&] { return is_up("tcp://127.0.0.1:7712"); }),
                        "node never answered health; log:\n" << node.log());
  holo::client c("tcp://127.0.0.1:7712");
  auto h = c.health(2s);
  BOOST_REQUIRE(h);
  BOOST_CHECK_EQUAL(h->node, "local-2");
  BOOST_CHECK_EQUAL(h->cluster, "local");
  BOOST_CHECK_EQUAL(h->state, "up");
  BOOST_CHECK_GE(h->actors.size(), 5u);
  for (auto& a : h->actors) BOOST_CHECK_MESSAGE(a.state == "running", a.name << " is " << a.state);

  node.signal(SIGTERM);
  auto t0 = std::chrono::steady_clock::now();
  auto code = node.wait_exit(15s);
  BOOST_REQUIRE_MESSAGE(code.has_value(), "node did not stop within 15 s; log:\n" << node.log());
  BOOST_CHECK_EQUAL(*code, 0);
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - t0, 10s);
  BOOST_CHECK_MESSAGE(node.log().find("stopped cleanly") != std::string::npos, node.log());
  // The endpoint is closed afterwards.
  BOOST_CHECK(!is_up("tcp://127.0.0.1:7712"));
}

BOOST_AUTO_TEST_CASE(sigint_stops_cleanly_too_and_json_logs_are_json) {
  temp_dir tmp;
  child_process node({holo_bin, "node", "--config", local_toml, "--name", "local-3", "--log-format", "json"},
                     tmp.file("node.log"));
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(10s, [&] { return is_up("tcp://127.0.0.1:7713"); }), node.log());
  node.signal(SIGINT);
  auto code = node.wait_exit(15s);
  BOOST_REQUIRE(code.has_value());
  BOOST_CHECK_EQUAL(*code, 0);
  auto log = node.log();
  BOOST_CHECK(log.find("{\"ts\":\"") == 0);
  BOOST_CHECK(log.find("\"msg\":\"stopped cleanly\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_frames_get_errors_and_the_node_keeps_serving) {
  temp_dir tmp;
  child_process node({holo_bin, "node", "--config", local_toml, "--name", "local-1"}, tmp.file("node.log"));
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(10s, [&] { return is_up("tcp://127.0.0.1:7711"); }), node.log());
  holo::client c("tcp://127.0.0.1:7711");
  for (std::string junk : {std::string("not msgpack at all"), std::string("\x93\x01\x02\x03", 4),
                           std::string("\x81\xa1v\x02", 4), std::string("\xdf\xff\xff\xff\xff", 5),
                           std::string("")}) {
    auto r = c.roundtrip(junk, 2s);
    BOOST_REQUIRE_MESSAGE(r, "no error reply for junk frame of " << junk.size() << " bytes: "
                                 << (r ? std::string() : r.error().to_string()));
    BOOST_CHECK(r->find("error") != std::string::npos);
  }
  // An unknown kind is named in the error.
  std::string unknown = "\x83\xa1v\x01\xa4kind\xa5zzzzz\xa2id\xa1x";
  auto r = c.roundtrip(unknown, 2s);
  BOOST_REQUIRE(r);
  BOOST_CHECK(r->find("unknown kind") != std::string::npos);
  BOOST_CHECK(is_up("tcp://127.0.0.1:7711"));
  node.signal(SIGTERM);
  BOOST_CHECK_EQUAL(node.wait_exit(15s).value_or(-1), 0);
}

BOOST_AUTO_TEST_CASE(broken_config_exits_2_naming_file_line_and_key) {
  temp_dir tmp;
  tmp.write("bad.toml",
            "[[node]]\n"
            "name = \"a\"\n"
            "cluster_endpoint = \"tcp://127.0.0.1:1\"\n"
            "cores = \"many\"\n");
  child_process node({holo_bin, "node", "--config", tmp.file("bad.toml")}, tmp.file("node.log"));
  auto code = node.wait_exit(10s);
  BOOST_REQUIRE(code.has_value());
  BOOST_CHECK_EQUAL(*code, 2);
  BOOST_CHECK_MESSAGE(node.log().find("bad.toml:4:1: node[0].cores: unknown key") != std::string::npos, node.log());

  child_process missing({holo_bin, "node", "--config", tmp.file("nope.toml")}, tmp.file("missing.log"));
  BOOST_CHECK_EQUAL(missing.wait_exit(10s).value_or(-1), 2);
  BOOST_CHECK(missing.log().find("nope.toml") != std::string::npos);

  child_process unknown({holo_bin, "node", "--config", local_toml, "--name", "local-9"}, tmp.file("unknown.log"));
  BOOST_CHECK_EQUAL(unknown.wait_exit(10s).value_or(-1), 2);
  BOOST_CHECK(unknown.log().find("no node named 'local-9'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(endpoint_in_use_fails_start_with_exit_1) {
  temp_dir tmp;
  child_process first({holo_bin, "node", "--config", local_toml, "--name", "local-1"}, tmp.file("a.log"));
  BOOST_REQUIRE(holo::test::eventually(10s, [&] { return is_up("tcp://127.0.0.1:7711"); }));
  child_process second({holo_bin, "node", "--config", local_toml, "--name", "local-1"}, tmp.file("b.log"));
  auto code = second.wait_exit(20s);
  BOOST_REQUIRE_MESSAGE(code.has_value(), second.log());
  BOOST_CHECK_EQUAL(*code, 1);
  // The first endpoint it opens is the cluster endpoint: the log names it and the reason.
  BOOST_CHECK_MESSAGE(second.log().find("tcp://127.0.0.1:7701: Address already in use") != std::string::npos,
                      second.log());
  BOOST_CHECK(is_up("tcp://127.0.0.1:7711"));  // the first one is unharmed
  first.signal(SIGTERM);
  BOOST_CHECK_EQUAL(first.wait_exit(15s).value_or(-1), 0);
}
