// libFuzzer target: the consensus codecs (consensus/codec.h): proposals, votes,
// decisions with their quorum certificates, and decision notices (a decision
// and its voters, which every member checks: CheckFailureDecision runs on
// each decoded one with the seeds' three voter keys). The first byte picks the
// decoder; whatever decodes must round-trip through its (canonical) encoder,
// pass the validation the encoder applies, and a decoded proposal must hash.
// Build and run: see CMakeLists.txt here.
#include <cstdint>

#include <array>
#include <map>
#include <string>

#include "consensus/codec.h"
#include "consensus/quorum.h"
#include "consensus/types.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 4);
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
    case 3:
      if (auto n = consensus::DecodeDecisionNotice(in.bytes); n.ok()) {
        fuzz::CheckRoundTrip("decision notice", *n, consensus::EncodeDecisionNotice,
                             consensus::DecodeDecisionNotice);
        static const std::map<std::string, consensus::PublicKey> keys = [] {
          std::map<std::string, consensus::PublicKey> k;
          for (int i = 1; i <= 3; ++i) {  // as make_seeds.cpp signs
            std::array<std::uint8_t, 32> seed{};
            seed.fill(static_cast<std::uint8_t>(i));
            k["n-rpi-" + std::to_string(i)] = consensus::KeyPairFromSeed(seed).public_key;
          }
          return k;
        }();
        (void)consensus::CheckFailureDecision(*n, [](const std::string& id) -> const consensus::PublicKey* {
          auto it = keys.find(id);
          return it == keys.end() ? nullptr : &it->second;
        });
      }
      break;
  }
  return 0;
}
