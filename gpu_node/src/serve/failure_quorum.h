// Who may decide that a node failed, and whether this GPU peer hears enough
// of the cluster to take part (issue 17; docs/architecture.md, "Failure
// decisions").
//
//   - Voters of a node_failed proposal: every member of the signed member
//     list but the subject and the members excluded (already decided Down, or
//     leaving), the GPU peer counted once. Fewer than two voters (the GPU
//     peer and one Pi: the two-member case) decide nothing: the GPU peer's
//     word alone never makes a node Down.
//   - Hearing: the voting members other than this peer that it heard from
//     directly within `fresh` (members never heard and not yet suspected,
//     still in their join grace, are left out of both counts). When this peer and those it hears are not a
//     strict majority of the voting members it is isolated: it says so and
//     proposes nothing.
//   - Back to Ready: only when the node's own messages reach this peer over
//     its authenticated connection after it was decided Down (the failure
//     detector's last_heard counts direct messages only, never rumors).
//
//   - Proposals: a suspicion this peer raised itself is proposed; one that
//     reached it as another member's rumor is not while this peer itself
//     heard the subject within its own silence bound (the subject is alive
//     to the one member that hears everyone every interval; it refutes the
//     rumor, and if it dies this peer's own detector suspects it within the
//     bound). At 100 swarmlets on 2 cores, starved members' false rumors each
//     started a vote round across every member (issue 20).
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "consensus/quorum.h"
#include "consensus/tally.h"
#include "mesh/failure_detector.h"
#include "mesh/member_list.h"

namespace gpu_node {

struct FailureVoters {
  std::vector<consensus::Member> members;  // with their signing keys
  std::vector<std::string> ids;
  // Two or more voters: a decision is possible.
  bool can_decide() const { return ids.size() >= consensus::kMinFailureVoters; }
};
FailureVoters VotersFor(const mesh::MemberList& list, const std::string& subject,
                        const std::set<std::string>& excluded);

struct Hearing {
  std::size_t heard = 0;    // voting members other than this peer heard directly
  std::size_t members = 0;  // voting members other than this peer
  // This peer and those it hears are no strict majority of all voting
  // members. With one other member (the two-member case) that member is
  // shown Unreachable instead.
  bool isolated() const { return members >= 2 && 2 * (heard + 1) <= members + 1; }
  // "hears 3 of 4 members"
  std::string Describe() const;
};
// `views` from the failure detector (FailureDetector::Members()).
Hearing HearingOf(const mesh::MemberList& list, const std::string& self, const std::set<std::string>& excluded,
                  const std::vector<mesh::MemberView>& views, mesh::MonoTime now, mesh::Nanos fresh);

// A suspicion or declaration (`e`) that came from another member's rumor
// about a member this peer (`self`) heard directly less than `silence_limit`
// before the event.
bool RumorContradictedFirstHand(const mesh::FdEvent& e, const std::string& self, mesh::Nanos silence_limit);
// The node's own message reached this peer after `down_at` and within `fresh`.
bool HeardFirstHand(const std::optional<mesh::MemberView>& view, mesh::MonoTime down_at, mesh::MonoTime now,
                    mesh::Nanos fresh);

}  // namespace gpu_node
