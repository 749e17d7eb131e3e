#define BOOST_TEST_MODULE after_job
#include <boost/test/unit_test.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "runtime/after_job.hpp"

using namespace holo;

namespace {

std::vector<int>* log_of(void* p) { return static_cast<std::vector<int>*>(p); }
void note_one(void* p) { log_of(p)->push_back(1); }
void note_two(void* p) { log_of(p)->push_back(2); }

}  // namespace

BOOST_AUTO_TEST_CASE(deferred_work_runs_once_per_target_at_run) {
  auto log = std::make_shared<std::vector<int>>();
  after_job::defer(&note_one, log);
  after_job::defer(&note_one, log);  // the same again: once
  after_job::defer(&note_two, log);  // another function for the target: its own entry
  BOOST_CHECK(log->empty());         // nothing before the job ends
  after_job::run();
  BOOST_CHECK_EQUAL(log->size(), 2u);
  BOOST_CHECK_EQUAL((*log)[0], 1);
  BOOST_CHECK_EQUAL((*log)[1], 2);
  after_job::run();  // forgotten once run
  BOOST_CHECK_EQUAL(log->size(), 2u);
}

BOOST_AUTO_TEST_CASE(a_target_lives_until_it_ran) {
  std::weak_ptr<std::vector<int>> watch;
  {
    auto log = std::make_shared<std::vector<int>>();
    watch = log;
    after_job::defer(&note_one, log);
  }
  BOOST_CHECK(!watch.expired());
  after_job::run();
  BOOST_CHECK(watch.expired());
}

namespace {
std::shared_ptr<std::vector<int>> chain_log;
void defers_again(void* p) {
  log_of(p)->push_back(3);
  if (log_of(p)->size() < 100) after_job::defer(&defers_again, chain_log);
}
}  // namespace

BOOST_AUTO_TEST_CASE(work_deferred_while_running_runs_too_but_not_forever) {
  chain_log = std::make_shared<std::vector<int>>();
  after_job::defer(&defers_again, chain_log);
  after_job::run();
  BOOST_CHECK_EQUAL(chain_log->size(), 4u);  // four rounds, then the rest waits for the next run
  after_job::run();
  BOOST_CHECK_EQUAL(chain_log->size(), 8u);
  chain_log.reset();
}

BOOST_AUTO_TEST_CASE(availability_is_per_thread) {
  BOOST_CHECK(!after_job::available());
  after_job::set_available(true);
  BOOST_CHECK(after_job::available());
  bool other = true;
  std::thread([&] { other = after_job::available(); }).join();
  BOOST_CHECK(!other);
  after_job::set_available(false);
}
