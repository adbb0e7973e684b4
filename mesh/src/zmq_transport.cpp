#include "mesh/zmq_transport.h"

#include <sodium.h>
#include <sys/resource.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "datagram_channel.h"
#include "mesh/member_list.h"
#include "transport_internal.h"
#include "zap_handler.h"
#include "zmq_error.h"

namespace mesh {
namespace {

using internal::Bump;
using internal::CheckSend;
using internal::ZmqError;

constexpr char kZapDomain[] = "stratoswarm";
// Receive(0) looks at no more than this many rejected messages per call.
constexpr int kMaxRejectsPerPoll = 256;
// The largest batch payload (see the file comment in zmq_transport.h): big
// enough that CURVE's per-frame cost is spread over ~60 messages of 1 KB,
// small enough that send HWM x this bounds what a saturated link may hold
// (and below glibc's mmap threshold, so frames do not each cost an mmap).
constexpr std::size_t kMaxBatchBytes = 64 * 1024;
// A batch that leaves with less than this was not filled: its sender paused,
// so the peer's burst is over and sends go out one by one again. (One that
// was full leaves because the next envelope did not fit: the burst goes on.)
constexpr std::size_t kFilledBatchBytes = kMaxBatchBytes / 2;
// A batch this old leaves on the next Send() to its peer even if not full.
constexpr auto kMaxBatchAge = std::chrono::milliseconds(1);
// What an envelope adds besides its sender and payload, at most: array,
// version, type, seq, sent_ns and bin headers (docs/wire_format.md).
constexpr std::size_t kEnvelopeOverheadBytes = 32;
// Sockets a transport may need: the ROUTER, and per peer a DEALER, its
// monitor PAIR and libzmq's end of the monitor, for a full member list.
// libzmq's default cap (1,023 per context) ended a cluster near 340 members
// (issue 20).
constexpr int kMaxSockets = 3 * static_cast<int>(kMaxMembers) + 16;
// File descriptors that many sockets use: one eventfd each, plus a TCP
// connection out to and one in from every peer.
constexpr rlim_t kFdsWanted = 3 * kMaxSockets / 2 + 5 * kMaxMembers + 256;

// Raises this process's soft limit on open files toward kFdsWanted (never
// above the hard limit, never down): a process may raise its own soft limit.
void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= kFdsWanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? kFdsWanted : std::min(limit.rlim_max, kFdsWanted);
  (void)setrlimit(RLIMIT_NOFILE, &limit);  // best effort: the old limit still works for smaller lists
}

int Millis(std::chrono::milliseconds ms) {
  return static_cast<int>(std::clamp<std::int64_t>(ms.count(), 0, INT32_MAX));
}

// Time left until `deadline` in milliseconds, rounded up so that a short wait
// is not a busy loop; 0 once it has passed.
int MillisUntil(std::chrono::steady_clock::time_point deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  return left <= Nanos::zero() ? 0 : Millis(std::chrono::ceil<std::chrono::milliseconds>(left));
}

Status SetInt(void* socket, int option, int value, std::string_view what) {
  if (zmq_setsockopt(socket, option, &value, sizeof value) != 0) return ZmqError(what);
  return Status::Ok();
}

Status SetBytes(void* socket, int option, const void* data, std::size_t size,
                std::string_view what) {
  if (zmq_setsockopt(socket, option, data, size) != 0) return ZmqError(what);
  return Status::Ok();
}

// How often Receive() looks for links to close (idle_link_close).
constexpr auto kIdleSweepInterval = std::chrono::seconds(1);
// A peer not heard by datagram this long after it was added also gets its
// membership messages over its link (a member without datagrams, or UDP
// dropped between the two). Before that only datagrams go: members that both
// speak them hear each other within a round trip, and a cluster forming
// must not open a connection to every member just in case.
constexpr auto kDatagramGrace = std::chrono::seconds(2);
// Binding an ephemeral port whose number is taken for UDP is retried this often.
constexpr int kBindAttempts = 16;

bool IsZero(const TransportKey& key) {
  return std::all_of(key.begin(), key.end(), [](std::uint8_t b) { return b == 0; });
}

// Frees a zmq_msg_t on every path.
class Message {
 public:
  Message() { zmq_msg_init(&msg_); }
  ~Message() { zmq_msg_close(&msg_); }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  zmq_msg_t* get() { return &msg_; }
  std::string_view bytes() {
    return {static_cast<const char*>(zmq_msg_data(&msg_)), zmq_msg_size(&msg_)};
  }
  bool more() { return zmq_msg_more(&msg_) != 0; }

 private:
  zmq_msg_t msg_;
};

class ZmqTransport final : public Transport {
 public:
  explicit ZmqTransport(ZmqTransportOptions options)
      : options_(std::move(options)), filter_(counters_), datagram_filter_(counters_) {
    scratch_.sender = options_.self_id;
    batch_envelope_.sender = options_.self_id;
    batch_envelope_.type = MsgType::kBatch;
  }
  ~ZmqTransport() override;

  Status Init();

  const std::string& self_id() const override { return options_.self_id; }
  const std::string& local_endpoint() const override { return endpoint_; }
  Status AddPeer(const PeerInfo& peer) override;
  Status RemovePeer(const std::string& peer_id) override;
  Status SetAuthorizedKeys(const std::vector<AuthorizedKey>& keys) override;
  Result<SendOutcome> Send(const std::string& peer_id, MsgType type,
                           std::string_view payload) override;
  Result<SendOutcome> SendMore(const std::string& peer_id, MsgType type,
                               std::string_view payload) override {
    more_ = true;
    auto sent = Send(peer_id, type, payload);
    more_ = false;
    return sent;
  }
  Result<std::optional<Envelope>> Receive(Nanos timeout) override;
  Result<bool> Flush(Nanos timeout) override;
  TransportStats stats() const override { return counters_.Snapshot(); }

 private:
  // One outgoing connection: the DEALER and a PAIR receiving its handshake
  // events (libzmq gives up on a connection whose handshake was refused, so
  // the transport has to notice and retry).
  struct Link {
    void* dealer = nullptr;
    void* monitor = nullptr;
  };
  struct Peer {
    PeerInfo info;
    std::optional<internal::UdpAddress> udp;  // datagrams on and a numeric endpoint
    // A datagram from it was accepted: it has datagrams on and they get
    // through. Until then, after kDatagramGrace, its membership messages go
    // both ways (a member without datagrams, or a network that drops UDP,
    // still hears them).
    bool speaks_datagrams = false;
    // The last membership message it sent us over its link: it does not hear
    // our datagrams (its grace ran out, or it has none), so ours go over
    // the link as well until kDatagramGrace after that (UDP cut one way).
    std::chrono::steady_clock::time_point copies_by_link_at{};
    std::chrono::steady_clock::time_point added_at;
    Link link;  // no DEALER: not opened yet, or closed while idle (lazy links)
    // Lazy links: opened by a send and not yet through its first handshake;
    // what is sent meanwhile waits in the batch (until handshake_timeout).
    bool fresh = false;
    std::chrono::steady_clock::time_point opened_at;
    std::chrono::steady_clock::time_point last_send;
    bool refused = false;  // the last handshake was refused; libzmq will not retry
    // A handshake succeeded, no disconnect was seen since, and the DEALER took
    // a message after it: only then does "would block" mean its queue is full
    // (libzmq attaches a new connection to the socket lazily, so the first
    // sends after a handshake may still be refused).
    bool connected = false;
    bool flowing = false;
    std::chrono::steady_clock::time_point retry_at;
    std::chrono::milliseconds backoff{0};
    // In a burst: the link's queue was found full, and since then every
    // envelope for this peer goes into a batch (see the file comment).
    bool bursting = false;
    // Envelopes waiting to leave as one kBatch frame: [u32 length][envelope]...
    // (empty: none waiting).
    std::string batch;
    std::uint64_t batch_seq = 0;  // seq of the batch's first envelope
    std::chrono::steady_clock::time_point batch_started;
  };
  enum class Pull { kEmpty, kAccepted, kRejected };

  Result<Link> OpenLink(const PeerInfo& peer);
  bool lazy() const { return options_.idle_link_close.count() > 0; }
  // Opens the peer's link if it has none (lazy links).
  Status EnsureLink(Peer& peer);
  // Closes links without a send for idle_link_close (at most once a
  // kIdleSweepInterval), and gives up on fresh links whose handshake did
  // not finish within handshake_timeout (their batch is lost).
  void SweepLinks();
  // Binds the ROUTER, and the datagram socket at the same port.
  Status Bind();
  // Reads waiting datagrams (a bounded number of rejects) until one is
  // accepted into inbox_; false when none was.
  Result<bool> PullDatagrams();
  // A datagram from `id` shows it is up: a link to it that is down (libzmq
  // waits out its reconnect backoff, up to reconnect_interval_max) is
  // reopened now, so what the member sends on hearing it is not refused.
  Status OnHeard(const std::string& id);
  // Membership messages that came over a link (inbox_ from `from` on): their
  // senders do not hear our datagrams (Peer::copies_by_link_at).
  void NoteCopiesByLink(std::size_t from);
  static void CloseLink(Link& link);
  // On kWouldBlock: reads the link's handshake events and reopens a refused
  // link once its backoff has passed.
  Status Heal(Peer& peer);
  // Tries to hand the peer's waiting batch to its DEALER without waiting;
  // true when none is left waiting.
  Result<bool> FlushBatch(Peer& peer);
  // Adds the envelope in scratch_ to the peer's batch; false when it does not fit.
  Result<bool> AddToBatch(Peer& peer);
  // Encodes into batch_wire_ the kBatch frame around `payload` (its first
  // envelope's `seq`); `payload` is left as it was.
  Status EncodeBatchFrame(std::string& payload, std::uint64_t seq);
  // FlushBatch for every peer with a batch waiting.
  Status FlushBatches();
  // Waits up to `wait_ms` until a link with a waiting batch can take it (or,
  // with `router`, the ROUTER has a message or a datagram waits) and hands
  // on what can go.
  Status WaitForBatches(int wait_ms, bool router);
  void DropBatch(Peer& peer);
  // Adds the envelope in wire_ to `peer`'s datagram: envelopes sent to one
  // peer with SendMore() and then Send() (a probe and the rumors piggybacked
  // on it) leave as one datagram, a kBatch of them. It leaves after a Send(),
  // or when it would grow too big, or at a send to another peer, Receive()
  // or Flush().
  Status QueueDatagram(Peer& peer);
  // Sends the waiting datagram (one envelope as it is, several as a kBatch).
  Status FlushDatagram();
  // Forgets the waiting datagram if it is for `peer` (removed or readdressed).
  void DropDatagram(const Peer& peer) {
    if (datagram_to_ != &peer) return;
    datagram_to_ = nullptr;
    datagram_batch_.clear();
  }
  Status ConfigureCommon(void* socket);
  // Takes one message off the ROUTER into inbox_, waiting up to `wait_ms`
  // (0: not at all).
  Result<Pull> PullOne(int wait_ms);
  std::optional<Envelope> PopInbox();

  ZmqTransportOptions options_;
  internal::TransportCounters counters_;
  internal::InboundFilter filter_;
  // Datagrams have their own replay windows: a sender's datagrams and its
  // connection's messages draw on one sequence but arrive independently.
  internal::InboundFilter datagram_filter_;
  std::unique_ptr<internal::DatagramChannel> datagrams_;
  std::string datagram_sender_, datagram_bytes_;  // reused by PullDatagrams
  bool more_ = false;            // in SendMore()
  Peer* datagram_to_ = nullptr;  // whom the waiting datagram is for; null: none waits
  std::string datagram_batch_;   // its envelopes, as a kBatch payload
  std::size_t datagram_count_ = 0;
  std::uint64_t datagram_seq_ = 0;  // its first envelope's seq (the kBatch's)
  std::chrono::steady_clock::time_point next_sweep_;
  void* context_ = nullptr;
  void* router_ = nullptr;
  std::unique_ptr<internal::ZapHandler> zap_;
  std::string endpoint_;
  std::unordered_map<std::string, Peer> peers_;
  std::uint64_t next_seq_ = 1;
  std::size_t peers_with_batch_ = 0;
  bool maybe_bursting_ = false;     // false: no peer is bursting
  std::deque<Envelope> inbox_;      // accepted, not yet handed out (a batch brings several)
  std::uint64_t links_opened_ = 0;  // names the monitor endpoints
  int receive_timeout_ms_ = -1;     // ZMQ_RCVTIMEO currently set on router_
  Envelope scratch_;                // reused by Send so steady-state sends do not allocate
  std::string wire_;
  Envelope batch_envelope_;  // the kBatch frame around a batch (payload swapped in)
  std::string batch_wire_;
};

ZmqTransport::~ZmqTransport() {
  (void)Flush(options_.linger);  // what still waits after that is lost, as ZeroMQ's queue
  for (auto& [id, peer] : peers_) {
    if (peer.link.dealer == nullptr) continue;
    zmq_close(peer.link.dealer);  // keeps its linger: queued messages may still leave
    zmq_close(peer.link.monitor);
  }
  datagrams_.reset();
  if (router_ != nullptr) zmq_close(router_);
  if (context_ != nullptr) {
    zmq_ctx_shutdown(context_);  // wakes the ZAP thread with ETERM
    zap_.reset();
    while (zmq_ctx_term(context_) != 0 && zmq_errno() == EINTR) {
    }
  }
  sodium_memzero(options_.keys.secret_key.data(), options_.keys.secret_key.size());
}

Status ZmqTransport::ConfigureCommon(void* socket) {
  MESH_RETURN_IF_ERROR(SetInt(socket, ZMQ_LINGER, Millis(options_.linger), "set ZMQ_LINGER"));
  MESH_RETURN_IF_ERROR(SetInt(socket, ZMQ_HANDSHAKE_IVL, Millis(options_.handshake_timeout),
                              "set ZMQ_HANDSHAKE_IVL"));
  return Status::Ok();
}

Status ZmqTransport::Init() {
  if (options_.self_id.empty() || options_.self_id.size() > kMaxSenderBytes) {
    return Status::InvalidArgument(
        "create zmq transport", "self id must be 1.." + std::to_string(kMaxSenderBytes) + " bytes");
  }
  if (options_.clock == nullptr) return Status::InvalidArgument("create zmq transport", "no clock");
  next_seq_ = static_cast<std::uint64_t>(std::max<std::int64_t>(options_.clock->WallNs(), 1));
  if (options_.curve && (IsZero(options_.keys.public_key) || IsZero(options_.keys.secret_key))) {
    return Status::InvalidArgument("create zmq transport", "CURVE needs the member's key pair");
  }
  // One allow-list, shared by both filters, the ZAP handler and the datagram channel.
  auto allowed = internal::AllowList::Build(options_.authorized_keys);
  if (!allowed.ok()) return allowed.status();
  filter_.SetAuthorized(*allowed);
  datagram_filter_.SetAuthorized(*allowed);
  options_.authorized_keys = std::vector<AuthorizedKey>();  // the list holds them now

  RaiseFdLimit();
  context_ = zmq_ctx_new();
  if (context_ == nullptr) return ZmqError("create zmq context");
  if (zmq_ctx_set(context_, ZMQ_MAX_SOCKETS, kMaxSockets) != 0) return ZmqError("set ZMQ_MAX_SOCKETS");
  // Our sockets all set linger; this only guards against one that would not.
  zmq_ctx_set(context_, ZMQ_BLOCKY, 0);

  if (options_.curve) {
    // Bound before the ROUTER: a CURVE server with no ZAP handler admits everyone.
    auto zap = internal::ZapHandler::Start(context_, std::move(allowed).value(),
                                           &counters_.rejected_unauthorized);
    if (!zap.ok()) return zap.status();
    zap_ = std::move(zap).value();
  }

  router_ = zmq_socket(context_, ZMQ_ROUTER);
  if (router_ == nullptr) return ZmqError("create ROUTER");
  MESH_RETURN_IF_ERROR(ConfigureCommon(router_));
  MESH_RETURN_IF_ERROR(SetInt(router_, ZMQ_RCVHWM, options_.receive_hwm, "set ZMQ_RCVHWM"));
  MESH_RETURN_IF_ERROR(SetInt(router_, ZMQ_ROUTER_HANDOVER, 1, "set ZMQ_ROUTER_HANDOVER"));
  const std::int64_t max_size = 2 * static_cast<std::int64_t>(kMaxEnvelopeBytes);
  MESH_RETURN_IF_ERROR(
      SetBytes(router_, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size, "set ZMQ_MAXMSGSIZE"));
  if (options_.curve) {
    MESH_RETURN_IF_ERROR(SetInt(router_, ZMQ_CURVE_SERVER, 1, "set ZMQ_CURVE_SERVER"));
    MESH_RETURN_IF_ERROR(SetBytes(router_, ZMQ_CURVE_SECRETKEY, options_.keys.secret_key.data(),
                                  options_.keys.secret_key.size(), "set ZMQ_CURVE_SECRETKEY"));
    MESH_RETURN_IF_ERROR(
        SetBytes(router_, ZMQ_ZAP_DOMAIN, kZapDomain, sizeof kZapDomain - 1, "set ZMQ_ZAP_DOMAIN"));
  }
  return Bind();
}

Status ZmqTransport::Bind() {
  const bool any_port = options_.bind_endpoint.ends_with(":*") || options_.bind_endpoint.ends_with(":0");
  for (int attempt = 1;; ++attempt) {
    if (zmq_bind(router_, options_.bind_endpoint.c_str()) != 0) {
      return ZmqError("bind " + options_.bind_endpoint);
    }
    char endpoint[256];
    std::size_t size = sizeof endpoint;
    if (zmq_getsockopt(router_, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0) {
      return ZmqError("read ZMQ_LAST_ENDPOINT");
    }
    endpoint_.assign(endpoint);
    if (!options_.datagrams) return Status::Ok();
    auto channel = internal::DatagramChannel::Open(endpoint_, options_.self_id, options_.curve,
                                                   options_.keys, counters_);
    if (channel.ok()) {
      datagrams_ = std::move(channel).value();
      datagrams_->SetAuthorized(filter_.allowed());
      return Status::Ok();
    }
    // The kernel picked a TCP port whose number some other socket holds for
    // UDP: pick another.
    if (!any_port || channel.status().code() != StatusCode::kAlreadyExists ||
        attempt == kBindAttempts) {
      return channel.status();
    }
    (void)zmq_unbind(router_, endpoint_.c_str());
  }
}

Status ZmqTransport::EnsureLink(Peer& peer) {
  if (peer.link.dealer != nullptr) return Status::Ok();
  auto link = OpenLink(peer.info);
  if (!link.ok()) return link.status();
  peer.link = link.value();
  peer.fresh = true;
  peer.connected = peer.flowing = peer.bursting = peer.refused = false;
  peer.opened_at = std::chrono::steady_clock::now();
  peer.backoff = options_.reconnect_interval;
  Bump(counters_.links_opened);
  return Status::Ok();
}

void ZmqTransport::SweepLinks() {
  const auto now = std::chrono::steady_clock::now();
  if (!lazy() || now < next_sweep_) return;
  next_sweep_ = now + kIdleSweepInterval;
  for (auto& [id, peer] : peers_) {
    if (peer.link.dealer == nullptr) continue;
    if (peer.fresh && !peer.connected && now - peer.opened_at > options_.handshake_timeout) {
      DropBatch(peer);  // never got through: what waited for it is lost
      peer.fresh = false;
    }
    if (peer.batch.empty() && now - peer.last_send > options_.idle_link_close) {
      CloseLink(peer.link);
      peer.fresh = peer.connected = peer.flowing = peer.bursting = peer.refused = false;
      Bump(counters_.links_closed_idle);
    }
  }
}

Result<ZmqTransport::Link> ZmqTransport::OpenLink(const PeerInfo& peer) {
  Link link;
  link.dealer = zmq_socket(context_, ZMQ_DEALER);
  if (link.dealer == nullptr) return ZmqError("create DEALER");
  void* socket = link.dealer;
  auto configure = [&]() -> Status {
    MESH_RETURN_IF_ERROR(ConfigureCommon(socket));
    MESH_RETURN_IF_ERROR(SetInt(socket, ZMQ_SNDHWM, options_.send_hwm, "set ZMQ_SNDHWM"));
    MESH_RETURN_IF_ERROR(SetInt(socket, ZMQ_IMMEDIATE, 1, "set ZMQ_IMMEDIATE"));
    MESH_RETURN_IF_ERROR(SetInt(socket, ZMQ_RECONNECT_IVL, Millis(options_.reconnect_interval),
                                "set ZMQ_RECONNECT_IVL"));
    MESH_RETURN_IF_ERROR(SetInt(socket, ZMQ_RECONNECT_IVL_MAX,
                                Millis(options_.reconnect_interval_max),
                                "set ZMQ_RECONNECT_IVL_MAX"));
    if (options_.curve) {
      MESH_RETURN_IF_ERROR(SetBytes(socket, ZMQ_CURVE_SERVERKEY, peer.public_key.data(),
                                    peer.public_key.size(), "set ZMQ_CURVE_SERVERKEY"));
      MESH_RETURN_IF_ERROR(SetBytes(socket, ZMQ_CURVE_PUBLICKEY, options_.keys.public_key.data(),
                                    options_.keys.public_key.size(), "set ZMQ_CURVE_PUBLICKEY"));
      MESH_RETURN_IF_ERROR(SetBytes(socket, ZMQ_CURVE_SECRETKEY, options_.keys.secret_key.data(),
                                    options_.keys.secret_key.size(), "set ZMQ_CURVE_SECRETKEY"));
    } else {
      // Unauthenticated mode names the connection by routing id.
      MESH_RETURN_IF_ERROR(SetBytes(socket, ZMQ_ROUTING_ID, options_.self_id.data(),
                                    options_.self_id.size(), "set ZMQ_ROUTING_ID"));
    }
    // Monitored before connecting, so no handshake goes unseen. RCVHWM 0 on
    // our end makes the event pipe unbounded: libzmq's I/O thread never
    // blocks on it, and the few events per connection are drained by Heal().
    const std::string monitor_endpoint = "inproc://mesh-link-" + std::to_string(++links_opened_);
    if (zmq_socket_monitor(socket, monitor_endpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_DISCONNECTED) != 0) {
      return ZmqError("monitor DEALER");
    }
    link.monitor = zmq_socket(context_, ZMQ_PAIR);
    if (link.monitor == nullptr) return ZmqError("create monitor PAIR");
    MESH_RETURN_IF_ERROR(SetInt(link.monitor, ZMQ_LINGER, 0, "set ZMQ_LINGER"));
    MESH_RETURN_IF_ERROR(SetInt(link.monitor, ZMQ_RCVHWM, 0, "set ZMQ_RCVHWM"));
    if (zmq_connect(link.monitor, monitor_endpoint.c_str()) != 0) {
      return ZmqError("connect monitor");
    }
    if (zmq_connect(socket, peer.endpoint.c_str()) != 0) {
      return ZmqError("connect to " + peer.id + " at " + peer.endpoint);
    }
    return Status::Ok();
  };
  Status status = configure();
  if (!status.ok()) {
    CloseLink(link);
    return status;
  }
  return link;
}

// Drops what is still queued: used when a peer is removed or replaced.
void ZmqTransport::CloseLink(Link& link) {
  const int no_linger = 0;
  if (link.dealer != nullptr) {
    zmq_setsockopt(link.dealer, ZMQ_LINGER, &no_linger, sizeof no_linger);
    zmq_close(link.dealer);
  }
  if (link.monitor != nullptr) zmq_close(link.monitor);
  link = Link{};
}

Status ZmqTransport::Heal(Peer& peer) {
  if (peer.link.dealer == nullptr) return Status::Ok();
  for (;;) {
    // Each event: [u16 event, u32 value] then the endpoint.
    Message event;
    if (zmq_msg_recv(event.get(), peer.link.monitor, ZMQ_DONTWAIT) < 0) break;
    std::uint16_t id = 0;
    if (zmq_msg_size(event.get()) >= sizeof id)
      std::memcpy(&id, zmq_msg_data(event.get()), sizeof id);
    for (bool more = event.more(); more;) {
      Message rest;
      if (zmq_msg_recv(rest.get(), peer.link.monitor, ZMQ_DONTWAIT) < 0) break;
      more = rest.more();
    }
    peer.fresh = false;  // through its first handshake, or given up
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      peer.refused = false;
      peer.connected = true;
      peer.backoff = options_.reconnect_interval;
    } else if (id == ZMQ_EVENT_DISCONNECTED) {
      peer.connected = peer.flowing = peer.bursting = false;
    } else if (!peer.refused) {  // refused: by the peer's ZAP, or its key did not match
      peer.refused = true;
      DropBatch(peer);  // a fresh link's: it never reaches anyone
      peer.retry_at = std::chrono::steady_clock::now() + peer.backoff;
      peer.backoff = std::min(2 * peer.backoff, options_.reconnect_interval_max);
    }
  }
  if (!peer.refused || std::chrono::steady_clock::now() < peer.retry_at) return Status::Ok();
  auto link = OpenLink(peer.info);
  if (!link.ok()) return link.status();
  CloseLink(peer.link);
  peer.link = link.value();
  peer.opened_at = std::chrono::steady_clock::now();
  peer.refused = false;
  peer.connected = peer.flowing = peer.bursting = false;
  return Status::Ok();
}

void ZmqTransport::DropBatch(Peer& peer) {
  if (peer.batch.empty()) return;
  if (peer.bursting) {
    peer.batch.clear();  // keeps its 64 KiB for the burst's next batch
  } else {
    std::string().swap(peer.batch);  // the burst is over: give the memory back
  }
  --peers_with_batch_;
}

Result<bool> ZmqTransport::FlushBatch(Peer& peer) {
  if (peer.batch.empty()) return true;
  MESH_RETURN_IF_ERROR(EncodeBatchFrame(peer.batch, peer.batch_seq));
  if (zmq_send(peer.link.dealer, batch_wire_.data(), batch_wire_.size(), ZMQ_DONTWAIT) < 0) {
    const int err = zmq_errno();
    if (err == EAGAIN) return false;  // still full: stays waiting
    return ZmqError("send to " + peer.info.id, err);
  }
  if (peer.batch.size() < kFilledBatchBytes) peer.bursting = false;
  if (peer.fresh) peer.fresh = false, peer.flowing = true;  // it took it: connected
  DropBatch(peer);
  Bump(counters_.batches);
  return true;
}

Status ZmqTransport::EncodeBatchFrame(std::string& payload, std::uint64_t seq) {
  // The frame is an envelope like any other; its payload is the batch.
  batch_envelope_.seq = seq;
  batch_envelope_.sent_ns = options_.clock->WallNs();
  batch_envelope_.payload.swap(payload);
  batch_wire_.clear();
  Status encoded = EncodeTo(batch_envelope_, batch_wire_);
  batch_envelope_.payload.swap(payload);
  return encoded;
}

// Writes `size` as a batch entry's big-endian length at `at`.
void PutBatchLength(std::string& batch, std::size_t at, std::size_t size) {
  for (std::size_t i = 0; i < internal::kBatchLengthBytes; ++i) {
    batch[at + i] = static_cast<char>((size >> (8 * (internal::kBatchLengthBytes - 1 - i))) & 0xff);
  }
}

Result<bool> ZmqTransport::AddToBatch(Peer& peer) {
  // Encoded straight into the batch, behind a length filled in after.
  const std::size_t start = peer.batch.size();
  if (start == 0) peer.batch.reserve(kMaxBatchBytes);
  peer.batch.append(internal::kBatchLengthBytes, '\0');
  Status encoded = EncodeTo(scratch_, peer.batch);
  if (!encoded.ok() || peer.batch.size() > kMaxBatchBytes) {
    peer.batch.resize(start);
    MESH_RETURN_IF_ERROR(encoded);
    return false;
  }
  PutBatchLength(peer.batch, start, peer.batch.size() - start - internal::kBatchLengthBytes);
  if (start == 0) {
    peer.batch_seq = scratch_.seq;
    peer.batch_started = std::chrono::steady_clock::now();
    ++peers_with_batch_;
  }
  return true;
}

Status ZmqTransport::FlushBatches() {
  // The owner turned to receiving or flushing: a burst whose batch is not
  // waiting (it was handed on, or a partial one is now) is over.
  if (peers_with_batch_ == 0 && !maybe_bursting_) return Status::Ok();
  bool bursting = false;
  for (auto& [id, peer] : peers_) {
    if (peer.batch.empty()) {
      peer.bursting = false;
      std::string().swap(peer.batch);
      continue;
    }
    const bool fresh = peer.fresh;
    auto flushed = FlushBatch(peer);
    if (!flushed.ok()) return flushed.status();
    // A fresh link that cannot take its batch yet may have been refused.
    if (fresh && !flushed.value()) MESH_RETURN_IF_ERROR(Heal(peer));
    bursting = bursting || peer.bursting;
  }
  maybe_bursting_ = bursting;
  return Status::Ok();
}

Status ZmqTransport::AddPeer(const PeerInfo& peer) {
  if (peer.id.empty() || peer.endpoint.empty()) {
    return Status::InvalidArgument("add peer", "id and endpoint are required");
  }
  if (options_.curve && IsZero(peer.public_key)) {
    return Status::InvalidArgument("add peer " + peer.id, "no CURVE public key");
  }
  auto it = peers_.find(peer.id);
  if (it != peers_.end() && it->second.info.endpoint == peer.endpoint &&
      it->second.info.public_key == peer.public_key) {
    return Status::Ok();
  }
  Link link;
  if (!lazy()) {  // lazy links open on the first send
    auto opened = OpenLink(peer);
    if (!opened.ok()) return opened.status();
    link = opened.value();
    Bump(counters_.links_opened);
  }
  if (it == peers_.end()) {
    it = peers_.emplace(peer.id, Peer{}).first;
  } else {  // a new address or key: what was queued for the old one goes
    CloseLink(it->second.link);
    DropBatch(it->second);
    DropDatagram(it->second);
  }
  Peer& entry = it->second;
  entry = Peer{};
  entry.info = peer;
  if (datagrams_) entry.udp = internal::UdpAddressOf(peer.endpoint);
  entry.link = link;
  entry.opened_at = entry.added_at = std::chrono::steady_clock::now();
  entry.backoff = options_.reconnect_interval;
  return Status::Ok();
}

Status ZmqTransport::RemovePeer(const std::string& peer_id) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return Status::NotFound("remove peer", peer_id);
  CloseLink(it->second.link);
  DropBatch(it->second);
  DropDatagram(it->second);
  peers_.erase(it);
  return Status::Ok();
}

Status ZmqTransport::SetAuthorizedKeys(const std::vector<AuthorizedKey>& keys) {
  auto allowed = internal::AllowList::Build(keys);
  if (!allowed.ok()) return allowed.status();
  filter_.SetAuthorized(*allowed);
  datagram_filter_.SetAuthorized(*allowed);
  if (datagrams_) datagrams_->SetAuthorized(*allowed);
  if (zap_) zap_->SetKeys(std::move(allowed).value());
  return Status::Ok();
}

Result<SendOutcome> ZmqTransport::Send(const std::string& peer_id, MsgType type,
                                       std::string_view payload) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return Status::NotFound("send", "unknown peer " + peer_id);
  MESH_RETURN_IF_ERROR(CheckSend(peer_id, type, payload));
  Peer& peer = it->second;
  scratch_.type = type;
  scratch_.seq = next_seq_;
  scratch_.sent_ns = options_.clock->WallNs();
  scratch_.payload.assign(payload);
  auto queued = [&](bool batched) -> Result<SendOutcome> {
    ++next_seq_;
    Bump(counters_.sent);
    if (batched) Bump(counters_.sent_batched);
    return SendOutcome::kQueued;
  };
  auto would_block = [&]() -> Result<SendOutcome> {
    Bump(counters_.send_would_block);
    return SendOutcome::kWouldBlock;
  };
  // The failure detector's messages may go as datagrams (datagram_channel.h):
  // they are small and worthless late.
  if (peer.udp && IsMembershipType(type)) {
    wire_.clear();
    MESH_RETURN_IF_ERROR(EncodeTo(scratch_, wire_));
    if (wire_.size() <= internal::kMaxDatagramEnvelopeBytes) {
      MESH_RETURN_IF_ERROR(QueueDatagram(peer));
      if (!more_) MESH_RETURN_IF_ERROR(FlushDatagram());
      // The same envelope (seq and all) also goes over the link once the
      // peer was not heard by datagram within the grace; the receiver's two
      // replay windows let both through, and the detector takes a repeated
      // message as a repeat.
      const auto now = std::chrono::steady_clock::now();
      if ((peer.speaks_datagrams || now - peer.added_at < kDatagramGrace) &&
          now - peer.copies_by_link_at >= kDatagramGrace) {
        return queued(false);
      }
    }
  }
  if (datagram_to_ != nullptr && datagram_to_ != &peer) MESH_RETURN_IF_ERROR(FlushDatagram());
  MESH_RETURN_IF_ERROR(EnsureLink(peer));
  peer.last_send = std::chrono::steady_clock::now();
  // A batch that waited too long goes before anything else (order is kept).
  if (!peer.batch.empty() && std::chrono::steady_clock::now() - peer.batch_started > kMaxBatchAge) {
    const bool fresh = peer.fresh;
    auto flushed = FlushBatch(peer);
    if (!flushed.ok()) return flushed.status();
    if (flushed.value()) peer.bursting = false;
    if (fresh && !flushed.value()) MESH_RETURN_IF_ERROR(Heal(peer));  // refused? (drops it)
  }
  if (peer.bursting || !peer.batch.empty()) {
    auto added = AddToBatch(peer);
    if (!added.ok()) return added.status();
    if (added.value()) return queued(true);
    // Full (or this envelope alone is too big for a batch): hand the batch on.
    auto flushed = FlushBatch(peer);
    if (!flushed.ok()) return flushed.status();
    if (!flushed.value()) {
      MESH_RETURN_IF_ERROR(Heal(peer));  // a refused link would never take it
      return would_block();
    }
    added = AddToBatch(peer);
    if (!added.ok()) return added.status();
    if (added.value()) return queued(true);
  }
  wire_.clear();
  MESH_RETURN_IF_ERROR(EncodeTo(scratch_, wire_));
  if (zmq_send(peer.link.dealer, wire_.data(), wire_.size(), ZMQ_DONTWAIT) >= 0) {
    peer.flowing = true;
    return queued(false);
  }
  const int err = zmq_errno();
  if (err != EAGAIN) return ZmqError("send to " + peer_id, err);
  MESH_RETURN_IF_ERROR(Heal(peer));
  // A lazy link still in its first handshake keeps what is sent in its batch.
  if (peer.fresh && !peer.refused) {
    auto added = AddToBatch(peer);
    if (!added.ok()) return added.status();
    return added.value() ? queued(true) : would_block();
  }
  // Not connected (or refused): the caller retries, nothing piles up. A
  // connected link whose queue is full starts a burst.
  if (!peer.connected || !peer.flowing || peer.refused) return would_block();
  auto added = AddToBatch(peer);
  if (!added.ok()) return added.status();
  if (!added.value()) return would_block();  // too big for a batch
  peer.bursting = maybe_bursting_ = true;
  return queued(true);
}

Status ZmqTransport::QueueDatagram(Peer& peer) {
  // Room for the kBatch envelope around the entries.
  const std::size_t entry = internal::kBatchLengthBytes + wire_.size();
  if (datagram_to_ != nullptr &&
      (datagram_to_ != &peer || datagram_batch_.size() + entry + kEnvelopeOverheadBytes +
                                        options_.self_id.size() >
                                    internal::kMaxDatagramEnvelopeBytes)) {
    MESH_RETURN_IF_ERROR(FlushDatagram());
  }
  if (datagram_to_ == nullptr) {
    datagram_to_ = &peer;
    datagram_seq_ = scratch_.seq;
    datagram_count_ = 0;
  }
  datagram_batch_.append(internal::kBatchLengthBytes, '\0');
  PutBatchLength(datagram_batch_, datagram_batch_.size() - internal::kBatchLengthBytes, wire_.size());
  datagram_batch_.append(wire_);
  ++datagram_count_;
  return Status::Ok();
}

Status ZmqTransport::FlushDatagram() {
  if (datagram_to_ == nullptr) return Status::Ok();
  Peer& peer = *datagram_to_;
  datagram_to_ = nullptr;
  std::string_view bytes = datagram_batch_;
  if (datagram_count_ == 1) {
    bytes.remove_prefix(internal::kBatchLengthBytes);
  } else {
    Status encoded = EncodeBatchFrame(datagram_batch_, datagram_seq_);
    if (!encoded.ok()) {
      datagram_batch_.clear();
      return encoded;
    }
    bytes = batch_wire_;
  }
  auto sent = datagrams_->Send(*peer.udp, peer.info.public_key, bytes);
  datagram_batch_.clear();
  if (!sent.ok()) return sent.status();
  if (!sent.value()) Bump(counters_.send_would_block);  // lost, as a datagram may be
  return Status::Ok();
}

Result<ZmqTransport::Pull> ZmqTransport::PullOne(int wait_ms) {
  // A blocking receive with ZMQ_RCVTIMEO costs fewer system calls than
  // zmq_poll followed by a receive.
  if (wait_ms > 0 && wait_ms != receive_timeout_ms_) {
    MESH_RETURN_IF_ERROR(SetInt(router_, ZMQ_RCVTIMEO, wait_ms, "set ZMQ_RCVTIMEO"));
    receive_timeout_ms_ = wait_ms;
  }
  Message routing_id;
  if (zmq_msg_recv(routing_id.get(), router_, wait_ms > 0 ? 0 : ZMQ_DONTWAIT) < 0) {
    const int err = zmq_errno();
    if (err == EAGAIN || err == EINTR) return Pull::kEmpty;
    return ZmqError("receive", err);
  }
  if (!routing_id.more()) {  // a ROUTER always delivers routing id + body
    Bump(counters_.rejected_garbage);
    return Pull::kRejected;
  }
  // The rest of a multipart message is already here: these calls do not wait.
  Message body;
  if (zmq_msg_recv(body.get(), router_, 0) < 0) return ZmqError("receive body");
  if (body.more()) {  // we send single frames; anything else is not ours
    bool more = true;
    while (more) {
      Message extra;
      if (zmq_msg_recv(extra.get(), router_, 0) < 0) return ZmqError("receive extra frames");
      more = extra.more();
    }
    Bump(counters_.rejected_garbage);
    return Pull::kRejected;
  }
  std::string_view authenticated_id;
  if (options_.curve) {
    const char* user_id = zmq_msg_gets(body.get(), "User-Id");
    if (user_id != nullptr) authenticated_id = user_id;
  } else {
    authenticated_id = routing_id.bytes();
  }
  const std::size_t before = inbox_.size();
  filter_.Accept(authenticated_id, body.bytes(), inbox_);
  if (datagrams_) NoteCopiesByLink(before);
  return inbox_.size() == before ? Pull::kRejected : Pull::kAccepted;
}

std::optional<Envelope> ZmqTransport::PopInbox() {
  std::optional<Envelope> out(std::move(inbox_.front()));
  inbox_.pop_front();
  return out;
}

Result<bool> ZmqTransport::Flush(Nanos timeout) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::min<Nanos>(timeout, std::chrono::hours(24));
  MESH_RETURN_IF_ERROR(FlushDatagram());
  MESH_RETURN_IF_ERROR(FlushBatches());
  while (peers_with_batch_ > 0) {
    const int wait_ms = MillisUntil(deadline);
    if (wait_ms == 0) return false;
    MESH_RETURN_IF_ERROR(WaitForBatches(wait_ms, /*router=*/false));
  }
  return true;
}

Status ZmqTransport::WaitForBatches(int wait_ms, bool router) {
  std::vector<zmq_pollitem_t> items;
  std::vector<Peer*> waiting;
  if (router) items.push_back({router_, 0, ZMQ_POLLIN, 0});
  if (router && datagrams_) items.push_back({nullptr, datagrams_->fd(), ZMQ_POLLIN, 0});
  const std::size_t first = items.size();
  for (auto& [id, peer] : peers_) {
    if (peer.batch.empty()) continue;
    items.push_back({peer.link.dealer, 0, ZMQ_POLLOUT, 0});
    waiting.push_back(&peer);
  }
  if (zmq_poll(items.data(), static_cast<int>(items.size()), wait_ms) < 0) {
    const int err = zmq_errno();
    if (err == EINTR) return Status::Ok();
    return ZmqError("poll", err);
  }
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    if ((items[first + i].revents & ZMQ_POLLOUT) == 0) continue;
    auto flushed = FlushBatch(*waiting[i]);
    if (!flushed.ok()) return flushed.status();
  }
  return Status::Ok();
}

Result<bool> ZmqTransport::PullDatagrams() {
  for (int i = 0; i < kMaxRejectsPerPoll; ++i) {
    const auto got = datagrams_->Receive(datagram_sender_, datagram_bytes_);
    if (got == internal::DatagramChannel::Got::kNone) return false;
    if (got == internal::DatagramChannel::Got::kRejected) continue;
    datagram_filter_.Accept(datagram_sender_, datagram_bytes_, inbox_);
    if (inbox_.empty()) continue;
    MESH_RETURN_IF_ERROR(OnHeard(datagram_sender_));
    return true;
  }
  return false;
}

void ZmqTransport::NoteCopiesByLink(std::size_t from) {
  for (std::size_t i = from; i < inbox_.size(); ++i) {
    if (!IsMembershipType(inbox_[i].type)) continue;
    // Too big for a datagram: it had to take the link.
    if (inbox_[i].payload.size() + inbox_[i].sender.size() + kEnvelopeOverheadBytes >
        internal::kMaxDatagramEnvelopeBytes) {
      continue;
    }
    auto it = peers_.find(inbox_[i].sender);
    if (it != peers_.end()) it->second.copies_by_link_at = std::chrono::steady_clock::now();
  }
}

Status ZmqTransport::OnHeard(const std::string& id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return Status::Ok();
  Peer& peer = it->second;
  peer.speaks_datagrams = true;
  if (peer.link.dealer == nullptr) return Status::Ok();
  const auto now = std::chrono::steady_clock::now();
  // Up as far as we know (a send that would block learns otherwise),
  // handshaking, refused (Heal's backoff), or reopened lately: leave it.
  if (peer.connected || peer.fresh || peer.refused ||
      now - peer.opened_at < options_.reconnect_interval_max) {
    return Status::Ok();
  }
  MESH_RETURN_IF_ERROR(Heal(peer));
  if (peer.connected || !peer.batch.empty()) return Status::Ok();
  CloseLink(peer.link);
  return EnsureLink(peer);
}

Result<std::optional<Envelope>> ZmqTransport::Receive(Nanos timeout) {
  MESH_RETURN_IF_ERROR(FlushDatagram());
  if (!inbox_.empty()) return PopInbox();
  SweepLinks();
  MESH_RETURN_IF_ERROR(FlushBatches());
  timeout = std::min<Nanos>(timeout, std::chrono::hours(24));  // keeps the deadline finite
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int wait_ms = 0, rejected = 0;;) {
    if (timeout > Nanos::zero()) wait_ms = MillisUntil(deadline);
    // Datagrams first: a member's liveness must not wait behind its data.
    auto datagram = [&]() -> Result<bool> { return datagrams_ ? PullDatagrams() : false; };
    auto pulled_datagram = datagram();
    if (!pulled_datagram.ok()) return pulled_datagram.status();
    if (pulled_datagram.value()) return PopInbox();
    if (wait_ms > 0 && (peers_with_batch_ > 0 || datagrams_)) {
      MESH_RETURN_IF_ERROR(WaitForBatches(wait_ms, /*router=*/true));
      wait_ms = 0;
      pulled_datagram = datagram();
      if (!pulled_datagram.ok()) return pulled_datagram.status();
      if (pulled_datagram.value()) return PopInbox();
    }
    auto pulled = PullOne(wait_ms);
    if (!pulled.ok()) return pulled.status();
    if (pulled.value() == Pull::kAccepted) return PopInbox();
    const bool time_left = timeout > Nanos::zero() && std::chrono::steady_clock::now() < deadline;
    if (pulled.value() == Pull::kEmpty) {
      if (!time_left) return std::optional<Envelope>();
      continue;  // interrupted, or the timeout rounded short
    }
    // Rejected: try the next one, but a flood of rejects must not hold the
    // caller past its deadline (or, without one, for more than a batch).
    if (timeout > Nanos::zero() ? !time_left : ++rejected >= kMaxRejectsPerPoll) {
      return std::optional<Envelope>();
    }
  }
}

}  // namespace

Result<std::unique_ptr<Transport>> CreateZmqTransport(ZmqTransportOptions options) {
  auto transport = std::make_unique<ZmqTransport>(std::move(options));
  MESH_RETURN_IF_ERROR(transport->Init());
  return std::unique_ptr<Transport>(std::move(transport));
}

}  // namespace mesh
