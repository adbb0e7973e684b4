#include "consensus/tally.h"

#include <utility>

namespace consensus {

mesh::Result<std::shared_ptr<const MemberList>> MemberList::Create(std::vector<Member> members) {
  if (members.empty()) return mesh::Status::InvalidArgument("member list", "no members");
  std::shared_ptr<MemberList> list(new MemberList());
  list->keys_.reserve(members.size());
  for (Member& m : members) {
    if (m.id.empty() || m.id.size() > kMaxNodeIdBytes) {
      return mesh::Status::InvalidArgument("member list", "member id must be 1.." +
                                           std::to_string(kMaxNodeIdBytes) + " bytes");
    }
    if (!list->keys_.emplace(std::move(m.id), m.public_key).second) {
      return mesh::Status::InvalidArgument("member list", "duplicate member id");
    }
  }
  list->quorum_ = QuorumFor(list->keys_.size());
  return std::shared_ptr<const MemberList>(std::move(list));
}

const PublicKey* MemberList::Find(const std::string& id) const {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

const char* VoteOutcomeName(VoteOutcome outcome) {
  switch (outcome) {
    case VoteOutcome::kCounted: return "counted";
    case VoteOutcome::kDuplicate: return "duplicate";
    case VoteOutcome::kEquivocation: return "equivocation";
    case VoteOutcome::kInvalidSignature: return "invalid_signature";
    case VoteOutcome::kNonMember: return "non_member";
    case VoteOutcome::kWrongProposal: return "wrong_proposal";
  }
  return "unknown";
}

Tally::Tally(Proposal proposal, std::shared_ptr<const MemberList> members, VoteVerifier& verifier)
    : proposal_(std::move(proposal)),
      id_(ComputeProposalId(proposal_)),
      members_(std::move(members)),
      verifier_(verifier) {}

std::optional<VoteOutcome> Tally::Precheck(const Vote& vote, const PublicKey** key) const {
  if (vote.proposal_id != id_ || vote.term != proposal_.term) return VoteOutcome::kWrongProposal;
  *key = members_->Find(vote.voter);
  if (*key == nullptr) return VoteOutcome::kNonMember;
  if (!ValidateVote(vote).ok()) return VoteOutcome::kInvalidSignature;
  // A byte-identical replay of a vote already accepted needs no second check.
  auto it = voters_.find(vote.voter);
  if (it != voters_.end() && ((it->second.first != nullptr && *it->second.first == vote) ||
                              (it->second.second != nullptr && *it->second.second == vote))) {
    return VoteOutcome::kDuplicate;
  }
  return std::nullopt;
}

VoteOutcome Tally::Record(const Vote& vote) {
  VoterState& st = voters_[vote.voter];
  if (st.first == nullptr) {
    votes_.push_back(std::make_unique<Vote>(vote));
    st.first = votes_.back().get();
    ++(vote.verdict == Verdict::kYes ? counts_.counted_yes : counts_.counted_no);
    return VoteOutcome::kCounted;
  }
  if (st.equivocating) {
    ++counts_.equivocation_votes;
    return VoteOutcome::kEquivocation;
  }
  if (st.first->verdict == vote.verdict) {
    ++counts_.duplicate;
    return VoteOutcome::kDuplicate;
  }
  // Two valid, contradicting signatures by one member: proof of equivocation.
  votes_.push_back(std::make_unique<Vote>(vote));
  st.second = votes_.back().get();
  st.equivocating = true;
  --(st.first->verdict == Verdict::kYes ? counts_.counted_yes : counts_.counted_no);
  ++counts_.equivocation_votes;
  equivocators_.push_back(vote.voter);
  return VoteOutcome::kEquivocation;
}

void Tally::MaybeDecide() {
  if (decision_.has_value()) return;
  const QuorumMath& qm = members_->quorum();
  Outcome outcome;
  if (counts_.counted_yes >= qm.quorum) {
    outcome = Outcome::kYes;
  } else if (qm.members - counts_.counted_no - equivocators_.size() < qm.quorum) {
    outcome = Outcome::kNo;
  } else {
    return;
  }
  Decision d;
  d.proposal = proposal_;
  d.outcome = outcome;
  const Verdict wanted = outcome == Outcome::kYes ? Verdict::kYes : Verdict::kNo;
  for (const auto& [voter, st] : voters_) {
    if (st.equivocating) {
      if (outcome == Outcome::kNo) {  // evidence that this member cannot add a yes
        d.votes.push_back(*st.first);
        d.votes.push_back(*st.second);
      }
    } else if (st.first->verdict == wanted) {
      d.votes.push_back(*st.first);
    }
  }
  decision_ = std::move(d);
}

mesh::Status Tally::AddBatch(std::span<const Vote> votes, std::vector<VoteOutcome>* outcomes) {
  const std::size_t n = votes.size();
  std::vector<std::optional<VoteOutcome>> pre(n);
  std::vector<const PublicKey*> keys(n, nullptr);
  std::vector<std::size_t> offsets;
  offsets.reserve(n);
  message_arena_.clear();
  message_arena_.reserve(n * kMaxVoteSigningBytes);
  std::string scratch;
  for (std::size_t i = 0; i < n; ++i) {
    pre[i] = Precheck(votes[i], &keys[i]);
    if (pre[i].has_value()) continue;
    offsets.push_back(message_arena_.size());
    VoteSigningBytes(votes[i], scratch);
    message_arena_.append(scratch);
  }
  // The arena is final now, so pointers into it stay valid.
  items_.clear();
  std::size_t k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (pre[i].has_value()) continue;
    const std::size_t begin = offsets[k];
    const std::size_t end = k + 1 < offsets.size() ? offsets[k + 1] : message_arena_.size();
    items_.push_back({reinterpret_cast<const std::uint8_t*>(message_arena_.data()) + begin,
                      end - begin, &votes[i].signature, keys[i]});
    ++k;
  }
  verdicts_.assign(items_.size(), 0);
  MESH_RETURN_IF_ERROR(verifier_.Verify(items_, verdicts_));

  if (outcomes != nullptr) outcomes->assign(n, VoteOutcome::kCounted);
  k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    VoteOutcome o;
    if (pre[i].has_value()) {
      o = *pre[i];
      switch (o) {
        case VoteOutcome::kWrongProposal: ++counts_.wrong_proposal; break;
        case VoteOutcome::kNonMember: ++counts_.non_member; break;
        case VoteOutcome::kInvalidSignature: ++counts_.invalid_signature; break;
        case VoteOutcome::kDuplicate: ++counts_.duplicate; break;
        case VoteOutcome::kCounted:
        case VoteOutcome::kEquivocation: break;  // never prechecked
      }
    } else if (verdicts_[k++] == 0) {
      o = VoteOutcome::kInvalidSignature;
      ++counts_.invalid_signature;
    } else {
      o = Record(votes[i]);
    }
    if (outcomes != nullptr) (*outcomes)[i] = o;
  }
  MaybeDecide();
  return mesh::Status::Ok();
}

mesh::Result<VoteOutcome> Tally::Add(const Vote& vote) {
  std::vector<VoteOutcome> outcome;
  MESH_RETURN_IF_ERROR(AddBatch(std::span<const Vote>(&vote, 1), &outcome));
  return outcome[0];
}

mesh::Status VerifyDecision(const Decision& decision, const MemberList& members,
                            VoteVerifier& verifier) {
  constexpr const char* kOp = "verify decision";
  MESH_RETURN_IF_ERROR(ValidateProposal(decision.proposal));
  if (decision.outcome != Outcome::kYes && decision.outcome != Outcome::kNo) {
    return mesh::Status::Corrupt(kOp, "unknown outcome");
  }
  const QuorumMath& qm = members.quorum();
  if (decision.votes.empty() || decision.votes.size() > 2 * qm.members) {
    return mesh::Status::Corrupt(kOp, "certificate holds " + std::to_string(decision.votes.size()) +
                                 " votes for " + std::to_string(qm.members) + " members");
  }
  const ProposalId id = ComputeProposalId(decision.proposal);
  std::string arena;
  arena.reserve(decision.votes.size() * kMaxVoteSigningBytes);
  std::vector<std::size_t> offsets;
  std::vector<const PublicKey*> keys;
  std::string scratch;
  for (const Vote& v : decision.votes) {
    if (v.proposal_id != id || v.term != decision.proposal.term) {
      return mesh::Status::Corrupt(kOp, "vote by " + v.voter + " is for another proposal or term");
    }
    if (!ValidateVote(v).ok()) return mesh::Status::Corrupt(kOp, "malformed vote");
    const PublicKey* key = members.Find(v.voter);
    if (key == nullptr) return mesh::Status::Corrupt(kOp, "vote by non-member " + v.voter);
    keys.push_back(key);
    offsets.push_back(arena.size());
    VoteSigningBytes(v, scratch);
    arena.append(scratch);
  }
  std::vector<SignedMessage> items;
  items.reserve(decision.votes.size());
  for (std::size_t i = 0; i < decision.votes.size(); ++i) {
    const std::size_t end = i + 1 < offsets.size() ? offsets[i + 1] : arena.size();
    items.push_back({reinterpret_cast<const std::uint8_t*>(arena.data()) + offsets[i],
                     end - offsets[i], &decision.votes[i].signature, keys[i]});
  }
  std::vector<std::uint8_t> verdicts(items.size(), 0);
  MESH_RETURN_IF_ERROR(verifier.Verify(items, verdicts));

  struct Seen {
    bool yes = false;
    bool no = false;
  };
  std::map<std::string_view, Seen> seen;
  for (std::size_t i = 0; i < decision.votes.size(); ++i) {
    const Vote& v = decision.votes[i];
    if (verdicts[i] == 0) return mesh::Status::Corrupt(kOp, "invalid signature by " + v.voter);
    Seen& s = seen[v.voter];
    bool& slot = v.verdict == Verdict::kYes ? s.yes : s.no;
    if (slot) return mesh::Status::Corrupt(kOp, "duplicate vote by " + v.voter);
    slot = true;
  }
  std::size_t yes = 0, no = 0, equivocators = 0;
  for (const auto& [voter, s] : seen) {
    if (s.yes && s.no) {
      ++equivocators;
    } else if (s.yes) {
      ++yes;
    } else {
      ++no;
    }
  }
  if (decision.outcome == Outcome::kYes && yes < qm.quorum) {
    return mesh::Status::Corrupt(kOp, std::to_string(yes) + " yes votes, quorum is " +
                                 std::to_string(qm.quorum));
  }
  if (decision.outcome == Outcome::kNo && qm.members - no - equivocators >= qm.quorum) {
    return mesh::Status::Corrupt(kOp, std::to_string(no) + " no votes and " +
                                 std::to_string(equivocators) +
                                 " equivocators leave a yes quorum possible");
  }
  return mesh::Status::Ok();
}

}  // namespace consensus
