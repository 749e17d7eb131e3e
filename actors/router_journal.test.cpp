// The router's journal rows (actors/router_journal.hpp): a request survives the trip through a real
// SQLite store unchanged -- every option, the seed rule (client seed vs router draw), the stream
// flag, chat messages -- so a router on another node regenerates the same tokens from it.
#define BOOST_TEST_MODULE router_journal
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>

#include "actors/router_journal.hpp"

using namespace holo;

namespace {

proto::generate_request sample(bool client_seed) {
  proto::generate_request r;
  r.id = "req-1";
  r.model = "m-alias";
  r.messages = {{"system", "be brief"}, {"user", "héllo"}};
  r.options.temperature = 0.8;
  r.options.top_k = 40;
  r.options.top_p = 0.9;
  r.options.min_p = 0.05;
  r.options.repeat_penalty = 1.1;
  r.options.repeat_last_n = 64;
  r.options.frequency_penalty = 0.5;
  r.options.presence_penalty = -0.5;
  r.options.max_tokens = 77;
  r.options.stop = {"\n\n"};
  if (client_seed) r.options.seed = 12345;
  r.options.ignore_eos = client_seed;
  r.stream = !client_seed;
  r.session = "s9";
  return r;
}

void same_request(const proto::generate_request& a, const proto::generate_request& b) {
  BOOST_TEST(a.id == b.id);
  BOOST_TEST(a.model == b.model);
  BOOST_TEST((a.prompt == b.prompt));
  BOOST_REQUIRE_EQUAL(a.messages.size(), b.messages.size());
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    BOOST_TEST(a.messages[i].role == b.messages[i].role);
    BOOST_TEST(a.messages[i].content == b.messages[i].content);
  }
  auto& x = a.options;
  auto& y = b.options;
  BOOST_TEST((x.temperature == y.temperature && x.top_k == y.top_k && x.top_p == y.top_p && x.min_p == y.min_p &&
              x.repeat_penalty == y.repeat_penalty && x.repeat_last_n == y.repeat_last_n &&
              x.frequency_penalty == y.frequency_penalty && x.presence_penalty == y.presence_penalty &&
              x.max_tokens == y.max_tokens && x.stop == y.stop && x.seed == y.seed &&
              x.ignore_eos == y.ignore_eos));
  BOOST_TEST(a.stream == b.stream);
  BOOST_TEST(a.session == b.session);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_request_survives_the_store) {
  auto dir = std::filesystem::temp_directory_path() / ("holo_router_journal_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  persist::store_options o;
  o.sqlite_path = (dir / "j.sqlite").string();
  auto db = persist::open_store(o);
  BOOST_REQUIRE_MESSAGE(db.ok(), (db.ok() ? "" : db.error().to_string()));
  for (bool client_seed : {true, false}) {
    auto req = sample(client_seed);
    // The router's draw when the client gave no seed; the client's seed otherwise.
    const std::uint64_t seed = client_seed ? 12345 : 0x7123456789abcdefull;
    auto row = router_journal::accepted_row(req, "alice", "n1", seed, 77);
    BOOST_TEST(row.request_id == "alice:req-1");
    BOOST_TEST(row.status == persist::journal_status::accepted);
    row.request_id += client_seed ? "" : "-b";
    BOOST_REQUIRE((*db)->apply(std::vector<persist::write_op>{row}).ok());
    auto back = (*db)->journal(row.request_id);
    BOOST_REQUIRE(back.ok());
    BOOST_REQUIRE(back->has_value());
    BOOST_TEST((**back == row));
    BOOST_TEST((*back)->seed == seed);
    same_request(router_journal::request_of(**back), req);
    BOOST_TEST(!router_journal::finished(**back));
  }
  BOOST_TEST(router_journal::journalable(static_cast<std::uint64_t>(INT64_MAX)));
  BOOST_TEST(!router_journal::journalable(static_cast<std::uint64_t>(INT64_MAX) + 1));
  std::filesystem::remove_all(dir);
}
