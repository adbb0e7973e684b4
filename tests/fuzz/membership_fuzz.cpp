// libFuzzer target: the membership codecs (mesh/membership_codec.h), the
// bodies of MsgType 1..5. The first byte picks the decoder; whatever decodes
// must round-trip through its encoder. Build and run: see CMakeLists.txt here.
#include <cstdint>

#include "fuzz_support.h"
#include "mesh/membership_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 5);
  switch (in.which) {
    case 0:
      fuzz::Exercise("heartbeat", in.bytes, mesh::EncodeHeartbeat, mesh::DecodeHeartbeat);
      break;
    case 1:
      fuzz::Exercise("heartbeat ack", in.bytes, mesh::EncodeHeartbeatAck, mesh::DecodeHeartbeatAck);
      break;
    case 2:
      fuzz::Exercise("indirect probe", in.bytes, mesh::EncodeIndirectProbe,
                     mesh::DecodeIndirectProbe);
      break;
    case 3:
      fuzz::Exercise("indirect probe ack", in.bytes, mesh::EncodeIndirectProbeAck,
                     mesh::DecodeIndirectProbeAck);
      break;
    case 4:
      if (auto gossip = mesh::DecodeGossip(in.bytes); gossip.ok()) {
        if (gossip->rumors.size() > mesh::kMaxRumorsPerMessage) {
          fuzz::Fail("gossip", "more rumors than kMaxRumorsPerMessage");
        }
        fuzz::CheckRoundTrip("gossip", *gossip, mesh::EncodeGossip, mesh::DecodeGossip);
      }
      break;
  }
  return 0;
}
