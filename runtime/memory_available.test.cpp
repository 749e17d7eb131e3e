// The planner's free-memory figure: parsed from the kernel's own text (units, missing and hostile
// lines), plausible on this machine, moved by other processes' memory but not by our own
// allocations, and re-announced only past the drift threshold.
#define BOOST_TEST_MODULE runtime_memory_available
#include <boost/test/unit_test.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "runtime/memory_available.hpp"

using namespace holo;

namespace {
constexpr std::uint64_t mib = std::uint64_t{1} << 20;
}

BOOST_AUTO_TEST_CASE(meminfo_and_status_lines_are_read_in_bytes) {
  const char* meminfo =
      "MemTotal:       24557908 kB\nMemFree:        23000000 kB\nMemAvailable:   23456789 kB\nBuffers: 1 kB\n";
  BOOST_CHECK_EQUAL(parse_meminfo_available(meminfo).value(), std::uint64_t{23456789} * 1024);
  const char* status = "Name:\tholo\nVmRSS:\t  50000 kB\nRssAnon:\t   12345 kB\nRssFile:\t 3 kB\n";
  BOOST_CHECK_EQUAL(parse_status_rss_anon(status).value(), std::uint64_t{12345} * 1024);
}

BOOST_AUTO_TEST_CASE(missing_or_malformed_lines_give_nothing) {
  BOOST_CHECK(!parse_meminfo_available("MemTotal: 100 kB\nMemFree: 50 kB\n"));
  BOOST_CHECK(!parse_meminfo_available("MemAvailableX: 100 kB\n"));  // another key with the prefix
  BOOST_CHECK(!parse_meminfo_available("MemAvailable: lots kB\n"));
  BOOST_CHECK(!parse_meminfo_available("MemAvailable: 100 MB\n"));   // not the kernel's unit
  BOOST_CHECK(!parse_meminfo_available("MemAvailable: 99999999999999999999999 kB\n"));
  BOOST_CHECK(!parse_meminfo_available("MemAvailable: 18014398509481984 kB\n"));  // overflows bytes
  BOOST_CHECK(!parse_meminfo_available(""));
  BOOST_CHECK(!parse_status_rss_anon("RssAnon:\n"));
}

BOOST_AUTO_TEST_CASE(usable_memory_is_plausible_and_capped_by_the_total) {
  const auto total = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(sysconf(_SC_PAGE_SIZE));
  auto usable = usable_memory_bytes(total);
  BOOST_REQUIRE(usable);
  BOOST_TEST_MESSAGE("usable " << *usable / mib << " MiB of " << total / mib << " MiB");
  BOOST_CHECK_GT(*usable, 0u);
  BOOST_CHECK_LE(*usable, total);
  BOOST_CHECK_EQUAL(usable_memory_bytes(64 * mib).value(), 64 * mib);
}

// Our own anonymous memory does not count against us: the RssAnon term, read from the kernel's
// real text, grows by what we touch (MemAvailable falls by as much, so the sum holds; the sum itself
// is not checked here, since other processes on a busy test machine move MemAvailable too).
BOOST_AUTO_TEST_CASE(our_own_allocations_are_added_back) {
  auto own = [] {
    std::ifstream in("/proc/self/status");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_status_rss_anon(s);
  };
  const std::uint64_t big = 256 * mib;
  auto before = own();
  BOOST_REQUIRE(before);
  void* p = mmap(nullptr, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_REQUIRE(p != MAP_FAILED);
  std::memset(p, 1, big);
  auto after = own();
  munmap(p, big);
  BOOST_REQUIRE(after);
  BOOST_TEST_MESSAGE("RssAnon " << *before / mib << " -> " << *after / mib << " MiB");
  BOOST_CHECK_GE(*after - *before, big - 4 * mib);
  BOOST_CHECK_LE(*after - *before, big + 64 * mib);
}

BOOST_AUTO_TEST_CASE(small_drifts_are_not_announced) {
  const std::uint64_t gib = 1024 * mib;
  BOOST_CHECK(!memory_drift_worth_announcing(16 * gib, 16 * gib));
  BOOST_CHECK(!memory_drift_worth_announcing(16 * gib, 15 * gib));       // 1/16: under 1/8
  BOOST_CHECK(memory_drift_worth_announcing(16 * gib, 13 * gib));        // 3/16
  BOOST_CHECK(memory_drift_worth_announcing(16 * gib, 19 * gib));        // growth counts too
  BOOST_CHECK(!memory_drift_worth_announcing(1 * gib, 1 * gib - 200 * mib));  // under the 256 MiB floor
  BOOST_CHECK(memory_drift_worth_announcing(1 * gib, 1 * gib - 300 * mib));
  BOOST_CHECK(memory_drift_worth_announcing(0, 8 * gib));
}
