#include "runtime/membership.hpp"

#include <algorithm>
#include <utility>

namespace holo {

namespace {

// Only "up" is healthy: "degraded", or any word this version does not know, is cause for suspicion.
member_state state_for_report(std::string_view reported_state) {
  return reported_state == "up" ? member_state::up : member_state::suspect;
}

}  // namespace

std::string_view to_string(member_state s) {
  switch (s) {
    case member_state::joining: return "joining";
    case member_state::up: return "up";
    case member_state::suspect: return "suspect";
    case member_state::down: return "down";
    case member_state::left: return "left";
  }
  return "unknown";
}

membership::membership(std::string self, std::vector<std::string> peers, params p) : params_(p) {
  params_.down_phi = std::max(params_.down_phi, params_.suspect_phi);
  member me;
  me.name = std::move(self);
  me.state = member_state::up;
  me.is_self = true;
  me.detector = phi_accrual(params_.detector);
  index_.emplace(me.name, 0);
  members_.push_back(std::move(me));
  for (auto& name : peers) {
    if (index_.count(name)) continue;
    member m;
    m.name = std::move(name);
    m.detector = phi_accrual(params_.detector);
    index_.emplace(m.name, members_.size());
    members_.push_back(std::move(m));
  }
}

membership::membership(std::string self, std::vector<std::string> peers)
    : membership(std::move(self), std::move(peers), params{}) {}

void membership::set_self(std::uint64_t incarnation, node_info info) {
  auto& me = members_.front();
  me.incarnation = incarnation;
  me.info = std::move(info);
  me.info_known = true;
  me.reported_state = "up";
}

membership::member* membership::peer(std::string_view name) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    ++unknown_ignored_;
    return nullptr;
  }
  if (it->second == 0) {
    ++self_conflicts_;
    return nullptr;
  }
  return &members_[it->second];
}

bool membership::accept_incarnation(member& m, std::uint64_t incarnation, bool& restarted) {
  restarted = false;
  // A joining member has no incarnation yet: whatever it says first is its incarnation.
  const bool first_contact = m.state == member_state::joining;
  if (!first_contact && incarnation < m.incarnation) {
    ++stale_ignored_;
    return false;
  }
  if (first_contact || incarnation > m.incarnation) {
    // A new process: nothing measured about the old one applies to it.
    restarted = !first_contact;
    m.incarnation = incarnation;
    m.detector.reset();
    m.info = {};
    m.info_known = false;
    m.reported_state = "up";
  }
  return true;
}

void membership::move(member& m, member_state to, time_point now, bool restarted, std::vector<change>& out) {
  if (m.state == to && !restarted) return;
  out.push_back(change{m.name, m.state, to, m.incarnation});
  if (m.state != to) m.since = now;
  m.state = to;
}

std::vector<membership::change> membership::on_heartbeat(std::string_view name, std::uint64_t incarnation,
                                                         std::string_view reported_state, time_point now) {
  std::vector<change> out;
  member* m = peer(name);
  if (!m) return out;
  bool restarted = false;
  if (!accept_incarnation(*m, incarnation, restarted)) return out;
  if (m->state == member_state::left && !restarted) {
    ++stale_ignored_;  // a beat that crossed its own goodbye
    return out;
  }
  // Back from down within one incarnation (a partition healed): the silence is not an interval
  // to learn from; it would inflate the mean for the next `window` heartbeats.
  if (m->state == member_state::down && !restarted) m->detector.reset();
  m->detector.heartbeat(now);
  m->last_heartbeat = now;
  m->reported_state = std::string(reported_state);
  move(*m, state_for_report(reported_state), now, restarted, out);
  return out;
}

std::vector<membership::change> membership::on_announce(std::string_view name, std::uint64_t incarnation,
                                                        node_info info, time_point now) {
  std::vector<change> out;
  member* m = peer(name);
  if (!m) return out;
  bool restarted = false;
  if (!accept_incarnation(*m, incarnation, restarted)) return out;
  if (m->state == member_state::left && !restarted) {
    ++stale_ignored_;
    return out;
  }
  m->info = std::move(info);
  m->info_known = true;
  // An announce is proof of life too, so a peer that dies right after announcing is still detected.
  if (m->state == member_state::down && !restarted) m->detector.reset();
  m->detector.heartbeat(now);
  m->last_heartbeat = now;
  move(*m, state_for_report(m->reported_state), now, restarted, out);
  return out;
}

std::vector<membership::change> membership::on_leave(std::string_view name, std::uint64_t incarnation,
                                                     time_point now) {
  std::vector<change> out;
  member* m = peer(name);
  if (!m) return out;
  if (m->state != member_state::joining && incarnation < m->incarnation) {
    ++stale_ignored_;
    return out;
  }
  m->incarnation = incarnation;
  m->detector.reset();
  move(*m, member_state::left, now, false, out);
  return out;
}

std::vector<membership::change> membership::on_link_lost(std::string_view name, time_point now) {
  std::vector<change> out;
  member* m = peer(name);
  if (!m || (m->state != member_state::up && m->state != member_state::suspect)) return out;
  m->detector.reset();
  move(*m, member_state::down, now, false, out);
  return out;
}

std::vector<membership::change> membership::tick(time_point now) {
  std::vector<change> out;
  for (auto& m : members_) {
    if (m.is_self || (m.state != member_state::up && m.state != member_state::suspect)) continue;
    const double phi = m.detector.phi(now);
    if (m.state == member_state::up && phi >= params_.suspect_phi) move(m, member_state::suspect, now, false, out);
    if (m.state == member_state::suspect && phi >= params_.down_phi) move(m, member_state::down, now, false, out);
  }
  return out;
}

std::vector<membership::member> membership::view() const { return members_; }

const membership::member* membership::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &members_[it->second];
}

}  // namespace holo
