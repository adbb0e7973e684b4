// libFuzzer target: the transports' inbound filter (mesh/src/transport_internal.h),
// which turns every frame a peer sends into envelopes: a single envelope or a
// kBatch of [u32 length][envelope] records. The first byte picks the
// connection's authenticated member ("rpi-1", "rpi-2" or an unauthorized one);
// the rest is the frame. Whatever comes out must be from that member, never a
// kBatch, never the same sequence number twice, re-encodable, and counted;
// the same frame a second time must yield nothing (the replay window).
// First byte 3 or 4: the rest is a UDP datagram (mesh/src/datagram_channel.h)
// to a member with datagrams sealed (3) or plain (4), "rpi-1" authorized with
// fuzz::DatagramKeys(2); what opens goes through the filter as above, and a
// sealed one opens only as "rpi-1".
// Build and run: see CMakeLists.txt here.
#include <cstdint>
#include <deque>
#include <set>
#include <string_view>

#include "fuzz_support.h"
#include "mesh/envelope.h"
#include "mesh/transport.h"
#include "datagram_channel.h"
#include "transport_internal.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 5);
  if (in.which == 5) return 0;
  static constexpr std::string_view kIds[] = {"rpi-1", "rpi-2", "stranger"};
  std::string_view id;
  std::string_view frame = in.bytes;

  mesh::internal::TransportCounters counters;
  mesh::internal::InboundFilter filter(counters);
  const mesh::TransportKey rpi1_key =
      in.which < 3 ? mesh::TransportKey{1} : fuzz::DatagramKeys(2).public_key;
  const std::vector<mesh::AuthorizedKey> keys{{"rpi-1", rpi1_key}, {"rpi-2", mesh::TransportKey{2}}};
  if (!filter.SetAuthorized(keys).ok()) fuzz::Fail("inbound filter", "cannot authorize two members");
  std::string sender, envelope;
  if (in.which < 3) {
    id = kIds[in.which];
  } else {
    const bool sealed = in.which == 3;
    auto channel = mesh::internal::DatagramChannel::Unbound("gpu", sealed, fuzz::DatagramKeys(1), counters);
    if (!channel) fuzz::Fail("datagram", "no channel");
    channel->SetAuthorized(filter.allowed());
    if (channel->Unseal(in.bytes, sender, envelope) != mesh::internal::DatagramChannel::Got::kOpened) {
      return 0;
    }
    if (sealed && sender != "rpi-1") fuzz::Fail("datagram", "opened as someone without the key");
    if (counters.datagrams_received.load() != 1) fuzz::Fail("datagram", "datagrams_received miscounted");
    id = sender;
    frame = envelope;
  }
  std::deque<mesh::Envelope> out;
  filter.Accept(id, frame, out);

  if (id != "rpi-1" && id != "rpi-2" && !out.empty()) fuzz::Fail("inbound filter", "accepted an unauthorized member");
  if (counters.received.load() != out.size()) fuzz::Fail("inbound filter", "received miscounted");
  std::set<std::uint64_t> seqs;
  for (const mesh::Envelope& env : out) {
    if (env.sender != id) fuzz::Fail("inbound filter", "passed a spoofed sender");
    if (env.type == mesh::MsgType::kBatch) fuzz::Fail("inbound filter", "passed a kBatch out");
    if (!seqs.insert(env.seq).second) fuzz::Fail("inbound filter", "passed a replayed seq");
    fuzz::CheckRoundTrip("envelope", env, mesh::Encode, mesh::Decode);
  }

  std::deque<mesh::Envelope> replayed;
  filter.Accept(id, frame, replayed);
  if (!replayed.empty()) fuzz::Fail("inbound filter", "the same frame passed twice");
  return 0;
}
