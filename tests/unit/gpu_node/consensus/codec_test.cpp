#include <catch2/catch.hpp>
#include <msgpack.hpp>
#include <random>
#include <string>

#include "consensus/codec.h"
#include "fixture.h"

namespace {

consensus::Decision SampleDecision() {
  consensus_test::Cluster c(4);
  consensus::Decision d;
  d.proposal = c.proposal;
  d.outcome = consensus::Outcome::kYes;
  for (std::size_t i = 0; i < 3; ++i) d.votes.push_back(c.VoteBy(i, consensus::Verdict::kYes));
  return d;
}

// Every prefix and every single-byte change of `bytes` must decode to a Status
// or a value, never crash or throw.
template <typename DecodeFn>
void Mangle(const std::string& bytes, DecodeFn decode) {
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    CHECK_FALSE(decode(std::string_view(bytes.data(), len)).ok());
  }
  std::string trailing = bytes + '\0';
  CHECK(decode(trailing).status().code() == mesh::StatusCode::kCorrupt);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string m = bytes;
      m[i] = static_cast<char>(m[i] ^ (1 << bit));
      (void)decode(m);  // may decode (a flipped payload byte); must not throw
    }
  }
}

}  // namespace

TEST_CASE("proposal codec round trip and canonical id", "[consensus][codec]") {
  consensus::Proposal p;
  p.kind = consensus::ProposalKind::kPlacement;
  p.term = 0xfffffffffffULL;
  p.subject = "wl-0123";
  p.payload_hash.fill(0xab);
  p.proposer = "gpu-0";
  auto enc = consensus::EncodeProposal(p);
  REQUIRE(enc.ok());
  auto dec = consensus::DecodeProposal(*enc);
  REQUIRE(dec.ok());
  CHECK(*dec == p);
  CHECK(consensus::ComputeProposalId(*dec) == consensus::ComputeProposalId(p));
  consensus::Proposal other = p;
  other.term += 1;
  CHECK(consensus::ComputeProposalId(other) != consensus::ComputeProposalId(p));
  other = p;
  other.kind = consensus::ProposalKind::kMembership;
  CHECK(consensus::ComputeProposalId(other) != consensus::ComputeProposalId(p));

  // A non-canonical encoding (term as uint64 instead of the smallest form)
  // decodes to the same proposal and therefore the same id.
  std::string loose;
  struct Sink {
    std::string& out;
    void write(const char* d, std::size_t n) { out.append(d, n); }
  } sink{loose};
  msgpack::packer<Sink> pk(sink);
  pk.pack_array(5);
  pk.pack_fix_uint64(2);
  pk.pack_fix_uint64(p.term);
  pk.pack_str(7);
  pk.pack_str_body("wl-0123", 7);
  pk.pack_bin(32);
  pk.pack_bin_body(reinterpret_cast<const char*>(p.payload_hash.data()), 32);
  pk.pack_str(5);
  pk.pack_str_body("gpu-0", 5);
  CHECK(loose != *enc);
  auto loose_dec = consensus::DecodeProposal(loose);
  REQUIRE(loose_dec.ok());
  CHECK(consensus::ComputeProposalId(*loose_dec) == consensus::ComputeProposalId(p));
}

TEST_CASE("vote and decision codecs round trip", "[consensus][codec]") {
  const consensus::Decision d = SampleDecision();
  for (const consensus::Vote& v : d.votes) {
    auto enc = consensus::EncodeVote(v);
    REQUIRE(enc.ok());
    auto dec = consensus::DecodeVote(*enc);
    REQUIRE(dec.ok());
    CHECK(*dec == v);
  }
  consensus::Vote no = d.votes[0];
  no.verdict = consensus::Verdict::kNo;
  CHECK(consensus::DecodeVote(*consensus::EncodeVote(no))->verdict == consensus::Verdict::kNo);

  auto enc = consensus::EncodeDecision(d);
  REQUIRE(enc.ok());
  auto dec = consensus::DecodeDecision(*enc);
  REQUIRE(dec.ok());
  CHECK(*dec == d);
}

TEST_CASE("encoders refuse values outside the limits", "[consensus][codec]") {
  consensus::Proposal p;
  p.subject = "s";
  p.proposer = "";
  CHECK(consensus::EncodeProposal(p).status().code() == mesh::StatusCode::kInvalidArgument);
  p.proposer = std::string(65, 'p');
  CHECK_FALSE(consensus::EncodeProposal(p).ok());
  p.proposer = "p";
  p.subject = std::string(257, 's');
  CHECK_FALSE(consensus::EncodeProposal(p).ok());
  p.subject = "s";
  p.kind = static_cast<consensus::ProposalKind>(9);
  CHECK_FALSE(consensus::EncodeProposal(p).ok());

  consensus::Vote v;
  CHECK_FALSE(consensus::EncodeVote(v).ok());  // empty voter
  v.voter = "n";
  v.verdict = static_cast<consensus::Verdict>(2);
  CHECK_FALSE(consensus::EncodeVote(v).ok());

  consensus::Decision d = SampleDecision();
  d.votes.clear();
  CHECK_FALSE(consensus::EncodeDecision(d).ok());
}

TEST_CASE("decoders return Corrupt on garbage and never throw", "[consensus][codec]") {
  const consensus::Decision d = SampleDecision();
  const std::string p = *consensus::EncodeProposal(d.proposal);
  const std::string v = *consensus::EncodeVote(d.votes[0]);
  const std::string dd = *consensus::EncodeDecision(d);
  Mangle(p, [](std::string_view b) { return consensus::DecodeProposal(b); });
  Mangle(v, [](std::string_view b) { return consensus::DecodeVote(b); });
  Mangle(dd, [](std::string_view b) { return consensus::DecodeDecision(b); });

  // Cross-type confusion is caught by shape checks.
  CHECK(consensus::DecodeVote(p).status().code() == mesh::StatusCode::kCorrupt);
  CHECK(consensus::DecodeProposal(v).status().code() == mesh::StatusCode::kCorrupt);
  CHECK(consensus::DecodeDecision(v).status().code() == mesh::StatusCode::kCorrupt);

  // Random bytes, including msgpack headers announcing huge arrays and strings.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(1 + rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 4 == 0) junk[0] = static_cast<char>(0xdd);  // array32
    if (i % 4 == 1) junk[0] = static_cast<char>(0x95);  // fixarray of 5
    CHECK_FALSE(consensus::DecodeDecision(junk).ok());
    (void)consensus::DecodeVote(junk);
    (void)consensus::DecodeProposal(junk);
  }
  const std::string empty;
  CHECK(consensus::DecodeVote(empty).status().code() == mesh::StatusCode::kCorrupt);

  // Wrong field types and sizes.
  std::string wrong_sig = v;
  // signature is the last field: bin8 header 0xc4 0x40 then 64 bytes; shrink the announced size.
  const std::size_t hdr = wrong_sig.size() - 64 - 2;
  REQUIRE(static_cast<unsigned char>(wrong_sig[hdr]) == 0xc4);
  wrong_sig[hdr + 1] = 63;
  wrong_sig.pop_back();
  CHECK(consensus::DecodeVote(wrong_sig).status().code() == mesh::StatusCode::kCorrupt);
}
