// runtime/metrics: nothing before init; after it every family is in the exposition with the node
// label; counters and histograms count; the transport mirror adds only growth and survives a reset.
#define BOOST_TEST_MODULE metrics
#include <boost/test/unit_test.hpp>

#include <string>

#include "runtime/metrics.hpp"

namespace m = holo::metrics;

namespace {
bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }
}  // namespace

BOOST_AUTO_TEST_CASE(counts_only_after_init_and_exposes_every_family) {
  BOOST_TEST(!m::enabled());
  m::count_request("x", "stop");  // a no-op, not a crash
  BOOST_TEST(m::scrape().empty());

  m::init({"n1", "c1", "0.1.0", true, 86400});
  BOOST_TEST(m::enabled());
  m::count_request("m", "stop");
  m::count_request("m", "stop");
  m::count_request(m::unknown_model, "not_found");
  m::count_generated_tokens("m", 5);
  m::observe_time_to_first_token("m", 0.3);
  m::observe_inter_token_latency("m", 0.02);
  m::count_restart("shards", "s:0");
  m::set_membership({{"n1", "up"}, {"n2", "suspect"}});
  m::set_store_degraded(true);
  BOOST_TEST(m::store_degraded());
  auto text = m::scrape();
  BOOST_TEST(contains(text, R"(holo_requests_total{node="n1",model="m",outcome="stop"} 2)"), text);
  BOOST_TEST(contains(text, R"(holo_requests_total{node="n1",model="_unknown",outcome="not_found"} 1)"));
  BOOST_TEST(contains(text, R"(holo_generated_tokens_total{node="n1",model="m"} 5)"));
  BOOST_TEST(contains(text, R"(holo_time_to_first_token_seconds_bucket{node="n1",model="m",le="0.5"} 1)"));
  BOOST_TEST(contains(text, R"(holo_time_to_first_token_seconds_bucket{node="n1",model="m",le="0.25"} 0)"));
  BOOST_TEST(contains(text, R"(holo_actor_restarts_total{node="n1",actor="s:0",supervisor="shards"} 1)"));
  BOOST_TEST(contains(text, R"(holo_membership_members{node="n1",state="suspect"} 1)"));
  BOOST_TEST(contains(text, R"(holo_member_up{node="n1",member="n2"} 0)"));
  BOOST_TEST(contains(text, R"(holo_build_info{node="n1",cluster="c1",version="0.1.0"} 1)"));
  BOOST_TEST(contains(text, R"(holo_store_degraded{node="n1"} 1)"));
  BOOST_TEST(contains(text, R"(holo_backup_interval_seconds{node="n1"} 86400)"));
  BOOST_TEST(!contains(text, "holo_gpu_"));  // absent until a GPU is sampled
  m::set_gpus({{"0", "Test GPU", 0.5, 1e9, 8e9}});
  BOOST_TEST(contains(m::scrape(), R"(holo_gpu_utilization_ratio{node="n1",device="0",name="Test GPU"} 0.5)"));
  m::set_store_degraded(false);
  // A pipeline head's batch: each stage's compute and every link's bytes, the rest is network.
  m::observe_pipeline_batch("big", 0.5,
                            {{"n1", "n2", 0.25, 3072, 0.0625}, {"n2", "n3", 0.125, 3072}, {"n3", "n1", 0, 128000, 0.03125}});
  text = m::scrape();
  BOOST_TEST(contains(text, R"(holo_pipeline_batches_total{node="n1",model="big"} 1)"), text);
  BOOST_TEST(contains(text, R"(holo_pipeline_stage_compute_seconds_total{node="n1",model="big",stage="n2"} 0.25)"));
  BOOST_TEST(contains(text, R"(holo_pipeline_link_bytes_total{node="n1",from="n3",model="big",to="n1"} 128000)"), text);
  BOOST_TEST(contains(text, R"(holo_pipeline_network_seconds_total{node="n1",model="big"} 0.125)"), text);
  // Per-link transit where the clocks gave one; a link without one has no series.
  BOOST_TEST(contains(text, R"(holo_pipeline_link_seconds_total{node="n1",from="n1",model="big",to="n2"} 0.0625)"), text);
  BOOST_TEST(contains(text, R"(holo_pipeline_link_seconds_total{node="n1",from="n3",model="big",to="n1"} 0.03125)"), text);
  BOOST_TEST(!contains(text, R"(holo_pipeline_link_seconds_total{node="n1",from="n2")"), text);
}

BOOST_AUTO_TEST_CASE(transport_mirror_adds_growth_and_survives_a_restart) {
  m::init({"n1", "c1", "0.1.0", false, 86400});  // a second init is ignored
  m::set_transport({10, 20, 1000, 2000, 1, 0, 0, 3, 0, 2});
  m::set_transport({15, 20, 1500, 2000, 1, 0, 0, 0, 1, 2});
  auto text = m::scrape();
  BOOST_TEST(contains(text, R"(holo_transport_batches_total{node="n1",direction="in"} 1)"), text);
  BOOST_TEST(contains(text, R"(holo_transport_batches_total{node="n1",direction="out"} 2)"), text);
  BOOST_TEST(contains(text, R"(holo_transport_frames_total{node="n1",direction="in"} 15)"), text);
  BOOST_TEST(contains(text, R"(holo_transport_bytes_total{node="n1",direction="in"} 1500)"));
  BOOST_TEST(contains(text, R"(holo_transport_dropped_frames_total{node="n1"} 1)"));
  // The transport restarted: its counters began again; ours keep growing.
  m::set_transport({4, 2, 100, 50, 0, 0, 0, 0});
  text = m::scrape();
  BOOST_TEST(contains(text, R"(holo_transport_frames_total{node="n1",direction="in"} 19)"), text);
  BOOST_TEST(contains(text, R"(holo_transport_frames_total{node="n1",direction="out"} 22)"));
}
