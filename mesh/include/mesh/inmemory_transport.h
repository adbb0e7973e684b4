// InMemoryNetwork: a deterministic network of InMemoryTransports for protocol
// tests (membership, consensus) that must not depend on sockets or timing.
//
// Behaviour, mirroring ZmqTransport where it matters:
//   - Send() encodes and Receive() decodes with the real codec; the receiving
//     side runs the same checks (allow-list, sender binding, replay window)
//     and counts the same rejections;
//   - a peer that is not attached, or whose key differs from the PeerInfo key,
//     or that does not authorize the sender's key, is "not connected":
//     Send() says kWouldBlock (the last also counts rejected_unauthorized at
//     the receiver, as a refused CURVE handshake does);
//   - delivery is synchronous and FIFO per receiver: the message is in the
//     receiver's inbox when Send() returns, so Receive() never waits (its
//     timeout is ignored);
//   - inboxes are unbounded (protocol tests drain them);
//   - loss (a probability, from a seeded generator: the same seed and the same
//     sends drop the same messages) and partitions (drop everything between
//     two member ids) happen after Send() said kQueued, as on a real network.
// Each member is reachable at "mem://<id>".
//
// Lifetime: transports keep the network's state alive; either may go first.
// Thread safety: every call on the network and on its transports may come
// from any thread (one lock per network); the Transport contract still holds
// per transport.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mesh/clock.h"
#include "mesh/transport.h"

namespace mesh {

namespace internal {
class InMemoryHub;
}

struct InMemoryNetworkOptions {
  double loss_probability = 0.0;  // 0..1, per message
  std::uint64_t seed = 1;
};

struct InMemoryNetworkStats {
  std::uint64_t delivered = 0;          // put into a receiver's inbox
  std::uint64_t dropped_loss = 0;       // dropped by loss_probability
  std::uint64_t dropped_partition = 0;  // dropped by Partition()
};

class InMemoryNetwork {
 public:
  explicit InMemoryNetwork(InMemoryNetworkOptions options = {});
  ~InMemoryNetwork();
  InMemoryNetwork(const InMemoryNetwork&) = delete;
  InMemoryNetwork& operator=(const InMemoryNetwork&) = delete;

  // A member `self_id` holding `public_key`, at "mem://<self_id>". `clock`
  // stamps sent_ns and seeds seq and must outlive the transport.
  // AlreadyExists while another live member has that id.
  Result<std::unique_ptr<Transport>> Attach(const std::string& self_id,
                                            const TransportKey& public_key,
                                            Clock& clock = SystemClock::Get());

  void SetLossProbability(double probability);
  // Drops every message between `a` and `b`, both ways, until healed.
  void Partition(const std::string& a, const std::string& b);
  void Heal(const std::string& a, const std::string& b);
  void HealAll();

  // Puts raw `bytes` into the inbox of the member at `to_endpoint` as if they
  // came over a connection authenticated with `from_key` (tests: garbage,
  // replays, spoofing). Loss and partitions do not apply. NotFound when no
  // member is there, PermissionDenied (and counted there) when it does not
  // authorize `from_key`.
  Status InjectRaw(const TransportKey& from_key, const std::string& to_endpoint, std::string bytes);

  InMemoryNetworkStats stats() const;

 private:
  std::shared_ptr<internal::InMemoryHub> hub_;
};

}  // namespace mesh
