// libFuzzer target: the membership codecs (mesh/membership_codec.h), the
// bodies of MsgType 1..5, and the member-list delta and request
// (mesh/member_list_delta.h, MsgType 22, 23). The first byte picks the
// decoder; whatever decodes must round-trip through its encoder, and a
// decoded delta is applied to a list of its base epoch (rebuilt and
// verified, without crashing). Build and run: see
// CMakeLists.txt here.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "mesh/member_list_delta.h"
#include "mesh/membership_codec.h"

namespace {

// Three members, as a receiver holds them; the epoch is set per input.
mesh::MemberList Base() {
  mesh::MemberList l;
  for (int i = 0; i < 3; ++i) {
    mesh::Member m;
    m.node_id = "n-" + std::to_string(i);
    m.name = "rpi-" + std::to_string(i);
    m.signing_key.fill(static_cast<std::uint8_t>(i));
    m.curve_key.fill(static_cast<std::uint8_t>(i));
    m.endpoint = "tcp://10.0.0." + std::to_string(i + 1) + ":7946";
    l.members.push_back(m);
  }
  return l;
}

void Delta(std::string_view bytes) {
  auto delta = mesh::DecodeMemberListDelta(bytes);
  if (!delta.ok()) return;
  fuzz::CheckRoundTrip("member list delta", *delta, mesh::EncodeMemberListDelta,
                       mesh::DecodeMemberListDelta);
  static const mesh::MemberList base = Base();
  mesh::MemberList mine = base;
  mine.epoch = delta->base_epoch;
  const mesh::CaPublicKeys any_ca{};
  (void)mesh::ApplyMemberListDelta(any_ca, mine, *delta);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 7);
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
    case 5:
      Delta(in.bytes);
      break;
    case 6:
      fuzz::Exercise("member list request", in.bytes, mesh::EncodeMemberListRequest,
                     mesh::DecodeMemberListRequest);
      break;
  }
  return 0;
}
