// Real node processes on loopback forming one cluster: membership, failure detection, restart,
// fail-fast remote requests, and garbage on the cluster port.
#define BOOST_TEST_MODULE cluster
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <map>
#include <random>
#include <thread>

#include <zmq.hpp>

#include "runtime/client.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/keys.hpp"
#include "runtime/wire.hpp"
#include "runtime/wire_batch.hpp"
#include "test/cluster.hpp"

using namespace std::chrono_literals;
using holo::test::cluster_fixture;
using clock_type = std::chrono::steady_clock;

namespace {

std::string views(cluster_fixture& c) {
  std::string out;
  for (auto& o : c.names()) {
    out += o + " sees:";
    for (auto& [n, st] : c.view(o)) out += " " + n + "=" + st;
    out += "\n";
  }
  return out;
}

bool everyone_sees_everyone_up(cluster_fixture& c) {
  for (auto& o : c.names()) {
    auto v = c.view(o);
    if (v.size() != c.names().size()) return false;
    for (auto& [n, st] : v)
      if (st != "up") return false;
  }
  return true;
}

std::vector<std::string> others(cluster_fixture& c, const std::string& except) {
  std::vector<std::string> out;
  for (auto& n : c.names())
    if (n != except) out.push_back(n);
  return out;
}

// Whether every node knows what every other announced (its memory: the planner plans nothing with
// a node whose announce it never got); `why` names the first that does not.
bool everyone_knows_everyones_announce(cluster_fixture& c, std::string& why) {
  for (auto& o : c.names()) {
    holo::client cl(c.client_endpoint(o));
    auto n = cl.nodes(1s);
    if (!n || n->members.size() != c.names().size()) {
      why = o + " gave no full view";
      return false;
    }
    for (auto& m : n->members)
      if (m.memory_bytes == 0) {
        why = o + " has no announce of " + m.node;
        return false;
      }
  }
  return true;
}

bool has_text(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// `subject` must stay out for `window`: polled every 100 ms, no observer's view may ever list it
// as up, and each observer must have answered at least once and last said "joining". A view query
// that times out (a busy host under ctest -j2) is retried, not taken as an answer. On failure,
// `why` says what was seen.
bool kept_out(cluster_fixture& c, const std::vector<std::pair<std::string, std::string>>& who_sees_whom,
              std::chrono::milliseconds window, std::string& why) {
  std::map<std::pair<std::string, std::string>, std::string> last;
  auto t0 = clock_type::now();
  while (clock_type::now() - t0 < window) {
    for (auto& [observer, subject] : who_sees_whom) {
      auto v = c.view(observer, 1s);
      if (v.empty()) continue;  // no answer this time
      auto it = v.find(subject);
      auto st = it == v.end() ? std::string("absent") : it->second;
      if (st == "up") {
        why = observer + " saw " + subject + " up";
        return false;
      }
      last[{observer, subject}] = st;
    }
    std::this_thread::sleep_for(100ms);
  }
  for (auto& pair : who_sees_whom) {
    auto it = last.find(pair);
    if (it == last.end()) {
      why = pair.first + " never answered a view query";
      return false;
    }
    if (it->second != "joining") {
      why = pair.first + " last saw " + pair.second + " as " + it->second;
      return false;
    }
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(five_nodes_join_detect_a_kill_and_rejoin) {
  cluster_fixture c(5);
  auto t0 = clock_type::now();
  for (auto& n : c.names()) c.start(n);
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(3s, [&] { return everyone_sees_everyone_up(c); }),
                        "not every node saw all five up within 3 s\n" << c.logs());
  BOOST_TEST_MESSAGE("all five up everywhere after " << seconds_since(t0) << " s");
  // ...and each knows the others' announces well before the periodic repeat (every 5 s): a first
  // announce that met a link not yet connected is made good when the peer's own arrives.
  {
    std::string why;
    BOOST_CHECK_MESSAGE(holo::test::eventually(1500ms, [&] { return everyone_knows_everyones_announce(c, why); }),
                        "announces missing " << seconds_since(t0) << " s after start: " << why);
  }
  // Heartbeat echoes give each node a round trip to every peer (none to itself) within a few beats.
  {
    holo::client cl(c.client_endpoint("n2"));
    std::string why = "no answer";
    BOOST_CHECK_MESSAGE(holo::test::eventually(3s, [&] {
                          auto n = cl.nodes(1s);
                          if (!n) return false;
                          for (auto& m : n->members) {
                            const bool self = m.node == "n2";
                            if (self ? m.rtt_ms != -1 : !(m.rtt_ms >= 0 && m.rtt_ms < 1000)) {
                              why = m.node + " rtt_ms " + std::to_string(m.rtt_ms);
                              return false;
                            }
                          }
                          return n->members.size() == 5;
                        }),
                        "round trips: " << why);
  }

  // kill -9: every other node marks it down within 2 s.
  auto survivors = others(c, "n3");
  c.kill9("n3");
  auto killed_at = clock_type::now();
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(2s, [&] { return c.all_see(survivors, "n3", "down"); }),
                        "n3 not marked down everywhere within 2 s\n" << views(c) << c.logs());
  BOOST_TEST_MESSAGE("n3 down everywhere after " << seconds_since(killed_at) << " s");

  // A request to an actor on the dead node fails fast with the typed error.
  holo::client cl(c.client_endpoint("n1"));
  auto asked = clock_type::now();
  auto h = cl.health(3s, "n3");
  BOOST_REQUIRE(!h.ok());
  BOOST_CHECK_MESSAGE(h.error().message().find("node_unreachable") != std::string::npos, h.error().message());
  BOOST_CHECK_LT(seconds_since(asked), 0.5);
  // ...while a live one answers through the cluster.
  auto h2 = cl.health(3s, "n2");
  BOOST_REQUIRE_MESSAGE(h2.ok(), (h2.ok() ? std::string() : h2.error().message()));
  BOOST_CHECK_EQUAL(h2->node, "n2");

  // Restarted under the same name, it is back up everywhere within 3 s.
  c.start("n3");
  auto restarted_at = clock_type::now();
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(3s, [&] { return everyone_sees_everyone_up(c); }),
                        "n3 did not rejoin within 3 s\n" << c.logs());
  BOOST_TEST_MESSAGE("n3 back up everywhere after " << seconds_since(restarted_at) << " s");
  {
    std::string why;
    BOOST_CHECK_MESSAGE(holo::test::eventually(1500ms, [&] { return everyone_knows_everyones_announce(c, why); }),
                        "announces missing after n3's restart: " << why);
  }

  // A clean stop announces `left`.
  c.process("n5")->signal(SIGTERM);
  BOOST_CHECK_EQUAL(c.process("n5")->wait_exit(10s).value_or(-1), 0);
  BOOST_CHECK(holo::test::eventually(1s, [&] { return c.all_see({"n1", "n2", "n3", "n4"}, "n5", "left"); }));
}

// Free memory is measured while running: when another program (this test process) takes more
// than the re-announce threshold (1/8 of what was announced), every node re-announces within an
// announce period (5 s) and the peers plan with the lower figure; when it is given back, the
// figure comes back up.
BOOST_AUTO_TEST_CASE(free_memory_taken_by_another_program_is_re_announced) {
  cluster_fixture c(2);
  for (auto& n : c.names()) c.start(n);
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(5s, [&] { return everyone_sees_everyone_up(c); }), c.logs());
  holo::client cl(c.client_endpoint("n1"));
  auto free_of = [&](const std::string& node) -> double {  // GiB, as n1 knows it; -1: no answer
    auto n = cl.nodes(1s);
    if (!n) return -1;
    for (auto& m : n->members)
      if (m.node == node) return static_cast<double>(m.memory_free_bytes) / double(1ull << 30);
    return -1;
  };
  double before = -1;
  BOOST_REQUIRE(holo::test::eventually(5s, [&] { return (before = free_of("n2")) > 0; }));
  // Twice the threshold (1/8) and more, so that both the drop and the recovery clear it even while
  // the tests running beside this one move a GiB or two of their own (CI saw a 3.8 GiB take come
  // back as a 2.9 GiB rise, short of 1/8 of 19.8 GiB); capped so a small CI machine is not pushed
  // to swap.
  const double take_gib = std::min(before / 4 + 1.0, before / 3);
  BOOST_TEST_MESSAGE("n2 announced " << before << " GiB free; taking " << take_gib << " GiB");
  BOOST_REQUIRE_GT(take_gib, 0.5);
  double lowered = before;
  {
    std::vector<char> taken(static_cast<std::size_t>(take_gib * double(1ull << 30)));
    for (std::size_t i = 0; i < taken.size(); i += 4096) taken[i] = 1;  // resident, not just reserved
    double low = before;
    BOOST_CHECK_MESSAGE(holo::test::eventually(12s, [&] {
                          low = free_of("n2");
                          return low > 0 && low < before - take_gib / 2;
                        }),
                        "n2's free memory not re-announced: still " << low << " GiB\n" << c.logs());
    BOOST_CHECK_MESSAGE(has_text(c.logs(), "free memory changed"), c.logs());
    BOOST_CHECK_MESSAGE(has_text(c.logs(), "trigger=\"n2 free memory "), "n1 did not re-plan with it\n" << c.logs());
    lowered = low;
  }
  // Back up past the middle of the lowered and the first figure: a new announce (the lowered one
  // is below the middle). Not "lowered + take / 2": the lowered figure can miss part of the take
  // (CI saw 6.7 GiB taken show as a 3.5 GiB drop, other tests freeing memory meanwhile), and the
  // figure then had to come back to within 0.2 GiB of the first one while those tests ran on.
  const double middle = (lowered + before) / 2;
  double high = lowered;
  BOOST_CHECK_MESSAGE(holo::test::eventually(15s, [&] {
                        high = free_of("n2");
                        return high > middle;
                      }),
                      "n2's free memory not back up: " << high << " GiB, lowered " << lowered << ", first "
                                                       << before);
}

BOOST_AUTO_TEST_CASE(garbage_on_the_cluster_port_is_dropped_and_the_node_keeps_serving) {
  cluster_fixture c(2);
  for (auto& n : c.names()) c.start(n);
  BOOST_REQUIRE(holo::test::eventually(3s, [&] { return everyone_sees_everyone_up(c); }));
  zmq::context_t ctx;
  zmq::socket_t d(ctx, zmq::socket_type::dealer);
  d.set(zmq::sockopt::routing_id, "garbage");
  d.set(zmq::sockopt::sndhwm, 0);
  d.set(zmq::sockopt::linger, 0);
  d.connect("tcp://127.0.0.1:" + std::to_string(c.nodes()[0].cluster_port));
  std::mt19937_64 rng(42);
  // A valid frame to mutate, and hostile variants: wrong version, spoofed sender, unknown type,
  // a request for an actor that does not exist; and batches of such frames, some with a length
  // that lies.
  holo::wire::envelope e{holo::wire::version, holo::wire::frame_kind::request, holo::wire::heartbeat::wire_id,
                         "n2", "health", "n1", "health", 1, holo::wire::encode(holo::wire::heartbeat{"n2", 1, 1, "up"})};
  auto good = holo::wire::encode_envelope(e);
  for (int i = 0; i < 100000; ++i) {
    std::string f;
    switch (i % 5) {
      case 4: {  // a batch of hostile frames, sometimes with a broken length
        for (int k = 0; k < 3; ++k) {
          auto h = e;
          h.correlation = i + k;
          h.from_node = k == 0 ? "n9" : "n2";
          h.to_actor = k == 1 ? "nosuch" : "health";
          holo::wire::append_to_batch(f, holo::wire::encode_envelope(h));
        }
        if (i % 2) f[1 + rng() % (f.size() - 1)] = static_cast<char>(rng());
        break;
      }
      case 0: {  // random bytes
        f.resize(rng() % 64);
        for (auto& ch : f) ch = static_cast<char>(rng());
        break;
      }
      case 1:  // truncated
        f = good.substr(0, rng() % good.size());
        break;
      case 2: {  // bit flips
        f = good;
        f[rng() % f.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      }
      default: {  // well-formed but hostile
        auto h = e;
        h.correlation = i;
        if (i % 3 == 0) h.from_node = "n9";
        if (i % 3 == 1) h.type = 999;
        if (i % 3 == 2) h.to_actor = "nosuch";
        f = holo::wire::encode_envelope(h);
      }
    }
    (void)d.send(zmq::buffer(f), zmq::send_flags::dontwait);
  }
  // It still serves: clients get answers and the membership view still holds the peer as up.
  BOOST_CHECK(holo::test::eventually(20s, [&] {
    holo::client cl(c.client_endpoint("n1"));
    auto h = cl.health(1s);
    return h && h->state == "up";
  }));
  BOOST_CHECK(holo::test::eventually(5s, [&] { return everyone_sees_everyone_up(c); }));
  holo::client cl(c.client_endpoint("n1"));
  auto n = cl.nodes(2s);
  BOOST_REQUIRE(n.ok());
  BOOST_TEST_MESSAGE("dropped frames counted: " << n->links.dropped_frames);
  BOOST_CHECK_GT(n->links.dropped_frames, 10000u);
  BOOST_CHECK(c.process("n1")->running());
}

BOOST_AUTO_TEST_CASE(keys_not_in_the_config_are_refused_at_the_handshake) {
  cluster_fixture c(3, /*curve=*/true);
  c.start("n1");
  c.start("n2");
  BOOST_REQUIRE(holo::test::eventually(3s, [&] { return c.all_see({"n1", "n2"}, "n2", "up") && c.all_see({"n1", "n2"}, "n1", "up"); }));

  // n3 with a key the others do not list: refused; nobody sees it up.
  auto rogue = c.nodes();
  auto other = holo::generate_keypair();
  BOOST_REQUIRE(other.ok());
  rogue[2].public_key = other->public_z85;
  rogue[2].secret_key = other->secret_z85;
  c.start("n3", c.write_config("rogue.toml", rogue));
  std::string why;
  BOOST_CHECK_MESSAGE(kept_out(c, {{"n1", "n3"}, {"n2", "n3"}, {"n3", "n1"}}, 1500ms, why), why);
  holo::client cl(c.client_endpoint("n1"));
  auto n = cl.nodes(2s);
  BOOST_REQUIRE(n.ok());
  BOOST_CHECK_GT(n->links.rejected_handshakes, 0u);
  c.kill9("n3");

  // n3 with no CURVE at all (loopback, no keys): the handshake fails on the mechanism.
  auto plain = c.nodes();
  for (auto& s : plain) s.public_key.clear(), s.secret_key.clear();
  c.start("n3", c.write_config("plain.toml", plain));
  BOOST_CHECK_MESSAGE(kept_out(c, {{"n1", "n3"}, {"n2", "n3"}, {"n3", "n1"}}, 1500ms, why), why);
  c.kill9("n3");

  // n3 with its real key but a wrong server key for n1 and n2: it cannot reach them, and the
  // messages it would send are never delivered.
  auto wrong = c.nodes();
  auto bogus = holo::generate_keypair();
  BOOST_REQUIRE(bogus.ok());
  wrong[0].public_key = bogus->public_z85;
  wrong[0].secret_key = bogus->secret_z85;
  wrong[1].public_key = bogus->public_z85;
  wrong[1].secret_key = bogus->secret_z85;
  c.start("n3", c.write_config("wrong.toml", wrong));
  BOOST_CHECK_MESSAGE(kept_out(c, {{"n3", "n1"}, {"n3", "n2"}}, 1500ms, why), why);
  c.kill9("n3");

  // And the real n3 joins fine.
  c.start("n3");
  BOOST_CHECK_MESSAGE(holo::test::eventually(3s, [&] { return everyone_sees_everyone_up(c); }), views(c) << c.logs());
}

BOOST_AUTO_TEST_CASE(a_node_refuses_to_bind_off_loopback_without_keys) {
  cluster_fixture c(1);
  auto spec = c.nodes();
  c.dir().write("open.toml",
                "[[node]]\nname = \"n1\"\ncluster_endpoint = \"tcp://0.0.0.0:" + std::to_string(spec[0].cluster_port) +
                    "\"\nclient_endpoint = \"tcp://127.0.0.1:" + std::to_string(spec[0].client_port) + "\"\n");
  auto& p = c.start("n1", c.dir().file("open.toml"));
  auto code = p.wait_exit(10s);
  BOOST_REQUIRE(code.has_value());
  BOOST_CHECK_NE(*code, 0);
  BOOST_CHECK_MESSAGE(p.log().find("without CURVE keys") != std::string::npos, p.log());
}

BOOST_AUTO_TEST_CASE(clients_need_a_listed_key_when_the_endpoint_requires_curve) {
  cluster_fixture c(1, /*curve=*/true);
  auto alice = holo::generate_keypair();
  auto mallory = holo::generate_keypair();
  BOOST_REQUIRE(alice.ok() && mallory.ok());
  c.require_client_keys({{"alice", alice->public_z85}});
  c.start("n1");
  auto ep = c.client_endpoint("n1");
  auto server = c.nodes()[0].public_key;
  holo::client_keys alice_keys{server, alice->public_z85, alice->secret_z85};
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(5s, [&] {
                          holo::client cl(ep, alice_keys);
                          auto h = cl.health(500ms);
                          return h && h->state == "up";
                        }),
                        c.logs());
  // An unlisted key, and a client without CURVE: no answer at all (the handshake never completes).
  holo::client bad(ep, holo::client_keys{server, mallory->public_z85, mallory->secret_z85});
  auto r1 = bad.health(1500ms);
  BOOST_CHECK(!r1.ok());
  holo::client plain(ep);
  auto r2 = plain.health(1500ms);
  BOOST_CHECK(!r2.ok());
  // A listed client with the wrong server key cannot talk either.
  holo::client wrong(ep, holo::client_keys{mallory->public_z85, alice->public_z85, alice->secret_z85});
  BOOST_CHECK(!wrong.health(1500ms).ok());
  // The refusal was counted, and the listed client still works.
  holo::client ok(ep, alice_keys);
  auto n = ok.nodes(2s);
  BOOST_REQUIRE(n.ok());
  BOOST_CHECK_GT(n->links.rejected_handshakes, 0u);
}
