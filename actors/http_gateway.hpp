// http_gateway: the node's door for HTTP clients -- OpenAI's and Ollama's APIs (docs/http-api.md)
// on the node's http_endpoint, routed through this node's router like ZeroMQ clients (same
// admission limits, placement, failover and exactly-once streams). Started on nodes with the
// router role and an http_endpoint, after client_api.
//
// The actor owns the HTTP server (actors/http_server.hpp: httplib threads bridged to the router with
// one scoped actor per request, actors/http_bridge.hpp) and answers only the supervisor's `ready`
// and the status query. It is detached: stopping the server joins its threads, which must not
// hold a scheduler thread. If the endpoint cannot be bound or a key file cannot be read, it exits
// with an error and the node fails to start with the cause in its log.
//
// Auth: with [[http_key]] entries every request needs `Authorization: Bearer KEY`; without, the
// gateway serves loopback only (the node refuses to start otherwise: http_bind_allowed).
#pragma once

#include <caf/fwd.hpp>

#include "actors/node_context.hpp"
#include "runtime/status.hpp"

namespace holo {

// Registry name of the gateway (a CAF atom: at most 10 characters).
inline constexpr const char* http_gateway_name = "http";

caf::actor spawn_http_gateway(caf::actor_system& sys, node_context_ptr ctx);

// Whether `node` may serve HTTP as configured: invalid_argument (a configuration error, exit 2)
// when its http_endpoint is off loopback and no [[http_key]] is configured, or when the node has
// no router role to serve it with.
status http_bind_allowed(const config::cluster_config& cluster, const config::node_config& node);

}  // namespace holo
