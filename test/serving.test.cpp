// Serving on real node processes over loopback: concurrent streams equal solo runs, streams survive
// kill -9 of the node serving them (no gap, no duplicate, same text), a shard that keeps crashing
// escalates while the other model keeps serving, and the client-facing edge cases (cancel,
// disconnect + resume, slow client, oversized prompt, unknown model, malformed request).
#define BOOST_TEST_MODULE serving
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "runtime/client.hpp"
#include "runtime/client_protocol.hpp"
#include "test/cluster.hpp"
#include "test/streams.hpp"

using namespace std::chrono_literals;
using holo::test::cluster_fixture;
using holo::test::stream_set;
namespace proto = holo::proto;

namespace {

// A model large enough that 20 streams take a few seconds on this machine (about 1000 tokens/s
// on one core alone), small enough to build in a second: 6 layers, n_embd 512, Q8_0.
const std::string& model_path() {
  static holo::test::temp_dir dir;
  static std::string path = holo::test::make_model(HOLO_BIN, dir, "serve.gguf",
                                                      {"--preset", "tiny", "--layers", "6", "--embd", "512",
                                                       "--heads", "8", "--kv-heads", "4", "--ff", "1536",
                                                       "--vocab-size", "4096", "--type", "Q8_0", "-q"});
  return path;
}

std::string serve_toml(const std::vector<std::string>& nodes, const std::string& extra = "") {
  std::string list;
  for (auto& n : nodes) list += (list.empty() ? "\"" : ", \"") + n + "\"";
  return "[[model]]\nname = \"m\"\npath = \"" + model_path() + "\"\naliases = [\"m-alias\"]\ncontext_length = 1024\nparallel = 8\n\n" +
         "[[placement]]\nmodel = \"m\"\nnodes = [" + list + "]\n\n" +
         "[routing]\nmax_prompt_tokens = 512\nmax_tokens = 400\n" +
         (extra.find("max_concurrent_per_client") == std::string::npos ? "max_concurrent_per_client = 64\n" : "") +
         extra + "\n";
}

const char* prompts[] = {"Once upon a time", "The cluster of unlike machines", "In a hole in the ground",
                         "Tokens stream back as they are made", "It was a bright cold day in April",
                         "Call me Ishmael.", "A stream that survives", "The quick brown fox jumps over"};

proto::generate_request request(const std::string& id, int i, std::int64_t max_tokens) {
  proto::generate_request r;
  r.id = id;
  r.model = i % 5 == 0 ? "m-alias" : "m";
  r.prompt = std::string(prompts[i % 8]) + " #" + std::to_string(i);
  r.options.seed = static_cast<std::uint64_t>(1000 + i);
  r.options.max_tokens = max_tokens;
  return r;
}

void start_all(cluster_fixture& c) {
  for (auto& n : c.names()) c.start(n);
}

// Every node sees every other up and every replica of model m is ready on `router`.
bool serving_ready(cluster_fixture& c, const std::string& router, std::size_t replicas) {
  holo::client cl(c.client_endpoint(router));
  auto ms = cl.models(500ms);
  if (!ms || ms->empty()) return false;
  std::size_t ready = 0;
  for (auto& r : (*ms)[0].replicas) ready += r.state == "ready";
  return ready == replicas;
}

void require_ready(cluster_fixture& c, std::size_t replicas) {
  for (auto& n : c.names())
    if (c.process(n) && c.process(n)->running())
      BOOST_REQUIRE_MESSAGE(holo::test::eventually(20s, [&] { return serving_ready(c, n, replicas); }),
                            n << " never saw " << replicas << " ready replicas\n" << c.logs());
}

void check_clean(const holo::test::stream_record& r) {
  BOOST_TEST(r.done, r.id << " did not finish");
  BOOST_TEST(r.error.empty(), r.id << ": " << r.error);
  BOOST_TEST(r.violations.empty(), r.id << ": " << (r.violations.empty() ? "" : r.violations.front()));
}

}  // namespace

BOOST_AUTO_TEST_CASE(concurrent_streams_equal_solo_runs) {
  cluster_fixture c(3);
  c.serve(serve_toml({"n1", "n2", "n3"}));
  start_all(c);
  require_ready(c, 3);
  stream_set all;
  for (int i = 0; i < 20; ++i) all.start(c.client_endpoint(c.names()[i % 3]), request("c" + std::to_string(i), i, 120));
  BOOST_REQUIRE_MESSAGE(all.run(60s), "streams did not finish\n" << c.logs());
  std::set<std::string> serving_nodes;
  for (auto& [id, r] : all.streams()) {
    check_clean(r);
    BOOST_TEST(r.tokens.size() == std::size_t(r.final.generated_tokens));
    serving_nodes.insert(r.final.node);
  }
  BOOST_TEST(serving_nodes.size() == 3u, "least loaded placement used " << serving_nodes.size() << " nodes");
  // The same requests one at a time, through another router: the same tokens and text.
  for (int i = 0; i < 20; ++i) {
    stream_set solo;
    auto id = "c" + std::to_string(i);
    solo.start(c.client_endpoint(c.names()[(i + 1) % 3]), request(id, i, 120));
    BOOST_REQUIRE(solo.run(30s));
    check_clean(solo[id]);
    BOOST_TEST(solo[id].tokens == all[id].tokens, id);
    BOOST_TEST(solo[id].text == all[id].text, id);
  }
}

BOOST_AUTO_TEST_CASE(streams_survive_kill9_of_the_serving_node) {
  cluster_fixture c(3);
  c.serve(serve_toml({"n1", "n2", "n3"}));
  start_all(c);
  require_ready(c, 3);
  for (auto& victim : c.names()) {
    BOOST_TEST_MESSAGE("victim " << victim);
    std::vector<std::string> routers;
    for (auto& n : c.names())
      if (n != victim) routers.push_back(n);
    const auto prefix = "k" + victim + "-";
    // The undisturbed run (through the victim's router while it lives).
    stream_set ref;
    for (int i = 0; i < 20; ++i) ref.start(c.client_endpoint(victim), request(prefix + std::to_string(i), i, 200));
    BOOST_REQUIRE(ref.run(60s));
    // Let every router hear the shards' loads after that run (reports are at most 500 ms apart).
    std::this_thread::sleep_for(700ms);
    // The same requests through the other routers; kill the victim once most streams have tokens.
    stream_set run;
    for (int i = 0; i < 20; ++i)
      run.start(c.client_endpoint(routers[i % 2]), request(prefix + std::to_string(i), i, 200));
    // Kill once half the streams have 30 tokens or more: most are then mid-stream.
    BOOST_REQUIRE(run.pump_until(30s, [&] {
      int far = 0;
      for (auto& [id, r] : run.streams()) far += r.tokens.size() >= 30;
      return far >= 10;
    }));
    std::set<std::string> in_flight;
    for (auto& [id, r] : run.streams())
      if (!r.done) in_flight.insert(id);
    const auto unfinished = in_flight.size();
    const auto kill_time = std::chrono::steady_clock::now();
    c.kill9(victim);
    BOOST_REQUIRE_MESSAGE(run.run(60s), "streams did not finish after the kill\n" << c.logs());
    int moved = 0;
    double worst = 0, worst_any = 0;
    std::string worst_id;
    for (auto& [id, r] : run.streams()) {
      check_clean(r);
      BOOST_TEST(r.tokens == ref[id].tokens, id);
      BOOST_TEST(r.text == ref[id].text, id);
      worst_any = std::max(worst_any, r.worst_gap_ms());
      if (!in_flight.count(id)) continue;
      BOOST_TEST(r.final.node != victim);
      if (r.final.attempts < 2) continue;
      ++moved;
      // The failover stall: from the last event before the kill to the first one after it.
      auto last_before = r.sent, first_after = r.arrivals.back();
      for (auto t : r.arrivals) {
        if (t <= kill_time) last_before = t;
        else if (t < first_after) first_after = t;
      }
      double gap = std::chrono::duration<double, std::milli>(first_after - last_before).count();
      if (gap > worst) worst = gap, worst_id = id;
    }
    BOOST_TEST_MESSAGE("  " << unfinished << " streams in flight at the kill, " << moved << " moved, worst failover stall "
                            << worst << " ms, worst gap of any stream " << worst_any << " ms");
    BOOST_TEST(moved > 0, "no stream was served by " << victim);
    BOOST_TEST(worst < 3000.0, "worst failover stall " << worst << " ms in " << worst_id << "\n" << c.logs());
    // Bring the victim back for the next round.
    c.start(victim);
    require_ready(c, 3);
  }
}

BOOST_AUTO_TEST_CASE(a_crashing_shard_escalates_and_the_other_model_keeps_serving) {
  cluster_fixture c(2);
  // Model m on both nodes; model "other" (the same file) on n2 only.
  c.serve(serve_toml({"n1", "n2"}) + "[[model]]\nname = \"other\"\npath = \"" + model_path() +
          "\"\n\n[[placement]]\nmodel = \"other\"\nnodes = [\"n2\"]\n");
  start_all(c);
  require_ready(c, 2);
  // A long generation of "other" runs while m's shard on n2 (s:0) is crashed six times.
  stream_set s;
  auto req = request("o1", 3, 400);
  req.model = "other";
  s.start(c.client_endpoint("n1"), req);
  BOOST_REQUIRE(s.pump_until(10s, [&] { return s["o1"].tokens.size() >= 5; }));
  holo::client admin(c.client_endpoint("n2"));
  for (int i = 0; i < 6; ++i) {
    auto r = admin.roundtrip(proto::encode_kill("k" + std::to_string(i), "s:0", c.admin_key()), 2s);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->find("error") == std::string::npos, "kill " << i << " refused: " << *r);
    // Wait for the restart (the supervisor registers the new shard) before crashing it again.
    std::this_thread::sleep_for(150ms);
  }
  BOOST_REQUIRE(s.run(60s));
  check_clean(s["o1"]);
  // The escalation is logged, the node survives it and serves both models again.
  BOOST_TEST(holo::test::eventually(5s, [&] { return c.process("n2")->log().find("too many restarts") != std::string::npos; }),
             c.logs());
  BOOST_TEST(c.process("n2")->running());
  require_ready(c, 2);
  stream_set after;
  auto again = request("o2", 4, 20);
  again.model = "other";
  after.start(c.client_endpoint("n2"), again);
  after.start(c.client_endpoint("n2"), request("m2", 5, 20));
  BOOST_REQUIRE(after.run(30s));
  check_clean(after["o2"]);
  check_clean(after["m2"]);
  // The undisturbed run of o1 has the same text.
  stream_set ref;
  req.id = "o1";
  ref.start(c.client_endpoint("n2"), req);  // another router: a fresh generation of the same request
  BOOST_REQUIRE(ref.run(30s));
  BOOST_TEST(ref["o1"].text == s["o1"].text);
}

BOOST_AUTO_TEST_CASE(client_edge_cases) {
  cluster_fixture c(2);
  c.serve(serve_toml({"n1", "n2"}, "resume_grace_ms = 20000\n"));
  c.set_node_lines("client_queue_frames = 16\nclient_send_buffer_bytes = 4096\n");
  start_all(c);
  require_ready(c, 2);
  const auto ep = c.client_endpoint("n1");
  const auto other_ep = c.client_endpoint("n2");

  // Reference texts, through n2's router.
  stream_set ref;
  ref.start(other_ep, request("r1", 1, 300));
  BOOST_REQUIRE(ref.run(30s));

  // Cancel: the stream ends with reason cancelled.
  {
    stream_set s;
    s.start(ep, request("x1", 1, 400));
    BOOST_REQUIRE(s.pump_until(10s, [&] { return s["x1"].tokens.size() >= 3; }));
    s.send_raw(ep, proto::encode_cancel("x1"));
    BOOST_REQUIRE(s.run(10s));
    check_clean(s["x1"]);
    BOOST_TEST(s["x1"].final.reason == "cancelled");
    BOOST_TEST(s["x1"].tokens.size() < 400u);
  }
  // Disconnect, then resume on a new connection: the stream goes on from where the client was and
  // the whole text equals the undisturbed run.
  {
    stream_set s;
    s.start(ep, request("r1", 1, 300));
    BOOST_REQUIRE(s.pump_until(10s, [&] { return s["r1"].tokens.size() >= 20; }));
    auto have = s["r1"].tokens.size();
    s.disconnect(ep);
    std::this_thread::sleep_for(300ms);
    s.send_raw(ep, proto::encode_resume("r1", static_cast<std::int64_t>(have)));
    BOOST_REQUIRE(s.run(30s));
    check_clean(s["r1"]);
    BOOST_TEST(s["r1"].tokens == ref["r1"].tokens);
    BOOST_TEST(s["r1"].text == ref["r1"].text);
    // Resuming an unknown id is a clean error.
    s.send_raw(ep, proto::encode_resume("nope", 0));
    BOOST_REQUIRE(s.pump_until(5s, [&] { return !s.other_frames().empty(); }));
    BOOST_TEST(s.other_frames().back().find("not_found") != std::string::npos);
  }
  // A slow client: it reads nothing for a while, then one event every few milliseconds, while 8
  // generations stream to it. Its queue fills; the node then coalesces tokens into fewer events;
  // every token arrives, in order, with the text of the undisturbed runs.
  {
    stream_set s(true);
    for (int i = 0; i < 8; ++i) s.start(ep, request("slow" + std::to_string(i), 10 + i, 300));
    s.pause_reading(ep, true);
    std::this_thread::sleep_for(1000ms);
    s.pause_reading(ep, false);
    BOOST_REQUIRE(s.pump_until(60s, [&] {
      std::this_thread::sleep_for(2ms);  // one event per 2 ms: a fraction of the generation rate
      for (auto& [id, r] : s.streams())
        if (!r.done) return false;
      return true;
    }));
    stream_set ref_slow;
    for (int i = 0; i < 8; ++i) ref_slow.start(other_ep, request("slow" + std::to_string(i), 10 + i, 300));
    BOOST_REQUIRE(ref_slow.run(60s));
    std::int64_t coalesced = 0;
    for (auto& [id, r] : s.streams()) {
      check_clean(r);
      BOOST_TEST(r.tokens == ref_slow[id].tokens, id);
      BOOST_TEST(r.text == ref_slow[id].text, id);
      coalesced = std::max(coalesced, r.max_tokens_per_event);
    }
    BOOST_TEST(coalesced > 1, "no event carried more than one token: nothing was coalesced");
  }
  // Oversized prompt, unknown model, bad options, malformed frames: each a typed error, and the
  // node keeps serving.
  {
    holo::client cl(ep);
    auto too_long = request("big", 1, 10);
    too_long.prompt = std::string(600 * 8, 'a') + " b c d e f g";
    std::string words;
    for (int i = 0; i < 700; ++i) words += "w" + std::to_string(i) + " ";
    too_long.prompt = words;
    stream_set s;
    s.start(ep, too_long);
    auto unknown = request("unk", 1, 10);
    unknown.model = "no-such-model";
    s.start(ep, unknown);
    auto bad = request("bad", 1, 10);
    bad.options.max_tokens = 100000;
    s.start(ep, bad);
    BOOST_REQUIRE(s.run(20s));
    BOOST_TEST(s["big"].error.rfind("out_of_range", 0) == 0, s["big"].error);
    BOOST_TEST(s["unk"].error.rfind("not_found", 0) == 0, s["unk"].error);
    BOOST_TEST(s["bad"].error.rfind("out_of_range", 0) == 0, s["bad"].error);
    for (std::string frame : {std::string("\x81\xa1v\x01", 4), std::string("garbage"),
                              proto::encode_health_request("h") + "x",
                              std::string("\x84\xa1v\x01\xa4kind\xa8generate\xa2id\xa1g\xa5model\x01", 31)}) {
      auto r = cl.roundtrip(frame, 2s);
      BOOST_REQUIRE(r.ok());
      BOOST_TEST(r->find("error") != std::string::npos);
    }
    stream_set ok;
    ok.start(ep, request("after", 3, 10));
    BOOST_REQUIRE(ok.run(10s));
    check_clean(ok["after"]);
  }
}

BOOST_AUTO_TEST_CASE(the_python_client_streams_and_resumes) {
  cluster_fixture c(2);
  c.serve(serve_toml({"n1", "n2"}));
  start_all(c);
  require_ready(c, 2);
  stream_set ref;
  auto req = request("py1", 6, 80);
  ref.start(c.client_endpoint("n2"), req);
  BOOST_REQUIRE(ref.run(30s));
  check_clean(ref["py1"]);
  // docs/examples/holo_client.py, run by Debian's python3 (python3-zmq, python3-msgpack), drops its
  // connection after 20 tokens and resumes on a new one: the text is still the undisturbed run's.
  auto out = c.dir().file("py.out");
  holo::test::child_process py({"/bin/bash", "-c",
                                "/usr/bin/python3 " HOLO_SOURCE_DIR "/docs/examples/holo_client.py --endpoint " +
                                    c.client_endpoint("n1") + " --model m --id py1 --seed 1006 --max-tokens 80 " +
                                    "--resume-after 20 '" + *req.prompt + "' > " + out},
                               c.dir().file("py.log"));
  auto rc = py.wait_exit(60s);
  BOOST_REQUIRE(rc.has_value());
  BOOST_TEST(*rc == 0, py.log());
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  BOOST_TEST(text == ref["py1"].text + "\n");
  BOOST_TEST(py.log().find("80 tokens") != std::string::npos, py.log());
}

BOOST_AUTO_TEST_CASE(routing_policies_canary_fallback_and_limits) {
  cluster_fixture c(3);
  // "small" on n1 and n2, with 30% of its requests going to the canary "small-v2" (n1); "big" only
  // on n3, falling back to "small" when n3 is gone. Policy: session affinity.
  auto model = [](const std::string& name, const std::string& nodes, const std::string& more) {
    return "[[model]]\nname = \"" + name + "\"\npath = \"" + model_path() + "\"\ncontext_length = 512\n" + more +
           "\n[[placement]]\nmodel = \"" + name + "\"\nnodes = [" + nodes + "]\n\n";
  };
  c.serve(model("big", "\"n3\"", "fallback = \"small\"\n") + model("small-v2", "\"n1\"", "") +
          "[routing]\npolicy = \"affinity\"\nmax_tokens = 64\nmax_concurrent_per_client = 3\n\n"
          "[[routing.canary]]\nmodel = \"small\"\ntarget = \"small-v2\"\npercent = 30\n\n" +
          model("small", "\"n1\", \"n2\"", ""));
  start_all(c);
  for (auto& n : c.names())
    BOOST_REQUIRE(holo::test::eventually(20s, [&] {
      holo::client cl(c.client_endpoint(n));
      auto ms = cl.models(500ms);
      if (!ms) return false;
      for (auto& m : *ms)
        for (auto& r : m.replicas)
          if (r.state != "ready") return false;
      return ms->size() == 3;
    }));
  const auto ep = c.client_endpoint("n1");
  auto short_req = [](const std::string& id, const std::string& model, const std::string& session) {
    proto::generate_request r;
    r.id = id;
    r.model = model;
    r.prompt = "route me";
    r.options.max_tokens = 2;
    r.session = session;
    return r;
  };
  // Canary: about 30% of "small" requests are served by small-v2, the same ones every time.
  {
    stream_set s;
    for (int i = 0; i < 60; ++i) {
      s.start(ep, short_req("can" + std::to_string(i), "small", ""));
      if (i % 3 == 2) BOOST_REQUIRE(s.run(20s));  // the per-client limit is 3
    }
    BOOST_REQUIRE(s.run(20s));
    int canary = 0;
    for (auto& [id, r] : s.streams()) {
      check_clean(r);
      canary += r.final.model == "small-v2";
    }
    BOOST_TEST(canary >= 9, canary << " of 60 went to the canary");
    BOOST_TEST(canary <= 27, canary << " of 60 went to the canary");
  }
  // Affinity: every request of one session lands on one node; sessions spread over both.
  {
    std::map<std::string, std::set<std::string>> nodes_of;
    for (int k = 0; k < 4; ++k) {
      stream_set s;
      for (int i = 0; i < 8; ++i) {
        s.start(c.client_endpoint(c.names()[i % 3]), short_req("aff" + std::to_string(k) + "-" + std::to_string(i),
                                                               "small-v2", "sess" + std::to_string(i)));
      }
      BOOST_REQUIRE_MESSAGE(s.run(20s), [&] {
        std::string o;
        for (auto& [id, r] : s.streams())
          o += id + " done=" + std::to_string(r.done) + " tokens=" + std::to_string(r.tokens.size()) + " " + r.error + "\n";
        for (auto& n : c.names()) {
          holo::client cl(c.client_endpoint(n));
          auto ms = cl.models(1s);
          o += n + " sees:";
          if (ms)
            for (auto& m : *ms)
              for (auto& rep : m.replicas) o += " " + m.name + "@" + rep.node + "=" + rep.state;
          else
            o += " " + ms.error().to_string();
          o += "\n";
        }
        if (std::getenv("HOLO_TEST_PAUSE")) {
          for (auto& n : c.names()) std::fprintf(stderr, "PID %s %d\n", n.c_str(), c.process(n)->pid());
          std::this_thread::sleep_for(120s);
        }
        return o + c.logs();
      }());
      for (auto& [id, r] : s.streams()) check_clean(r);
    }
    stream_set s;
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < 6; ++i) {
        s.start(ep, short_req("sess" + std::to_string(i) + "-" + std::to_string(k), "small", "sess" + std::to_string(i)));
        if (s.streams().size() % 3 == 0) BOOST_REQUIRE(s.run(20s));
      }
    BOOST_REQUIRE(s.run(20s));
    std::set<std::string> all_nodes;
    for (auto& [id, r] : s.streams()) {
      check_clean(r);
      if (r.final.model != "small") continue;  // canary requests go to small-v2's one replica
      nodes_of[id.substr(0, id.find('-'))].insert(r.final.node);
      all_nodes.insert(r.final.node);
    }
    for (auto& [sess, nodes] : nodes_of) BOOST_TEST(nodes.size() == 1u, sess << " was served by " << nodes.size() << " nodes");
    BOOST_TEST(all_nodes.size() == 2u);
  }
  // Per-client limit: a fourth concurrent generation is refused with resource_exhausted.
  {
    stream_set s;
    for (int i = 0; i < 4; ++i) {
      auto r = short_req("lim" + std::to_string(i), "small-v2", "");
      r.options.max_tokens = 60;
      s.start(ep, r);
    }
    BOOST_REQUIRE(s.run(30s));
    int refused = 0;
    for (auto& [id, r] : s.streams()) refused += r.error.rfind("resource_exhausted", 0) == 0;
    BOOST_TEST(refused == 1);
  }
  // Fallback: "big" is served by n3; with n3 gone, by "small".
  {
    stream_set s;
    s.start(ep, short_req("big1", "big", ""));
    BOOST_REQUIRE(s.run(20s));
    check_clean(s["big1"]);
    BOOST_TEST(s["big1"].final.model == "big");
    BOOST_TEST(s["big1"].final.node == "n3");
    c.kill9("n3");
    BOOST_REQUIRE(holo::test::eventually(10s, [&] { return c.view("n1")["n3"] == "down"; }));
    stream_set after;
    after.start(ep, short_req("big2", "big", ""));
    BOOST_REQUIRE(after.run(20s));
    check_clean(after["big2"]);
    BOOST_TEST(after["big2"].final.model == "small");
  }
}

BOOST_AUTO_TEST_CASE(a_stuck_shard_is_restarted_and_its_streams_resume) {
  cluster_fixture c(2);
  // "solo" lives on n2 only, so its stream must resume on n2's restarted shard.
  c.serve(serve_toml({"n1", "n2"}) + "[[model]]\nname = \"solo\"\npath = \"" + model_path() +
          "\"\nstep_timeout_ms = 1000\n\n[[placement]]\nmodel = \"solo\"\nnodes = [\"n2\"]\n");
  start_all(c);
  require_ready(c, 2);
  auto req = request("stuck1", 7, 300);
  req.model = "solo";
  stream_set ref;
  ref.start(c.client_endpoint("n2"), req);
  BOOST_REQUIRE(ref.run(30s));
  stream_set s;
  s.start(c.client_endpoint("n1"), req);
  BOOST_REQUIRE(s.pump_until(10s, [&] { return s["stuck1"].tokens.size() >= 20; }));
  // The engine's next step on n2 hangs for 20 s: the shard notices after its 1 s step timeout.
  holo::client admin(c.client_endpoint("n2"));
  auto r = admin.roundtrip(proto::encode_hang("h1", "s:1", 20000, c.admin_key()), 2s);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->find("error") == std::string::npos, *r);
  BOOST_REQUIRE(s.run(30s));
  check_clean(s["stuck1"]);
  BOOST_TEST(s["stuck1"].final.attempts >= 2);
  BOOST_TEST(s["stuck1"].tokens == ref["stuck1"].tokens);
  BOOST_TEST(s["stuck1"].text == ref["stuck1"].text);
  BOOST_TEST(s["stuck1"].worst_gap_ms() < 5000.0);
  BOOST_TEST(c.process("n2")->log().find("engine step stuck") != std::string::npos);
  BOOST_TEST(c.process("n2")->running());
}
