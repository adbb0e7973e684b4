// FailureWitness: a member's own answer to "node X failed", from what it has
// itself heard of X — never from rumors.
//
// A node_failed proposal may start from another member's suspicion, and
// suspicions travel as rumors; a member that restarted or is starved can
// accuse every other member at once. If voters echoed the rumors they hold
// (their detector's Suspect/Declared state) a quorum could decide a live node
// failed. So each voter answers from its own link to the subject:
//   * yes once it has not heard from X for `silence_limit` (the failure
//     detector's probe timeout): it would have started suspecting X itself;
//   * no as soon as it hears from X after the proposal arrived: X is alive now;
//   * until one of these happens the vote waits, at most `silence_limit`
//     after X was last heard, so a voter whose heartbeat from X came a little
//     later than the proposer's does not say no to a node that really died;
//   * a member that has never heard from X (it joined moments ago, its
//     connection to X is still handshaking) has no evidence yet: it waits
//     `unknown_grace` (the detector's join grace) from the proposal's arrival
//     and says yes only if X stays silent that long.
// With SWIM probing (issue 20) a member hears from X only now and then, so an
// old last-heard time is no evidence: Silence::kSinceAsked counts the silence
// from the proposal's arrival instead (yes after `silence_limit` without a
// word from X since), and the owner probes X directly when Add() returns true
// (MeshMember::ProbeNow), so a live X answers well within the limit.
//
// Thread safety: none; one instance per member loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "consensus/types.h"
#include "mesh/clock.h"
#include "mesh/failure_detector.h"

namespace consensus {

class FailureWitness {
 public:
  // When this member last heard from a node directly (nullopt: never).
  using LastHeard = std::function<std::optional<mesh::MonoTime>(const std::string& node)>;

  struct Answer {
    Proposal proposal;
    Verdict verdict;
  };

  // Where a yes's silence is counted from: the last message from X
  // (all-to-all heartbeats: X is heard every interval), or the proposal's
  // arrival (SWIM: the owner probes X when it is asked).
  enum class Silence : std::uint8_t { kSinceLastHeard, kSinceAsked };

  FailureWitness(mesh::Nanos silence_limit, mesh::Nanos unknown_grace, LastHeard last_heard,
                 Silence silence = Silence::kSinceLastHeard);
  // Answers from `detector`'s own contact times, with its probe_timeout and
  // join_grace; kSinceAsked when it probes with SWIM. The detector must
  // outlive the witness.
  static FailureWitness ForDetector(const mesh::FailureDetector& detector);

  // A node_failed proposal to answer, received at `now`. Other kinds and a
  // proposal about `self` are ignored (false). A proposal already waiting is
  // not added twice.
  bool Add(const Proposal& p, const std::string& self, mesh::MonoTime now);

  // Verdicts that are due at `now`, in the order the proposals came.
  std::vector<Answer> Due(mesh::MonoTime now);

  // When the earliest waiting proposal turns into a yes if nothing is heard
  // from its subject (nullopt: none waiting). For the caller's poll timeout.
  std::optional<mesh::MonoTime> NextDeadline() const;

  std::size_t waiting() const { return waiting_.size(); }

 private:
  struct Waiting {
    Proposal proposal;
    mesh::MonoTime received;
  };
  std::optional<Verdict> Decide(const Waiting& w, mesh::MonoTime now) const;
  mesh::MonoTime SilentSince(mesh::MonoTime heard, mesh::MonoTime asked) const {
    return silence_ == Silence::kSinceAsked ? std::max(heard, asked) : heard;
  }

  mesh::Nanos silence_limit_;
  mesh::Nanos unknown_grace_;
  LastHeard last_heard_;
  Silence silence_;
  std::vector<Waiting> waiting_;
};

}  // namespace consensus
