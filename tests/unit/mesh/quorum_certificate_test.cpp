// A member's check of a failure decision (consensus/quorum.h) and the
// decision notice's codec.
#include <catch2/catch.hpp>
#include <map>

#include "consensus/codec.h"
#include "consensus/quorum.h"

namespace {

struct Voters {
  std::map<std::string, consensus::KeyPair> keys;
  std::vector<std::string> ids;
  consensus::Proposal proposal;

  explicit Voters(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(i + 1);
      ids.push_back("node-" + std::to_string(i));
      keys[ids.back()] = consensus::KeyPairFromSeed(seed);
    }
    proposal.kind = consensus::ProposalKind::kNodeFailed;
    proposal.term = 7;
    proposal.subject = "subject";
    proposal.proposer = ids[0];
    proposal.payload_hash = consensus::VoterSetHash(ids);
  }
  consensus::Vote VoteBy(const std::string& id, consensus::Verdict verdict, const std::string& key_of = "") const {
    consensus::Vote v;
    v.proposal_id = consensus::ComputeProposalId(proposal);
    v.term = proposal.term;
    v.voter = id;
    v.verdict = verdict;
    REQUIRE(consensus::SignVote(v, keys.at(key_of.empty() ? id : key_of).secret_key).ok());
    return v;
  }
  consensus::DecisionNotice Notice(std::size_t yes) const {
    consensus::DecisionNotice n{{proposal, consensus::Outcome::kYes, {}}, ids};
    for (std::size_t i = 0; i < yes; ++i) n.decision.votes.push_back(VoteBy(ids[i], consensus::Verdict::kYes));
    return n;
  }
  consensus::MemberKeyLookup Lookup() const {
    return [this](const std::string& id) -> const consensus::PublicKey* {
      auto it = keys.find(id);
      return it == keys.end() ? nullptr : &it->second.public_key;
    };
  }
};

}  // namespace

TEST_CASE("quorum: a strict majority at least, never fewer than two yes voters", "[consensus][quorum]") {
  for (std::size_t n = 1; n <= 50; ++n) CHECK(2 * consensus::QuorumFor(n).quorum > n);
  CHECK(consensus::QuorumFor(1).quorum == 1);  // hence kMinFailureVoters for failure decisions
  CHECK(consensus::kMinFailureVoters == 2);
}

TEST_CASE("voter set hash: order-free, and ids cannot run together", "[consensus][quorum]") {
  CHECK(consensus::VoterSetHash({"a", "b"}) == consensus::VoterSetHash({"b", "a"}));
  CHECK(consensus::VoterSetHash({"ab", "c"}) != consensus::VoterSetHash({"a", "bc"}));
  CHECK(consensus::VoterSetHash({"a"}) != consensus::VoterSetHash({"a", "b"}));
}

TEST_CASE("a member accepts a decision signed by a quorum of its voters", "[consensus][quorum]") {
  Voters v(5);  // q = 4
  CHECK(consensus::CheckFailureDecision(v.Notice(4), v.Lookup()).ok());
  CHECK(consensus::CheckFailureDecision(v.Notice(5), v.Lookup()).ok());
  auto wire = consensus::EncodeDecisionNotice(v.Notice(4));
  REQUIRE(wire.ok());
  auto back = consensus::DecodeDecisionNotice(*wire);
  REQUIRE(back.ok());
  CHECK(*back == v.Notice(4));
}

TEST_CASE("a member refuses decisions that do not prove a quorum", "[consensus][quorum]") {
  Voters v(5);
  auto refused = [&](const consensus::DecisionNotice& n, const std::string& why) {
    const mesh::Status s = consensus::CheckFailureDecision(n, v.Lookup());
    INFO(s.message());
    CHECK(s.code() == mesh::StatusCode::kCorrupt);
    CHECK(s.message().find(why) != std::string::npos);
  };
  refused(v.Notice(3), "3 yes votes of 5 voters, 4 needed");
  {  // the voters shrunk after the fact: the proposal's hash names the real ones
    auto n = v.Notice(4);
    n.voters.resize(4);
    refused(n, "not the proposal's");
  }
  {  // one voter twice
    auto n = v.Notice(4);
    n.decision.votes[3] = n.decision.votes[0];
    refused(n, "3 yes votes");
  }
  {  // a forged signature
    auto n = v.Notice(4);
    n.decision.votes[1].signature[3] ^= 1;
    refused(n, "invalid signature by node-1");
  }
  {  // a vote signed with another member's key
    auto n = v.Notice(4);
    n.decision.votes[1] = v.VoteBy("node-1", consensus::Verdict::kYes, "node-2");
    refused(n, "invalid signature by node-1");
  }
  {  // an equivocating voter does not count
    auto n = v.Notice(4);
    n.decision.votes.push_back(v.VoteBy("node-3", consensus::Verdict::kNo));
    refused(n, "3 yes votes");
  }
  {  // a voter this member does not know
    auto n = v.Notice(4);
    auto lookup = [&](const std::string& id) -> const consensus::PublicKey* {
      return id == "node-4" ? nullptr : v.Lookup()(id);
    };
    CHECK(consensus::CheckFailureDecision(n, lookup).message().find("voter node-4 is not a member") !=
          std::string::npos);
  }
  {  // the subject among the voters
    Voters w(3);
    w.ids.push_back("subject");
    w.keys["subject"] = consensus::KeyPairFromSeed({9});
    w.proposal.payload_hash = consensus::VoterSetHash(w.ids);
    auto n = w.Notice(3);
    CHECK(consensus::CheckFailureDecision(n, w.Lookup()).message().find("subject is among") != std::string::npos);
  }
}

TEST_CASE("the GPU peer alone is never a quorum", "[consensus][quorum]") {
  Voters v(1);  // the two-member case: only the GPU peer could vote
  const mesh::Status s = consensus::CheckFailureDecision(v.Notice(1), v.Lookup());
  CHECK(s.message().find("1 yes votes of 1 voters, 2 needed") != std::string::npos);
}

TEST_CASE("decision notice decoder refuses garbage", "[consensus][quorum]") {
  Voters v(3);
  auto wire = consensus::EncodeDecisionNotice(v.Notice(2));
  REQUIRE(wire.ok());
  for (std::size_t cut = 0; cut < wire->size(); ++cut) {
    CHECK_FALSE(consensus::DecodeDecisionNotice(wire->substr(0, cut)).ok());
  }
  CHECK_FALSE(consensus::DecodeDecisionNotice(*wire + "x").ok());
  CHECK_FALSE(consensus::EncodeDecisionNotice({v.Notice(2).decision, {}}).ok());
}
