// Quorum math, and how a member checks a failure decision before it acts on
// it (docs/architecture.md, "Failure decisions").
//
// Quorum. With n voters the cluster tolerates f = floor((n-1)/3) byzantine
// ones, and a decision needs q = floor((n+f)/2) + 1 yes votes: always more
// than half of n (a strict majority), 2f+1 when n = 3f+1, and every two
// quorums overlap in at least f+1 voters (tests/unit/gpu_node/consensus/
// quorum_test.cpp).
//
// Voters of a node_failed proposal: every member of the CA-signed member list
// except the subject and the members already decided Down, the GPU peer
// included once. Their ids are bound into the proposal's payload_hash
// (VoterSetHash), so a certificate names exactly who could vote, and the
// DecisionNotice broadcast to the members carries them. A member acts on a
// notice only after CheckFailureDecision(): the voters are members, the
// subject is not one of them, the hash matches, and at least q of them — and
// never fewer than two, so the GPU peer is never a quorum alone — signed yes.
//
// Thread safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "consensus/types.h"
#include "mesh/status.h"

namespace consensus {

struct QuorumMath {
  std::size_t members = 0;  // n
  std::size_t faulty = 0;   // f = floor((n-1)/3)
  std::size_t quorum = 0;   // q = floor((n+f)/2) + 1
};
// n = 0 yields all zeros (no quorum can form).
QuorumMath QuorumFor(std::size_t members);

// A failure decision needs at least this many distinct yes voters, whatever
// the quorum of a smaller voter set would be: one voter alone never decides.
inline constexpr std::size_t kMinFailureVoters = 2;

// BLAKE2b-256("stratoswarm/voters/v1\0" || sorted ids, each NUL-terminated).
Hash VoterSetHash(std::vector<std::string> voters);

// MsgType::kDecision's payload: the decision (its quorum certificate) and
// the voters its proposal named.
struct DecisionNotice {
  Decision decision;
  std::vector<std::string> voters;

  bool operator==(const DecisionNotice&) const = default;
};

// The public key of a member of the node's current signed member list, or
// nullptr for anyone else.
using MemberKeyLookup = std::function<const PublicKey*(const std::string& id)>;

// OK when `notice` proves that a quorum of its voters decided its subject
// failed; Corrupt naming the first reason otherwise. Signatures are checked
// one by one with libsodium (a member sees a handful of decisions).
mesh::Status CheckFailureDecision(const DecisionNotice& notice, const MemberKeyLookup& key_of);

}  // namespace consensus
