// libFuzzer target: the transports' inbound filter (mesh/src/transport_internal.h),
// which turns every frame a peer sends into envelopes: a single envelope or a
// kBatch of [u32 length][envelope] records. The first byte picks the
// connection's authenticated member ("rpi-1", "rpi-2" or an unauthorized one);
// the rest is the frame. Whatever comes out must be from that member, never a
// kBatch, never the same sequence number twice, re-encodable, and counted;
// the same frame a second time must yield nothing (the replay window).
// Build and run: see CMakeLists.txt here.
#include <cstdint>
#include <deque>
#include <set>
#include <string_view>

#include "fuzz_support.h"
#include "mesh/envelope.h"
#include "mesh/transport.h"
#include "transport_internal.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 3);
  if (in.which == 3) return 0;
  static constexpr std::string_view kIds[] = {"rpi-1", "rpi-2", "stranger"};
  const std::string_view id = kIds[in.which];

  mesh::internal::TransportCounters counters;
  mesh::internal::InboundFilter filter(counters);
  if (!filter.SetAuthorized({{"rpi-1", mesh::TransportKey{1}}, {"rpi-2", mesh::TransportKey{2}}})
           .ok()) {
    fuzz::Fail("inbound filter", "cannot authorize two members");
  }
  std::deque<mesh::Envelope> out;
  filter.Accept(id, in.bytes, out);

  if (id == "stranger" && !out.empty()) fuzz::Fail("inbound filter", "accepted an unauthorized member");
  if (counters.received.load() != out.size()) fuzz::Fail("inbound filter", "received miscounted");
  std::set<std::uint64_t> seqs;
  for (const mesh::Envelope& env : out) {
    if (env.sender != id) fuzz::Fail("inbound filter", "passed a spoofed sender");
    if (env.type == mesh::MsgType::kBatch) fuzz::Fail("inbound filter", "passed a kBatch out");
    if (!seqs.insert(env.seq).second) fuzz::Fail("inbound filter", "passed a replayed seq");
    fuzz::CheckRoundTrip("envelope", env, mesh::Encode, mesh::Decode);
  }

  std::deque<mesh::Envelope> replayed;
  filter.Accept(id, in.bytes, replayed);
  if (!replayed.empty()) fuzz::Fail("inbound filter", "the same frame passed twice");
  return 0;
}
