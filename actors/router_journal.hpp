// router_journal: how the router's generations become request-journal rows (persistence/store.hpp
// journal_entry) and how a row becomes a request again on any router. Plain functions, no CAF: the
// router (actors/router.cpp) owns the rows' timing (accepted, every checkpoint, final) and sends
// them through the store actor; docs/storage.md "Request journal" describes the rules.
//
// The key: a row's request_id is owner + ":" + client id -- what the authenticated client and its
// `resume` name -- and NOT the router's wire id (node + "/" + key), so a router on another node, or
// after a whole-cluster restart, finds the row from the resume alone. Two generations of one owner
// with the same client id on two nodes at once would share a row (the newer revision wins); ids are
// already the client's to keep unique (docs/protocol.md).
#pragma once

#include <cstdint>
#include <string>

#include "persistence/store.hpp"
#include "runtime/serving_protocol.hpp"

namespace holo::router_journal {

// The row key of generation `client_id` of `owner`.
std::string journal_key(const std::string& owner, const std::string& client_id);

// The row written when a router accepts `req` (status accepted, nothing delivered, revision 1).
// `seed` is the one the generation uses (the client's, or the router's draw); `max_tokens` the
// effective cap. Seeds above 2^63-1 cannot be stored (the column is signed): see `journalable`.
persist::journal_entry accepted_row(const proto::generate_request& req, const std::string& owner,
                                    const std::string& router_node, std::uint64_t seed, std::int64_t max_tokens);

// False when the request cannot be journaled (a client seed above 2^63-1): it is served all the
// same, only not resumable on another router.
bool journalable(std::uint64_t seed);

// The request a row describes, as the client sent it (id, model, prompt or messages, options with
// the seed only when the client chose it, stream, session). The generation's seed is `j.seed`.
proto::generate_request request_of(const persist::journal_entry& j);

// True for done, failed and cancelled rows.
bool finished(const persist::journal_entry& j);

}  // namespace holo::router_journal
