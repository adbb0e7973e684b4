// Transport: moves envelopes between mesh members.
//
// A member sends an envelope to a peer it knows by id (AddPeer) and receives
// envelopes from peers whose CURVE key it authorizes (SetAuthorizedKeys). Two
// implementations share this interface and the same test cases:
//   ZmqTransport        (mesh/zmq_transport.h)   ZeroMQ ROUTER/DEALER with CURVE
//   InMemoryTransport   (mesh/inmemory_transport.h) deterministic, for protocol tests
//
// What a received envelope guarantees (both implementations):
//   - it decoded (size limit, wire version, known type: the codec's checks);
//   - `sender` is the member the connection authenticated as (its authorized
//     key's id), so a member cannot speak with another member's id;
//   - its seq is new for that sender (replay window, below).
// Everything else is dropped and counted in TransportStats; Receive() never
// hands out a rejected message and never fails because of one.
//
// Sender, seq and sent_ns belong to the transport: Send() stamps the member's
// own id, the next sequence number and the clock's wall time. Sequence numbers
// start at the clock's wall time in ns when the transport is created and grow by
// one per message, so a restarted member continues above its old numbers as
// long as its wall clock moved forward (a FakeClock must be advanced between a
// member's incarnations).
//
// Replay window: per sender, a seq above the highest seen is accepted; one up
// to kReplayWindow below it is accepted once (reordering across a reconnect);
// anything older, or seen before, is rejected as a replay.
//
// "Would block" is a value (SendOutcome::kWouldBlock: the peer is not
// connected or its queue is full), real errors are a Status.
//
// Thread safety: a Transport is used by one thread at a time (its owner's
// event loop): Send, Receive, AddPeer, RemovePeer and SetAuthorizedKeys must
// not run concurrently with each other. stats() may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/clock.h"
#include "mesh/envelope.h"
#include "mesh/status.h"

namespace mesh {

// An X25519 key as CURVE uses it, raw 32 bytes (not Z85).
using TransportKey = std::array<std::uint8_t, 32>;

struct TransportKeyPair {
  TransportKey public_key{};
  TransportKey secret_key{};
};

// A fresh X25519 key pair from libsodium (crypto_box_keypair, what CURVE uses).
Result<TransportKeyPair> GenerateTransportKeyPair();

// Where and how to reach a peer. `endpoint` is implementation-specific
// ("tcp://10.0.0.7:5555" for ZeroMQ, "mem://rpi-1" in memory); `public_key`
// authenticates the peer as a server: a peer that cannot prove it is never
// sent anything.
struct PeerInfo {
  std::string id;
  std::string endpoint;
  TransportKey public_key{};
};

// One entry of the inbound allow-list: connections proving `key` speak as `id`.
struct AuthorizedKey {
  std::string id;
  TransportKey key{};
};

enum class SendOutcome : std::uint8_t {
  kQueued,      // handed to the transport; delivery is not acknowledged
  kWouldBlock,  // not connected yet, refused by the peer, or its queue is full: retry later
};

// Counters since creation. Monotonic; a snapshot, not atomic as a whole.
struct TransportStats {
  std::uint64_t sent = 0;                   // Send() calls that returned kQueued
  std::uint64_t sent_batched = 0;           // of those, sent inside a batch frame (ZeroMQ)
  std::uint64_t batches = 0;                // batch frames sent (ZeroMQ)
  std::uint64_t send_would_block = 0;       // Send() calls that returned kWouldBlock
  std::uint64_t received = 0;               // envelopes handed out by Receive()
  std::uint64_t rejected_garbage = 0;       // undecodable bytes or wrong framing
  std::uint64_t rejected_oversize = 0;      // larger than kMaxEnvelopeBytes
  std::uint64_t rejected_version = 0;       // a wire version this build does not speak
  std::uint64_t rejected_type = 0;          // a MsgType this build does not know
  std::uint64_t rejected_replay = 0;        // seq seen before or older than the window
  std::uint64_t rejected_unauthorized = 0;  // key not in the allow-list (connection or message)
  std::uint64_t rejected_spoofed = 0;       // envelope sender != authenticated member id
  std::uint64_t datagrams_sent = 0;         // of `sent`, sent as UDP datagrams (ZeroMQ, datagrams on)
  std::uint64_t datagrams_received = 0;     // datagrams that opened (their envelopes still checked)
  std::uint64_t links_opened = 0;           // outgoing connections opened (ZeroMQ)
  std::uint64_t links_closed_idle = 0;      // of those, closed after idle_link_close without a send
};

class Transport {
 public:
  // Replay window width (see the file comment).
  static constexpr std::uint64_t kReplayWindow = 64;

  virtual ~Transport() = default;

  // This member's id, stamped as the sender of everything it sends.
  virtual const std::string& self_id() const = 0;
  // Where peers reach this member (the bound address, port resolved).
  virtual const std::string& local_endpoint() const = 0;

  // Adds a peer, or replaces its endpoint/key (reconnecting). InvalidArgument
  // for an empty id or endpoint, or one this implementation cannot reach.
  virtual Status AddPeer(const PeerInfo& peer) = 0;
  // Forgets a peer and drops what is queued for it. NotFound if unknown.
  virtual Status RemovePeer(const std::string& peer_id) = 0;

  // Replaces the inbound allow-list. Connections with other keys are refused;
  // messages from a member removed here are rejected from then on.
  // InvalidArgument if a key or an id appears twice, or an id is empty.
  virtual Status SetAuthorizedKeys(const std::vector<AuthorizedKey>& keys) = 0;

  // Sends `payload` as a `type` envelope to `peer_id`; never blocks.
  // NotFound for an unknown peer, InvalidArgument for an unknown type or a
  // payload over kMaxPayloadBytes (nothing is sent).
  virtual Result<SendOutcome> Send(const std::string& peer_id, MsgType type,
                                   std::string_view payload) = 0;

  // Send(), and the envelope may wait for the next Send() to the same peer
  // to leave with it in one packet (ZMQ_SNDMORE's idea): ZmqTransport puts a
  // probe and the rumors piggybacked on it in one datagram. What waits
  // leaves at the latest on a send to another peer, Receive() or Flush().
  // Transports without packets to share send at once.
  virtual Result<SendOutcome> SendMore(const std::string& peer_id, MsgType type,
                                       std::string_view payload) {
    return Send(peer_id, type, payload);
  }

  // The next accepted envelope, waiting up to `timeout` (0: do not wait).
  // nullopt when none arrived in time. Rejected messages are counted and
  // skipped; an error Status means the transport itself failed.
  virtual Result<std::optional<Envelope>> Receive(Nanos timeout) = 0;

  // Envelopes that Send() accepted but that still wait inside the transport
  // (ZmqTransport's batches, kept while a peer's queue is full) leave on the
  // next Send() to that peer or the next Receive(). Flush() hands them on
  // without either, waiting up to `timeout`; true when none is left waiting.
  // For a sender that stops calling both (the end of a burst, before exit).
  virtual Result<bool> Flush(Nanos timeout) = 0;

  virtual TransportStats stats() const = 0;
};

}  // namespace mesh
