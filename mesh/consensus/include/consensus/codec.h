// msgpack payloads of MsgType::kProposal, kVote and kDecision (the body that
// travels in the envelope's payload field; layouts in docs/wire_format.md).
//
// Encoders are canonical: msgpack's smallest representation for every integer,
// fields in a fixed order, so EncodeProposal() is also the input of
// ComputeProposalId(). Decoders never throw and trust nothing: garbage,
// truncation, trailing bytes, wrong shapes or sizes, unknown kinds and
// out-of-range lengths come back as a Corrupt Status.
//
// Thread safety: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "consensus/quorum.h"
#include "consensus/types.h"
#include "mesh/status.h"

namespace consensus {

// Encoders return InvalidArgument for values that break the limits in types.h.
mesh::Result<std::string> EncodeProposal(const Proposal& p);
mesh::Result<Proposal> DecodeProposal(std::string_view bytes);

mesh::Result<std::string> EncodeVote(const Vote& v);
mesh::Result<Vote> DecodeVote(std::string_view bytes);

// The decoder checks shapes and limits only; VerifyDecision() (tally.h) checks
// that the certificate actually proves the outcome.
mesh::Result<std::string> EncodeDecision(const Decision& d);
mesh::Result<Decision> DecodeDecision(std::string_view bytes);

// MsgType::kDecision's payload (consensus/quorum.h); CheckFailureDecision()
// checks what it proves.
mesh::Result<std::string> EncodeDecisionNotice(const DecisionNotice& n);
mesh::Result<DecisionNotice> DecodeDecisionNotice(std::string_view bytes);

}  // namespace consensus
