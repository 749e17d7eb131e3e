// The HTTP gateway on real node processes over loopback: a node refuses an HTTP bind off loopback
// without keys and serves loopback without them; every route needs a key when keys are configured;
// the routes answer in OpenAI's and Ollama's dialects (bad JSON, unknown models, oversized bodies);
// the official npm clients (openai 6, ollama) stream and not, see usage counts and see a mid-stream
// error as an error; a client that disconnects cancels its generation; a stream over HTTP
// survives kill -9 of the node serving it with the undisturbed text.
//
// One cluster for the file (starting it costs seconds): n1 routes and serves HTTP, n2 and n3 hold
// model `m`, which is Ollama's `qwen2:0.5b` in a fake Ollama store (OLLAMA_MODELS). The cases run
// in file order; the last two kill n2, then n3.
#define BOOST_TEST_MODULE http
#include <boost/test/unit_test.hpp>

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gpu/json_lite.hpp"
#include "runtime/admin_query.hpp"
#include "runtime/client.hpp"
#include "runtime/serving_protocol.hpp"
#include "test/cluster.hpp"

using namespace std::chrono_literals;
using holo::test::cluster_fixture;
namespace fs = std::filesystem;

namespace {

const std::string api_key = "sk-holo-test-0123456789abcdef";
const std::string http_dir = HOLO_SOURCE_DIR "/test/http";

struct http_reply {
  int status = 0;  // 0: no answer
  std::string body;
  std::string content_type;
};

http_reply call(int port, const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& key = api_key) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  cli.set_connection_timeout(5, 0);
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  httplib::Result r = method == "GET"    ? cli.Get(path.c_str(), h)
                      : method == "HEAD" ? cli.Head(path.c_str(), h)
                                         : cli.Post(path.c_str(), h, body, "application/json");
  if (!r) return {};
  return {r->status, r->body, r->get_header_value("Content-Type")};
}

// POSTs and reads the (chunked) answer as it arrives; `more(body_so_far)` returning false drops the
// connection (a client that goes away).
http_reply stream_post(int port, const std::string& path, const std::string& body,
                       const std::function<bool(const std::string&)>& more = nullptr) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(120, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = {{"Authorization", "Bearer " + api_key}, {"Content-Type", "application/json"}};
  req.body = body;
  http_reply out;
  req.response_handler = [&](const httplib::Response& r) {
    out.status = r.status;
    out.content_type = r.get_header_value("Content-Type");
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    out.body.append(data, n);
    return !more || more(out.body);
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  cli.send(req, res, err);
  if (out.status == 0) out.status = res.status;
  return out;
}

holo::gpu::json_value json(const std::string& text) {
  auto v = holo::gpu::parse_json(text);
  BOOST_REQUIRE_MESSAGE(v.ok(), "not JSON: " << text.substr(0, 400));
  return *v;
}

// The JSON of every `data:` event of an SSE body, "[DONE]" excluded (counted in `done_marks`).
std::vector<holo::gpu::json_value> sse_events(const std::string& body, int* done_marks = nullptr) {
  std::vector<holo::gpu::json_value> out;
  std::size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    auto end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    auto data = body.substr(pos + 6, end - pos - 6);
    if (data == "[DONE]") {
      if (done_marks) ++*done_marks;
    } else {
      out.push_back(json(data));
    }
    pos = end + 2;
  }
  return out;
}

std::string sha256_of(const std::string& path) {
  std::string cmd = "sha256sum '" + path + "'";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[128] = {};
  std::string out = p && fgets(buf, sizeof buf, p) ? std::string(buf, 64) : std::string();
  if (p) pclose(p);
  return out;
}

// Runs a command through bash, output to `log`; its exit code (-1 when it overran `timeout`).
int run_script(const std::string& cmd, const std::string& log, std::chrono::seconds timeout, std::string* output) {
  holo::test::child_process p({"/bin/bash", "-c", cmd}, log);
  auto rc = p.wait_exit(timeout);
  *output = p.log();
  return rc ? *rc : -1;
}

// The cluster of this file, started on first use.
struct http_cluster {
  cluster_fixture c{3};
  int http_port = holo::test::free_port();
  std::string model_file;

  http_cluster() {
    // A model long enough to generate for seconds (about 1000 tokens/s on one core), in a fake
    // Ollama store as qwen2:0.5b.
    auto& dir = c.dir();
    const auto raw = holo::test::make_model(HOLO_BIN, dir, "m.gguf",
                                            {"--preset", "tiny", "--layers", "6", "--embd", "512", "--heads", "8",
                                             "--kv-heads", "4", "--ff", "1536", "--vocab-size", "4096", "--type", "Q8_0", "-q"});
    const auto store = dir.file("ollama");
    const auto digest = sha256_of(raw);
    if (digest.size() != 64) throw std::runtime_error("sha256sum failed");
    fs::create_directories(store + "/manifests/registry.ollama.ai/library/qwen2");
    fs::create_directories(store + "/blobs");
    model_file = store + "/blobs/sha256-" + digest;
    fs::copy_file(raw, model_file);
    std::ofstream(store + "/manifests/registry.ollama.ai/library/qwen2/0.5b")
        << R"({"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:)"
        << digest << R"(", "size": )" << fs::file_size(raw) << "}]}";
    ::setenv("OLLAMA_MODELS", store.c_str(), 1);  // the node processes inherit it

    std::ostringstream os;
    os << "[cluster]\nname = \"http-test\"\n\n[health]\nheartbeat_interval_ms = 250\n\n";
    for (auto& n : c.nodes()) {
      os << "[[node]]\nname = \"" << n.name << "\"\ncluster_endpoint = \"tcp://127.0.0.1:" << n.cluster_port
         << "\"\nclient_endpoint = \"tcp://127.0.0.1:" << n.client_port << "\"\ndata_dir = \"" << dir.path() << "/data-"
         << n.name << "\"\n";
      if (n.name == "n1") os << "roles = [\"router\"]\nhttp_endpoint = \"127.0.0.1:" << http_port << "\"\n\n";
      else os << "roles = [\"router\", \"shard\"]\nengine_threads = 1\n\n";
    }
    os << "[[http_key]]\nname = \"tester\"\nkey = \"" << api_key << "\"\n\n"
       << "[[model]]\nname = \"m\"\npath = \"ollama:qwen2:0.5b\"\naliases = [\"m-alias\"]\ncontext_length = 4096\n\n"
       << "[[placement]]\nmodel = \"m\"\nnodes = [\"n2\", \"n3\"]\n\n"
       << "[routing]\nmax_prompt_tokens = 512\nmax_tokens = 4000\nmax_concurrent_per_client = 64\n"
       // Short, so that losing the only replica becomes an error quickly (midstream case).
       << "stall_timeout_ms = 2000\n";
    dir.write("http.toml", os.str());
    for (auto& n : c.names()) c.start(n, dir.file("http.toml"));
    BOOST_REQUIRE_MESSAGE(holo::test::eventually(30s, [&] { return ready_replicas() == 2; }),
                          "the replicas never became ready\n" << c.logs());
  }

  std::size_t ready_replicas() {
    holo::client cl(c.client_endpoint("n1"));
    auto ms = cl.models(500ms);
    if (!ms || ms->empty()) return 0;
    std::size_t ready = 0;
    for (auto& r : (*ms)[0].replicas) ready += r.state == "ready";
    return ready;
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(http_port); }
};

http_cluster& cluster() {
  static http_cluster hc;
  return hc;
}

const std::string chat_body = R"({"model": "m", "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 8})";

}  // namespace

BOOST_AUTO_TEST_CASE(http_off_loopback_needs_keys_and_loopback_serves_without) {
  cluster_fixture c(1);
  auto port = holo::test::free_port();
  auto cfg = [&](const std::string& host) {
    auto& n = c.nodes()[0];
    return "[[node]]\nname = \"n1\"\nroles = [\"router\"]\ncluster_endpoint = \"tcp://127.0.0.1:" +
           std::to_string(n.cluster_port) + "\"\nhttp_endpoint = \"" + host + ":" + std::to_string(port) +
           "\"\ndata_dir = \"" + c.dir().path() + "/data\"\n";
  };
  c.dir().write("open.toml", cfg("0.0.0.0"));
  auto& bad = c.start("n1", c.dir().file("open.toml"));
  auto rc = bad.wait_exit(15s);
  BOOST_REQUIRE(rc.has_value());
  BOOST_TEST(*rc == 2);
  BOOST_TEST(bad.log().find("refusing to serve HTTP on 0.0.0.0") != std::string::npos, bad.log());

  c.dir().write("loop.toml", cfg("127.0.0.1"));
  c.start("n1", c.dir().file("loop.toml"));
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(15s, [&] { return call(port, "GET", "/", "", "").status == 200; }),
                        c.logs());
  auto root = call(port, "GET", "/", "", "");
  BOOST_TEST(root.body == "Ollama is running");
  auto models = call(port, "GET", "/v1/models", "", "");
  BOOST_TEST(models.status == 200);
  BOOST_TEST(json(models.body).find("data")->items().empty());
  // No model configured: a generation is a 404 in each dialect.
  auto gen = call(port, "POST", "/api/generate", R"({"model": "x", "prompt": "hi"})", "");
  BOOST_TEST(gen.status == 404);
  BOOST_TEST(json(gen.body).find("error")->as_string() == "model 'x' not found");
}

BOOST_AUTO_TEST_CASE(every_route_needs_a_key) {
  auto& hc = cluster();
  struct route {
    const char* method;
    const char* path;
    std::string body;
  } routes[] = {
      {"GET", "/", ""},
      {"HEAD", "/", ""},
      {"GET", "/api/version", ""},
      {"GET", "/api/tags", ""},
      {"GET", "/api/ps", ""},
      {"POST", "/api/show", R"({"model": "m"})"},
      {"POST", "/api/generate", R"({"model": "m", "prompt": "hi"})"},
      {"POST", "/api/chat", R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})"},
      {"GET", "/v1/models", ""},
      {"GET", "/v1/models/m", ""},
      {"POST", "/v1/chat/completions", chat_body},
      {"POST", "/v1/completions", R"({"model": "m", "prompt": "hi"})"},
      {"GET", "/no/such/route", ""},
  };
  for (auto& r : routes) {
    BOOST_TEST_CONTEXT(r.method << " " << r.path) {
      for (const std::string key : {"", "sk-not-the-right-key-000000"}) {
        auto rep = call(hc.http_port, r.method, r.path, r.body, key);
        BOOST_TEST(rep.status == 401);
        if (std::string(r.method) == "HEAD") continue;
        auto body = json(rep.body);
        if (std::string(r.path).rfind("/v1/", 0) == 0)
          BOOST_TEST(body.find("error")->find("code")->as_string() == "invalid_api_key");
        else
          BOOST_TEST(body.find("error")->is_string());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(routes_answer_in_both_dialects) {
  auto& hc = cluster();
  const int port = hc.http_port;
  auto root = call(port, "GET", "/");
  BOOST_TEST(root.status == 200);
  BOOST_TEST(root.body == "Ollama is running");
  BOOST_TEST(json(call(port, "GET", "/api/version").body).find("version")->is_string());

  auto tags = json(call(port, "GET", "/api/tags").body);
  BOOST_REQUIRE(tags.find("models")->items().size() == 1u);
  auto& t = tags.find("models")->items()[0];
  BOOST_TEST(t.find("name")->as_string() == "m");
  BOOST_TEST(*t.find("size")->as_int64() == std::int64_t(fs::file_size(hc.model_file)));
  BOOST_TEST(hc.model_file.find(t.find("digest")->as_string()) != std::string::npos);
  BOOST_TEST(!t.find("details")->find("parameter_size")->as_string().empty());
  auto ps = json(call(port, "GET", "/api/ps").body);
  BOOST_TEST(ps.find("models")->items().size() == 1u);
  auto show = call(port, "POST", "/api/show", R"({"model": "library/qwen2:0.5b"})");
  BOOST_TEST(show.status == 200);
  BOOST_TEST(json(show.body).find("details")->find("quantization_level")->as_string() == "Q8_0");

  auto models = json(call(port, "GET", "/v1/models").body);
  BOOST_TEST(models.find("data")->items().size() == 2u);  // m and its alias
  BOOST_TEST(call(port, "GET", "/v1/models/qwen2:0.5b").status == 200);
  auto nomodel = call(port, "GET", "/v1/models/gpt-4");
  BOOST_TEST(nomodel.status == 404);
  BOOST_TEST(json(nomodel.body).find("error")->find("code")->as_string() == "model_not_found");

  const std::string big(3 << 20, 'x');
  for (const char* path : {"/v1/chat/completions", "/v1/completions", "/api/generate", "/api/chat", "/api/show"}) {
    BOOST_TEST_CONTEXT(path) {
      const bool openai = std::string(path).rfind("/v1/", 0) == 0;
      auto bad_json = call(port, "POST", path, R"({"model": "m", )");
      BOOST_TEST(bad_json.status == 400);
      auto e = json(bad_json.body);
      BOOST_TEST((openai ? e.find("error")->find("message")->is_string() : e.find("error")->is_string()));
      auto unknown = call(port, "POST", path,
                          R"({"model": "nope:1b", "prompt": "x", "messages": [{"role": "user", "content": "x"}]})");
      BOOST_TEST(unknown.status == 404);
      auto huge = call(port, "POST", path, big);
      BOOST_TEST(huge.status == 413);
      BOOST_TEST(huge.body.find("larger than") != std::string::npos, huge.body);
    }
  }
  auto no_route = call(port, "GET", "/v1/nothing");
  BOOST_TEST(no_route.status == 404);
  BOOST_TEST(json(no_route.body).find("error")->find("message")->is_string());

  // Errors the router finds get their status too: a bad option, a cap.
  auto hot = call(port, "POST", "/v1/chat/completions",
                  R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": -1})");
  BOOST_TEST(hot.status == 400);
  BOOST_TEST(hot.body.find("temperature") != std::string::npos, hot.body);
  auto cap = call(port, "POST", "/api/generate", R"({"model": "m", "prompt": "x", "options": {"num_predict": 5000}})");
  BOOST_TEST(cap.status == 400);
  BOOST_TEST(cap.body.find("max_tokens") != std::string::npos, cap.body);

  // Whole answers.
  auto whole = call(port, "POST", "/v1/chat/completions", chat_body);
  BOOST_REQUIRE_MESSAGE(whole.status == 200, whole.body);
  auto w = json(whole.body);
  BOOST_TEST(w.find("choices")->items()[0].find("message")->find("content")->is_string());
  BOOST_TEST(*w.find("usage")->find("completion_tokens")->as_int64() <= 8);
  auto og = call(port, "POST", "/api/generate", R"({"model": "qwen2:0.5b", "prompt": "hi", "stream": false, "options": {"num_predict": 5}})");
  BOOST_REQUIRE_MESSAGE(og.status == 200, og.body);
  BOOST_TEST(*json(og.body).find("eval_count")->as_int64() <= 5);
  // The same seed gives the same text, although each HTTP request gets its own id; sampling at a
  // high temperature, so that the seed (not greedy argmax) decides.
  const char* seeded = R"({"model": "m", "prompt": "Once", "stream": false, "options": {"num_predict": 12, "seed": 42, "temperature": 1.5}})";
  auto s1 = call(port, "POST", "/api/generate", seeded), s2 = call(port, "POST", "/api/generate", seeded);
  BOOST_REQUIRE(s1.status == 200 && s2.status == 200);
  BOOST_TEST(json(s1.body).find("response")->as_string() == json(s2.body).find("response")->as_string());
  auto s3 = call(port, "POST", "/api/generate",
                 R"({"model": "m", "prompt": "Once", "stream": false, "options": {"num_predict": 12, "seed": 43, "temperature": 1.5}})");
  BOOST_TEST(json(s1.body).find("response")->as_string() != json(s3.body).find("response")->as_string());
  auto load = json(call(port, "POST", "/api/generate", R"({"model": "m"})").body);
  BOOST_TEST(load.find("done_reason")->as_string() == "load");

  // Streams: SSE ending in [DONE], NDJSON ending in a done line.
  auto sse = stream_post(port, "/v1/chat/completions",
                         R"({"model": "m", "stream": true, "max_tokens": 6, "messages": [{"role": "user", "content": "x"}]})");
  BOOST_TEST(sse.status == 200);
  BOOST_TEST(sse.content_type.find("text/event-stream") != std::string::npos);
  int done_marks = 0;
  auto events = sse_events(sse.body, &done_marks);
  BOOST_TEST(done_marks == 1);
  BOOST_REQUIRE(events.size() >= 2u);
  BOOST_TEST(events.back().find("choices")->items()[0].find("finish_reason")->is_string());
  BOOST_TEST(sse.body.substr(sse.body.size() - 14) == "data: [DONE]\n\n");
  auto nd = stream_post(port, "/api/chat", R"({"model": "m", "options": {"num_predict": 6}, "messages": [{"role": "user", "content": "x"}]})");
  BOOST_TEST(nd.status == 200);
  BOOST_TEST(nd.content_type.find("application/x-ndjson") != std::string::npos);
  BOOST_REQUIRE(!nd.body.empty());
  BOOST_TEST(nd.body.back() == '\n');
  auto last = nd.body.substr(nd.body.rfind('\n', nd.body.size() - 2) + 1);
  auto fin = json(last);
  BOOST_TEST(fin.find("done")->as_bool());
  BOOST_TEST(*fin.find("eval_count")->as_int64() <= 6);
}

BOOST_AUTO_TEST_CASE(the_official_npm_clients) {
  BOOST_REQUIRE_MESSAGE(fs::exists(http_dir + "/node_modules/openai") && fs::exists(http_dir + "/node_modules/ollama"),
                        "the npm clients are not installed: run test/http/setup.sh (scripts/test does)");
  auto& hc = cluster();
  std::string out;
  int rc = run_script("cd " + http_dir + " && node clients.mjs " + hc.base() + " " + api_key + " m qwen2:0.5b",
                      hc.c.dir().file("clients.log"), 120s, &out);
  BOOST_TEST_MESSAGE(out);
  BOOST_TEST(rc == 0, out << "\n" << (rc == 0 ? "" : hc.c.logs()));
  BOOST_TEST(out.find("all checks passed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_client_that_disconnects_cancels_its_generation) {
  auto& hc = cluster();
  auto r = stream_post(hc.http_port, "/v1/completions", R"({"model": "m", "prompt": "Once", "max_tokens": 3000, "stream": true})",
                       [](const std::string& so_far) { return so_far.find("\"text\"") == std::string::npos; });
  auto events = sse_events(r.body);
  BOOST_REQUIRE(!events.empty());
  const auto id = events.front().find("id")->as_string();
  bool cancelled = holo::test::eventually(10s, [&] {
    auto log = hc.c.process("n1")->log();
    return log.find("client went away: generation cancelled") != std::string::npos && log.find(id) != std::string::npos;
  });
  BOOST_TEST(cancelled, hc.c.process("n1")->log());
}

BOOST_AUTO_TEST_CASE(a_stream_over_http_survives_kill9_of_its_node) {
  auto& hc = cluster();
  BOOST_REQUIRE(holo::test::eventually(10s, [&] { return hc.ready_replicas() == 2; }));
  const std::string content = "Tell me a long story";
  const std::string body = R"({"model": "m", "stream": true, "max_tokens": 1500, "seed": 11, "messages": [{"role": "user", "content": ")" +
                           content + R"("}]})";
  // Two streams, one on each of n2 and n3: the second starts once the router has the first's
  // node's load report (least-loaded placement then picks the other node; two starts in the same
  // instant could both go to one node before any report arrives).
  std::atomic<int> with_text{0};
  http_reply replies[2];
  std::vector<std::thread> threads;
  holo::client zc0(hc.c.client_endpoint("n1"));
  auto active_on = [&](const std::string& node) {
    std::int64_t n = 0;
    if (auto t = holo::ask_admin_table(zc0, "placement", 2s))
      for (auto& row : t->rows)
        if (holo::proto::to_text(row[1]) == node)
          for (std::size_t i = 0; i < t->columns.size(); ++i)
            if (t->columns[i] == "active") n += std::atoll(holo::proto::to_text(row[i]).c_str());
    return n;
  };
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      bool counted = false;
      replies[i] = stream_post(hc.http_port, "/v1/chat/completions", body, [&](const std::string& so_far) {
        // {"content":"..."} is a token's delta (the first chunk's is {"role":"assistant","content":""}).
        if (!counted && so_far.find("{\"content\":\"") != std::string::npos) counted = true, ++with_text;
        return true;
      });
    });
    if (i == 0)
      BOOST_CHECK(holo::test::eventually(30s, [&] { return with_text.load() == 1 && active_on("n2") + active_on("n3") >= 1; }));
  }
  bool both = holo::test::eventually(30s, [&] { return with_text.load() == 2; });
  BOOST_CHECK_MESSAGE(active_on("n2") >= 1, "no stream on n2 before the kill");
  hc.c.kill9("n2");
  for (auto& t : threads) t.join();
  BOOST_REQUIRE(both);
  int moved = 0;
  for (auto& r : replies) {
    BOOST_TEST(r.status == 200);
    int done_marks = 0;
    auto events = sse_events(r.body, &done_marks);
    BOOST_REQUIRE_MESSAGE(done_marks == 1, r.body.substr(r.body.size() > 600 ? r.body.size() - 600 : 0));
    std::string text, finish, id = events.front().find("id")->as_string();
    std::int64_t attempts = 0;
    for (auto& e : events) {
      auto& c = e.find("choices")->items();
      if (c.empty()) continue;
      if (auto* d = c[0].find("delta")->find("content")) text += d->as_string();
      if (c[0].find("finish_reason")->is_string()) {
        finish = c[0].find("finish_reason")->as_string();
        attempts = *c[0].find("holo")->find("attempts")->as_int64();
      }
    }
    moved += attempts > 1;
    // The undisturbed run: the same request (id, seed, messages) through ZeroMQ on the survivor.
    holo::client zc(hc.c.client_endpoint("n1"));
    holo::proto::generate_request ref;
    ref.id = id;
    ref.model = "m";
    ref.messages = {{"user", content}};
    ref.options.seed = 11;
    ref.options.max_tokens = 1500;
    std::string ref_text;
    auto d = zc.generate(ref, [&](const holo::proto::token_event& t) { ref_text += t.text; return true; }, 60s);
    BOOST_REQUIRE_MESSAGE(d.ok(), (d.ok() ? std::string() : d.error().to_string()));
    ref_text += d->text;
    BOOST_TEST(text == ref_text, id << ": the text over HTTP differs from the undisturbed run");
    BOOST_TEST(finish == (d->reason == "length" || d->reason == "context" ? "length" : "stop"));
  }
  BOOST_TEST(moved >= 1, "no stream was on the killed node");
}

BOOST_AUTO_TEST_CASE(a_midstream_error_reaches_the_clients_as_an_error) {
  auto& hc = cluster();
  // n2 is gone: n3 holds the only replica. The script kills it once both streams have text.
  auto* n3 = hc.c.process("n3");
  BOOST_REQUIRE(n3 && n3->running());
  std::string out;
  int rc = run_script("cd " + http_dir + " && node midstream.mjs " + hc.base() + " " + api_key + " m " + std::to_string(n3->pid()),
                      hc.c.dir().file("midstream.log"), 120s, &out);
  BOOST_TEST_MESSAGE(out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("ok openai-midstream-error") != std::string::npos, out);
  BOOST_TEST(out.find("ok ollama-midstream-error") != std::string::npos, out);
  BOOST_TEST(!n3->running());
}
