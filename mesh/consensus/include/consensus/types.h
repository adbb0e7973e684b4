// Consensus values: proposals, signed votes, and decisions with their quorum
// certificate.
//
// A Proposal names what is being decided (a node failed, a placement, a
// membership change) for one term. Its id is BLAKE2b-256 over a domain prefix
// and the proposal's canonical msgpack encoding (consensus/codec.h), so two
// nodes that decode the same proposal compute the same id whatever bytes
// carried it. A Vote is a member's Ed25519 signature over VoteSigningBytes():
// a fixed binary layout with its own domain prefix, so a vote signature can
// never be replayed as any other StratoSwarm signature.
//
// Thread safety: plain values and pure functions; safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mesh/crypto.h"
#include "mesh/status.h"

namespace consensus {

inline constexpr std::size_t kHashBytes = 32;
inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSecretKeyBytes = 64;
inline constexpr std::size_t kSignatureBytes = 64;
// Node ids match the envelope's sender limit (mesh/envelope.h).
inline constexpr std::size_t kMaxNodeIdBytes = 64;
// Workload ids and other subjects.
inline constexpr std::size_t kMaxSubjectBytes = 256;
// A certificate never needs more than two votes per member (equivocation
// evidence); this bounds decoding work for hostile input.
inline constexpr std::size_t kMaxCertificateVotes = 2048;

using Hash = std::array<std::uint8_t, kHashBytes>;
using ProposalId = Hash;
using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;
using SecretKey = std::array<std::uint8_t, kSecretKeyBytes>;
using Signature = std::array<std::uint8_t, kSignatureBytes>;

enum class ProposalKind : std::uint8_t {
  kNodeFailed = 1,  // subject: node id that is suspected dead
  kPlacement = 2,   // subject: workload id; payload_hash: hash of the placement
  kMembership = 3,  // subject: node id joining/leaving; payload_hash: new member list
};
inline constexpr std::uint8_t kLastProposalKind = 3;
const char* ProposalKindName(ProposalKind kind);

struct Proposal {
  ProposalKind kind = ProposalKind::kNodeFailed;
  std::uint64_t term = 0;
  std::string subject;   // 1..kMaxSubjectBytes
  Hash payload_hash{};   // what exactly is proposed (all zero when the subject says it all)
  std::string proposer;  // node id, 1..kMaxNodeIdBytes

  bool operator==(const Proposal&) const = default;
};

// InvalidArgument when a field breaks the limits above.
mesh::Status ValidateProposal(const Proposal& p);
// BLAKE2b-256("stratoswarm/proposal/v1\0" || EncodeProposal(p)). `p` must be valid.
ProposalId ComputeProposalId(const Proposal& p);

enum class Verdict : std::uint8_t { kNo = 0, kYes = 1 };

struct Vote {
  ProposalId proposal_id{};
  std::uint64_t term = 0;
  std::string voter;  // node id, 1..kMaxNodeIdBytes
  Verdict verdict = Verdict::kNo;
  Signature signature{};

  bool operator==(const Vote&) const = default;
};

inline constexpr char kVoteDomain[] = "stratoswarm/vote/v1";  // sent with its trailing NUL
// The bytes a vote's signature covers:
//   "stratoswarm/vote/v1\0" (20) || proposal_id (32) || term (u64 big-endian)
//   || verdict (1 byte: 0 no, 1 yes) || len(voter) (1 byte) || voter
// Appended to `out` (cleared first); at most 20+32+8+1+1+64 = 126 bytes.
void VoteSigningBytes(const Vote& v, std::string& out);
inline constexpr std::size_t kMaxVoteSigningBytes = 20 + 32 + 8 + 1 + 1 + kMaxNodeIdBytes;

mesh::Status ValidateVote(const Vote& v);

struct KeyPair {
  PublicKey public_key{};
  SecretKey secret_key{};  // libsodium layout: seed || public key
};
// A fresh random Ed25519 key pair (libsodium crypto_sign_keypair).
KeyPair GenerateKeyPair();
// Deterministic key pair from a 32-byte seed (tests and benchmarks).
KeyPair KeyPairFromSeed(const std::array<std::uint8_t, 32>& seed);

// Fills v.signature. InvalidArgument when the vote is malformed.
mesh::Status SignVote(Vote& v, const SecretKey& secret_key);
// `voter`'s vote on `proposal`, signed with its mesh signing key (the key is
// copied only into a buffer that is wiped afterwards).
mesh::Result<Vote> MakeSignedVote(const Proposal& proposal, std::string voter, Verdict verdict,
                                  const mesh::Ed25519SecretKey& signing_key);

enum class Outcome : std::uint8_t {
  kYes = 1,  // a quorum of members voted yes
  kNo = 2,   // a yes quorum became impossible
};

// A decided proposal and the votes that prove it (the quorum certificate).
// For kYes: at least quorum yes votes from distinct members. For kNo: the no
// votes plus, for every equivocating member, two conflicting votes as evidence;
// together they leave fewer than quorum members that could still vote yes.
struct Decision {
  Proposal proposal;
  Outcome outcome = Outcome::kYes;
  std::vector<Vote> votes;

  bool operator==(const Decision&) const = default;
};

}  // namespace consensus
