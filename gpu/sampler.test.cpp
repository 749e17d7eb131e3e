#define BOOST_TEST_MODULE sampler
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "gpu/sampler.hpp"

using namespace holo::gpu;

namespace {

sampler make(sampling_params p, std::int32_t n_vocab) {
  auto s = sampler::create(std::move(p), n_vocab);
  BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? std::string() : s.error().to_string()));
  return std::move(s).value();
}

// Only temperature on: plain softmax sampling.
sampling_params plain(float temperature) {
  sampling_params p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 99;
  return p;
}

std::vector<float> logits_of_probs(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double q : probs) l.push_back(static_cast<float>(std::log(q)));
  return l;
}

// Counts of each id over `draws` steps (token_index 0..draws-1), fresh logits each time.
std::vector<int> histogram(sampler& s, const std::vector<float>& logits, int draws, std::uint64_t key = 1) {
  std::vector<int> counts(logits.size(), 0);
  const std::vector<std::int32_t> history;
  for (int i = 0; i < draws; ++i) {
    std::vector<float> l = logits;
    ++counts[s.sample(l, history, key, static_cast<std::uint64_t>(i))];
  }
  return counts;
}

double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
  double x2 = 0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const double e = probs[i] * draws;
    x2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return x2;
}

}  // namespace

BOOST_AUTO_TEST_CASE(greedy_picks_argmax_lowest_id_on_ties) {
  sampler s = make(plain(0.0f), 5);
  std::vector<float> l = {1.0f, 5.0f, 3.0f, 5.0f, -2.0f};
  BOOST_TEST(s.sample(l, {}, 0, 0) == 1);
  std::vector<float> l2 = {NAN, 0.5f, 0.5f, 0.1f, 0.0f};
  BOOST_TEST(s.sample(l2, {}, 0, 0) == 1);
}

BOOST_AUTO_TEST_CASE(randomness_is_a_pure_function_of_seed_key_index) {
  BOOST_TEST(sampling_uniform(1, 2, 3) == sampling_uniform(1, 2, 3));
  BOOST_TEST(sampling_uniform(1, 2, 3) != sampling_uniform(1, 2, 4));
  BOOST_TEST(sampling_uniform(1, 2, 3) != sampling_uniform(1, 3, 3));
  BOOST_TEST(sampling_uniform(1, 2, 3) != sampling_uniform(2, 2, 3));
  const std::vector<float> logits(1000, 0.0f);  // uniform: every draw depends on the random number
  sampler a = make(plain(1.0f), 1000);
  sampler b = make(plain(1.0f), 1000);
  int differ_by_index = 0;
  for (std::uint64_t i = 0; i < 50; ++i) {
    std::vector<float> la = logits, lb = logits, lc = logits;
    const std::int32_t x = a.sample(la, {}, 7, i);
    BOOST_TEST(x == b.sample(lb, {}, 7, i));  // another sampler ("another node"), same choice
    differ_by_index += x != a.sample(lc, {}, 7, i + 1000);
  }
  BOOST_TEST(differ_by_index > 40);
}

BOOST_AUTO_TEST_CASE(draws_follow_the_softmax_distribution) {
  const std::vector<double> probs = {0.4, 0.25, 0.2, 0.1, 0.05};
  const int draws = 20000;
  {
    sampler s = make(plain(1.0f), 5);
    const auto counts = histogram(s, logits_of_probs(probs), draws);
    // 4 degrees of freedom: P(chi2 > 18.47) = 0.001.
    BOOST_TEST(chi_square(counts, probs, draws) < 18.47);
  }
  {
    // Temperature 0.5 squares the probabilities (then renormalises).
    std::vector<double> sharp;
    double z = 0;
    for (double q : probs) z += q * q;
    for (double q : probs) sharp.push_back(q * q / z);
    sampler s = make(plain(0.5f), 5);
    const auto counts = histogram(s, logits_of_probs(probs), draws);
    BOOST_TEST(chi_square(counts, sharp, draws) < 18.47);
    // ...and is far from the unsharpened distribution.
    BOOST_TEST(chi_square(counts, probs, draws) > 100.0);
  }
}

BOOST_AUTO_TEST_CASE(top_k_keeps_the_k_best) {
  sampling_params p = plain(1.0f);
  p.top_k = 2;
  sampler s = make(p, 5);
  const auto counts = histogram(s, {0.0f, 1.0f, 2.0f, 3.0f, 3.0f}, 2000);
  BOOST_TEST(counts[0] + counts[1] + counts[2] == 0);
  BOOST_TEST(counts[3] > 800);
  BOOST_TEST(counts[4] > 800);
}

BOOST_AUTO_TEST_CASE(top_p_keeps_the_smallest_prefix_reaching_p) {
  sampling_params p = plain(1.0f);
  p.top_p = 0.75f;  // 0.5 < 0.75 <= 0.5 + 0.3
  sampler s = make(p, 4);
  const auto counts = histogram(s, logits_of_probs({0.5, 0.3, 0.15, 0.05}), 4000);
  BOOST_TEST(counts[2] + counts[3] == 0);
  // Renormalised 0.5 : 0.3 -> 0.625 : 0.375.
  BOOST_TEST(std::abs(counts[0] / 4000.0 - 0.625) < 0.03);
}

BOOST_AUTO_TEST_CASE(min_p_drops_tokens_below_a_fraction_of_the_best) {
  sampling_params p = plain(1.0f);
  p.min_p = 0.2f;  // keeps p >= 0.1
  sampler s = make(p, 4);
  const auto counts = histogram(s, logits_of_probs({0.5, 0.3, 0.15, 0.05}), 4000);
  BOOST_TEST(counts[3] == 0);
  BOOST_TEST(counts[2] > 0);
  BOOST_TEST(std::abs(counts[2] / 4000.0 - 0.15 / 0.95) < 0.03);
}

BOOST_AUTO_TEST_CASE(penalties_change_logits_as_llama_cpp) {
  sampling_params p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  p.repeat_last_n = -1;
  sampler s = make(p, 4);
  const std::vector<std::int32_t> history = {0, 1, 0, 5, 2};  // 5 is outside the vocab: ignored
  for (int round = 0; round < 2; ++round) {  // twice: the count buffer must be clean again
    std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.5f};
    BOOST_TEST(s.sample(l, history, 0, 0) == 3);
    BOOST_TEST(l[0] == 2.0f / 2 - (2 * 0.5f + 0.25f));   // positive: divided
    BOOST_TEST(l[1] == -2.0f * 2 - (1 * 0.5f + 0.25f));  // negative: multiplied
    BOOST_TEST(l[2] == 1.0f / 2 - (1 * 0.5f + 0.25f));
    BOOST_TEST(l[3] == 0.5f);
  }
  // Only the last two tokens: [5, 2].
  p.repeat_last_n = 2;
  sampler s2 = make(p, 4);
  std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.5f};
  BOOST_TEST(s2.sample(l, history, 0, 0) == 0);
  BOOST_TEST(l[0] == 2.0f);
  BOOST_TEST(l[2] == 1.0f / 2 - 0.75f);
  // repeat_last_n = 0 turns penalties off.
  p.repeat_last_n = 0;
  sampler s3 = make(p, 4);
  std::vector<float> l3 = {2.0f, -2.0f, 1.0f, 0.5f};
  s3.sample(l3, history, 0, 0);
  BOOST_TEST(l3[0] == 2.0f);
}

BOOST_AUTO_TEST_CASE(create_validates_parameters) {
  auto bad = [](auto edit) {
    sampling_params p;
    edit(p);
    return !sampler::create(p, 10).ok();
  };
  BOOST_TEST(!bad([](sampling_params&) {}));
  BOOST_TEST(bad([](sampling_params& p) { p.temperature = -1; }));
  BOOST_TEST(bad([](sampling_params& p) { p.top_p = 0; }));
  BOOST_TEST(bad([](sampling_params& p) { p.top_p = 1.5f; }));
  BOOST_TEST(bad([](sampling_params& p) { p.min_p = 2; }));
  BOOST_TEST(bad([](sampling_params& p) { p.repeat_penalty = 0; }));
  BOOST_TEST(bad([](sampling_params& p) { p.repeat_last_n = -2; }));
  BOOST_TEST(bad([](sampling_params& p) { p.stop = {""}; }));
  BOOST_TEST(bad([](sampling_params& p) { p.stop.assign(stop_strings_max + 1, "x"); }));
  BOOST_TEST(!sampler::create({}, 0).ok());
}
