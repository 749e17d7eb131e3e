#include "actors/admin_api.hpp"

#include <memory>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/backup.hpp"
#include "actors/health.hpp"
#include "actors/model_shard.hpp"
#include "actors/router.hpp"
#include "actors/transport.hpp"
#include "runtime/admin_key.hpp"
#include "runtime/admin_protocol.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/supervisor.hpp"

namespace holo::admin {

namespace {

constexpr auto status_timeout = std::chrono::milliseconds(500);
constexpr auto router_timeout = std::chrono::milliseconds(2000);
constexpr auto store_timeout = std::chrono::milliseconds(30000);  // a checkpoint or backup may take a while
constexpr std::int64_t relay_timeout_ms = 5000;

caf::actor lookup(caf::event_based_actor* self, const std::string& name) {
  if (name.size() > 10) return {};
  return caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(name)));
}

std::string render(caf::event_based_actor* self, const caf::error& e) { return self->system().render(e); }

// ---- actors: the supervision tree, gathered from the supervisors and every running child ----------

struct tree_gather {
  std::string id;
  reply_fn reply;
  proto::table t;
  std::size_t pending = 1;  // the setup itself, so an early answer cannot finish it
  void done_one() {
    if (--pending == 0) reply(proto::encode_table_reply(id, "actors", t));
  }
};

// Adds one row per child of supervisor `sup_name` (asked with which_atom), then asks every running
// child its state and mailbox depth. A nested supervisor ("shards") is walked too.
void walk(caf::event_based_actor* self, std::shared_ptr<tree_gather> g, caf::actor sup, std::string sup_name) {
  ++g->pending;
  self->request(sup, status_timeout, sup::which_atom::value)
      .then(
          [=](std::vector<sup::child_info>& children) {
            for (auto& c : children) {
              auto row = g->t.rows.size();
              g->t.rows.push_back({c.id, sup_name, std::string(c.running ? "running" : "restarting"),
                                   static_cast<std::int64_t>(c.restarts), std::int64_t{-1}});
              if (!c.running || !c.handle) continue;
              g->pending += 2;
              self->request(c.handle, status_timeout, status_atom::value)
                  .then([=](actor_status& s) { g->t.rows[row][2] = s.state; g->done_one(); },
                        [=](caf::error& e) {
                          // A supervisor does not know the query but reads its mailbox: running.
                          if (e != caf::sec::unexpected_message) g->t.rows[row][2] = std::string("unresponsive");
                          g->done_one();
                        });
              self->request(c.handle, status_timeout, mailbox_atom::value)
                  .then([=](std::uint64_t n) { g->t.rows[row][4] = static_cast<std::int64_t>(n); g->done_one(); },
                        [=](caf::error&) { g->done_one(); });
              if (c.id == names::shards) walk(self, g, c.handle, c.id);
            }
            g->done_one();
          },
          [=](caf::error& e) {
            g->t.rows.push_back({sup_name, std::string("-"), std::string("unresponsive: " + render(self, e)),
                                 std::int64_t{0}, std::int64_t{-1}});
            g->done_one();
          });
}

void serve_actors(caf::event_based_actor* self, const node_context_ptr& ctx, const std::string& id, reply_fn reply) {
  auto root = lookup(self, "node_sup");
  if (!root) return reply(proto::encode_error(id, status_code::unavailable, "the node supervisor is not registered"));
  auto g = std::make_shared<tree_gather>();
  g->id = id;
  g->reply = std::move(reply);
  g->t.node = ctx->node.name;
  g->t.columns = {"name", "supervisor", "state", "restarts", "mailbox"};
  walk(self, g, root, "node_supervisor");
  g->done_one();
}

// ---- kill / drain ----------------------------------------------------------------------------------

void serve_kill(caf::event_based_actor* self, const node_context_ptr& ctx, const std::string& id,
                const std::string& frame, const reply_fn& reply) {
  auto actor = proto::decode_kill_target(frame);
  if (!actor) return reply(proto::encode_error(id, actor.error().code(), actor.error().message()));
  auto target = *actor == "node_sup" ? caf::actor{} : lookup(self, *actor);
  if (!target)
    return reply(proto::encode_error(id, status_code::not_found,
                                     "no actor '" + *actor + "' on node " + ctx->node.name + " (see `actors`)"));
  auto hang_ms = proto::decode_kill_hang_ms(frame);
  const bool shard = actor->rfind("s:", 0) == 0;
  // Answer first: the target may be client_api itself.
  reply(proto::encode_ok(id, "kill"));
  if (hang_ms > 0 && shard) self->send(target, shard_hang_atom::value, hang_ms);
  else if (shard) self->send(target, shard_crash_atom::value);
  // Not exit_reason::kill: CAF passes an untrappable kill on to every linked actor, so the
  // supervisor would die with its child. An error exit is a crash the supervisor handles.
  else self->send_exit(target, caf::make_error(caf::sec::runtime_error, "killed by the shell"));
}

struct drain_gather {
  std::string id, node;
  bool on = true;
  reply_fn reply;
  std::string done, failed;
  std::size_t pending = 1;
  void done_one() {
    if (--pending) return;
    if (done.empty() && failed.empty())
      return reply(proto::encode_error(id, status_code::failed_precondition, "node " + node + " has no model shards"));
    if (!failed.empty()) return reply(proto::encode_error(id, status_code::unavailable, "drain failed on" + failed));
    reply(proto::encode_ok_detail(id, "drain", std::string(on ? "draining" : "drain off:") + done + " on " + node));
  }
};

void serve_drain(caf::event_based_actor* self, const node_context_ptr& ctx, const proto::admin_request& r,
                 reply_fn reply) {
  auto it = r.args.find("state");
  const std::string state = it == r.args.end() ? "on" : it->second;
  if (state != "on" && state != "off")
    return reply(proto::encode_error(r.id, status_code::invalid_argument, "drain state is 'on' or 'off'"));
  auto g = std::make_shared<drain_gather>();
  g->id = r.id;
  g->node = ctx->node.name;
  g->on = state == "on";
  g->reply = std::move(reply);
  for (std::size_t i = 0; i < ctx->cluster.models.size(); ++i) {
    auto name = shard_actor_name(i);
    auto shard = lookup(self, name);
    if (!shard) continue;
    ++g->pending;
    self->request(shard, status_timeout, shard_drain_atom::value, g->on)
        .then([=](caf::ok_atom) { g->done += " " + name; g->done_one(); },
              [=](caf::error& e) { g->failed += " " + name + " (" + render(self, e) + ")"; g->done_one(); });
  }
  g->done_one();
}

// ---- checkpoint / backup: asked of the store and backup actors --------------------------------------

// The store or backup actor of this node, or an `unavailable` reply naming the missing role.
caf::actor role_actor(caf::event_based_actor* self, const node_context_ptr& ctx, const std::string& id,
                      const char* actor, const reply_fn& reply) {
  auto target = lookup(self, actor);
  if (!target)
    reply(proto::encode_error(id, status_code::unavailable,
                              "node " + ctx->node.name + " runs no " + actor + " actor (role '" + actor + "')"));
  return target;
}

// An actor that does not know the request (an older build's placeholder) is `unimplemented`.
std::function<void(caf::error&)> role_error(caf::event_based_actor* self, const node_context_ptr& ctx,
                                            const std::string& id, const char* actor, std::string what,
                                            reply_fn reply) {
  return [=](caf::error& e) {
    if (e == caf::sec::unexpected_message)
      return reply(proto::encode_error(id, status_code::unimplemented,
                                       std::string("the ") + actor + " actor of node " + ctx->node.name +
                                           " does not take '" + what + "' requests in this build"));
    reply(proto::encode_error(id, status_code::unavailable, render(self, e)));
  };
}

// The live state worth checkpointing is the router's generations: it writes every one's request
// journal row now, in one store batch, and answers once the store committed it (actors/router.hpp).
void serve_checkpoint(caf::event_based_actor* self, const node_context_ptr& ctx, const std::string& id, reply_fn reply) {
  auto store = role_actor(self, ctx, id, names::store, reply);
  if (!store) return;
  auto router = lookup(self, names::router);
  if (!router)
    return reply(proto::encode_error(id, status_code::unavailable,
                                     ctx->node.has_role("router") ? "router is restarting"
                                                                  : "node " + ctx->node.name + " routes no requests: no journal to checkpoint"));
  self->request(router, store_timeout, router_checkpoint_atom::value, id)
      .then([=](std::string& frame) { reply(std::move(frame)); },
            role_error(self, ctx, id, names::router, "checkpoint", reply));
}

proto::table archives_table(const node_context_ptr& ctx, const std::vector<backup_file>& files) {
  proto::table t;
  t.node = ctx->node.name;
  t.columns = {"archive", "created_unix_s", "bytes", "plaintext_bytes", "key_id", "state"};
  for (auto& f : files)
    t.rows.push_back({f.name, f.created_unix_s, static_cast<std::int64_t>(f.bytes),
                      static_cast<std::int64_t>(f.plaintext_bytes), f.key_id, f.state});
  return t;
}

void serve_backup(caf::event_based_actor* self, const node_context_ptr& ctx, const std::string& id,
                  const std::string& action, reply_fn reply) {
  auto backup = role_actor(self, ctx, id, names::backup, reply);
  if (!backup) return;
  if (action == "now") {
    self->request(backup, store_timeout, backup_now_atom::value)
        .then(
            [=](backup_result& r) {
              if (!r.result.ok()) return reply(proto::encode_error(id, r.result.code(), r.result.message()));
              reply(proto::encode_ok_detail(id, "backup", r.file.name + " (" + std::to_string(r.file.bytes) + " bytes, " +
                                                             std::to_string(r.took_ms) + " ms, " +
                                                             std::to_string(r.pruned.size()) + " pruned)"));
            },
            role_error(self, ctx, id, names::backup, "backup now", reply));
    return;
  }
  self->request(backup, store_timeout, backup_list_atom::value)
      .then(
          [=](backup_listing& l) {
            if (!l.result.ok()) return reply(proto::encode_error(id, l.result.code(), l.result.message()));
            reply(proto::encode_table_reply(id, "backup", archives_table(ctx, l.files)));
          },
          role_error(self, ctx, id, names::backup, "backup list", reply));
}

// ---- plan: the health actor keeps it -----------------------------------------------------------------

void serve_plan(caf::event_based_actor* self, const std::string& id, reply_fn reply) {
  auto health = lookup(self, names::health);
  if (!health) return reply(proto::encode_error(id, status_code::unavailable, "health is restarting"));
  self->request(health, status_timeout, plan_query_atom::value, id)
      .then([=](std::string& frame) { reply(std::move(frame)); },
            [=](caf::error& e) { reply(proto::encode_error(id, status_code::unavailable, render(self, e))); });
}

}  // namespace

bool serves(std::string_view kind) {
  return kind == "actors" || kind == "requests" || kind == "trace" || kind == "placement" || kind == "plan" ||
         kind == "kill" || kind == "drain" || kind == "checkpoint" || kind == "backup";
}

status authorize(const node_context& ctx, const proto::request_header& hdr, const std::string& frame) {
  auto a = proto::access_of(hdr.kind);
  if (a == proto::access::open) return {};
  if (a == proto::access::read_only && ctx.cluster.admin.read_only) return {};
  const char* what = a == proto::access::admin ? "admin command" : "read-only shell command";
  if (ctx.admin_key.empty())
    return status::permission_denied(std::string(what) + " '" + hdr.kind + "' refused: node " + ctx.node.name +
                                     " has no admin key ([admin] key_file)");
  auto r = proto::decode_admin_request(frame);
  if (!r || r->admin_key.empty())
    return status::permission_denied(std::string(what) + " '" + hdr.kind +
                                     "' needs the admin key (holo shell --admin-key FILE)");
  if (!admin_key_matches(r->admin_key, ctx.admin_key))
    return status::permission_denied(std::string(what) + " '" + hdr.kind + "' refused: wrong admin key");
  return {};
}

void serve(caf::event_based_actor* self, node_context_ptr ctx, const proto::request_header& hdr,
           const std::string& frame, reply_fn reply) {
  const auto& id = hdr.id;
  auto req = proto::decode_admin_request(frame);
  if (!req) return reply(proto::encode_error(id, req.error().code(), req.error().message()));
  const auto& kind = hdr.kind;
  if (kind == "actors") return serve_actors(self, ctx, id, std::move(reply));
  if (kind == "kill") return serve_kill(self, ctx, id, frame, reply);
  if (kind == "drain") return serve_drain(self, ctx, *req, std::move(reply));
  if (kind == "checkpoint") return serve_checkpoint(self, ctx, id, std::move(reply));
  if (kind == "plan") return serve_plan(self, id, std::move(reply));
  if (kind == "backup") {
    auto it = req->args.find("action");
    const std::string action = it == req->args.end() ? "list" : it->second;
    if (action != "now" && action != "list")
      return reply(proto::encode_error(id, status_code::invalid_argument, "backup action is 'now' or 'list'"));
    return serve_backup(self, ctx, id, action, std::move(reply));
  }
  // requests, trace, placement: the router's tables.
  auto router = lookup(self, names::router);
  if (!router)
    return reply(proto::encode_error(id, status_code::unavailable,
                                     ctx->node.has_role("router") ? "router is restarting"
                                                                  : "node " + ctx->node.name + " does not route requests"));
  auto it = req->args.find("request");
  self->request(router, router_timeout, router_admin_atom::value, kind, id, it == req->args.end() ? std::string() : it->second)
      .then([=](std::string& frame) { reply(std::move(frame)); },
            [=](caf::error& e) { reply(proto::encode_error(id, status_code::unavailable, render(self, e))); });
}

void relay(caf::event_based_actor* self, const std::string& node, const std::string& id, std::string frame,
           reply_fn reply) {
  auto transport = transport_door(self->system());
  if (!transport) return reply(proto::encode_error(id, status_code::unavailable, "transport is restarting"));
  // A checkpoint or backup runs as long as the store takes; everything else answers in a second.
  auto hdr = proto::decode_request_header(frame);
  const bool slow = hdr && (hdr->kind == "checkpoint" || hdr->kind == "backup");
  const std::int64_t timeout_ms = slow ? store_timeout.count() + relay_timeout_ms : relay_timeout_ms;
  self->request(transport, std::chrono::milliseconds(timeout_ms + 500), remote_request_atom::value, node,
                std::string(names::client_api), timeout_ms, caf::make_message(wire::client_relay{std::move(frame)}))
      .then([=](wire::client_relay_reply& r) { reply(std::move(r.frame)); },
            [=](caf::error& e) {
              reply(proto::encode_error(id, status_code::unavailable, "node " + node + ": " + render(self, e)));
            });
}

}  // namespace holo::admin
