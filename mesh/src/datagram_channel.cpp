#include "datagram_channel.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mesh::internal {
namespace {

constexpr char kSealedMagic[] = "SSD1";
constexpr char kPlainMagic[] = "SSD0";
constexpr std::size_t kMagicBytes = 4;
constexpr std::size_t kNonceBytes = crypto_box_NONCEBYTES;
constexpr std::size_t kMacBytes = crypto_box_MACBYTES;
// The largest datagram either kind can be; anything longer is not ours.
constexpr std::size_t kMaxDatagramBytes =
    kMagicBytes + 1 + kMaxSenderBytes + kNonceBytes + kMacBytes + kMaxDatagramEnvelopeBytes;
// Asked for; the kernel caps it at net.core.rmem_max. A GPU peer hears a
// burst of acks from every member at once.
constexpr int kReceiveBufferBytes = 1 << 20;

Status Errno(std::string_view what, int err) {
  std::string message = std::string(what) + ": " + std::strerror(err);
  if (err == EADDRINUSE) return Status::AlreadyExists("open datagram socket", message);
  return Status::Internal("open datagram socket", message);
}

// "tcp://host:port" -> host and port; false for anything else.
bool SplitEndpoint(std::string_view endpoint, std::string& host, std::string& port) {
  constexpr std::string_view kScheme = "tcp://";
  if (endpoint.substr(0, kScheme.size()) != kScheme) return false;
  endpoint.remove_prefix(kScheme.size());
  const std::size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == endpoint.size()) return false;
  std::string_view h = endpoint.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  host.assign(h == "*" ? "0.0.0.0" : h);
  port.assign(endpoint.substr(colon + 1));
  return !port.empty() && port.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::optional<UdpAddress> UdpAddressOf(std::string_view tcp_endpoint) {
  std::string host, port_text;
  if (!SplitEndpoint(tcp_endpoint, host, port_text) || port_text.size() > 5) return std::nullopt;
  const unsigned long port = std::stoul(port_text);
  if (port == 0 || port > 65535) return std::nullopt;
  // inet_pton, not getaddrinfo: numeric only, and nothing a static binary
  // would have to load from the host's glibc.
  UdpAddress address;
  sockaddr_in* v4 = &address.addr.v4;
  sockaddr_in6* v6 = &address.addr.v6;
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    address.length = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    address.length = sizeof *v6;
  } else {
    return std::nullopt;
  }
  return address;
}

Result<std::unique_ptr<DatagramChannel>> DatagramChannel::Open(std::string_view tcp_endpoint,
                                                               std::string self_id, bool seal,
                                                               const TransportKeyPair& keys,
                                                               TransportCounters& counters) {
  if (sodium_init() < 0) return Status::Internal("open datagram socket", "sodium_init failed");
  auto address = UdpAddressOf(tcp_endpoint);
  if (!address) {
    return Status::InvalidArgument("open datagram socket",
                                   "not a numeric tcp endpoint: " + std::string(tcp_endpoint));
  }
  const int fd = socket(address->addr.any.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket", errno);
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBufferBytes, sizeof kReceiveBufferBytes);
  if (bind(fd, &address->addr.any, address->length) != 0) {
    const int err = errno;
    close(fd);
    return Errno("bind udp " + std::string(tcp_endpoint.substr(6)), err);
  }
  return std::unique_ptr<DatagramChannel>(
      new DatagramChannel(fd, std::move(self_id), seal, keys, counters));
}

DatagramChannel::DatagramChannel(int fd, std::string self_id, bool seal,
                                 const TransportKeyPair& keys, TransportCounters& counters)
    : fd_(fd), self_id_(std::move(self_id)), seal_(seal), secret_key_(keys.secret_key),
      counters_(counters) {
  randombytes_buf(nonce_prefix_.data(), nonce_prefix_.size());
  in_.resize(kMaxDatagramBytes + 1);  // one more: a longer datagram shows as truncated
}

std::unique_ptr<DatagramChannel> DatagramChannel::Unbound(std::string self_id, bool seal,
                                                          const TransportKeyPair& keys,
                                                          TransportCounters& counters) {
  if (sodium_init() < 0) return nullptr;
  return std::unique_ptr<DatagramChannel>(
      new DatagramChannel(-1, std::move(self_id), seal, keys, counters));
}

DatagramChannel::~DatagramChannel() {
  if (fd_ >= 0) close(fd_);
  sodium_memzero(secret_key_.data(), secret_key_.size());
  if (!shared_.empty()) sodium_memzero(shared_.data(), shared_.size() * sizeof(PeerKey));
}

void DatagramChannel::SetAuthorized(std::shared_ptr<const AllowList> allowed) {
  allowed_ = std::move(allowed);
  const auto gone = std::remove_if(shared_.begin(), shared_.end(), [&](const PeerKey& k) {
    return !allowed_->IdForKey(k.peer).has_value();
  });
  // What remove_if left behind the kept ones may still hold removed keys.
  const auto kept = static_cast<std::size_t>(gone - shared_.begin());
  if (kept < shared_.size()) {
    sodium_memzero(shared_.data() + kept, (shared_.size() - kept) * sizeof(PeerKey));
  }
  shared_.erase(gone, shared_.end());
}

const DatagramChannel::SharedKey* DatagramChannel::KeyFor(const TransportKey& peer) {
  auto it = std::lower_bound(shared_.begin(), shared_.end(), peer,
                             [](const PeerKey& k, const TransportKey& p) { return k.peer < p; });
  if (it != shared_.end() && it->peer == peer) return &it->shared;
  PeerKey computed{peer, {}};
  if (crypto_box_beforenm(computed.shared.data(), peer.data(), secret_key_.data()) != 0) {
    return nullptr;
  }
  if (shared_.size() == shared_.capacity()) {
    // Grow by hand: a reallocation would leave copies of the keys in freed memory.
    std::vector<PeerKey> grown;
    grown.reserve(std::max<std::size_t>(16, 2 * shared_.size()));
    const auto at = it - shared_.begin();
    grown.insert(grown.end(), shared_.begin(), shared_.end());
    if (!shared_.empty()) sodium_memzero(shared_.data(), shared_.size() * sizeof(PeerKey));
    shared_.swap(grown);
    it = shared_.begin() + at;
  }
  it = shared_.insert(it, computed);
  sodium_memzero(computed.shared.data(), computed.shared.size());
  return &it->shared;
}

Result<bool> DatagramChannel::Send(const UdpAddress& to, const TransportKey& peer_key,
                                   std::string_view envelope_bytes) {
  if (envelope_bytes.size() > kMaxDatagramEnvelopeBytes) {
    return Status::InvalidArgument("send datagram", "envelope too big for a datagram");
  }
  out_.assign(seal_ ? kSealedMagic : kPlainMagic, kMagicBytes);
  out_.push_back(static_cast<char>(self_id_.size()));
  out_.append(self_id_);
  if (seal_) {
    const SharedKey* key = KeyFor(peer_key);
    if (key == nullptr) return false;  // a low-order key: nobody can hold it
    std::array<std::uint8_t, kNonceBytes> nonce{};
    std::memcpy(nonce.data(), nonce_prefix_.data(), nonce_prefix_.size());
    const std::uint64_t counter = ++nonce_counter_;
    std::memcpy(nonce.data() + nonce_prefix_.size(), &counter, sizeof counter);
    out_.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
    const std::size_t at = out_.size();
    out_.resize(at + kMacBytes + envelope_bytes.size());
    crypto_box_easy_afternm(reinterpret_cast<std::uint8_t*>(out_.data() + at),
                            reinterpret_cast<const std::uint8_t*>(envelope_bytes.data()),
                            envelope_bytes.size(), nonce.data(), key->data());
  } else {
    out_.append(envelope_bytes);
  }
  for (;;) {
    if (sendto(fd_, out_.data(), out_.size(), MSG_DONTWAIT, &to.addr.any, to.length) >= 0) {
      Bump(counters_.datagrams_sent);
      return true;
    }
    const int err = errno;
    if (err == EINTR) continue;
    // Full buffer, no route, a firewall, the peer's port closed (a late
    // ICMP error): this datagram is lost, as any other could be.
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENETUNREACH ||
        err == EHOSTUNREACH || err == EPERM || err == ECONNREFUSED || err == EACCES ||
        err == EADDRNOTAVAIL || err == ENETDOWN || err == EHOSTDOWN) {
      return false;
    }
    return Status::Internal("send datagram", std::strerror(err));
  }
}

DatagramChannel::Got DatagramChannel::Receive(std::string& sender, std::string& envelope_bytes) {
  ssize_t n = 0;
  for (;;) {
    n = recv(fd_, in_.data(), in_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    // EAGAIN: nothing waits. Anything else (a late ICMP error reported on
    // the socket) is no datagram either.
    return errno == EAGAIN || errno == EWOULDBLOCK ? Got::kNone : Got::kRejected;
  }
  return Unseal({reinterpret_cast<const char*>(in_.data()), static_cast<std::size_t>(n)}, sender,
                envelope_bytes);
}

DatagramChannel::Got DatagramChannel::Unseal(std::string_view datagram, std::string& sender,
                                             std::string& envelope_bytes) {
  const std::size_t size = datagram.size();
  auto garbage = [&] {
    Bump(counters_.rejected_garbage);
    return Got::kRejected;
  };
  if (size > kMaxDatagramBytes) {
    Bump(counters_.rejected_oversize);
    return Got::kRejected;
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(datagram.data());
  if (size < kMagicBytes + 1) return garbage();
  const bool sealed = std::memcmp(bytes, kSealedMagic, kMagicBytes) == 0;
  if (sealed != seal_ || (!sealed && std::memcmp(bytes, kPlainMagic, kMagicBytes) != 0)) {
    return garbage();
  }
  const std::size_t id_size = bytes[kMagicBytes];
  std::size_t at = kMagicBytes + 1;
  if (id_size == 0 || size < at + id_size) return garbage();
  sender.assign(reinterpret_cast<const char*>(bytes + at), id_size);
  at += id_size;
  if (!seal_) {
    envelope_bytes.assign(reinterpret_cast<const char*>(bytes + at), size - at);
    Bump(counters_.datagrams_received);
    return Got::kOpened;
  }
  const TransportKey* known = allowed_->KeyForId(sender);
  if (known == nullptr) {
    Bump(counters_.rejected_unauthorized);
    return Got::kRejected;
  }
  if (size < at + kNonceBytes + kMacBytes) return garbage();
  const SharedKey* key = KeyFor(*known);
  const std::uint8_t* nonce = bytes + at;
  at += kNonceBytes;
  const std::size_t sealed_size = size - at;
  envelope_bytes.resize(sealed_size - kMacBytes);
  if (key == nullptr ||
      crypto_box_open_easy_afternm(reinterpret_cast<std::uint8_t*>(envelope_bytes.data()),
                                   bytes + at, sealed_size, nonce, key->data()) != 0) {
    Bump(counters_.rejected_unauthorized);  // not from the holder of that member's key
    return Got::kRejected;
  }
  Bump(counters_.datagrams_received);
  return Got::kOpened;
}

}  // namespace mesh::internal
