#include "consensus/types.h"

#include <sodium.h>

#include <algorithm>
#include <cassert>

#include "consensus/codec.h"

namespace consensus {
namespace {

constexpr char kProposalDomain[] = "stratoswarm/proposal/v1";  // hashed with its NUL

mesh::Status CheckNodeId(std::string_view what, const std::string& id) {
  if (id.empty() || id.size() > kMaxNodeIdBytes) {
    return mesh::Status::InvalidArgument(what, "node id must be 1.." +
                                         std::to_string(kMaxNodeIdBytes) + " bytes");
  }
  return mesh::Status::Ok();
}

// libsodium must be initialized before key generation (it picks the RNG);
// sodium_init() is idempotent and thread-safe.
void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  (void)ok;
}

}  // namespace

const char* ProposalKindName(ProposalKind kind) {
  switch (kind) {
    case ProposalKind::kNodeFailed: return "node_failed";
    case ProposalKind::kPlacement: return "placement";
    case ProposalKind::kMembership: return "membership";
  }
  return "unknown";
}

mesh::Status ValidateProposal(const Proposal& p) {
  const auto raw_kind = static_cast<std::uint8_t>(p.kind);
  if (raw_kind < 1 || raw_kind > kLastProposalKind) {
    return mesh::Status::InvalidArgument("proposal", "unknown kind " + std::to_string(raw_kind));
  }
  if (p.subject.empty() || p.subject.size() > kMaxSubjectBytes) {
    return mesh::Status::InvalidArgument("proposal", "subject must be 1.." +
                                         std::to_string(kMaxSubjectBytes) + " bytes");
  }
  return CheckNodeId("proposal proposer", p.proposer);
}

ProposalId ComputeProposalId(const Proposal& p) {
  ProposalId id{};
  auto encoded = EncodeProposal(p);
  assert(encoded.ok() && "ComputeProposalId needs a valid proposal");
  if (!encoded.ok()) return id;  // all-zero id: matches no vote of a valid proposal
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, id.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kProposalDomain),
                            sizeof(kProposalDomain));
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(encoded->data()),
                            encoded->size());
  crypto_generichash_final(&st, id.data(), id.size());
  return id;
}

void VoteSigningBytes(const Vote& v, std::string& out) {
  out.clear();
  out.append(kVoteDomain, sizeof(kVoteDomain));  // includes the NUL
  out.append(reinterpret_cast<const char*>(v.proposal_id.data()), v.proposal_id.size());
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v.term >> shift) & 0xff));
  }
  out.push_back(static_cast<char>(v.verdict));
  // Callers validate first; clamp so a bad vote can never overflow the length byte.
  const std::size_t len = v.voter.size() < kMaxNodeIdBytes ? v.voter.size() : kMaxNodeIdBytes;
  out.push_back(static_cast<char>(len));
  out.append(v.voter.data(), len);
}

mesh::Status ValidateVote(const Vote& v) {
  if (v.verdict != Verdict::kNo && v.verdict != Verdict::kYes) {
    return mesh::Status::InvalidArgument("vote", "verdict must be yes or no");
  }
  return CheckNodeId("vote voter", v.voter);
}

KeyPair GenerateKeyPair() {
  EnsureSodium();
  KeyPair kp;
  crypto_sign_keypair(kp.public_key.data(), kp.secret_key.data());
  return kp;
}

KeyPair KeyPairFromSeed(const std::array<std::uint8_t, 32>& seed) {
  EnsureSodium();
  KeyPair kp;
  crypto_sign_seed_keypair(kp.public_key.data(), kp.secret_key.data(), seed.data());
  return kp;
}

mesh::Status SignVote(Vote& v, const SecretKey& secret_key) {
  MESH_RETURN_IF_ERROR(ValidateVote(v));
  std::string msg;
  VoteSigningBytes(v, msg);
  crypto_sign_detached(v.signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                       secret_key.data());
  return mesh::Status::Ok();
}

mesh::Result<Vote> MakeSignedVote(const Proposal& proposal, std::string voter, Verdict verdict,
                                  const mesh::Ed25519SecretKey& signing_key) {
  MESH_RETURN_IF_ERROR(ValidateProposal(proposal));
  Vote v;
  v.proposal_id = ComputeProposalId(proposal);
  v.term = proposal.term;
  v.voter = std::move(voter);
  v.verdict = verdict;
  SecretKey secret;
  static_assert(SecretKey().size() == mesh::kEd25519SecretKeyBytes);
  std::copy(signing_key.data(), signing_key.data() + secret.size(), secret.begin());
  const mesh::Status signed_ok = SignVote(v, secret);
  mesh::SecureZero(secret.data(), secret.size());
  MESH_RETURN_IF_ERROR(signed_ok);
  return v;
}

}  // namespace consensus
