#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "consensus/failure_witness.h"
#include "mesh/crypto.h"

namespace {

using consensus::FailureWitness;
using consensus::Verdict;
using mesh::MonoTime;
using std::chrono::milliseconds;

MonoTime At(int ms) { return MonoTime(milliseconds(ms)); }

consensus::Proposal NodeFailed(const std::string& subject, std::uint64_t term = 1) {
  consensus::Proposal p;
  p.kind = consensus::ProposalKind::kNodeFailed;
  p.term = term;
  p.subject = subject;
  p.proposer = "gpu";
  return p;
}

struct Fixture {
  std::map<std::string, MonoTime> heard;
  FailureWitness witness{milliseconds(200), milliseconds(1000), [this](const std::string& n) -> std::optional<MonoTime> {
                           auto it = heard.find(n);
                           if (it == heard.end()) return std::nullopt;
                           return it->second;
                         }};
};

}  // namespace

TEST_CASE("witness: a subject silent for the limit gets yes at once", "[consensus][witness]") {
  Fixture f;
  f.heard["x"] = At(0);
  REQUIRE(f.witness.Add(NodeFailed("x"), "me", At(250)));
  auto due = f.witness.Due(At(250));
  REQUIRE(due.size() == 1);
  CHECK(due[0].verdict == Verdict::kYes);
  CHECK(due[0].proposal.subject == "x");
  CHECK(f.witness.waiting() == 0);
}

TEST_CASE("witness: a subject never heard from gets yes only after the join grace", "[consensus][witness]") {
  Fixture f;
  REQUIRE(f.witness.Add(NodeFailed("ghost"), "me", At(10)));
  CHECK(f.witness.Due(At(10)).empty());
  REQUIRE(f.witness.NextDeadline());
  CHECK(*f.witness.NextDeadline() == At(1010));
  CHECK(f.witness.Due(At(1009)).empty());
  auto due = f.witness.Due(At(1010));
  REQUIRE(due.size() == 1);
  CHECK(due[0].verdict == Verdict::kYes);
}

TEST_CASE("witness: a subject first heard after the proposal gets no", "[consensus][witness]") {
  Fixture f;
  REQUIRE(f.witness.Add(NodeFailed("late"), "me", At(10)));
  CHECK(f.witness.Due(At(500)).empty());
  f.heard["late"] = At(600);  // the connection finished handshaking
  auto due = f.witness.Due(At(600));
  REQUIRE(due.size() == 1);
  CHECK(due[0].verdict == Verdict::kNo);
}

TEST_CASE("witness: a rumor about a node we still hear is answered no", "[consensus][witness]") {
  Fixture f;
  f.heard["x"] = At(90);
  REQUIRE(f.witness.Add(NodeFailed("x"), "me", At(100)));
  CHECK(f.witness.Due(At(100)).empty());  // heard 10 ms ago: wait
  REQUIRE(f.witness.NextDeadline());
  CHECK(*f.witness.NextDeadline() == At(290));
  f.heard["x"] = At(150);  // x talks again after the proposal came
  auto due = f.witness.Due(At(150));
  REQUIRE(due.size() == 1);
  CHECK(due[0].verdict == Verdict::kNo);
  CHECK_FALSE(f.witness.NextDeadline());
}

TEST_CASE("witness: a node that died just after our last heartbeat gets yes when the limit passes",
          "[consensus][witness]") {
  Fixture f;
  f.heard["x"] = At(100);  // our heartbeat came 100 ms after the proposer's last one
  REQUIRE(f.witness.Add(NodeFailed("x"), "me", At(200)));
  CHECK(f.witness.Due(At(200)).empty());
  CHECK(f.witness.Due(At(299)).empty());
  auto due = f.witness.Due(At(300));
  REQUIRE(due.size() == 1);
  CHECK(due[0].verdict == Verdict::kYes);
}

TEST_CASE("witness: other kinds, proposals about ourselves and repeats are not answered",
          "[consensus][witness]") {
  Fixture f;
  auto placement = NodeFailed("x");
  placement.kind = consensus::ProposalKind::kPlacement;
  CHECK_FALSE(f.witness.Add(placement, "me", At(0)));
  CHECK_FALSE(f.witness.Add(NodeFailed("me"), "me", At(0)));
  f.heard["x"] = At(0);
  CHECK(f.witness.Add(NodeFailed("x"), "me", At(10)));
  CHECK_FALSE(f.witness.Add(NodeFailed("x"), "me", At(20)));
  CHECK(f.witness.Add(NodeFailed("x", 2), "me", At(20)));  // a new term is a new proposal
  CHECK(f.witness.waiting() == 2);
  auto due = f.witness.Due(At(500));
  REQUIRE(due.size() == 2);
  CHECK(due[0].proposal.term == 1);
  CHECK(due[1].proposal.term == 2);
}

TEST_CASE("a vote signed with a member's mesh key verifies under its public key", "[consensus][witness]") {
  auto keys = mesh::GenerateEd25519KeyPair();
  REQUIRE(keys.ok());
  const consensus::Proposal p = NodeFailed("x", 7);
  auto vote = consensus::MakeSignedVote(p, "voter-1", Verdict::kNo, keys->secret_key);
  REQUIRE(vote.ok());
  CHECK(vote->proposal_id == consensus::ComputeProposalId(p));
  CHECK(vote->term == 7);
  CHECK(vote->voter == "voter-1");
  CHECK(vote->verdict == Verdict::kNo);
  std::string signed_bytes;
  consensus::VoteSigningBytes(*vote, signed_bytes);
  mesh::Ed25519Signature signature;
  std::copy(vote->signature.begin(), vote->signature.end(), signature.begin());
  CHECK(mesh::VerifySignature(keys->public_key, signed_bytes, signature).ok());
  vote->verdict = Verdict::kYes;  // the verdict is covered by the signature
  consensus::VoteSigningBytes(*vote, signed_bytes);
  CHECK_FALSE(mesh::VerifySignature(keys->public_key, signed_bytes, signature).ok());

  consensus::Proposal bad = p;
  bad.subject.clear();
  CHECK_FALSE(consensus::MakeSignedVote(bad, "voter-1", Verdict::kYes, keys->secret_key).ok());
  CHECK_FALSE(consensus::MakeSignedVote(p, "", Verdict::kYes, keys->secret_key).ok());
}

TEST_CASE("witness: with SWIM the silence counts from the question, not from an old last-heard",
          "[consensus][witness]") {
  std::map<std::string, MonoTime> heard{{"x", At(0)}};
  FailureWitness witness{milliseconds(200), milliseconds(1000),
                         [&heard](const std::string& n) -> std::optional<MonoTime> {
                           auto it = heard.find(n);
                           if (it == heard.end()) return std::nullopt;
                           return it->second;
                         },
                         FailureWitness::Silence::kSinceAsked};
  // Last heard 5 s ago (its probe turn was long ago): no yes at once.
  REQUIRE(witness.Add(NodeFailed("x"), "me", At(5000)));
  CHECK(witness.Due(At(5000)).empty());
  REQUIRE(witness.NextDeadline());
  CHECK(*witness.NextDeadline() == At(5200));
  SECTION("it answers the probe: no") {
    heard["x"] = At(5004);
    auto due = witness.Due(At(5004));
    REQUIRE(due.size() == 1);
    CHECK(due[0].verdict == Verdict::kNo);
  }
  SECTION("it stays silent for the limit after the question: yes") {
    CHECK(witness.Due(At(5199)).empty());
    auto due = witness.Due(At(5200));
    REQUIRE(due.size() == 1);
    CHECK(due[0].verdict == Verdict::kYes);
  }
}
