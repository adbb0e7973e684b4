// ZmqTransport: the Transport members use on a real network (ZeroMQ 4.3).
//
// Each member binds one ROUTER (receive only) and opens one DEALER per peer
// (send only; with lazy links, below, only per peer it is sending to). With CURVE on (the default and the only mode for production):
//   - the ROUTER is a CURVE server with the member's key pair; a ZAP handler
//     (a thread serving inproc://zeromq.zap.01 in the transport's own
//     context) admits only keys in the allow-list and names the connection
//     with that key's member id (ZAP User-Id). Received envelopes must carry
//     that id as sender: a member cannot speak for another;
//   - each DEALER is a CURVE client that checks the peer's key (PeerInfo), so
//     nothing is sent to an impostor.
// With CURVE off (benchmark baseline, tests): no encryption and no
// authentication; a connection is named by the DEALER routing id, which any
// peer can choose, and only the ids of the allow-list matter (its keys must
// still be distinct). Never use it between machines.
//
// Socket choices (defaults in ZmqTransportOptions):
//   - ZMQ_IMMEDIATE on DEALERs: messages queue only on a completed (and
//     authenticated) connection, so Send() says kWouldBlock instead of piling
//     up heartbeats for a peer that is down or refuses us;
//   - send HWM per peer and receive HWM (frames): when a peer's send queue is
//     full, Send() starts a burst (below); when a burst's batch is full too,
//     Send() says kWouldBlock. A full receive queue makes the ROUTER stop
//     reading (TCP back-pressure). Nothing is dropped silently inside ZeroMQ;
//   - ZMQ_MAXMSGSIZE on the ROUTER at 2 x kMaxEnvelopeBytes: a message between
//     the envelope limit and that is read and counted as oversize, a larger
//     one makes ZeroMQ drop the connection before buffering it;
//   - linger on every socket; reconnect interval with backoff; ROUTER
//     handover so a restarted peer's connection replaces the stale one;
//   - a refused handshake (the peer does not authorize our key yet, or its
//     key is not the one in PeerInfo) makes libzmq drop that connection for
//     good. Each DEALER is monitored for handshake events, and Send(), when
//     it would block, reopens a refused connection after a backoff
//     (reconnect_interval doubling up to reconnect_interval_max). So a member
//     that calls on a peer before the peer authorized it gets through once it
//     is authorized and keeps sending (heartbeats do).
//
// Bursts. CURVE costs libzmq ~5 us per frame here however small the frame,
// so a sender that outruns its link would be held to ~150k messages/s. When
// a connected peer's send queue is full, Send() therefore gathers what
// follows for that peer into one kBatch frame (docs/wire_format.md) of up to
// 64 KiB, handed to ZeroMQ when it is full and the queue has room again;
// until the burst ends every envelope to that peer goes into a batch. The
// burst ends when a batch leaves less than half full, when the owner calls
// Receive() or Flush() (which also hand on what waits), or on the first
// Send() after a batch waited 1 ms. Envelopes keep their order, seq and
// checks (the receiver unpacks and checks each one); a link that is not
// connected never starts a burst (Send says kWouldBlock as before). What a
// saturated link may hold is bounded by send HWM x 64 KiB.
//
// Lean members (the swarmlet and the GPU peer; both off by default):
//   - datagrams: heartbeats, acks, indirect probes and gossip go as sealed
//     UDP datagrams on one socket bound at the ROUTER's address and port
//     (mesh/src/datagram_channel.h); the rest, and anything over 1,200
//     bytes, goes over the peer's link as before. Receive() reads waiting
//     datagrams before the ROUTER, so liveness does not queue behind data.
//     A peer not heard by datagram within 2 s of AddPeer also gets them over
//     its link (an older member without datagrams, or UDP dropped);
//   - lazy links: a peer's DEALER (and its monitor) opens on the first send
//     that needs it and closes after idle_link_close without a send. What is
//     sent during a new link's first handshake waits in its batch instead of
//     saying kWouldBlock; it is dropped if the handshake is refused or does
//     not finish within handshake_timeout. A member thus holds connections
//     only to the members it works with: ~100 kB and 5 file descriptors
//     each, which with a connection to every member was the bulk of its
//     memory (issue 20).
//
// No call blocks without a bound: Send never waits, Receive waits at most its
// timeout, Flush at most its timeout, the destructor at most twice `linger`
// (a last Flush, then ZeroMQ's linger).
//
// Thread safety: as Transport. The ZAP thread is internal; SetAuthorizedKeys
// hands it the new list under a lock.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mesh/clock.h"
#include "mesh/transport.h"

namespace mesh {

struct ZmqTransportOptions {
  std::string self_id;
  // Where the ROUTER binds; "*" as port picks a free one (see local_endpoint()).
  std::string bind_endpoint = "tcp://127.0.0.1:*";
  bool curve = true;
  TransportKeyPair keys;  // required with curve: server key and client key
  std::vector<AuthorizedKey> authorized_keys;
  Clock* clock = &SystemClock::Get();  // stamps sent_ns and seeds seq; not owned

  // Frames (an envelope, or a batch of up to 64 KiB) queued per peer before
  // a burst starts, and buffered per incoming connection before the ROUTER
  // stops reading. Small on purpose: a batch frame is up to 64 KiB.
  int send_hwm = 100;
  int receive_hwm = 100;
  // How long unsent messages may delay closing (RemovePeer drops at once).
  std::chrono::milliseconds linger{100};
  std::chrono::milliseconds reconnect_interval{100};
  std::chrono::milliseconds reconnect_interval_max{2'000};
  // A CURVE handshake (including the ZAP answer) must finish within this.
  std::chrono::milliseconds handshake_timeout{5'000};

  // Datagrams (issue 20, mesh/src/datagram_channel.h): heartbeats, acks,
  // indirect probes and gossip that encode to at most 1,200 bytes go to a
  // peer with a numeric endpoint as one UDP datagram (sealed with
  // crypto_box under CURVE, checked like any envelope), from and to a UDP
  // socket bound at the ROUTER's address and port. Every member of a cluster
  // must have it on: a member without it never hears them.
  bool datagrams = false;
  // Lazy links (issue 20): > 0 opens a peer's DEALER on the first send to it
  // (what is sent during its first handshake waits in its batch, and is
  // lost if the handshake does not finish within handshake_timeout) and
  // closes it after this long without a send. 0: opened by AddPeer, kept.
  std::chrono::milliseconds idle_link_close{0};
};

// What the swarmlet and the GPU peer use for idle_link_close: a link that
// carried nothing for 30 s (no workload traffic; membership goes by
// datagram) is closed, so a member holds connections only to the members it
// works with, not to everyone it knows (issue 20: ~100 kB each).
inline constexpr std::chrono::milliseconds kMemberIdleLinkClose{30'000};

// Binds the ROUTER and starts the ZAP handler. InvalidArgument for a bad id,
// missing keys with curve, or a bad endpoint; AlreadyExists if it is taken.
Result<std::unique_ptr<Transport>> CreateZmqTransport(ZmqTransportOptions options);

}  // namespace mesh
