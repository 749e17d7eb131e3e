// Routes and request handling of the HTTP gateway. No CAF here: the router is reached through
// router_call (actors/http_bridge.hpp).
#include "actors/http_server.hpp"

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "actors/http_bridge.hpp"
#include "actors/http_json.hpp"
#include "actors/http_models.hpp"
#include "actors/http_ollama.hpp"
#include "actors/http_openai.hpp"
#include "runtime/serving_protocol.hpp"
#include "runtime/version.hpp"

namespace holo::http {

namespace {

using clock_type = std::chrono::steady_clock;
// How long a worker waits for the router before it looks again at whether the node is stopping
// and, in a response already started, writes a heartbeat (which is how a vanished client is found).
constexpr auto poll_interval = std::chrono::milliseconds(1000);
// Router frames turned into one write at most (a slow reader gets them coalesced).
constexpr std::size_t frames_per_write_max = 256;
constexpr auto models_timeout = std::chrono::milliseconds(3000);

// httplib's TaskQueue with a bounded backlog: when `pending_max` accepted connections already wait
// for a worker, the accept thread waits too, and further clients queue in the kernel's listen
// backlog instead of in our memory. (httplib's own ThreadPool queues without bound.) The lock and
// condition variables are the interface httplib requires of a task queue; nothing else uses them.
class bounded_pool final : public httplib::TaskQueue {
 public:
  bounded_pool(std::size_t threads, std::size_t pending_max) : pending_max_(pending_max) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mutex_);
    space_.wait(lock, [&] { return jobs_.size() < pending_max_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutdown_ = true;
    }
    ready_.notify_all();
    space_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        space_.notify_one();
      }
      fn();
    }
  }

  std::size_t pending_max_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  bool shutdown_ = false;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
};

// What every worker may read; written once before the server starts, except the atomics.
struct shared_state {
  caf::actor_system* sys = nullptr;
  node_context_ptr ctx;
  log::logger log;
  std::vector<std::pair<std::string, std::string>> keys;  // (key, name)
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_peer{0};
  std::string peer_prefix;  // "http/<random>/": never a ZeroMQ routing id, new per server
  std::int64_t started_unix = 0;
};
using shared_ptr = std::shared_ptr<shared_state>;

std::string random_hex(std::size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = digits[rng() & 15];
  return s;
}

bool same_key(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // no early exit: the time does not say how much of a key matched
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The router's name for this client: "http" without keys, "http:NAME" for key NAME; nullopt
// when keys are configured and the request has none of them.
std::optional<std::string> authenticate(const shared_state& sh, const httplib::Request& req) {
  if (sh.keys.empty()) return std::string("http");
  auto h = req.get_header_value("Authorization");
  constexpr std::string_view bearer = "Bearer ";
  if (h.size() <= bearer.size() || h.compare(0, bearer.size(), bearer) != 0) return std::nullopt;
  std::string_view token(h);
  token.remove_prefix(bearer.size());
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  for (auto& [key, name] : sh.keys)
    if (same_key(key, token)) return "http:" + name;
  return std::nullopt;
}

bool openai_path(const httplib::Request& req) { return req.path.rfind("/v1/", 0) == 0; }

void send_error(const httplib::Request& req, httplib::Response& res, const http_error& e) {
  res.status = e.status;
  res.set_content(openai_path(req) ? openai::error_body(e) : ollama::error_body(e.message), "application/json");
}

http_error from(const status& s) { return from_status(s.code(), s.message()); }

// ---- rendering a generation, per API ----------------------------------------------------------

struct renderer {
  virtual ~renderer() = default;
  virtual std::string stream_type() const = 0;
  virtual std::string heartbeat() const = 0;        // bytes clients ignore between events
  virtual std::string error(const http_error& e) const = 0;  // a whole error body
  virtual std::string stream_open() const { return ""; }
  virtual std::string stream_text(std::string_view text) const = 0;
  virtual std::string stream_done(const proto::done_event& d) const = 0;
  virtual std::string stream_error(const http_error& e) const = 0;
  virtual std::string whole(std::string_view text, const proto::done_event& d) const = 0;
};

struct openai_renderer final : renderer {
  explicit openai_renderer(openai::response_meta m) : m(std::move(m)) {}
  openai::response_meta m;
  std::string stream_type() const override { return "text/event-stream"; }
  std::string heartbeat() const override { return ": ping\n\n"; }  // an SSE comment
  std::string error(const http_error& e) const override { return openai::error_body(e); }
  std::string stream_open() const override { return m.kind == openai::endpoint::chat ? openai::chunk_role(m) : ""; }
  std::string stream_text(std::string_view t) const override { return t.empty() ? "" : openai::chunk_text(m, t); }
  std::string stream_done(const proto::done_event& d) const override {
    std::string s = stream_text(d.text) + openai::chunk_finish(m, d);
    if (m.include_usage) s += openai::chunk_usage(m, d);
    return s + std::string(openai::sse_done);
  }
  std::string stream_error(const http_error& e) const override { return openai::sse_event(openai::error_body(e)); }
  std::string whole(std::string_view t, const proto::done_event& d) const override { return openai::response(m, t, d); }
};

struct ollama_renderer final : renderer {
  ollama_renderer(ollama::endpoint k, std::string model) : kind(k), model(std::move(model)) {}
  ollama::endpoint kind;
  std::string model;
  std::string stream_type() const override { return "application/x-ndjson"; }
  std::string heartbeat() const override { return ""; }  // NDJSON has no comment syntax
  std::string error(const http_error& e) const override { return ollama::error_body(e.message); }
  std::string stream_text(std::string_view t) const override { return t.empty() ? "" : ollama::line_text(kind, model, t); }
  std::string stream_done(const proto::done_event& d) const override { return ollama::line_final(kind, model, d.text, d); }
  std::string stream_error(const http_error& e) const override { return ollama::error_body(e.message) + "\n"; }
  std::string whole(std::string_view t, const proto::done_event& d) const override {
    auto s = ollama::line_final(kind, model, t, d);
    s.pop_back();  // the newline of the NDJSON line
    return s;
  }
};

// One generation being answered: the bridge to the router and what is not written yet.
struct generation_session {
  std::unique_ptr<router_call> call;
  std::shared_ptr<const renderer> r;
  std::string id;
  bool stream = false;
  bool ended = false;
  std::string text;     // not streamed: the text so far
  std::string pending;  // rendered, not yet written
  clock_type::time_point last_write = clock_type::now();
  clock_type::time_point last_event = clock_type::now();

  void fail(std::string& out, const http_error& e) {
    ended = true;
    out += stream ? r->stream_error(e) : r->error(e);
  }

  void handle(const std::string& frame, std::string& out) {
    auto ev = proto::decode_stream_event(frame);
    if (!ev) return fail(out, {500, "unreadable event from the router: " + ev.error().message()});
    last_event = clock_type::now();
    switch (ev->what) {
      case proto::stream_event::kind::token:
        if (stream) out += r->stream_text(ev->token.text);
        else text += ev->token.text;
        return;
      case proto::stream_event::kind::done:
        call->ended();
        ended = true;
        out += stream ? r->stream_done(ev->done) : r->whole(text + ev->done.text, ev->done);
        return;
      case proto::stream_event::kind::error:
        call->ended();
        fail(out, from_code_name(ev->error_code, ev->error_message));
        return;
    }
  }

  // One step of httplib's content provider: waits for the router's next events (at most
  // poll_interval), writes them. false when the client is gone (the write failed): httplib closes
  // the connection and the session's destructor cancels the generation.
  bool pump(const shared_state& sh, std::int64_t silence_limit_ms, httplib::DataSink& sink) {
    std::string out = std::move(pending);
    pending.clear();
    for (std::size_t n = 0; !ended && n < frames_per_write_max; ++n) {
      auto f = call->next(n == 0 && out.empty() ? poll_interval : std::chrono::milliseconds(0));
      if (!f) {
        fail(out, from(f.error()));
        break;
      }
      if (!*f) break;
      handle(**f, out);
    }
    const auto now = clock_type::now();
    if (!ended && sh.stopping) fail(out, {503, "the node is stopping", "server_error", "", "unavailable"});
    if (!ended && std::chrono::duration_cast<std::chrono::milliseconds>(now - last_event).count() > silence_limit_ms)
      fail(out, {504, "no progress from the router", "server_error", "", "deadline_exceeded"});
    // A heartbeat finds a client that left while nothing else was written: its write fails. Not
    // streamed, the heartbeat is a space, which JSON allows before the value.
    if (!ended && out.empty() && now - last_write >= poll_interval) out = stream ? r->heartbeat() : " ";
    if (!out.empty()) {
      if (!sink.write(out.data(), out.size())) return false;
      last_write = now;
    }
    if (ended) sink.done();
    return true;
  }
};

// How long a generation may go without any event before the gateway gives up on it: the router's
// own stall handling (move, then `unavailable`) answers well before.
std::int64_t silence_limit_ms(const shared_state& sh) { return 2 * sh.ctx->cluster.routing.stall_timeout_ms + 30000; }

void serve_generation(const shared_ptr& sh, const httplib::Request& req, httplib::Response& res,
                      const std::string& owner, proto::generate_request gen, bool stream,
                      std::shared_ptr<const renderer> r) {
  auto s = std::make_shared<generation_session>();
  s->id = gen.id;
  s->stream = stream;
  s->r = r;
  s->call = std::make_unique<router_call>(*sh->sys, sh->peer_prefix + std::to_string(++sh->next_peer), owner);
  gen.stream = true;  // always token by token from the router: whole answers are assembled here
  if (auto st = s->call->send(proto::encode_generate(gen), gen.id); !st.ok()) return send_error(req, res, from(st));
  // The status line waits for the first event, so that errors the router finds at once (unknown
  // model, bad option, limits, no replica) get their own HTTP status.
  std::optional<std::string> first;
  const auto limit = silence_limit_ms(*sh);
  const auto t0 = clock_type::now();
  while (!first) {
    if (sh->stopping) return send_error(req, res, {503, "the node is stopping", "server_error", "", "unavailable"});
    auto f = s->call->next(poll_interval);
    if (!f) return send_error(req, res, from(f.error()));
    if (*f) first = std::move(**f);
    else if (std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count() > limit)
      return send_error(req, res, {504, "no answer from the router", "server_error", "", "deadline_exceeded"});
  }
  auto ev = proto::decode_stream_event(*first);
  if (ev && ev->what == proto::stream_event::kind::error) {
    s->call->ended();
    return send_error(req, res, from_code_name(ev->error_code, ev->error_message));
  }
  if (stream) s->pending = r->stream_open();
  s->handle(*first, s->pending);
  auto log = sh->log;
  res.set_chunked_content_provider(
      stream ? r->stream_type() : "application/json",
      [s, sh, limit](std::size_t, httplib::DataSink& sink) { return s->pump(*sh, limit, sink); },
      [s, log](bool ok) {
        if (!ok && s->call->running())
          log.info("client went away: generation cancelled", {{"id", s->id}});
        s->call.reset();  // now: cancel (if still running) and forget the peer
      });
}

// ---- OpenAI ---------------------------------------------------------------------------------

void openai_generate(const shared_ptr& sh, const httplib::Request& req, httplib::Response& res, openai::endpoint kind) {
  auto owner = authenticate(*sh, req).value_or("http");
  auto parsed = openai::parse_request(kind, req.body);
  if (!parsed) return send_error(req, res, from(parsed.error()));
  auto* m = resolve_model(sh->ctx->cluster, parsed->gen.model);
  if (!m) return send_error(req, res, model_not_found(parsed->gen.model));
  openai::response_meta meta;
  meta.kind = kind;
  meta.id = (kind == openai::endpoint::chat ? "chatcmpl-" : "cmpl-") + random_hex(24);
  meta.model = parsed->gen.model;
  meta.created = unix_seconds_now();
  meta.include_usage = parsed->stream && parsed->include_usage;
  parsed->gen.model = m->name;
  parsed->gen.id = meta.id;
  serve_generation(sh, req, res, owner, std::move(parsed->gen), parsed->stream,
                   std::make_shared<openai_renderer>(std::move(meta)));
}

std::vector<openai::model_entry> openai_models(const shared_state& sh) {
  std::vector<openai::model_entry> out;
  for (auto& m : sh.ctx->cluster.models) {
    out.push_back({m.name, sh.started_unix});
    for (auto& a : m.aliases) out.push_back({a, sh.started_unix});
  }
  return out;
}

// ---- Ollama ---------------------------------------------------------------------------------

void ollama_generate(const shared_ptr& sh, const httplib::Request& req, httplib::Response& res, ollama::endpoint kind) {
  auto owner = authenticate(*sh, req).value_or("http");
  auto parsed = ollama::parse_request(kind, req.body);
  if (!parsed) return send_error(req, res, from(parsed.error()));
  auto* m = resolve_model(sh->ctx->cluster, parsed->gen.model);
  if (!m) return send_error(req, res, model_not_found(parsed->gen.model));
  const std::string asked = parsed->gen.model;
  if (parsed->load_only) {
    // Every replica loads at start; "loading" a model is answering that it is there.
    auto body = ollama::line_loaded(kind, asked);
    if (!parsed->stream) body.pop_back();
    res.set_content(body, parsed->stream ? "application/x-ndjson" : "application/json");
    return;
  }
  parsed->gen.model = m->name;
  parsed->gen.id = "ollama-" + random_hex(24);
  serve_generation(sh, req, res, owner, std::move(parsed->gen), parsed->stream,
                   std::make_shared<ollama_renderer>(kind, asked));
}

std::vector<model_description> describe_all(const shared_state& sh) {
  std::vector<model_description> out;
  for (auto& m : sh.ctx->cluster.models) out.push_back(describe_model(sh.ctx->cluster, m));
  return out;
}

// The router's view of the models (which have a ready replica), asked like a ZeroMQ client would.
result<std::vector<proto::model_info>> router_models(const shared_ptr& sh, const std::string& owner) {
  router_call call(*sh->sys, sh->peer_prefix + std::to_string(++sh->next_peer), owner);
  const auto id = "models-" + random_hex(12);
  if (auto s = call.send(proto::encode_models_request(id)); !s.ok()) return s;
  auto f = call.next(models_timeout);
  if (!f) return f.error();
  if (!*f) return status::unavailable("the router did not answer in time");
  return proto::decode_models_reply(**f, id);
}

void ollama_show(const shared_ptr& sh, const httplib::Request& req, httplib::Response& res) {
  auto body = gpu::parse_json(req.body, http_json_limits());
  if (!body || !body->is_object()) return send_error(req, res, bad_request("the body must be a JSON object"));
  auto name = opt_string(*body, "model", proto::model_name_bytes_max);
  if (name.ok() && !*name) name = opt_string(*body, "name", proto::model_name_bytes_max);  // the older key
  if (!name) return send_error(req, res, from(name.error()));
  if (!*name || (*name)->empty()) return send_error(req, res, bad_request("'model' is required"));
  auto* m = resolve_model(sh->ctx->cluster, **name);
  if (!m) return send_error(req, res, model_not_found(**name));
  res.set_content(ollama::show(describe_model(sh->ctx->cluster, *m), m->context_length), "application/json");
}

// ---- the server ----------------------------------------------------------------------------

std::string status_text(int status) {
  switch (status) {
    case 400: return "malformed HTTP request";
    case 404: return "no such route";
    case 405: return "method not allowed";
    case 413: return "the request body is larger than " + std::to_string(body_bytes_max) + " bytes";
    case 414: return "the request URI is too long";
    default: return "HTTP error " + std::to_string(status);
  }
}

void add_routes(httplib::Server& srv, const shared_ptr& sh) {
  srv.Post("/v1/chat/completions", [sh](const httplib::Request& req, httplib::Response& res) {
    openai_generate(sh, req, res, openai::endpoint::chat);
  });
  srv.Post("/v1/completions", [sh](const httplib::Request& req, httplib::Response& res) {
    openai_generate(sh, req, res, openai::endpoint::completion);
  });
  srv.Get("/v1/models", [sh](const httplib::Request&, httplib::Response& res) {
    res.set_content(openai::model_list(openai_models(*sh)), "application/json");
  });
  srv.Get(R"(/v1/models/(.+))", [sh](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!resolve_model(sh->ctx->cluster, id)) return send_error(req, res, model_not_found(id));
    res.set_content(openai::model_object({id, sh->started_unix}), "application/json");
  });
  srv.Post("/api/generate", [sh](const httplib::Request& req, httplib::Response& res) {
    ollama_generate(sh, req, res, ollama::endpoint::generate);
  });
  srv.Post("/api/chat", [sh](const httplib::Request& req, httplib::Response& res) {
    ollama_generate(sh, req, res, ollama::endpoint::chat);
  });
  srv.Get("/api/tags", [sh](const httplib::Request&, httplib::Response& res) {
    res.set_content(ollama::tags(describe_all(*sh)), "application/json");
  });
  srv.Get("/api/ps", [sh](const httplib::Request& req, httplib::Response& res) {
    auto models = router_models(sh, authenticate(*sh, req).value_or("http"));
    if (!models) return send_error(req, res, from(models.error()));
    std::vector<model_description> loaded;
    for (auto& mi : *models) {
      bool ready = false;
      for (auto& r : mi.replicas) ready = ready || r.state == "ready";
      if (auto* m = sh->ctx->cluster.find_model(mi.name); m && ready) loaded.push_back(describe_model(sh->ctx->cluster, *m));
    }
    res.set_content(ollama::ps(loaded), "application/json");
  });
  srv.Post("/api/show", [sh](const httplib::Request& req, httplib::Response& res) { ollama_show(sh, req, res); });
  srv.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(ollama::version(version_string()), "application/json");
  });
  // Ollama's liveness answer, word for word: some clients compare it.
  srv.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content("Ollama is running", "text/plain"); });
}

void configure(httplib::Server& srv, const shared_ptr& sh, const server_options& opts) {
  srv.new_task_queue = [n = opts.worker_threads, p = opts.pending_connections_max] { return new bounded_pool(n, p); };
  srv.set_payload_max_length(body_bytes_max);
  srv.set_read_timeout(std::chrono::seconds(30));
  // A client that stops reading a stream fails its write after this long: its generation ends.
  srv.set_write_timeout(std::chrono::seconds(30));
  // An idle keep-alive connection holds a worker: keep that short.
  srv.set_keep_alive_timeout(2);
  srv.set_keep_alive_max_count(1000);
  srv.set_pre_routing_handler([sh](const httplib::Request& req, httplib::Response& res) {
    if (authenticate(*sh, req)) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(req, res, {401,
                          req.has_header("Authorization") ? "invalid API key" : "an API key is required (Authorization: Bearer KEY)",
                          "invalid_request_error", "", "invalid_api_key"});
    return httplib::Server::HandlerResponse::Handled;
  });
  // httplib's own refusals (no route, 413, malformed requests) get a JSON body in the API's style.
  srv.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    send_error(req, res, {res.status, status_text(res.status), "invalid_request_error", "", ""});
    return httplib::Server::HandlerResponse::Handled;
  }));
  srv.set_exception_handler([log = sh->log](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log.error("HTTP handler failed", {{"path", req.path}, {"error", what}});
    send_error(req, res, {500, "internal error: " + what, "server_error", "", "internal"});
  });
  add_routes(srv, sh);
}

}  // namespace

struct server::impl {
  shared_ptr shared;
  std::unique_ptr<httplib::Server> srv;
  std::thread listener;
};

server::server(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

server::~server() {
  impl_->shared->stopping = true;
  impl_->srv->stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

result<std::unique_ptr<server>> server::start(caf::actor_system& sys, node_context_ptr ctx, server_options opts) {
  auto i = std::make_unique<impl>();
  i->shared = std::make_shared<shared_state>();
  auto& sh = *i->shared;
  sh.sys = &sys;
  sh.log = ctx->log.child("http");
  sh.ctx = std::move(ctx);
  sh.keys = opts.keys;
  sh.peer_prefix = "http/" + random_hex(8) + "/";
  sh.started_unix = unix_seconds_now();
  i->srv = std::make_unique<httplib::Server>();
  configure(*i->srv, i->shared, opts);
  if (!i->srv->bind_to_port(opts.host, opts.port))
    return status::unavailable("cannot listen on " + opts.host + ":" + std::to_string(opts.port) + ": " +
                               std::strerror(errno));
  i->listener = std::thread([srv = i->srv.get()] { srv->listen_after_bind(); });
  // stop() before the accept loop runs would be lost (httplib checks is_running): wait for it.
  for (int k = 0; k < 200 && !i->srv->is_running(); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return std::unique_ptr<server>(new server(std::move(i)));
}

result<host_port> parse_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size())
    return status::invalid_argument("'" + s + "' is not HOST:PORT");
  host_port hp;
  hp.host = s.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']') hp.host = hp.host.substr(1, hp.host.size() - 2);
  try {
    hp.port = std::stoi(s.substr(colon + 1));
  } catch (...) {
    return status::invalid_argument("'" + s + "' has no port number");
  }
  if (hp.port <= 0 || hp.port > 65535) return status::invalid_argument("'" + s + "': port out of range");
  return hp;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace holo::http
