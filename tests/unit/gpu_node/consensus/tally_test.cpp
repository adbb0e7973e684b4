#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "consensus/codec.h"
#include "consensus/tally.h"
#include "fixture.h"

using consensus::Outcome;
using consensus::Tally;
using consensus::Verdict;
using consensus::Vote;
using consensus::VoteOutcome;
using consensus_test::Cluster;

namespace {

// Counts calls so tests can see what was (not) verified.
class CountingVerifier final : public consensus::VoteVerifier {
 public:
  std::string Name() const override { return "counting"; }
  mesh::Status Verify(std::span<const consensus::SignedMessage> items,
                      std::span<std::uint8_t> verdicts) override {
    ++calls;
    items_seen += items.size();
    if (fail) return mesh::Status::Unavailable("verify", "device lost");
    return inner.Verify(items, verdicts);
  }
  int calls = 0;
  std::size_t items_seen = 0;
  bool fail = false;
  consensus::CpuVerifier inner;
};

VoteOutcome AddOne(Tally& t, const Vote& v) {
  auto r = t.Add(v);
  REQUIRE(r.ok());
  return *r;
}

Vote Corrupted(Vote v) {
  v.signature[40] ^= 0x01;
  return v;
}

}  // namespace

TEST_CASE("tally decides yes at quorum and no when yes becomes impossible", "[consensus][tally]") {
  Cluster c(4);  // f = 1, q = 3
  CountingVerifier verifier;
  {
    Tally t(c.proposal, c.members, verifier);
    CHECK(AddOne(t, c.VoteBy(0, Verdict::kYes)) == VoteOutcome::kCounted);
    CHECK(AddOne(t, c.VoteBy(1, Verdict::kYes)) == VoteOutcome::kCounted);
    CHECK_FALSE(t.decided());
    CHECK(AddOne(t, c.VoteBy(2, Verdict::kNo)) == VoteOutcome::kCounted);
    CHECK_FALSE(t.decided());
    CHECK(AddOne(t, c.VoteBy(3, Verdict::kYes)) == VoteOutcome::kCounted);
    REQUIRE(t.decided());
    CHECK(t.decision()->outcome == Outcome::kYes);
    CHECK(t.decision()->votes.size() == 3);
    CHECK(consensus::VerifyDecision(*t.decision(), *c.members, verifier).ok());
  }
  {
    Tally t(c.proposal, c.members, verifier);
    CHECK(AddOne(t, c.VoteBy(0, Verdict::kNo)) == VoteOutcome::kCounted);
    CHECK_FALSE(t.decided());
    CHECK(AddOne(t, c.VoteBy(1, Verdict::kNo)) == VoteOutcome::kCounted);  // 4 - 2 < 3
    REQUIRE(t.decided());
    CHECK(t.decision()->outcome == Outcome::kNo);
    CHECK(t.decision()->votes.size() == 2);
    CHECK(consensus::VerifyDecision(*t.decision(), *c.members, verifier).ok());
  }
  {
    Cluster one(1);
    Tally t(one.proposal, one.members, verifier);
    CHECK(AddOne(t, one.VoteBy(0, Verdict::kYes)) == VoteOutcome::kCounted);
    CHECK(t.decided());
  }
}

TEST_CASE("tally: votes for another proposal or term", "[consensus][tally]") {
  Cluster c(4);
  CountingVerifier verifier;
  Tally t(c.proposal, c.members, verifier);
  Vote v = c.VoteBy(0, Verdict::kYes);
  v.term += 1;
  CHECK(AddOne(t, v) == VoteOutcome::kWrongProposal);
  v = c.VoteBy(0, Verdict::kYes);
  v.proposal_id[0] ^= 1;
  CHECK(AddOne(t, v) == VoteOutcome::kWrongProposal);
  CHECK(t.counts().wrong_proposal == 2);
  CHECK(verifier.items_seen == 0);
}

TEST_CASE("tally: non-members are refused without a signature check", "[consensus][tally]") {
  Cluster c(4);
  CountingVerifier verifier;
  Tally t(c.proposal, c.members, verifier);
  Vote v = c.VoteBy(0, Verdict::kYes);
  v.voter = "stranger";
  CHECK(AddOne(t, v) == VoteOutcome::kNonMember);
  CHECK(t.counts().non_member == 1);
  CHECK(verifier.items_seen == 0);
  CHECK(t.counts().counted_yes == 0);
}

TEST_CASE("tally: invalid signatures are ignored and accuse nobody", "[consensus][tally]") {
  Cluster c(4);
  CountingVerifier verifier;
  Tally t(c.proposal, c.members, verifier);
  CHECK(AddOne(t, c.VoteBy(0, Verdict::kYes)) == VoteOutcome::kCounted);
  // A forged "no" in node-0's name: not equivocation, just invalid.
  CHECK(AddOne(t, Corrupted(c.VoteBy(0, Verdict::kNo))) == VoteOutcome::kInvalidSignature);
  // A vote signed with node-2's key under node-1's name.
  Vote impostor = c.VoteBy(2, Verdict::kNo);
  impostor.voter = c.ids[1];
  CHECK(AddOne(t, impostor) == VoteOutcome::kInvalidSignature);
  // node-1's real vote still counts.
  CHECK(AddOne(t, c.VoteBy(1, Verdict::kYes)) == VoteOutcome::kCounted);
  CHECK(t.counts().invalid_signature == 2);
  CHECK(t.counts().counted_yes == 2);
  CHECK(t.equivocators().empty());
}

TEST_CASE("tally: duplicates are counted once", "[consensus][tally]") {
  Cluster c(4);
  CountingVerifier verifier;
  Tally t(c.proposal, c.members, verifier);
  const Vote v = c.VoteBy(0, Verdict::kYes);
  CHECK(AddOne(t, v) == VoteOutcome::kCounted);
  const std::size_t seen = verifier.items_seen;
  CHECK(AddOne(t, v) == VoteOutcome::kDuplicate);  // replay: no second signature check
  CHECK(verifier.items_seen == seen);
  // Both copies in one batch, from a voter not seen before.
  std::vector<Vote> batch{c.VoteBy(1, Verdict::kNo), c.VoteBy(1, Verdict::kNo)};
  std::vector<VoteOutcome> outcomes;
  REQUIRE(t.AddBatch(batch, &outcomes).ok());
  CHECK(outcomes == std::vector<VoteOutcome>{VoteOutcome::kCounted, VoteOutcome::kDuplicate});
  CHECK(t.counts().duplicate == 2);
  CHECK(t.counts().counted_yes == 1);
  CHECK(t.counts().counted_no == 1);
}

TEST_CASE("tally: equivocation reports the voter and excludes its votes", "[consensus][tally]") {
  Cluster c(4);  // q = 3
  CountingVerifier verifier;
  Tally t(c.proposal, c.members, verifier);
  CHECK(AddOne(t, c.VoteBy(0, Verdict::kYes)) == VoteOutcome::kCounted);
  CHECK(AddOne(t, c.VoteBy(1, Verdict::kYes)) == VoteOutcome::kCounted);
  CHECK(t.counts().counted_yes == 2);
  CHECK(AddOne(t, c.VoteBy(1, Verdict::kNo)) == VoteOutcome::kEquivocation);
  CHECK(t.equivocators() == std::vector<std::string>{c.ids[1]});
  CHECK(t.counts().counted_yes == 1);
  CHECK(t.counts().counted_no == 0);
  // A replay of either of its votes is only a duplicate.
  CHECK(AddOne(t, c.VoteBy(1, Verdict::kYes)) == VoteOutcome::kDuplicate);
  CHECK(AddOne(t, c.VoteBy(1, Verdict::kNo)) == VoteOutcome::kDuplicate);
  CHECK(t.counts().equivocation_votes == 1);
  CHECK(t.equivocators().size() == 1);
  // n - no(0) - equivocators(1) = 3 >= q: a yes quorum is still possible.
  CHECK_FALSE(t.decided());
  CHECK(AddOne(t, c.VoteBy(2, Verdict::kNo)) == VoteOutcome::kCounted);  // 4 - 1 - 1 = 2 < 3
  REQUIRE(t.decided());
  CHECK(t.decision()->outcome == Outcome::kNo);
  // Certificate: node-2's no plus node-1's two conflicting votes.
  CHECK(t.decision()->votes.size() == 3);
  CHECK(consensus::VerifyDecision(*t.decision(), *c.members, verifier).ok());
}

TEST_CASE("tally: a decision is final, later equivocation is still reported", "[consensus][tally]") {
  Cluster c(4);
  CountingVerifier verifier;
  Tally t(c.proposal, c.members, verifier);
  for (std::size_t i = 0; i < 3; ++i) CHECK(AddOne(t, c.VoteBy(i, Verdict::kYes)) == VoteOutcome::kCounted);
  REQUIRE(t.decided());
  const consensus::Decision before = *t.decision();
  CHECK(AddOne(t, c.VoteBy(2, Verdict::kNo)) == VoteOutcome::kEquivocation);
  CHECK(t.equivocators() == std::vector<std::string>{c.ids[2]});
  CHECK(*t.decision() == before);
}

TEST_CASE("tally: a batch is verified in one call", "[consensus][tally]") {
  Cluster c(10);
  CountingVerifier verifier;
  Tally t(c.proposal, c.members, verifier);
  std::vector<Vote> votes;
  for (std::size_t i = 0; i < 10; ++i) votes.push_back(c.VoteBy(i, Verdict::kYes));
  REQUIRE(t.AddBatch(votes).ok());
  CHECK(verifier.calls == 1);
  CHECK(verifier.items_seen == 10);
  REQUIRE(t.decided());
  CHECK(t.decision()->votes.size() == 10);

  verifier.fail = true;
  Tally t2(c.proposal, c.members, verifier);
  CHECK(t2.AddBatch(votes).code() == mesh::StatusCode::kUnavailable);
  CHECK(t2.Add(votes[0]).status().code() == mesh::StatusCode::kUnavailable);
}

namespace {

struct Byzantine {
  std::vector<Vote> votes;
  std::vector<bool> bad;  // per vote: sent by a byzantine member or forged
  std::set<std::string> equivocators;
  std::set<std::string> honest;
  std::size_t invalid = 0;
};

// n members, floor((n-1)/3) byzantine: a third send corrupted signatures, a
// third forge "no" votes in honest members' names, a third equivocate. Honest
// members vote yes.
Byzantine MakeByzantine(const Cluster& c, std::uint64_t seed) {
  const std::size_t n = c.ids.size();
  const std::size_t f = consensus::QuorumFor(n).faulty;
  Byzantine b;
  for (std::size_t i = 0; i < n - f; ++i) {
    b.votes.push_back(c.VoteBy(i, Verdict::kYes));
    b.bad.push_back(false);
    b.honest.insert(c.ids[i]);
  }
  for (std::size_t k = 0; k < f; ++k) {
    const std::size_t m = n - f + k;
    switch (k % 3) {
      case 0:
        b.votes.push_back(Corrupted(c.VoteBy(m, Verdict::kNo)));
        b.bad.push_back(true);
        ++b.invalid;
        break;
      case 1: {
        Vote forged = c.VoteBy(m, Verdict::kNo);
        forged.voter = c.ids[k % (n - f)];
        b.votes.push_back(forged);
        b.bad.push_back(true);
        ++b.invalid;
        break;
      }
      default:
        b.votes.push_back(c.VoteBy(m, Verdict::kYes));
        b.votes.push_back(c.VoteBy(m, Verdict::kNo));
        b.bad.push_back(true);
        b.bad.push_back(true);
        b.equivocators.insert(c.ids[m]);
        break;
    }
  }
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> order(b.votes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  Byzantine shuffled = b;
  for (std::size_t i = 0; i < order.size(); ++i) {
    shuffled.votes[i] = b.votes[order[i]];
    shuffled.bad[i] = b.bad[order[i]];
  }
  return shuffled;
}

void CheckByzantineOutcome(const Cluster& c, const Byzantine& b, const Tally& t,
                           const std::vector<VoteOutcome>& outcomes,
                           consensus::VoteVerifier& verifier, bool incremental) {
  const std::size_t f = consensus::QuorumFor(c.ids.size()).faulty;
  REQUIRE(t.decided());
  CHECK(t.decision()->outcome == Outcome::kYes);
  CHECK(t.counts().invalid_signature == b.invalid);
  CHECK(t.counts().counted_yes == c.ids.size() - f);
  CHECK(t.counts().counted_no == 0);
  const std::set<std::string> caught(t.equivocators().begin(), t.equivocators().end());
  CHECK(caught == b.equivocators);
  for (const std::string& e : t.equivocators()) CHECK(b.honest.count(e) == 0);
  // A batch is decided after all of it is tallied, so its certificate holds
  // honest votes only. Vote by vote, the quorum may form while an equivocator's
  // first yes still counts; that vote may then sit in the (still valid)
  // certificate, but never a forged one.
  for (const Vote& v : t.decision()->votes) {
    if (incremental) {
      CHECK((b.honest.count(v.voter) == 1 || b.equivocators.count(v.voter) == 1));
    } else {
      CHECK(b.honest.count(v.voter) == 1);
    }
  }
  // Every honest vote counted; every bad vote flagged, except the first of
  // each equivocating pair, which counted until its twin arrived.
  std::size_t flagged = 0;
  for (std::size_t i = 0; i < b.votes.size(); ++i) {
    if (!b.bad[i]) {
      CHECK(outcomes[i] == VoteOutcome::kCounted);
    } else if (outcomes[i] != VoteOutcome::kCounted) {
      CHECK((outcomes[i] == VoteOutcome::kInvalidSignature ||
             outcomes[i] == VoteOutcome::kEquivocation));
      ++flagged;
    }
  }
  CHECK(flagged == b.invalid + b.equivocators.size());
  CHECK(consensus::VerifyDecision(*t.decision(), *c.members, verifier).ok());
}

}  // namespace

TEST_CASE("33% byzantine votes: correct decision, all bad detected, nobody framed",
          "[consensus][tally][byzantine]") {
  consensus::CpuVerifier verifier;
  for (std::size_t n : {4u, 7u, 10u, 31u, 100u}) {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      INFO("n = " << n << ", seed " << seed);
      Cluster c(n);
      const Byzantine b = MakeByzantine(c, seed);
      {  // one batch
        Tally t(c.proposal, c.members, verifier);
        std::vector<VoteOutcome> outcomes;
        REQUIRE(t.AddBatch(b.votes, &outcomes).ok());
        CheckByzantineOutcome(c, b, t, outcomes, verifier, false);
      }
      {  // vote by vote
        Tally t(c.proposal, c.members, verifier);
        std::vector<VoteOutcome> outcomes;
        for (const Vote& v : b.votes) outcomes.push_back(AddOne(t, v));
        CheckByzantineOutcome(c, b, t, outcomes, verifier, true);
      }
    }
  }
}

TEST_CASE("byzantine members voting validly cannot block honest yes", "[consensus][tally][byzantine]") {
  consensus::CpuVerifier verifier;
  Cluster c(10);  // f = 3, q = 7
  std::vector<Vote> votes;
  for (std::size_t i = 0; i < 3; ++i) votes.push_back(c.VoteBy(7 + i, Verdict::kNo));
  for (std::size_t i = 0; i < 7; ++i) votes.push_back(c.VoteBy(i, Verdict::kYes));
  Tally t(c.proposal, c.members, verifier);
  REQUIRE(t.AddBatch(votes).ok());
  REQUIRE(t.decided());
  CHECK(t.decision()->outcome == Outcome::kYes);
  CHECK(t.equivocators().empty());
}

TEST_CASE("VerifyDecision accepts certificates and rejects tampering", "[consensus][decision]") {
  consensus::CpuVerifier verifier;
  Cluster c(7);  // f = 2, q = 5
  Tally t(c.proposal, c.members, verifier);
  std::vector<Vote> votes;
  for (std::size_t i = 0; i < 5; ++i) votes.push_back(c.VoteBy(i, Verdict::kYes));
  REQUIRE(t.AddBatch(votes).ok());
  REQUIRE(t.decided());
  const consensus::Decision good = *t.decision();
  CHECK(consensus::VerifyDecision(good, *c.members, verifier).ok());

  // Survives the wire.
  auto wire = consensus::DecodeDecision(*consensus::EncodeDecision(good));
  REQUIRE(wire.ok());
  CHECK(consensus::VerifyDecision(*wire, *c.members, verifier).ok());

  auto expect_corrupt = [&](const consensus::Decision& d, const char* what) {
    INFO(what);
    const mesh::Status s = consensus::VerifyDecision(d, *c.members, verifier);
    CHECK(s.code() == mesh::StatusCode::kCorrupt);
  };
  consensus::Decision d = good;
  d.votes.pop_back();
  expect_corrupt(d, "below quorum");
  d = good;
  d.votes[2].verdict = Verdict::kNo;  // signature no longer matches
  expect_corrupt(d, "flipped verdict");
  d = good;
  d.votes[1].signature[3] ^= 4;
  expect_corrupt(d, "bad signature");
  d = good;
  d.votes[4] = d.votes[0];
  expect_corrupt(d, "duplicate vote padding the count");
  d = good;
  d.outcome = Outcome::kNo;
  expect_corrupt(d, "outcome flipped");
  d = good;
  d.proposal.subject = "node-y";
  expect_corrupt(d, "proposal swapped");
  d = good;
  d.proposal.term += 1;
  expect_corrupt(d, "term changed");
  d = good;
  d.votes.clear();
  expect_corrupt(d, "empty certificate");
  // Signed by a different cluster's members.
  Cluster other(7, 42);
  CHECK(consensus::VerifyDecision(good, *other.members, verifier).code() ==
        mesh::StatusCode::kCorrupt);
  // A member list without node-4.
  std::vector<consensus::Member> fewer;
  for (std::size_t i = 0; i < 7; ++i) {
    if (i != 4) fewer.push_back({c.ids[i], c.keys[i].public_key});
  }
  fewer.push_back({"node-new", c.keys[4].public_key});
  CHECK(consensus::VerifyDecision(good, **consensus::MemberList::Create(fewer), verifier).code() ==
        mesh::StatusCode::kCorrupt);
}

TEST_CASE("member list validation", "[consensus][tally]") {
  CHECK_FALSE(consensus::MemberList::Create({}).ok());
  consensus::PublicKey k{};
  CHECK_FALSE(consensus::MemberList::Create({{"a", k}, {"a", k}}).ok());
  CHECK_FALSE(consensus::MemberList::Create({{"", k}}).ok());
  auto ok = consensus::MemberList::Create({{"a", k}, {"b", k}, {"c", k}, {"d", k}});
  REQUIRE(ok.ok());
  CHECK((*ok)->quorum().quorum == 3);
  CHECK((*ok)->Find("b") != nullptr);
  CHECK((*ok)->Find("z") == nullptr);
}
