// Quorum math, the member list, and Tally: counting signed votes on one
// proposal, detecting misbehaviour, and producing a Decision with its quorum
// certificate.
//
// Quorum. With n members the cluster tolerates f = floor((n-1)/3) byzantine
// ones, and a decision needs q = floor((n+f)/2) + 1 votes. That is 2f+1 when
// n = 3f+1 (the usual sizing) and never less; for other n, plain 2f+1 would
// let two quorums overlap in only f members (n=5: 3+3-5 = 1), so one liar
// could sit in both; q keeps every overlap >= f+1 while q <= n-f keeps the
// cluster live (tests/unit/gpu_node/consensus/quorum_test.cpp checks both).
//
// Detection. Per vote the tally reports one VoteOutcome:
//   kWrongProposal    proposal id or term is not this proposal's
//   kNonMember        voter is not in the member list (signature not checked)
//   kInvalidSignature libsodium rejects the signature; the vote is ignored and
//                     nobody is accused (anyone can forge a vote "from" X)
//   kDuplicate        a valid vote repeating the voter's verdict, or a
//                     byte-identical replay of a vote already accepted (not
//                     re-verified)
//   kEquivocation     a valid vote contradicting the voter's earlier valid
//                     vote (and any later new vote by that voter): the voter
//                     is reported and all its votes excluded
//   kCounted          a valid first vote
// Only validly signed votes can make a member an equivocator, so forged votes
// never frame an honest member.
//
// Deciding. kYes once q counted yes votes; kNo once fewer than q members can
// still vote yes (n - counted no - equivocators < q). A batch is verified in one
// VoteVerifier call and decided after the whole batch is tallied. A decision is
// final: evidence arriving later (e.g. equivocation by a voter in a yes
// certificate) is still detected and reported, but does not undo it.
//
// Thread safety: MemberList is immutable after construction and may be shared
// across threads. A Tally is used from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "consensus/quorum.h"
#include "consensus/types.h"
#include "consensus/verifier.h"
#include "mesh/status.h"

namespace consensus {

struct Member {
  std::string id;
  PublicKey public_key{};
};

class MemberList {
 public:
  // InvalidArgument on an empty list, a duplicate or malformed id.
  static mesh::Result<std::shared_ptr<const MemberList>> Create(std::vector<Member> members);

  std::size_t size() const { return keys_.size(); }
  const QuorumMath& quorum() const { return quorum_; }
  // nullptr when `id` is not a member.
  const PublicKey* Find(const std::string& id) const;

 private:
  MemberList() = default;
  std::unordered_map<std::string, PublicKey> keys_;
  QuorumMath quorum_;
};

enum class VoteOutcome : std::uint8_t {
  kCounted,
  kDuplicate,
  kEquivocation,
  kInvalidSignature,
  kNonMember,
  kWrongProposal,
};
const char* VoteOutcomeName(VoteOutcome outcome);

struct TallyCounts {
  std::size_t counted_yes = 0;         // valid yes votes of non-equivocating members
  std::size_t counted_no = 0;          // valid no votes of non-equivocating members
  std::size_t duplicate = 0;
  std::size_t equivocation_votes = 0;  // votes with outcome kEquivocation
  std::size_t invalid_signature = 0;
  std::size_t non_member = 0;
  std::size_t wrong_proposal = 0;

  bool operator==(const TallyCounts&) const = default;
};

class Tally {
 public:
  // `proposal` must pass ValidateProposal() (decoded ones always do);
  // `verifier` must outlive the Tally.
  Tally(Proposal proposal, std::shared_ptr<const MemberList> members, VoteVerifier& verifier);

  const Proposal& proposal() const { return proposal_; }
  const ProposalId& proposal_id() const { return id_; }

  // Verifies and tallies one vote. Errors only when the verifier fails.
  mesh::Result<VoteOutcome> Add(const Vote& vote);
  // Verifies every signature of `votes` in one Verify() call, tallies them in
  // order, then decides. `outcomes`, when given, receives one entry per vote.
  mesh::Status AddBatch(std::span<const Vote> votes, std::vector<VoteOutcome>* outcomes = nullptr);

  bool decided() const { return decision_.has_value(); }
  const std::optional<Decision>& decision() const { return decision_; }
  const TallyCounts& counts() const { return counts_; }
  // Members caught equivocating, in the order they were caught.
  const std::vector<std::string>& equivocators() const { return equivocators_; }

 private:
  struct VoterState {
    const Vote* first = nullptr;    // first valid vote (points into votes_)
    const Vote* second = nullptr;   // contradicting vote, when equivocating
    bool equivocating = false;
  };

  // Checks that need no signature; nullopt when the vote needs a signature check.
  std::optional<VoteOutcome> Precheck(const Vote& vote, const PublicKey** key) const;
  VoteOutcome Record(const Vote& vote);
  void MaybeDecide();

  Proposal proposal_;
  ProposalId id_;
  std::shared_ptr<const MemberList> members_;
  VoteVerifier& verifier_;
  // Stable storage for valid votes (certificate material).
  std::vector<std::unique_ptr<Vote>> votes_;
  std::map<std::string, VoterState, std::less<>> voters_;
  std::vector<std::string> equivocators_;
  TallyCounts counts_;
  std::optional<Decision> decision_;
  // Scratch reused across batches.
  std::string message_arena_;
  std::vector<SignedMessage> items_;
  std::vector<std::uint8_t> verdicts_;
};

// Re-checks a certificate against `members`: every vote is for this proposal
// and term, from a member, validly signed (all signatures in one Verify()
// call), no vote appears twice, and the votes prove the outcome under the
// rules above. Corrupt with the reason when they do not.
mesh::Status VerifyDecision(const Decision& decision, const MemberList& members,
                            VoteVerifier& verifier);

}  // namespace consensus
