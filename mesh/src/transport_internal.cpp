#include "transport_internal.h"

#include <sodium.h>

#include <algorithm>
#include <msgpack.hpp>

namespace mesh {

Result<TransportKeyPair> GenerateTransportKeyPair() {
  if (sodium_init() < 0) return Status::Internal("generate transport key", "sodium_init failed");
  TransportKeyPair pair;
  static_assert(crypto_box_PUBLICKEYBYTES == 32 && crypto_box_SECRETKEYBYTES == 32);
  if (crypto_box_keypair(pair.public_key.data(), pair.secret_key.data()) != 0) {
    return Status::Internal("generate transport key", "crypto_box_keypair failed");
  }
  return pair;
}

namespace internal {
namespace {

std::uint64_t Load(const std::atomic<std::uint64_t>& c) {
  return c.load(std::memory_order_relaxed);
}

// Decode() says Unsupported for both an unknown wire version and an unknown
// type; this tells them apart (only on that rare path).
bool HasForeignWireVersion(std::string_view bytes) {
  try {
    std::size_t offset = 0;
    const msgpack::unpack_limit limits(6, 0, kMaxSenderBytes, kMaxPayloadBytes, 0, 2);
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::ARRAY || root.via.array.size == 0) return false;
    const msgpack::object& version = root.via.array.ptr[0];
    return version.type != msgpack::type::POSITIVE_INTEGER || version.via.u64 != kWireVersion;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

TransportStats TransportCounters::Snapshot() const {
  TransportStats s;
  s.sent = Load(sent);
  s.sent_batched = Load(sent_batched);
  s.batches = Load(batches);
  s.send_would_block = Load(send_would_block);
  s.received = Load(received);
  s.rejected_garbage = Load(rejected_garbage);
  s.rejected_oversize = Load(rejected_oversize);
  s.rejected_version = Load(rejected_version);
  s.rejected_type = Load(rejected_type);
  s.rejected_replay = Load(rejected_replay);
  s.rejected_unauthorized = Load(rejected_unauthorized);
  s.rejected_spoofed = Load(rejected_spoofed);
  s.datagrams_sent = Load(datagrams_sent);
  s.datagrams_received = Load(datagrams_received);
  s.links_opened = Load(links_opened);
  s.links_closed_idle = Load(links_closed_idle);
  return s;
}

Status CheckSend(const std::string& peer_id, MsgType type, std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) {
    return Status::InvalidArgument(
        "send to " + peer_id, "payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                                  std::to_string(kMaxPayloadBytes));
  }
  if (type == MsgType::kBatch) {
    return Status::InvalidArgument("send to " + peer_id,
                                   "batch is the transport's own message type");
  }
  return Status::Ok();
}

Status InboundFilter::SetAuthorized(const std::vector<AuthorizedKey>& keys) {
  auto allowed = AllowList::Build(keys);
  if (!allowed.ok()) return allowed.status();
  allowed_ = std::move(allowed).value();
  return Status::Ok();
}

bool InboundFilter::Admit(ReplayWindow& window, std::uint64_t seq) {
  if (window.seen == 0 || seq > window.highest) {
    const std::uint64_t shift = window.seen == 0 ? Transport::kReplayWindow : seq - window.highest;
    window.seen = shift >= Transport::kReplayWindow ? 1 : (window.seen << shift) | 1;
    window.highest = seq;
    return true;
  }
  const std::uint64_t age = window.highest - seq;
  if (age >= Transport::kReplayWindow) return false;
  const std::uint64_t bit = std::uint64_t{1} << age;
  if (window.seen & bit) return false;
  window.seen |= bit;
  return true;
}

std::optional<EnvelopeView> InboundFilter::DecodeFrom(std::string_view authenticated_id,
                                                      std::string_view bytes) {
  if (bytes.size() > kMaxEnvelopeBytes) {
    Bump(counters_.rejected_oversize);
    return std::nullopt;
  }
  Result<EnvelopeView> decoded = DecodeView(bytes);
  if (!decoded.ok()) {
    if (decoded.status().code() != StatusCode::kUnsupported) {
      Bump(counters_.rejected_garbage);
    } else if (HasForeignWireVersion(bytes)) {
      Bump(counters_.rejected_version);
    } else {
      Bump(counters_.rejected_type);
    }
    return std::nullopt;
  }
  if (decoded.value().sender != authenticated_id) {
    Bump(counters_.rejected_spoofed);
    return std::nullopt;
  }
  return decoded.value();
}

bool InboundFilter::AdmitSeq(const EnvelopeView& env) {
  auto window = std::lower_bound(
      windows_.begin(), windows_.end(), env.sender,
      [](const SenderWindow& w, std::string_view sender) { return w.sender < sender; });
  if (window == windows_.end() || window->sender != env.sender) {
    window = windows_.insert(window, SenderWindow{std::string(env.sender), ReplayWindow{}});
  }
  if (!Admit(window->window, env.seq)) {
    Bump(counters_.rejected_replay);
    return false;
  }
  return true;
}

void InboundFilter::Accept(std::string_view authenticated_id, std::string_view bytes,
                           std::deque<Envelope>& out) {
  if (!allowed_->ContainsId(authenticated_id)) {
    Bump(counters_.rejected_unauthorized);
    return;
  }
  std::optional<EnvelopeView> env = DecodeFrom(authenticated_id, bytes);
  if (!env) return;
  if (env->type != MsgType::kBatch) {
    if (!AdmitSeq(*env)) return;
    Bump(counters_.received);
    out.push_back(env->ToEnvelope());
    return;
  }
  std::string_view rest = env->payload;
  if (rest.empty()) Bump(counters_.rejected_garbage);
  // A batch of junk must not cost more than a few rejected frames would: past
  // this many refusals the rest of it is dropped (and counted once).
  constexpr int kMaxRejectsPerBatch = 16;
  int rejected = 0;
  const auto give_up = [&] {
    if (++rejected < kMaxRejectsPerBatch) return false;
    if (!rest.empty()) Bump(counters_.rejected_garbage);
    return true;
  };
  while (!rest.empty()) {
    if (rest.size() < kBatchLengthBytes) {
      Bump(counters_.rejected_garbage);
      return;
    }
    std::uint32_t size = 0;
    for (std::size_t i = 0; i < kBatchLengthBytes; ++i) {
      size = (size << 8) | static_cast<std::uint8_t>(rest[i]);
    }
    rest.remove_prefix(kBatchLengthBytes);
    if (size > rest.size()) {  // truncated: nothing after it can be framed
      Bump(counters_.rejected_garbage);
      return;
    }
    std::optional<EnvelopeView> inner = DecodeFrom(authenticated_id, rest.substr(0, size));
    rest.remove_prefix(size);
    if (!inner) {
      if (give_up()) return;
      continue;
    }
    if (inner->type == MsgType::kBatch) {  // batches do not nest
      Bump(counters_.rejected_garbage);
      if (give_up()) return;
      continue;
    }
    if (!AdmitSeq(*inner)) {
      if (give_up()) return;
      continue;
    }
    Bump(counters_.received);
    out.push_back(inner->ToEnvelope());
  }
}

}  // namespace internal
}  // namespace mesh
