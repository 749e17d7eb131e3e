// A CUDA failure in one shard fails only that shard's requests over to another replica, and the
// node keeps running. Node n1 serves the model on its GPU with HOLO_FAULT_CUDA_ALLOC set (every
// session allocation asks the device for twice its memory: the CUDA runtime's real out-of-memory
// error); n2 serves it on the CPU (CUDA_VISIBLE_DEVICES empty). Every stream sent to n1's router
// must end cleanly, served by n2, with the ones first placed on n1 moved (attempts >= 2).
// Needs a CUDA device: without one it says so and skips.
#define BOOST_TEST_MODULE cuda_failover
#include <boost/test/unit_test.hpp>

#include <cstdlib>

#include "gpu/devices.hpp"
#include "runtime/client.hpp"
#include "runtime/client_protocol.hpp"
#include "test/cluster.hpp"
#include "test/streams.hpp"

using namespace std::chrono_literals;
using holo::test::cluster_fixture;
using holo::test::stream_set;
namespace proto = holo::proto;

namespace {

const std::string& model_path() {
  static holo::test::temp_dir dir;
  static std::string path = holo::test::make_model(HOLO_BIN, dir, "failover.gguf",
                                                      {"--preset", "tiny", "--layers", "4", "--type", "Q8_0",
                                                       "-q"});
  return path;
}

// Starts `name` with `var` set to `value` in its environment (the child inherits it at spawn).
void start_with_env(cluster_fixture& c, const std::string& name, const char* var, const char* value) {
  ::setenv(var, value, 1);
  c.start(name);
  ::unsetenv(var);
}

bool replicas_ready(cluster_fixture& c, const std::string& router, std::size_t want) {
  holo::client cl(c.client_endpoint(router));
  auto ms = cl.models(500ms);
  if (!ms || ms->empty()) return false;
  std::size_t ready = 0;
  for (auto& r : (*ms)[0].replicas) ready += r.state == "ready";
  return ready == want;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_cuda_failure_fails_the_shards_requests_over) {
  std::string why;
  if (holo::gpu::list_cuda_devices(&why).empty()) {
    BOOST_TEST_MESSAGE("SKIPPED (no CUDA device): " << why);
    return;
  }
  cluster_fixture c(2);
  c.serve("[[model]]\nname = \"m\"\npath = \"" + model_path() +
          "\"\ncontext_length = 512\nparallel = 2\n\n[[placement]]\nmodel = \"m\"\nnodes = [\"n1\", \"n2\"]\n"
          "backend = \"auto\"\n\n[routing]\nmax_concurrent_per_client = 64\n");
  start_with_env(c, "n1", "HOLO_FAULT_CUDA_ALLOC", "1");
  start_with_env(c, "n2", "CUDA_VISIBLE_DEVICES", "");
  for (auto& n : c.names())
    BOOST_REQUIRE_MESSAGE(holo::test::eventually(30s, [&] { return replicas_ready(c, n, 2); }),
                          n << " never saw 2 ready replicas\n" << c.logs());

  stream_set run;
  for (int i = 0; i < 12; ++i) {
    proto::generate_request r;
    r.id = "f" + std::to_string(i);
    r.model = "m";
    r.prompt = "A stream that survives #" + std::to_string(i);
    r.options.seed = static_cast<std::uint64_t>(50 + i);
    r.options.max_tokens = 40;
    run.start(c.client_endpoint("n1"), r);
  }
  BOOST_REQUIRE_MESSAGE(run.run(60s), "streams did not finish\n" << c.logs());
  int moved = 0;
  for (auto& [id, r] : run.streams()) {
    BOOST_TEST(r.done, id << " did not finish");
    BOOST_TEST(r.error.empty(), id << ": " << r.error);
    BOOST_TEST(r.violations.empty(), id);
    BOOST_TEST(r.final.node == "n2", id << " ended on " << r.final.node);
    BOOST_TEST(!r.tokens.empty(), id);
    moved += r.final.attempts >= 2;
  }
  BOOST_TEST_MESSAGE(moved << " of 12 streams were placed on the failing GPU shard first and moved");
  BOOST_TEST(moved > 0, "no stream was tried on n1's GPU shard\n" << c.logs());
  // The failure stayed a value: n1's process is still up and serving as a router.
  BOOST_TEST(c.process("n1")->running());
}
