#include "actors/health.hpp"

#include "runtime/supervisor.hpp"

#include <chrono>
#include <memory>

#include <caf/all.hpp>

namespace holo {

namespace {

constexpr auto status_timeout = std::chrono::milliseconds(500);

struct health_state {
  std::vector<std::string> watched;
  static inline const char* name = "health";
};

// One health query in progress: filled by the status replies, delivered when the last arrives.
struct health_round {
  node_health result;
  std::size_t pending = 0;
  caf::typed_response_promise<node_health> rp;

  void done_one() {
    if (--pending > 0) return;
    bool all_ok = true;
    for (auto& a : result.actors) all_ok = all_ok && a.state != "unresponsive" && a.state != "restarting";
    result.state = all_ok ? "up" : "degraded";
    rp.deliver(std::move(result));
  }
};

caf::behavior health_actor(caf::stateful_actor<health_state>* self, node_context_ptr ctx,
                           std::vector<std::string> watched) {
  self->state.watched = std::move(watched);
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::health, "running"}; },
      [=](health_atom) -> caf::result<node_health> {
        auto round = std::make_shared<health_round>();
        round->rp = self->make_response_promise<node_health>();
        round->result.node = ctx->node.name;
        round->result.cluster = ctx->cluster.name;
        round->result.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - ctx->started)
                                      .count();
        round->result.actors.push_back({names::health, "running"});
        round->pending = self->state.watched.size() + 1;
        for (auto& name : self->state.watched) {
          auto idx = round->result.actors.size();
          round->result.actors.push_back({name, "restarting"});
          auto h = self->system().registry().get(caf::atom_from_string(name));
          if (!h) {
            round->done_one();
            continue;
          }
          self->request(caf::actor_cast<caf::actor>(h), status_timeout, status_atom::value)
              .then([round, idx](actor_status& s) {
                     round->result.actors[idx].state = s.state;
                     round->done_one();
                   },
                   [round, idx](caf::error& e) {
                     // An actor that does not know the query (a supervisor) still proved that it
                     // reads its mailbox; only silence or death is unresponsive.
                     round->result.actors[idx].state =
                         e == caf::sec::unexpected_message ? "running" : "unresponsive";
                     round->done_one();
                   });
        }
        round->done_one();  // the health actor's own entry
        return round->rp;
      },
  };
}

}  // namespace

caf::actor spawn_health(caf::actor_system& sys, node_context_ptr ctx, std::vector<std::string> watched) {
  return sys.spawn(health_actor, std::move(ctx), std::move(watched));
}

}  // namespace holo
