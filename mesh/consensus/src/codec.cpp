#include "consensus/codec.h"

#include <msgpack.hpp>

#include <algorithm>
#include <cstring>

#include "mesh/envelope.h"

namespace consensus {
namespace {

struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t len) { out.append(data, len); }
};
using Packer = msgpack::packer<StringSink>;

constexpr std::uint32_t kProposalFields = 5;
constexpr std::uint32_t kVoteFields = 5;
constexpr std::uint32_t kDecisionFields = 3;

void PackStr(Packer& pk, const std::string& s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

template <std::size_t N>
void PackBin(Packer& pk, const std::array<std::uint8_t, N>& b) {
  pk.pack_bin(static_cast<std::uint32_t>(N));
  pk.pack_bin_body(reinterpret_cast<const char*>(b.data()), static_cast<std::uint32_t>(N));
}

// [kind, term, subject, payload_hash, proposer]
void PackProposal(Packer& pk, const Proposal& p) {
  pk.pack_array(kProposalFields);
  pk.pack_uint8(static_cast<std::uint8_t>(p.kind));
  pk.pack_uint64(p.term);
  PackStr(pk, p.subject);
  PackBin(pk, p.payload_hash);
  PackStr(pk, p.proposer);
}

// [proposal_id, term, voter, verdict, signature]
void PackVote(Packer& pk, const Vote& v) {
  pk.pack_array(kVoteFields);
  PackBin(pk, v.proposal_id);
  pk.pack_uint64(v.term);
  PackStr(pk, v.voter);
  if (v.verdict == Verdict::kYes) {
    pk.pack_true();
  } else {
    pk.pack_false();
  }
  PackBin(pk, v.signature);
}

// --- strict decoding -------------------------------------------------------

struct Decoder {
  const char* what;
  mesh::Status Bad(std::string_view cause) const { return mesh::Status::Corrupt(what, cause); }

  mesh::Status Uint(const msgpack::object& o, std::string_view field, std::uint64_t& out) const {
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      return Bad(std::string(field) + " is not an unsigned int");
    }
    out = o.via.u64;
    return mesh::Status::Ok();
  }
  mesh::Status Str(const msgpack::object& o, std::string_view field, std::size_t max,
                   std::string& out) const {
    if (o.type != msgpack::type::STR || o.via.str.size == 0 || o.via.str.size > max) {
      return Bad(std::string(field) + " is not a string of 1.." + std::to_string(max) + " bytes");
    }
    out.assign(o.via.str.ptr, o.via.str.size);
    return mesh::Status::Ok();
  }
  template <std::size_t N>
  mesh::Status Bin(const msgpack::object& o, std::string_view field,
                   std::array<std::uint8_t, N>& out) const {
    if (o.type != msgpack::type::BIN || o.via.bin.size != N) {
      return Bad(std::string(field) + " is not " + std::to_string(N) + " bytes of bin");
    }
    std::memcpy(out.data(), o.via.bin.ptr, N);
    return mesh::Status::Ok();
  }
  const msgpack::object* Array(const msgpack::object& o, std::uint32_t n) const {
    if (o.type != msgpack::type::ARRAY || o.via.array.size != n) return nullptr;
    return o.via.array.ptr;
  }

  mesh::Status ProposalFrom(const msgpack::object& o, Proposal& p) const {
    const msgpack::object* f = Array(o, kProposalFields);
    if (f == nullptr) return Bad("proposal is not a 5-element array");
    std::uint64_t kind = 0;
    MESH_RETURN_IF_ERROR(Uint(f[0], "kind", kind));
    if (kind < 1 || kind > kLastProposalKind) return Bad("unknown proposal kind " + std::to_string(kind));
    p.kind = static_cast<ProposalKind>(kind);
    MESH_RETURN_IF_ERROR(Uint(f[1], "term", p.term));
    MESH_RETURN_IF_ERROR(Str(f[2], "subject", kMaxSubjectBytes, p.subject));
    MESH_RETURN_IF_ERROR(Bin(f[3], "payload_hash", p.payload_hash));
    return Str(f[4], "proposer", kMaxNodeIdBytes, p.proposer);
  }

  mesh::Status VoteFrom(const msgpack::object& o, Vote& v) const {
    const msgpack::object* f = Array(o, kVoteFields);
    if (f == nullptr) return Bad("vote is not a 5-element array");
    MESH_RETURN_IF_ERROR(Bin(f[0], "proposal_id", v.proposal_id));
    MESH_RETURN_IF_ERROR(Uint(f[1], "term", v.term));
    MESH_RETURN_IF_ERROR(Str(f[2], "voter", kMaxNodeIdBytes, v.voter));
    if (f[3].type != msgpack::type::BOOLEAN) return Bad("verdict is not a bool");
    v.verdict = f[3].via.boolean ? Verdict::kYes : Verdict::kNo;
    return Bin(f[4], "signature", v.signature);
  }
};

// Unpacks exactly one object within the given limits; never throws.
mesh::Status Unpack(const Decoder& d, std::string_view bytes, std::size_t max_array,
                    std::size_t depth, msgpack::object_handle& handle) {
  if (bytes.empty()) return d.Bad("empty payload");
  if (bytes.size() > mesh::kMaxPayloadBytes) return d.Bad("payload exceeds the envelope limit");
  std::size_t offset = 0;
  try {
    const msgpack::unpack_limit limits(max_array, 0, kMaxSubjectBytes, kSignatureBytes, 0, depth);
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
  } catch (const std::exception& e) {
    return d.Bad(e.what());
  }
  if (offset != bytes.size()) return d.Bad("trailing bytes");
  return mesh::Status::Ok();
}

}  // namespace

mesh::Result<std::string> EncodeProposal(const Proposal& p) {
  MESH_RETURN_IF_ERROR(ValidateProposal(p));
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  PackProposal(pk, p);
  return out;
}

mesh::Result<Proposal> DecodeProposal(std::string_view bytes) {
  const Decoder d{"decode proposal"};
  msgpack::object_handle h;
  MESH_RETURN_IF_ERROR(Unpack(d, bytes, kProposalFields, 1, h));
  Proposal p;
  MESH_RETURN_IF_ERROR(d.ProposalFrom(h.get(), p));
  return p;
}

mesh::Result<std::string> EncodeVote(const Vote& v) {
  MESH_RETURN_IF_ERROR(ValidateVote(v));
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  PackVote(pk, v);
  return out;
}

mesh::Result<Vote> DecodeVote(std::string_view bytes) {
  const Decoder d{"decode vote"};
  msgpack::object_handle h;
  MESH_RETURN_IF_ERROR(Unpack(d, bytes, kVoteFields, 1, h));
  Vote v;
  MESH_RETURN_IF_ERROR(d.VoteFrom(h.get(), v));
  return v;
}

// [proposal, outcome, [vote, ...]]
mesh::Result<std::string> EncodeDecision(const Decision& d) {
  MESH_RETURN_IF_ERROR(ValidateProposal(d.proposal));
  if (d.outcome != Outcome::kYes && d.outcome != Outcome::kNo) {
    return mesh::Status::InvalidArgument("encode decision", "outcome must be yes or no");
  }
  if (d.votes.empty() || d.votes.size() > kMaxCertificateVotes) {
    return mesh::Status::InvalidArgument("encode decision", "certificate must hold 1.." +
                                         std::to_string(kMaxCertificateVotes) + " votes");
  }
  for (const Vote& v : d.votes) MESH_RETURN_IF_ERROR(ValidateVote(v));
  std::string out;
  out.reserve(64 + d.votes.size() * 160);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kDecisionFields);
  PackProposal(pk, d.proposal);
  pk.pack_uint8(static_cast<std::uint8_t>(d.outcome));
  pk.pack_array(static_cast<std::uint32_t>(d.votes.size()));
  for (const Vote& v : d.votes) PackVote(pk, v);
  return out;
}

mesh::Result<Decision> DecodeDecision(std::string_view bytes) {
  const Decoder d{"decode decision"};
  msgpack::object_handle h;
  MESH_RETURN_IF_ERROR(Unpack(d, bytes, kMaxCertificateVotes, 3, h));
  const msgpack::object* f = d.Array(h.get(), kDecisionFields);
  if (f == nullptr) return d.Bad("decision is not a 3-element array");
  Decision out;
  MESH_RETURN_IF_ERROR(d.ProposalFrom(f[0], out.proposal));
  std::uint64_t outcome = 0;
  MESH_RETURN_IF_ERROR(d.Uint(f[1], "outcome", outcome));
  if (outcome != 1 && outcome != 2) return d.Bad("unknown outcome " + std::to_string(outcome));
  out.outcome = static_cast<Outcome>(outcome);
  if (f[2].type != msgpack::type::ARRAY || f[2].via.array.size == 0) {
    return d.Bad("votes is not a non-empty array");
  }
  out.votes.resize(f[2].via.array.size);
  for (std::uint32_t i = 0; i < f[2].via.array.size; ++i) {
    MESH_RETURN_IF_ERROR(d.VoteFrom(f[2].via.array.ptr[i], out.votes[i]));
  }
  return out;
}

// [decision (bin: EncodeDecision's bytes), voters (array of str)]
mesh::Result<std::string> EncodeDecisionNotice(const DecisionNotice& n) {
  if (n.voters.empty() || n.voters.size() > kMaxCertificateVotes) {
    return mesh::Status::InvalidArgument("encode decision notice",
                                         "1.." + std::to_string(kMaxCertificateVotes) + " voters");
  }
  for (const std::string& v : n.voters) {
    if (v.empty() || v.size() > kMaxNodeIdBytes) {
      return mesh::Status::InvalidArgument("encode decision notice", "malformed voter id");
    }
  }
  auto decision = EncodeDecision(n.decision);
  if (!decision.ok()) return decision.status();
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(2);
  pk.pack_bin(static_cast<std::uint32_t>(decision->size()));
  pk.pack_bin_body(decision->data(), static_cast<std::uint32_t>(decision->size()));
  pk.pack_array(static_cast<std::uint32_t>(n.voters.size()));
  for (const std::string& v : n.voters) PackStr(pk, v);
  return out;
}

mesh::Result<DecisionNotice> DecodeDecisionNotice(std::string_view bytes) {
  const Decoder d{"decode decision notice"};
  if (bytes.empty()) return d.Bad("empty payload");
  if (bytes.size() > mesh::kMaxPayloadBytes) return d.Bad("payload exceeds the envelope limit");
  msgpack::object_handle h;
  std::size_t offset = 0;
  try {
    const msgpack::unpack_limit limits(kMaxCertificateVotes, 0, kMaxNodeIdBytes, mesh::kMaxPayloadBytes, 0, 2);
    h = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
  } catch (const std::exception& e) {
    return d.Bad(e.what());
  }
  if (offset != bytes.size()) return d.Bad("trailing bytes");
  const msgpack::object* f = d.Array(h.get(), 2);
  if (f == nullptr) return d.Bad("decision notice is not a 2-element array");
  if (f[0].type != msgpack::type::BIN) return d.Bad("decision is not bin");
  auto decision = DecodeDecision({f[0].via.bin.ptr, f[0].via.bin.size});
  if (!decision.ok()) return decision.status();
  if (f[1].type != msgpack::type::ARRAY || f[1].via.array.size == 0) return d.Bad("voters is not a non-empty array");
  DecisionNotice out{std::move(*decision), {}};
  out.voters.resize(f[1].via.array.size);
  for (std::uint32_t i = 0; i < f[1].via.array.size; ++i) {
    MESH_RETURN_IF_ERROR(d.Str(f[1].via.array.ptr[i], "voter", kMaxNodeIdBytes, out.voters[i]));
  }
  return out;
}

}  // namespace consensus
