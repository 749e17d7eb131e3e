#define BOOST_TEST_MODULE wire
#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include <random>
#include <thread>
#include <vector>

#include "runtime/cluster_messages.hpp"
#include "runtime/element_pool.hpp"
#include "runtime/wire.hpp"
#include "runtime/wire_batch.hpp"

using namespace holo::wire;

BOOST_AUTO_TEST_CASE(every_catalogue_message_round_trips_through_the_envelope) {
  node_announce a{"n1", 42, {"router", "shard"}, 16, 64ull << 30, {{"RTX 4090", 24ull << 30}}, {"qwen2"}};
  std::string body;
  auto type = encode_message(caf::make_message(a), body);
  BOOST_REQUIRE(type.ok());
  BOOST_CHECK_EQUAL(*type, node_announce::wire_id);
  envelope e{version, frame_kind::request, *type, "n1", "health", "n2", "health", 77, body};
  auto back = decode_envelope(encode_envelope(e));
  BOOST_REQUIRE(back.ok());
  BOOST_CHECK(back->kind == frame_kind::request);
  BOOST_CHECK_EQUAL(back->correlation, 77u);
  BOOST_CHECK_EQUAL(back->to_node, "n2");
  auto msg = decode_message(back->type, back->body);
  BOOST_REQUIRE(msg.ok());
  BOOST_REQUIRE(msg->match_elements<node_announce>());
  auto& b = msg->get_as<node_announce>(0);
  BOOST_CHECK_EQUAL(b.node, "n1");
  BOOST_CHECK_EQUAL(b.incarnation, 42u);
  BOOST_CHECK_EQUAL(b.roles.size(), 2u);
  BOOST_CHECK_EQUAL(b.gpus.at(0).memory_bytes, 24ull << 30);
  BOOST_CHECK_EQUAL(b.models.at(0), "qwen2");
  BOOST_CHECK_EQUAL(type_name(node_announce::wire_id), "holo_node_announce");
  // CAF sees the same fields through inspect.
  BOOST_CHECK(caf::deep_to_string(b).find("RTX 4090") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(nested_vectors_of_structs_survive) {
  node_health h{"n", "c", "up", 5, {{"router", "running"}, {"store", "restarting"}}};
  std::string body;
  BOOST_REQUIRE(encode_message(caf::make_message(h), body).ok());
  auto m = decode_message(node_health::wire_id, body);
  BOOST_REQUIRE(m.ok());
  BOOST_CHECK_EQUAL(m->get_as<node_health>(0).actors.at(1).state, "restarting");
}

BOOST_AUTO_TEST_CASE(non_catalogue_messages_are_refused) {
  std::string body;
  BOOST_CHECK(!encode_message(caf::make_message(1, 2), body).ok());
  BOOST_CHECK(!encode_message(caf::make_message(ping{}, ping{}), body).ok());
}

BOOST_AUTO_TEST_CASE(bad_envelopes_are_named) {
  auto enc = [](envelope e) { return encode_envelope(e); };
  envelope good{version, frame_kind::send, ping::wire_id, "a", "x", "b", "y", 1, encode(ping{1, "p"})};
  auto check = [](const std::string& frame, const std::string& expect) {
    auto r = decode_envelope(frame);
    BOOST_REQUIRE_MESSAGE(!r.ok(), "accepted, expected: " << expect);
    BOOST_CHECK_MESSAGE(r.error().message().find(expect) != std::string::npos, r.error().message());
  };
  auto v2 = good;
  v2.v = 2;
  check(enc(v2), "unsupported wire version 2");
  auto noname = good;
  noname.from_node = "";
  check(enc(noname), "name length");
  auto longname = good;
  longname.to_actor = std::string(65, 'x');
  check(enc(longname), "name length");
  check("\xc1", "malformed");
  check("garbage", "not an envelope array");
  check(std::string("\x9a\x01", 2), "more fields than version 1");
  check(enc(good) + "x", "trailing bytes");
  check(std::string("\x91\x01", 2), "too few fields");
  // Unknown type: the envelope decodes, the body does not.
  auto unknown = good;
  unknown.type = 999;
  auto e = decode_envelope(enc(unknown));
  BOOST_REQUIRE(e.ok());
  BOOST_CHECK(!decode_message(e->type, e->body).ok());
  // A body of the wrong shape for its type.
  BOOST_CHECK(!decode_message(heartbeat::wire_id, encode(ping{1, "p"})).ok());
}

BOOST_AUTO_TEST_CASE(encode_frame_matches_the_envelope_and_the_view_points_into_the_frame) {
  auto frame = encode_frame(frame_kind::request, "node-a", "router", "node-b", "s:0", 1ull << 40,
                            caf::make_message(ping{7, std::string(300, 'p')}));
  BOOST_REQUIRE(frame.ok());
  envelope e{version, frame_kind::request, ping::wire_id, "node-a", "router", "node-b", "s:0", 1ull << 40,
             encode(ping{7, std::string(300, 'p')})};
  BOOST_CHECK(*frame == encode_envelope(e));
  auto v = decode_envelope_view(*frame);
  BOOST_REQUIRE(v.ok());
  BOOST_CHECK(v->kind == frame_kind::request);
  BOOST_CHECK_EQUAL(v->correlation, 1ull << 40);
  BOOST_CHECK_EQUAL(v->to_actor, "s:0");
  BOOST_CHECK(v->body.data() > frame->data() && v->body.data() + v->body.size() == frame->data() + frame->size());
  auto m = decode_message(v->type, v->body);
  BOOST_REQUIRE(m.ok());
  BOOST_CHECK_EQUAL(m->get_as<ping>(0).payload.size(), 300u);
  // A message that is not in the catalogue is refused before anything is written.
  BOOST_CHECK(!encode_frame(frame_kind::send, "a", "b", "c", "d", 0, caf::make_message(1)).ok());
}

BOOST_AUTO_TEST_CASE(random_and_truncated_frames_never_crash) {
  std::mt19937_64 rng(7);
  node_announce a{"n1", 42, {"router"}, 16, 1, {{"g", 1}}, {"m"}};
  std::string body;
  BOOST_REQUIRE(encode_message(caf::make_message(a), body).ok());
  auto frame = encode_envelope({version, frame_kind::send, node_announce::wire_id, "n1", "h", "n2", "h", 3, body});
  std::size_t accepted = 0;
  for (std::size_t cut = 0; cut < frame.size(); ++cut) BOOST_CHECK(!decode_envelope(frame.substr(0, cut)).ok());
  for (int i = 0; i < 20000; ++i) {
    auto f = frame;
    for (int k = 0; k < 3; ++k) f[rng() % f.size()] = static_cast<char>(rng());
    auto e = decode_envelope(f);
    if (e.ok() && decode_message(e->type, e->body).ok()) ++accepted;
  }
  BOOST_TEST_MESSAGE(accepted << " of 20000 mutated frames still decoded");
}

namespace {

std::vector<std::string> unbatch(std::string_view b, bool* ok = nullptr) {
  std::vector<std::string> out;
  bool good = for_each_batched_frame(b, [&](std::string_view f) { out.emplace_back(f); });
  if (ok) *ok = good;
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_batch_gives_back_its_frames_in_order) {
  std::vector<std::string> frames;
  for (int i = 0; i < 300; ++i)
    frames.push_back(*encode_frame(frame_kind::send, "a", "anon", "b", "sink", 0,
                                   caf::make_message(pong{static_cast<std::uint64_t>(i), std::string(i, 'x')})));
  frames.push_back(std::string(70000, 'y'));  // lengths past 16 bits survive
  std::string batch;
  for (auto& f : frames) append_to_batch(batch, f);
  BOOST_CHECK(is_batch(batch));
  BOOST_CHECK(!is_batch(frames[0]));  // an envelope never starts with the marker
  bool ok = false;
  auto back = unbatch(batch, &ok);
  BOOST_CHECK(ok);
  BOOST_REQUIRE_EQUAL(back.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) BOOST_CHECK(back[i] == frames[i]);
  std::string one;
  append_to_batch(one, frames[3]);
  BOOST_CHECK(only_frame_of_batch(one) == frames[3]);
}

BOOST_AUTO_TEST_CASE(malformed_batches_stop_at_the_fault_and_never_read_past_the_end) {
  std::string batch;
  append_to_batch(batch, "first");
  append_to_batch(batch, "second");
  bool ok = true;
  // Every truncation: the whole frames before the cut come out, then the fault is reported (a
  // cut right after the first frame leaves a well-formed batch of one).
  const std::size_t first_end = 1 + batch_prefix_bytes + 5;
  for (std::size_t cut = 0; cut < batch.size(); ++cut) {
    auto part = std::string(batch.substr(0, cut));  // its own allocation: ASan sees any overread
    auto back = unbatch(part, &ok);
    BOOST_CHECK_MESSAGE(ok == (cut == first_end), "cut at " << cut);
    BOOST_CHECK_EQUAL(back.size(), cut >= first_end ? 1u : 0u);
  }
  BOOST_CHECK_EQUAL(unbatch(batch, &ok).size(), 2u);
  BOOST_CHECK(ok);
  std::string zero = batch;
  zero[1] = zero[2] = zero[3] = zero[4] = 0;  // a zero length
  BOOST_CHECK(unbatch(zero, &ok).empty());
  BOOST_CHECK(!ok);
  std::string huge = batch;
  huge[4] = '\x7f';  // a length of ~2 GiB in a 20-byte message
  BOOST_CHECK(unbatch(huge, &ok).empty());
  BOOST_CHECK(!ok);
  BOOST_CHECK(unbatch(std::string(1, batch_marker), &ok).empty());  // the marker alone
  BOOST_CHECK(!ok);
  BOOST_CHECK(unbatch("first", &ok).empty());  // no marker: not a batch
  BOOST_CHECK(!ok);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20000; ++i) {
    auto f = batch;
    for (int k = 0; k < 3; ++k) f[1 + rng() % (f.size() - 1)] = static_cast<char>(rng());
    (void)unbatch(f);
  }
}

// ---- element_pool: the recycled elements inbound messages are decoded into ----------------------

namespace {

// An element decoded from `msg` through `pool`, as the transport's I/O thread makes them.
caf::mailbox_element_ptr pooled(element_pool* pool, const ping& msg, caf::strong_actor_ptr sender = nullptr) {
  auto e = decode_to_mailbox(ping::wire_id, encode(msg), std::move(sender), caf::make_message_id(7), pool);
  BOOST_REQUIRE(e.ok());
  return std::move(*e);
}

const ping& ping_of(const caf::mailbox_element_ptr& e) { return e->content().get_as<ping>(0); }

}  // namespace

BOOST_AUTO_TEST_CASE(a_pooled_element_is_reused_with_its_buffers_and_releases_its_sender) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  // lazy_init: an actor that is never scheduled, so no scheduler queue holds a reference to it
  // while the counts are read (an eagerly spawned actor's first run races with them).
  auto someone =
      caf::actor_cast<caf::strong_actor_ptr>(sys.spawn<caf::lazy_init>([] { return caf::behavior{[](int) {}}; }));
  auto refs_before = someone->strong_refs.load();
  auto* pool = element_pool::create();
  std::string long_payload(200, 'a');
  auto first = pooled(pool, ping{1, long_payload}, someone);
  BOOST_CHECK(first->sender == someone);
  BOOST_CHECK_EQUAL(first->mid.integer_value(), caf::make_message_id(7).integer_value());
  BOOST_CHECK(first->content().match_elements<ping>());
  BOOST_CHECK_EQUAL(ping_of(first).payload, long_payload);
  const void* buffer = ping_of(first).payload.data();
  auto* element = first.get();
  first.reset();  // CAF's disposer: back to the pool, not deleted
  BOOST_CHECK_EQUAL(someone->strong_refs.load(), refs_before);  // the pool keeps no sender alive
  auto second = pooled(pool, ping{2, std::string(150, 'b')});
  BOOST_CHECK_EQUAL(second.get(), element);
  BOOST_CHECK(!second->sender);
  BOOST_CHECK_EQUAL(ping_of(second).seq, 2u);
  BOOST_CHECK_EQUAL(ping_of(second).payload, std::string(150, 'b'));
  BOOST_CHECK_EQUAL(static_cast<const void*>(ping_of(second).payload.data()), buffer);  // no new allocation
  BOOST_CHECK_EQUAL(pool->created(), 1u);
  BOOST_CHECK_EQUAL(pool->reused(), 1u);
  // A message moved out of the element leaves it empty but reusable.
  auto moved = second->move_content_to_message();
  BOOST_CHECK_EQUAL(moved.get_as<ping>(0).payload, std::string(150, 'b'));
  second.reset();
  auto third = pooled(pool, ping{3, "c"});
  BOOST_CHECK_EQUAL(ping_of(third).payload, "c");
  BOOST_CHECK_EQUAL(ping_of(third).seq, 3u);
  third.reset();
  pool->close();
  caf::anon_send_exit(someone, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_malformed_body_fails_and_its_element_goes_back) {
  auto* pool = element_pool::create();
  auto bad = decode_to_mailbox(ping::wire_id, encode(pong{1, "x"}) + "junk", nullptr, caf::make_message_id(), pool);
  BOOST_CHECK(!bad.ok());
  auto wrong = decode_to_mailbox(ping::wire_id, encode(heartbeat{}), nullptr, caf::make_message_id(), pool);
  BOOST_CHECK(!wrong.ok());
  auto good = pooled(pool, ping{5, "fine"});
  BOOST_CHECK_EQUAL(ping_of(good).payload, "fine");
  BOOST_CHECK_EQUAL(ping_of(good).seq, 5u);
  BOOST_CHECK_LE(pool->created(), 1u);  // the failed decodes' element came back and was reused
  good.reset();
  pool->close();
}

BOOST_AUTO_TEST_CASE(the_pool_keeps_no_large_buffers_and_no_more_than_its_limits) {
  element_pool_limits limits;
  limits.elements_max = 4;
  limits.element_bytes_max = 1024;
  limits.bytes_max = 2048;
  auto* pool = element_pool::create(limits);
  auto big = pooled(pool, ping{1, std::string(100000, 'x')});
  const void* big_buffer = ping_of(big).payload.data();
  big.reset();  // over element_bytes_max: its string is freed on return, the element kept
  auto next = pooled(pool, ping{2, "small"});
  BOOST_CHECK_EQUAL(pool->reused(), 1u);
  BOOST_CHECK_NE(static_cast<const void*>(ping_of(next).payload.data()), big_buffer);
  BOOST_CHECK_LT(ping_of(next).payload.capacity(), 1024u);
  next.reset();
  // Ten out at once, ten back: the pool keeps four (elements_max); the next ten reuse those four.
  std::vector<caf::mailbox_element_ptr> out;
  for (int i = 0; i < 10; ++i) out.push_back(pooled(pool, ping{std::uint64_t(i), "p"}));
  out.clear();
  auto created = pool->created();
  for (int i = 0; i < 10; ++i) out.push_back(pooled(pool, ping{std::uint64_t(i), "p"}));
  BOOST_CHECK_EQUAL(pool->created(), created + 6);
  out.clear();
  pool->close();
  // Buffers over bytes_max in all: three 900-byte strings fit 2048 twice, not three times.
  limits.elements_max = 100;
  pool = element_pool::create(limits);
  for (int i = 0; i < 3; ++i) out.push_back(pooled(pool, ping{std::uint64_t(i), std::string(900, 'y')}));
  out.clear();
  for (int i = 0; i < 3; ++i) out.push_back(pooled(pool, ping{std::uint64_t(i), "z"}));
  BOOST_CHECK_EQUAL(pool->created(), 4u);
  BOOST_CHECK_EQUAL(pool->reused(), 2u);
  out.clear();
  pool->close();
}

BOOST_AUTO_TEST_CASE(elements_come_back_from_other_threads_and_after_close) {
  auto* pool = element_pool::create();
  constexpr int rounds = 200, per_round = 64;
  std::vector<caf::mailbox_element_ptr> late;
  for (int r = 0; r < rounds; ++r) {
    std::vector<caf::mailbox_element_ptr> batch;
    for (int i = 0; i < per_round; ++i) {
      batch.push_back(pooled(pool, ping{std::uint64_t(r * per_round + i), std::string(40 + i, 'q')}));
      BOOST_REQUIRE_EQUAL(ping_of(batch.back()).seq, std::uint64_t(r * per_round + i));
      BOOST_REQUIRE_EQUAL(ping_of(batch.back()).payload.size(), std::size_t(40 + i));
    }
    if (r == rounds - 1) {
      late = std::move(batch);
      break;
    }
    // Two "workers" drop them, as CAF workers do after the actor ran.
    std::thread a([&] {
      for (int i = 0; i < per_round; i += 2) batch[i].reset();
    });
    std::thread b([&] {
      for (int i = 1; i < per_round; i += 2) batch[i].reset();
    });
    a.join();
    b.join();
  }
  BOOST_CHECK_EQUAL(pool->created() + pool->reused(), std::uint64_t(rounds * per_round));
  BOOST_CHECK_LE(pool->created(), std::uint64_t(2 * per_round));
  pool->close();  // 64 still out: the pool lives on until they are back
  std::thread([&] { late.clear(); }).join();  // the last one frees the pool (ASan: no leak, no use after free)
}
