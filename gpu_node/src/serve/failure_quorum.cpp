#include "serve/failure_quorum.h"

#include <algorithm>
#include <map>

namespace gpu_node {

FailureVoters VotersFor(const mesh::MemberList& list, const std::string& subject,
                        const std::set<std::string>& excluded) {
  FailureVoters v;
  for (const mesh::Member& m : list.members) {
    if (m.node_id == subject || excluded.contains(m.node_id)) continue;
    v.members.push_back({m.node_id, m.signing_key});
    v.ids.push_back(m.node_id);
  }
  return v;
}

std::string Hearing::Describe() const {
  return "hears " + std::to_string(heard) + " of " + std::to_string(members) + " member" + (members == 1 ? "" : "s");
}

Hearing HearingOf(const mesh::MemberList& list, const std::string& self, const std::set<std::string>& excluded,
                  const std::vector<mesh::MemberView>& views, mesh::MonoTime now, mesh::Nanos fresh) {
  std::map<std::string, const mesh::MemberView*> by_id;
  for (const mesh::MemberView& v : views) by_id[v.id] = &v;
  Hearing h;
  for (const mesh::Member& m : list.members) {
    if (m.node_id == self || excluded.contains(m.node_id)) continue;
    auto it = by_id.find(m.node_id);
    // Not heard yet but still within its join grace (just admitted, or this
    // peer just started): neither for nor against; suspected once the grace
    // runs out.
    if (it != by_id.end() && !it->second->last_heard && it->second->state == mesh::MemberState::kAlive) continue;
    ++h.members;
    if (it != by_id.end() && it->second->state == mesh::MemberState::kAlive && it->second->last_heard &&
        now - *it->second->last_heard <= fresh) {
      ++h.heard;
    }
  }
  return h;
}

bool HeardFirstHand(const std::optional<mesh::MemberView>& view, mesh::MonoTime down_at, mesh::MonoTime now,
                    mesh::Nanos fresh) {
  return view && view->last_heard && *view->last_heard > down_at && now - *view->last_heard <= fresh;
}

bool RumorContradictedFirstHand(const mesh::FdEvent& e, const std::string& self, mesh::Nanos silence_limit) {
  if (e.source.empty() || e.source == self || !e.last_heard) return false;
  return e.at - *e.last_heard < silence_limit;
}

}  // namespace gpu_node
