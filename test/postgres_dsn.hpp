// The shared test PostgreSQL server: its DSN (HOLO_TEST_POSTGRES_DSN, which scripts/test sets after
// starting one with test/postgres.sh) and the precondition that skips a case, saying why, when the
// variable is unset. CI always sets it, so there no PostgreSQL case is skipped.
#pragma once

#include <cstdlib>

#include <boost/test/unit_test.hpp>

namespace holo::test {

inline const char* pg_dsn() { return std::getenv("HOLO_TEST_POSTGRES_DSN"); }

// Use: BOOST_AUTO_TEST_CASE(name, *boost::unit_test::precondition(holo::test::pg_precondition{}))
struct pg_precondition {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    if (pg_dsn() && *pg_dsn()) return true;
    boost::test_tools::assertion_result r(false);
    r.message() << "SKIP: HOLO_TEST_POSTGRES_DSN is unset (scripts/test starts PostgreSQL and sets it)";
    return r;
  }
};

}  // namespace holo::test
