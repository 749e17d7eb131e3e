#define BOOST_TEST_MODULE cpu_thread_pool
#include "gpu/cpu/thread_pool.hpp"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <vector>

using holo::gpu::cpu::thread_pool;

BOOST_AUTO_TEST_CASE(partition_covers_range_exactly_once) {
  for (int nth = 1; nth <= 5; ++nth) {
    for (std::int64_t n : {0, 1, 3, 16, 17, 100, 1001}) {
      for (std::int64_t grain : {1, 4, 16}) {
        std::int64_t expect_begin = 0;
        for (int tid = 0; tid < nth; ++tid) {
          const auto r = thread_pool::partition(n, grain, tid, nth);
          BOOST_TEST(r.begin == expect_begin);  // contiguous, in order
          BOOST_TEST(r.end >= r.begin);
          if (r.end < n && r.end > r.begin) BOOST_TEST(r.end % grain == 0);
          expect_begin = r.end;
        }
        BOOST_TEST(expect_begin == n);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(many_parallel_fors_cover_every_index) {
  for (int threads = 1; threads <= 4; ++threads) {
    thread_pool pool(threads);
    BOOST_TEST(pool.size() == threads);
    std::vector<int> hits(1000);
    std::atomic<bool> bad_tid{false};
    for (int round = 0; round < 2000; ++round) {
      const std::int64_t n = 1 + round % 997;
      pool.parallel_for(n, 1 + round % 7, [&](std::int64_t b, std::int64_t e, int tid) {
        if (tid < 0 || tid >= threads) bad_tid = true;
        for (std::int64_t i = b; i < e; ++i) ++hits[static_cast<std::size_t>(i)];  // ranges are disjoint
      });
    }
    BOOST_TEST(!bad_tid.load());
    // Index i is hit in every round whose n exceeds it.
    for (std::int64_t i = 0; i < 1000; ++i) {
      int expect = 0;
      for (int round = 0; round < 2000; ++round) expect += (1 + round % 997) > i ? 1 : 0;
      if (hits[static_cast<std::size_t>(i)] != expect) {
        BOOST_FAIL("index " << i << " hit " << hits[static_cast<std::size_t>(i)] << " times, want "
                            << expect);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(run_reaches_every_thread_and_waits_for_all) {
  thread_pool pool(4);
  for (int round = 0; round < 500; ++round) {
    std::atomic<int> mask{0};
    pool.run([&](int tid, int nth) {
      if (nth != 4) mask.fetch_or(1 << 8);
      mask.fetch_or(1 << tid);
    });
    BOOST_REQUIRE(mask.load() == 0xf);  // all four ran before run() returned
  }
}

BOOST_AUTO_TEST_CASE(workers_wake_after_sleeping_and_shutdown_is_clean) {
  for (int i = 0; i < 20; ++i) {
    thread_pool pool(3);
    std::atomic<int> calls{0};
    pool.run([&](int, int) { ++calls; });
    if (i % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the spin
    pool.run([&](int, int) { ++calls; });
    BOOST_TEST(calls.load() == 6);
  }  // destructor joins: a hang here fails by the ctest timeout
}
