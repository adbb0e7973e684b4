// Shared test fixture: a member list with deterministic keys and a proposal.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "consensus/tally.h"
#include "consensus/types.h"

namespace consensus_test {

struct Cluster {
  std::vector<consensus::KeyPair> keys;
  std::vector<std::string> ids;
  std::shared_ptr<const consensus::MemberList> members;
  consensus::Proposal proposal;
  consensus::ProposalId id{};

  explicit Cluster(std::size_t n, std::uint8_t salt = 1) {
    std::vector<consensus::Member> list;
    for (std::size_t i = 0; i < n; ++i) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(i);
      seed[1] = static_cast<std::uint8_t>(i >> 8);
      seed[2] = salt;
      keys.push_back(consensus::KeyPairFromSeed(seed));
      ids.push_back("node-" + std::to_string(i));
      list.push_back({ids.back(), keys.back().public_key});
    }
    members = *consensus::MemberList::Create(std::move(list));
    proposal.kind = consensus::ProposalKind::kNodeFailed;
    proposal.term = 3;
    proposal.subject = "node-x";
    proposal.proposer = "node-0";
    id = consensus::ComputeProposalId(proposal);
  }

  consensus::Vote VoteBy(std::size_t member, consensus::Verdict verdict) const {
    consensus::Vote v;
    v.proposal_id = id;
    v.term = proposal.term;
    v.voter = ids[member];
    v.verdict = verdict;
    (void)consensus::SignVote(v, keys[member].secret_key);
    return v;
  }
};

}  // namespace consensus_test
