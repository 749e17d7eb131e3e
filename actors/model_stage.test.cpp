// stage_layer_range: which layers each stage of a pipeline holds, from the configured counts or an
// even split, with the errors a wrong configuration gets.
#define BOOST_TEST_MODULE actors_model_stage
#include <boost/test/unit_test.hpp>

#include "actors/model_stage.hpp"

using holo::shard_spec;
using holo::stage_layer_range;

namespace {
shard_spec stage(std::int32_t i, std::int32_t k, std::vector<std::int64_t> layers = {}) {
  shard_spec s;
  s.model = "m";
  s.stage_index = i;
  s.stage_count = k;
  s.stage_layers = layers.empty() ? std::vector<std::int64_t>(static_cast<std::size_t>(k), 0) : layers;
  return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(even_split_covers_every_layer_once) {
  for (std::int32_t k : {2, 3, 5})
    for (std::int32_t n : {5, 6, 22, 32}) {
      std::int32_t next = 0;
      for (std::int32_t i = 0; i < k; ++i) {
        auto r = stage_layer_range(stage(i, k), n);
        BOOST_REQUIRE(r.ok());
        BOOST_CHECK_EQUAL(r->first, next);
        BOOST_CHECK_GE(r->second - r->first, n / k);
        BOOST_CHECK_LE(r->second - r->first, n / k + 1);
        next = r->second;
      }
      BOOST_CHECK_EQUAL(next, n);
    }
}

BOOST_AUTO_TEST_CASE(configured_counts_are_used_and_checked) {
  auto r = stage_layer_range(stage(1, 3, {1, 3, 2}), 6);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->first, 1);
  BOOST_CHECK_EQUAL(r->second, 4);
  auto bad = stage_layer_range(stage(0, 2, {3, 4}), 6);
  BOOST_REQUIRE(!bad.ok());
  BOOST_CHECK_MESSAGE(bad.error().message().find("hold 7 layers; the model has 6") != std::string::npos,
                      bad.error().message());
  BOOST_CHECK(!stage_layer_range(stage(0, 3), 2).ok());     // more stages than layers
  BOOST_CHECK(!stage_layer_range(stage(2, 2), 6).ok());     // no such stage
  BOOST_CHECK(!stage_layer_range(stage(0, 0), 6).ok());     // not a pipeline
}
