#define BOOST_TEST_MODULE serving_protocol
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <limits>

#include <msgpack.hpp>

#include "runtime/client_protocol.hpp"
#include "runtime/serving_protocol.hpp"

using namespace holo::proto;
using holo::status_code;

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

// One field of a hand-built frame: its key and how its value is packed.
struct field {
  std::string key;
  std::function<void(packer&)> value;
};

// {"v": 1, "kind": kind, "id": "g1", fields...}: frames a correct encoder would never write.
std::string frame(std::string_view kind, const std::vector<field>& fields) {
  msgpack::sbuffer b;
  packer pk(b);
  pk.pack_map(static_cast<std::uint32_t>(3 + fields.size()));
  pk.pack("v");
  pk.pack(1);
  pk.pack("kind");
  pk.pack(kind);
  pk.pack("id");
  pk.pack("g1");
  for (auto& f : fields) {
    pk.pack(f.key);
    f.value(pk);
  }
  return {b.data(), b.size()};
}

template <class T>
field f(std::string key, T v) {
  return {std::move(key), [v](packer& pk) { pk.pack(v); }};
}

// The reason a result failed ("" when it did not): Boost evaluates a message even when the check passes.
template <class T>
std::string why(const holo::result<T>& r) {
  return r.ok() ? "" : r.error().to_string();
}

field model() { return f("model", std::string("demo")); }
field prompt() { return f("prompt", std::string("hi")); }

field options(std::vector<field> opts) {
  return {"options", [opts](packer& pk) {
            pk.pack_map(static_cast<std::uint32_t>(opts.size()));
            for (auto& o : opts) {
              pk.pack(o.key);
              o.value(pk);
            }
          }};
}

field messages(std::size_t n, std::size_t content_bytes = 2) {
  return {"messages", [n, content_bytes](packer& pk) {
            pk.pack_array(static_cast<std::uint32_t>(n));
            for (std::size_t i = 0; i < n; ++i) {
              pk.pack_map(2);
              pk.pack("role");
              pk.pack("user");
              pk.pack("content");
              pk.pack(std::string(content_bytes, 'x'));
            }
          }};
}

// A malformed input, the code its decoder must answer and a phrase its message must contain.
struct bad_case {
  std::string name;
  std::string frame;
  status_code code;
  std::string phrase;
};

template <class Decode>
void check_rejected(const std::vector<bad_case>& cases, Decode decode) {
  for (auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      bool ok = true;
      BOOST_REQUIRE_NO_THROW(ok = decode(c.frame).ok());
      BOOST_REQUIRE_MESSAGE(!ok, "accepted");
      auto s = decode(c.frame).error();
      BOOST_CHECK_EQUAL(holo::to_string(s.code()), holo::to_string(c.code));
      BOOST_CHECK_MESSAGE(s.message().find(c.phrase) != std::string::npos, "'" << s.message() << "' lacks '" << c.phrase << "'");
    }
  }
}

// Every strict prefix of a valid frame is truncated MessagePack: an error, never an exception.
template <class Decode>
void check_prefixes_rejected(const std::string& full, Decode decode) {
  for (std::size_t n = 0; n < full.size(); ++n) {
    bool ok = true;
    BOOST_REQUIRE_NO_THROW(ok = decode(full.substr(0, n)).ok());
    BOOST_REQUIRE_MESSAGE(!ok, "a prefix of " << n << " bytes was accepted");
  }
}

// Flipped bytes may decode or not, but must never throw or crash.
template <class Decode>
void check_flips_do_not_throw(const std::string& full, Decode decode) {
  for (std::size_t i = 0; i < full.size(); ++i)
    for (unsigned char x : {0x01, 0x80, 0xff}) {
      auto g = full;
      g[i] = static_cast<char>(static_cast<unsigned char>(g[i]) ^ x);
      BOOST_REQUIRE_NO_THROW((void)decode(g));
    }
}

generate_request full_request() {
  generate_request r;
  r.id = "req-1";
  r.model = "llama3:8b";
  r.prompt = std::string("Once upon a time\n\xe2\x80\x94");
  auto& o = r.options;
  o.temperature = 0.7;
  o.top_p = 0.9;
  o.min_p = 0.05;
  o.repeat_penalty = 1.1;
  o.frequency_penalty = 0.25;
  o.presence_penalty = -0.5;
  o.top_k = 40;
  o.repeat_last_n = -1;
  o.max_tokens = 128;
  o.seed = std::numeric_limits<std::uint64_t>::max();
  o.stop = {"\n\n", "END"};
  o.ignore_eos = true;
  r.stream = false;
  r.session = "alice";
  return r;
}

}  // namespace

// ---- round trips -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(generate_with_prompt_and_every_option_round_trips) {
  auto wire = encode_generate(full_request());
  auto h = decode_request_header(wire);
  BOOST_REQUIRE_MESSAGE(h.ok(), why(h));
  BOOST_CHECK_EQUAL(h->kind, "generate");
  BOOST_CHECK_EQUAL(h->id, "req-1");
  auto r = decode_generate(wire);
  BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
  auto want = full_request();
  BOOST_CHECK_EQUAL(r->id, want.id);
  BOOST_CHECK_EQUAL(r->model, want.model);
  BOOST_REQUIRE(r->prompt);
  BOOST_CHECK_EQUAL(*r->prompt, *want.prompt);
  BOOST_CHECK(r->messages.empty());
  BOOST_CHECK(!r->stream);
  BOOST_CHECK_EQUAL(r->session, "alice");
  auto& o = r->options;
  BOOST_CHECK_EQUAL(*o.temperature, 0.7);
  BOOST_CHECK_EQUAL(*o.top_p, 0.9);
  BOOST_CHECK_EQUAL(*o.min_p, 0.05);
  BOOST_CHECK_EQUAL(*o.repeat_penalty, 1.1);
  BOOST_CHECK_EQUAL(*o.frequency_penalty, 0.25);
  BOOST_CHECK_EQUAL(*o.presence_penalty, -0.5);
  BOOST_CHECK_EQUAL(*o.top_k, 40);
  BOOST_CHECK_EQUAL(*o.repeat_last_n, -1);
  BOOST_CHECK_EQUAL(*o.max_tokens, 128);
  BOOST_CHECK_EQUAL(*o.seed, std::numeric_limits<std::uint64_t>::max());
  BOOST_CHECK(o.stop == want.options.stop);
  BOOST_CHECK(o.ignore_eos);
}

BOOST_AUTO_TEST_CASE(generate_with_messages_and_defaults_round_trips) {
  generate_request q;
  q.id = "c";
  q.model = "demo";
  q.messages = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
  auto r = decode_generate(encode_generate(q));
  BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
  BOOST_CHECK(!r->prompt);
  BOOST_REQUIRE_EQUAL(r->messages.size(), 4u);
  BOOST_CHECK_EQUAL(r->messages[0].role, "system");
  BOOST_CHECK_EQUAL(r->messages[3].content, "Bye");
  BOOST_CHECK(r->stream);
  BOOST_CHECK(r->session.empty());
  auto& o = r->options;
  BOOST_CHECK(!o.temperature && !o.top_p && !o.min_p && !o.repeat_penalty && !o.frequency_penalty &&
              !o.presence_penalty && !o.top_k && !o.repeat_last_n && !o.max_tokens && !o.seed && o.stop.empty() &&
              !o.ignore_eos);
}

BOOST_AUTO_TEST_CASE(a_single_stop_string_and_nil_options_are_accepted) {
  auto r = decode_generate(frame("generate", {model(), prompt(), f("stream", true),
                                              options({f("stop", std::string("###")),
                                                       {"temperature", [](packer& pk) { pk.pack_nil(); }},
                                                       f("top_k", std::int64_t{5})})}));
  BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
  BOOST_REQUIRE_EQUAL(r->options.stop.size(), 1u);
  BOOST_CHECK_EQUAL(r->options.stop[0], "###");
  BOOST_CHECK(!r->options.temperature);
  BOOST_CHECK_EQUAL(*r->options.top_k, 5);
  // An integer temperature is a number too.
  auto t = decode_generate(frame("generate", {model(), prompt(), options({f("temperature", 1)})}));
  BOOST_REQUIRE(t.ok());
  BOOST_CHECK_EQUAL(*t->options.temperature, 1.0);
}

BOOST_AUTO_TEST_CASE(cancel_resume_and_models_requests_round_trip) {
  auto c = decode_request_header(encode_cancel("g7"));
  BOOST_REQUIRE(c.ok());
  BOOST_CHECK_EQUAL(c->kind, "cancel");
  BOOST_CHECK_EQUAL(c->id, "g7");

  auto wire = encode_resume("g7", 42);
  auto h = decode_request_header(wire);
  BOOST_REQUIRE(h.ok());
  BOOST_CHECK_EQUAL(h->kind, "resume");
  auto r = decode_resume(wire);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->id, "g7");
  BOOST_CHECK_EQUAL(r->from_index, 42);
  BOOST_CHECK_EQUAL(decode_resume(encode_resume("g7", 0))->from_index, 0);

  auto m = decode_request_header(encode_models_request("m1"));
  BOOST_REQUIRE(m.ok());
  BOOST_CHECK_EQUAL(m->kind, "models");
  BOOST_CHECK_EQUAL(m->id, "m1");
}

BOOST_AUTO_TEST_CASE(token_events_round_trip) {
  token_event t{"g1", 17, {1, -1, INT32_MAX, INT32_MIN}, "four tokens\n"};
  auto ev = decode_stream_event(encode_token_event(t));
  BOOST_REQUIRE_MESSAGE(ev.ok(), why(ev));
  BOOST_REQUIRE(ev->what == stream_event::kind::token);
  BOOST_CHECK_EQUAL(ev->token.id, "g1");
  BOOST_CHECK_EQUAL(ev->token.index, 17);
  BOOST_CHECK(ev->token.tokens == t.tokens);
  BOOST_CHECK_EQUAL(ev->token.text, t.text);
}

BOOST_AUTO_TEST_CASE(done_events_round_trip_streamed_and_not) {
  done_event d;
  d.id = "g1";
  d.reason = "stop";
  d.text = "held back";
  d.prompt_tokens = 12;
  d.generated_tokens = 34;
  d.model = "llama3:8b";
  d.node = "n2";
  d.attempts = 2;
  d.timings = {1.5, 20.25, 300.0, 250.5, 18.75};
  auto ev = decode_stream_event(encode_done_event(d));
  BOOST_REQUIRE_MESSAGE(ev.ok(), why(ev));
  BOOST_REQUIRE(ev->what == stream_event::kind::done);
  auto& b = ev->done;
  BOOST_CHECK_EQUAL(b.id, "g1");
  BOOST_CHECK_EQUAL(b.reason, "stop");
  BOOST_CHECK_EQUAL(b.text, "held back");
  BOOST_CHECK(b.tokens.empty());
  BOOST_CHECK_EQUAL(b.prompt_tokens, 12);
  BOOST_CHECK_EQUAL(b.generated_tokens, 34);
  BOOST_CHECK_EQUAL(b.model, "llama3:8b");
  BOOST_CHECK_EQUAL(b.node, "n2");
  BOOST_CHECK_EQUAL(b.attempts, 2);
  BOOST_CHECK_EQUAL(b.timings.queue_ms, 1.5);
  BOOST_CHECK_EQUAL(b.timings.ttft_ms, 20.25);
  BOOST_CHECK_EQUAL(b.timings.total_ms, 300.0);
  BOOST_CHECK_EQUAL(b.timings.decode_ms, 250.5);
  BOOST_CHECK_EQUAL(b.timings.prefill_ms, 18.75);

  // Not streamed: every token in the done event, more than the 4096 elements of a request array.
  d.tokens.resize(20000);
  for (std::size_t i = 0; i < d.tokens.size(); ++i) d.tokens[i] = static_cast<std::int32_t>(i * 7);
  d.generated_tokens = 20000;
  d.reason = "length";
  auto full = decode_stream_event(encode_done_event(d));
  BOOST_REQUIRE_MESSAGE(full.ok(), why(full));
  BOOST_CHECK(full->done.tokens == d.tokens);
  BOOST_CHECK_EQUAL(full->done.reason, "length");
}

BOOST_AUTO_TEST_CASE(error_events_carry_code_and_message) {
  auto ev = decode_stream_event(encode_error("g1", status_code::resource_exhausted, "12 generations in flight"));
  BOOST_REQUIRE(ev.ok());
  BOOST_REQUIRE(ev->what == stream_event::kind::error);
  BOOST_CHECK_EQUAL(ev->token.id, "g1");
  BOOST_CHECK_EQUAL(ev->error_code, "resource_exhausted");
  BOOST_CHECK_EQUAL(ev->error_message, "12 generations in flight");
}

BOOST_AUTO_TEST_CASE(models_replies_round_trip) {
  std::vector<model_info> ms{
      {"llama3:8b", {"default", "chat"}, "tiny", {{"n1", "ready"}, {"n2", "loading"}}},
      {"tiny", {}, "", {{"n3", "down"}}},
  };
  auto r = decode_models_reply(encode_models_reply("m1", ms), "m1");
  BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
  BOOST_REQUIRE_EQUAL(r->size(), 2u);
  BOOST_CHECK_EQUAL((*r)[0].name, "llama3:8b");
  BOOST_CHECK((*r)[0].aliases == (std::vector<std::string>{"default", "chat"}));
  BOOST_CHECK_EQUAL((*r)[0].fallback, "tiny");
  BOOST_REQUIRE_EQUAL((*r)[0].replicas.size(), 2u);
  BOOST_CHECK_EQUAL((*r)[0].replicas[1].node, "n2");
  BOOST_CHECK_EQUAL((*r)[0].replicas[1].state, "loading");
  BOOST_CHECK_EQUAL((*r)[1].replicas[0].state, "down");
  BOOST_CHECK(decode_models_reply(encode_models_reply("m1", {}), "m1")->empty());

  auto other = decode_models_reply(encode_models_reply("m1", ms), "m2");
  BOOST_REQUIRE(!other.ok());
  BOOST_CHECK(other.error().message().find("another request id") != std::string::npos);
  auto err = decode_models_reply(encode_error("m1", status_code::unavailable, "router restarting"), "m1");
  BOOST_REQUIRE(!err.ok());
  BOOST_CHECK(err.error().message().find("unavailable: router restarting") != std::string::npos);
}

// ---- malformed input ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(malformed_generate_requests_are_rejected_with_a_reason) {
  const auto inv = status_code::invalid_argument;
  const auto oor = status_code::out_of_range;
  auto nan = std::numeric_limits<double>::quiet_NaN();
  auto inf = std::numeric_limits<double>::infinity();
  auto nil = [](packer& pk) { pk.pack_nil(); };
  auto good = encode_generate(full_request());
  msgpack::sbuffer arr;
  packer(arr).pack_array(0);
  std::vector<bad_case> cases{
      {"empty frame", "", inv, "malformed"},
      {"not MessagePack", "\xc1", inv, "malformed"},
      {"truncated", good.substr(0, good.size() / 2), inv, "malformed"},
      {"trailing bytes", good + "x", inv, "trailing bytes"},
      {"not a map", std::string(arr.data(), arr.size()), inv, "not a map"},
      {"a string frame", std::string("\xa3" "abc", 4), inv, "not a map"},
      {"no model", frame("generate", {prompt()}), inv, "field 'model'"},
      {"model not a string", frame("generate", {f("model", 3), prompt()}), inv, "field 'model'"},
      {"empty model", frame("generate", {f("model", std::string()), prompt()}), inv, "field 'model'"},
      {"model too long", frame("generate", {f("model", std::string(model_name_bytes_max + 1, 'm')), prompt()}), inv,
       "field 'model'"},
      {"both prompt and messages", frame("generate", {model(), prompt(), messages(1)}), inv, "exactly one"},
      {"neither prompt nor messages", frame("generate", {model()}), inv, "exactly one"},
      {"prompt not a string", frame("generate", {model(), f("prompt", 12)}), inv, "field 'prompt'"},
      {"prompt nil", frame("generate", {model(), {"prompt", nil}}), inv, "field 'prompt'"},
      {"oversized prompt", frame("generate", {model(), f("prompt", std::string(prompt_bytes_max + 1, 'p'))}), oor,
       "exceeds"},
      {"messages not an array", frame("generate", {model(), f("messages", std::string("hi"))}), inv, "field 'messages'"},
      {"no messages", frame("generate", {model(), messages(0)}), inv, "field 'messages'"},
      {"too many messages", frame("generate", {model(), messages(messages_max + 1)}), oor, "messages"},
      {"messages too long", frame("generate", {model(), messages(3, prompt_bytes_max / 2)}), oor, "exceed"},
      {"a message not a map",
       frame("generate", {model(), {"messages", [](packer& pk) { pk.pack_array(1); pk.pack("hi"); }}}), inv,
       "messages[0]"},
      {"a message without content",
       frame("generate", {model(), {"messages", [](packer& pk) { pk.pack_array(1); pk.pack_map(1); pk.pack("role"); pk.pack("user"); }}}),
       inv, "messages[0]"},
      {"content not a string",
       frame("generate", {model(), {"messages", [](packer& pk) {
                                      pk.pack_array(1);
                                      pk.pack_map(2);
                                      pk.pack("role");
                                      pk.pack("user");
                                      pk.pack("content");
                                      pk.pack(7);
                                    }}}),
       inv, "messages[0]"},
      {"stream not a boolean", frame("generate", {model(), prompt(), f("stream", 1)}), inv, "field 'stream'"},
      {"session not a string", frame("generate", {model(), prompt(), f("session", 5)}), inv, "field 'session'"},
      {"session too long", frame("generate", {model(), prompt(), f("session", std::string(session_bytes_max + 1, 's'))}),
       inv, "field 'session'"},
      {"options not a map", frame("generate", {model(), prompt(), f("options", std::string("fast"))}), inv,
       "field 'options'"},
      {"temperature a string", frame("generate", {model(), prompt(), options({f("temperature", std::string("hot"))})}),
       inv, "options.temperature"},
      {"temperature NaN", frame("generate", {model(), prompt(), options({f("temperature", nan)})}), inv,
       "options.temperature"},
      {"top_p infinite", frame("generate", {model(), prompt(), options({f("top_p", inf)})}), inv, "options.top_p"},
      {"top_k a float", frame("generate", {model(), prompt(), options({f("top_k", 4.5)})}), inv, "options.top_k"},
      {"max_tokens a string", frame("generate", {model(), prompt(), options({f("max_tokens", std::string("10"))})}), inv,
       "options.max_tokens"},
      {"repeat_last_n a bool", frame("generate", {model(), prompt(), options({f("repeat_last_n", true)})}), inv,
       "options.repeat_last_n"},
      {"seed negative", frame("generate", {model(), prompt(), options({f("seed", -1)})}), inv, "options.seed"},
      {"seed a float", frame("generate", {model(), prompt(), options({f("seed", 1.5)})}), inv, "options.seed"},
      {"stop an integer", frame("generate", {model(), prompt(), options({f("stop", 3)})}), inv, "options.stop"},
      {"stop a map", frame("generate", {model(), prompt(), options({{"stop", [](packer& pk) { pk.pack_map(0); }}})}), inv,
       "options.stop"},
      {"stop with a number",
       frame("generate", {model(), prompt(), options({{"stop", [](packer& pk) { pk.pack_array(2); pk.pack("a"); pk.pack(1); }}})}),
       inv, "options.stop"},
  };
  check_rejected(cases, [](const std::string& s) { return decode_generate(s); });
}

BOOST_AUTO_TEST_CASE(malformed_resume_requests_are_rejected) {
  const auto inv = status_code::invalid_argument;
  std::vector<bad_case> cases{
      {"negative from_index", encode_resume("g1", -1), inv, "from_index"},
      {"no from_index", frame("resume", {}), inv, "from_index"},
      {"from_index a string", frame("resume", {f("from_index", std::string("3"))}), inv, "from_index"},
      {"from_index a float", frame("resume", {f("from_index", 3.5)}), inv, "from_index"},
      {"from_index beyond int64", frame("resume", {f("from_index", std::numeric_limits<std::uint64_t>::max())}), inv,
       "from_index"},
      {"truncated", encode_resume("g1", 5).substr(0, 10), inv, "malformed"},
  };
  check_rejected(cases, [](const std::string& s) { return decode_resume(s); });
}

BOOST_AUTO_TEST_CASE(malformed_events_are_rejected_with_a_reason) {
  const auto inv = status_code::invalid_argument;
  auto ids = [](std::vector<std::int64_t> v) {
    return field{"tokens", [v](packer& pk) {
                   pk.pack_array(static_cast<std::uint32_t>(v.size()));
                   for (auto x : v) pk.pack(x);
                 }};
  };
  std::vector<bad_case> cases{
      {"empty", "", inv, "malformed"},
      {"not a map", std::string("\x91\x01", 2), inv, "not a map"},
      {"no kind", std::string("\x81\xa2id\xa1x", 6), inv, "kind/id"},
      {"unknown kind", frame("tokens", {}), inv, "unexpected event kind 'tokens'"},
      {"a health reply", encode_health_request("g1"), inv, "unexpected event kind 'health'"},
      {"token without index", frame("token", {ids({1})}), inv, "index"},
      {"token with negative index", frame("token", {f("index", -2), ids({1})}), inv, "index"},
      {"token with a string index", frame("token", {f("index", std::string("0")), ids({1})}), inv, "index"},
      {"token without tokens", frame("token", {f("index", 0)}), inv, "tokens"},
      {"token with no tokens", frame("token", {f("index", 0), ids({})}), inv, "tokens"},
      {"token id beyond int32", frame("token", {f("index", 0), ids({std::int64_t{1} << 31})}), inv, "tokens"},
      {"token ids as a string", frame("token", {f("index", 0), f("tokens", std::string("12"))}), inv, "tokens"},
      {"done without reason", frame("done", {f("text", std::string(""))}), inv, "reason"},
      {"done with a numeric reason", frame("done", {f("reason", 1)}), inv, "reason"},
      {"done with bad tokens", frame("done", {f("reason", std::string("eog")), ids({-(std::int64_t{1} << 40)})}), inv,
       "tokens"},
  };
  check_rejected(cases, [](const std::string& s) { return decode_stream_event(s); });
}

BOOST_AUTO_TEST_CASE(malformed_models_replies_are_rejected) {
  const auto inv = status_code::invalid_argument;
  std::vector<bad_case> cases{
      {"no models", frame("models", {}), inv, "without models"},
      {"models a map", frame("models", {{"models", [](packer& pk) { pk.pack_map(0); }}}), inv, "without models"},
      {"wrong kind", frame("nodes", {}), inv, "unexpected reply kind"},
      {"not a map", std::string("\x90", 1), inv, "not a map"},
  };
  check_rejected(cases, [](const std::string& s) { return decode_models_reply(s, "g1"); });
}

BOOST_AUTO_TEST_CASE(truncated_frames_never_decode_and_never_throw) {
  auto gen = encode_generate(full_request());
  check_prefixes_rejected(gen, [](const std::string& s) { return decode_generate(s); });
  check_prefixes_rejected(encode_resume("g1", 9), [](const std::string& s) { return decode_resume(s); });
  check_prefixes_rejected(encode_token_event({"g1", 3, {5, 6}, "ab"}),
                          [](const std::string& s) { return decode_stream_event(s); });
  done_event d;
  d.id = "g1";
  d.reason = "eog";
  d.tokens = {1, 2, 3};
  check_prefixes_rejected(encode_done_event(d), [](const std::string& s) { return decode_stream_event(s); });
  check_prefixes_rejected(encode_models_reply("m", {{"a", {"b"}, "c", {{"n", "ready"}}}}),
                          [](const std::string& s) { return decode_models_reply(s, "m"); });
}

BOOST_AUTO_TEST_CASE(corrupted_frames_never_throw) {
  auto gen = encode_generate(full_request());
  check_flips_do_not_throw(gen, [](const std::string& s) { return decode_generate(s); });
  check_flips_do_not_throw(gen, [](const std::string& s) { return decode_request_header(s); });
  done_event d;
  d.id = "g1";
  d.reason = "eog";
  d.tokens = {1, 2, 3};
  check_flips_do_not_throw(encode_done_event(d), [](const std::string& s) { return decode_stream_event(s); });
  check_flips_do_not_throw(encode_models_reply("m", {{"a", {"b"}, "c", {{"n", "ready"}}}}),
                           [](const std::string& s) { return decode_models_reply(s, "m"); });
  // Hostile sizes: a map header claiming 4 billion entries, an oversized frame.
  std::string huge_map("\xdf\xff\xff\xff\xff", 5);
  BOOST_CHECK(!decode_generate(huge_map).ok());
  BOOST_CHECK(!decode_stream_event(huge_map).ok());
  BOOST_CHECK(!decode_stream_event(std::string(client_frame_bytes_max + 1, '\x90')).ok());
}
