#include "consensus/quorum.h"

#include <sodium.h>

#include <algorithm>
#include <map>
#include <set>

namespace consensus {
namespace {
constexpr char kVotersDomain[] = "stratoswarm/voters/v1";  // hashed with its NUL
}  // namespace

QuorumMath QuorumFor(std::size_t members) {
  if (members == 0) return {};
  QuorumMath m;
  m.members = members;
  m.faulty = (members - 1) / 3;
  m.quorum = (members + m.faulty) / 2 + 1;
  return m;
}

Hash VoterSetHash(std::vector<std::string> voters) {
  std::sort(voters.begin(), voters.end());
  Hash h{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, h.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kVotersDomain), sizeof(kVotersDomain));
  for (const std::string& v : voters) {
    // c_str(): each id with its terminating NUL, so ids cannot run together.
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(v.c_str()), v.size() + 1);
  }
  crypto_generichash_final(&st, h.data(), h.size());
  return h;
}

mesh::Status CheckFailureDecision(const DecisionNotice& notice, const MemberKeyLookup& key_of) {
  constexpr const char* kOp = "check failure decision";
  const Decision& d = notice.decision;
  auto bad = [&](const std::string& why) { return mesh::Status::Corrupt(kOp, why); };
  MESH_RETURN_IF_ERROR(ValidateProposal(d.proposal));
  if (d.proposal.kind != ProposalKind::kNodeFailed) return bad("not a node_failed decision");
  if (d.outcome != Outcome::kYes) return bad("not a yes decision");
  const std::set<std::string> voters(notice.voters.begin(), notice.voters.end());
  if (voters.size() != notice.voters.size()) return bad("a voter is named twice");
  if (voters.contains(d.proposal.subject)) return bad("the subject is among its own voters");
  if (VoterSetHash(notice.voters) != d.proposal.payload_hash) return bad("the voters are not the proposal's");
  for (const std::string& v : voters) {
    if (key_of(v) == nullptr) return bad("voter " + v + " is not a member");
  }
  const ProposalId id = ComputeProposalId(d.proposal);
  std::map<std::string, std::pair<bool, bool>> seen;  // voter -> (yes, no) validly signed
  std::string message;
  for (const Vote& v : d.votes) {
    if (v.proposal_id != id || v.term != d.proposal.term) return bad("a vote is for another proposal");
    if (!voters.contains(v.voter)) return bad("vote by " + v.voter + ", who was not a voter");
    VoteSigningBytes(v, message);
    if (crypto_sign_verify_detached(v.signature.data(), reinterpret_cast<const unsigned char*>(message.data()),
                                    message.size(), key_of(v.voter)->data()) != 0) {
      return bad("invalid signature by " + v.voter);
    }
    auto& s = seen[v.voter];
    (v.verdict == Verdict::kYes ? s.first : s.second) = true;
  }
  const std::size_t yes = static_cast<std::size_t>(
      std::count_if(seen.begin(), seen.end(), [](const auto& kv) { return kv.second.first && !kv.second.second; }));
  const std::size_t needed = std::max(QuorumFor(voters.size()).quorum, kMinFailureVoters);
  if (yes < needed) {
    return bad(std::to_string(yes) + " yes votes of " + std::to_string(voters.size()) + " voters, " +
               std::to_string(needed) + " needed");
  }
  return mesh::Status::Ok();
}

}  // namespace consensus
