#include "actors/router_journal.hpp"

#include <cstdint>

namespace holo::router_journal {

std::string journal_key(const std::string& owner, const std::string& client_id) { return owner + ":" + client_id; }

bool journalable(std::uint64_t seed) { return seed <= static_cast<std::uint64_t>(INT64_MAX); }

persist::journal_entry accepted_row(const proto::generate_request& req, const std::string& owner,
                                    const std::string& router_node, std::uint64_t seed, std::int64_t max_tokens) {
  persist::journal_entry j;
  j.request_id = journal_key(owner, req.id);
  j.owner = owner;
  j.client_id = req.id;
  j.router_node = router_node;
  j.model = req.model;
  j.session_id = req.session;
  j.prompt = req.prompt;
  for (auto& m : req.messages) j.messages.push_back({m.role, m.content});
  const auto& o = req.options;
  auto& s = j.sampling;
  s.temperature = o.temperature;
  s.top_p = o.top_p;
  s.min_p = o.min_p;
  s.repeat_penalty = o.repeat_penalty;
  s.frequency_penalty = o.frequency_penalty;
  s.presence_penalty = o.presence_penalty;
  s.top_k = o.top_k;
  s.repeat_last_n = o.repeat_last_n;
  s.stop = o.stop;
  s.client_seed = o.seed.has_value();
  s.stream = req.stream;
  s.ignore_eos = o.ignore_eos;
  j.seed = seed;
  j.max_tokens = max_tokens;
  j.status = persist::journal_status::accepted;
  j.revision = 1;
  j.created_ms = j.updated_ms = persist::now_ms();
  return j;
}

proto::generate_request request_of(const persist::journal_entry& j) {
  proto::generate_request r;
  r.id = j.client_id;
  r.model = j.model;
  r.prompt = j.prompt;
  for (auto& m : j.messages) r.messages.push_back({m.role, m.content});
  auto& o = r.options;
  const auto& s = j.sampling;
  o.temperature = s.temperature;
  o.top_p = s.top_p;
  o.min_p = s.min_p;
  o.repeat_penalty = s.repeat_penalty;
  o.frequency_penalty = s.frequency_penalty;
  o.presence_penalty = s.presence_penalty;
  o.top_k = s.top_k;
  o.repeat_last_n = s.repeat_last_n;
  o.stop = s.stop;
  o.ignore_eos = s.ignore_eos;
  // The seed is an option only when the client gave it: that is what fixes the engine's request
  // key to 0 (actors/router.cpp), so the regenerated tokens are the original ones.
  if (s.client_seed) o.seed = j.seed;
  o.max_tokens = j.max_tokens;
  r.stream = s.stream;
  r.session = j.session_id;
  return r;
}

bool finished(const persist::journal_entry& j) {
  return j.status == persist::journal_status::done || j.status == persist::journal_status::failed ||
         j.status == persist::journal_status::cancelled;
}

}  // namespace holo::router_journal
