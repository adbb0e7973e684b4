// libFuzzer target: the consensus codecs (consensus/codec.h): proposals, votes
// and decisions with their quorum certificates. The first byte picks the
// decoder; whatever decodes must round-trip through its (canonical) encoder,
// pass the validation the encoder applies, and a decoded proposal must hash.
// Build and run: see CMakeLists.txt here.
#include <cstdint>

#include "consensus/codec.h"
#include "consensus/types.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 3);
  switch (in.which) {
    case 0:
      if (auto p = consensus::DecodeProposal(in.bytes); p.ok()) {
        if (!consensus::ValidateProposal(*p).ok()) fuzz::Fail("proposal", "decoded but invalid");
        (void)consensus::ComputeProposalId(*p);
        fuzz::CheckRoundTrip("proposal", *p, consensus::EncodeProposal, consensus::DecodeProposal);
      }
      break;
    case 1:
      if (auto v = consensus::DecodeVote(in.bytes); v.ok()) {
        if (!consensus::ValidateVote(*v).ok()) fuzz::Fail("vote", "decoded but invalid");
        fuzz::CheckRoundTrip("vote", *v, consensus::EncodeVote, consensus::DecodeVote);
      }
      break;
    case 2:
      fuzz::Exercise("decision", in.bytes, consensus::EncodeDecision, consensus::DecodeDecision);
      break;
  }
  return 0;
}
