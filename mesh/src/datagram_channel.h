// DatagramChannel: the UDP side of ZmqTransport (issue 20).
//
// Membership messages (heartbeats, their acks, indirect probes, gossip) are
// small, frequent and useless when late. Over ZeroMQ each one costs a wake-up
// of libzmq's I/O thread on both ends and needs a connection per peer; as one
// UDP datagram on a single socket it costs one system call to send and wakes
// only the receiving member's own thread, and a member needs no connection
// to the members it merely probes.
//
// The socket binds the same address and port number as the member's ROUTER,
// so a peer's member-list endpoint ("tcp://ip:port") names both.
//
// A datagram is
//   sealed (CURVE on):   "SSD1" | u8 n | sender id (n bytes) | nonce (24) | box
//   plain  (CURVE off):  "SSD0" | u8 n | sender id (n bytes) | envelope
// where box is crypto_box_easy_afternm (X25519, XSalsa20-Poly1305: what CURVE
// uses) of the encoded envelope, keyed by the sender's transport secret key
// and the receiver's public key. Only the receiver can open it, and opening
// it proves it came from the holder of the named sender's authorized key, so
// a datagram gives the guarantees of a CURVE connection: the envelope is then
// checked by the same InboundFilter (codec, sender binding, replay window).
// The nonce is 16 random bytes per channel and a counter, so it never
// repeats for a key pair. Plain datagrams, like plain connections, trust the
// claimed id: never between machines.
//
// Thread safety: none; the transport's owner thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allow_list.h"
#include "mesh/status.h"
#include "mesh/transport.h"
#include "transport_internal.h"

namespace mesh::internal {

// The largest encoded envelope sent as a datagram; a bigger one goes over
// the peer's connection. Well below a 1,500-byte MTU with IP, UDP and the
// datagram's own header.
inline constexpr std::size_t kMaxDatagramEnvelopeBytes = 1200;

// A numeric UDP address (IPv4 or IPv6). Only the two families it can hold:
// every peer keeps one, and a sockaddr_storage is 128 bytes.
struct UdpAddress {
  union {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } addr{};
  socklen_t length = 0;
};

// The UDP address of a "tcp://host:port" endpoint; nullopt when the host is
// not a numeric address (a name: that peer gets no datagrams) or the
// endpoint is not TCP.
std::optional<UdpAddress> UdpAddressOf(std::string_view tcp_endpoint);

class DatagramChannel {
 public:
  // Binds a UDP socket at `tcp_endpoint`'s address and port. AlreadyExists
  // when that port is taken for UDP.
  static Result<std::unique_ptr<DatagramChannel>> Open(std::string_view tcp_endpoint,
                                                       std::string self_id, bool seal,
                                                       const TransportKeyPair& keys,
                                                       TransportCounters& counters);
  // A channel without a socket, for Unseal() alone (the fuzz target).
  static std::unique_ptr<DatagramChannel> Unbound(std::string self_id, bool seal,
                                                  const TransportKeyPair& keys,
                                                  TransportCounters& counters);
  ~DatagramChannel();
  DatagramChannel(const DatagramChannel&) = delete;
  DatagramChannel& operator=(const DatagramChannel&) = delete;

  int fd() const { return fd_; }

  // Who may send datagrams, and with which key (the allow-list, shared with
  // the transport's filters). Keys derived for members no longer in it are
  // forgotten.
  void SetAuthorized(std::shared_ptr<const AllowList> allowed);

  // Sends an encoded envelope (<= kMaxDatagramEnvelopeBytes) to `to`, sealed
  // for `peer_key`. false when the socket's buffer is full or the network
  // refused it at once (the caller treats it as "would block"); an error
  // Status only for a failure of this member itself.
  Result<bool> Send(const UdpAddress& to, const TransportKey& peer_key,
                    std::string_view envelope_bytes);

  enum class Got { kNone, kOpened, kRejected };
  // Reads one waiting datagram without blocking. kOpened: `sender` and
  // `envelope_bytes` hold its claimed-and-proven sender and its envelope;
  // kRejected: it was junk, from an unauthorized sender or did not open
  // (counted); kNone: nothing waits.
  Got Receive(std::string& sender, std::string& envelope_bytes);
  // Receive()'s checks on a datagram already read (kNone never).
  Got Unseal(std::string_view datagram, std::string& sender, std::string& envelope_bytes);

 private:
  using SharedKey = std::array<std::uint8_t, 32>;
  struct PeerKey {
    TransportKey peer;
    SharedKey shared;
  };
  DatagramChannel(int fd, std::string self_id, bool seal, const TransportKeyPair& keys,
                  TransportCounters& counters);
  // The crypto_box precomputation with `peer`, computed once and kept.
  const SharedKey* KeyFor(const TransportKey& peer);

  int fd_;
  std::string self_id_;
  bool seal_;
  TransportKey secret_key_;
  TransportCounters& counters_;
  std::array<std::uint8_t, 16> nonce_prefix_{};
  std::uint64_t nonce_counter_ = 0;
  std::shared_ptr<const AllowList> allowed_ = AllowList::Empty();
  // Sorted by peer; one per member sent to or heard from. Flat: a map node
  // cost half again as much per member.
  std::vector<PeerKey> shared_;
  std::string out_;                 // reused for the datagram being sent
  std::vector<std::uint8_t> in_;    // reused for the datagram being read
};

}  // namespace mesh::internal
