#include "mesh/inmemory_transport.h"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <utility>

#include "transport_internal.h"

namespace mesh {
namespace internal {

constexpr char kScheme[] = "mem://";

class InMemoryMember;

// The network's state; every member and the InMemoryNetwork share it.
class InMemoryHub {
 public:
  InMemoryHub(InMemoryNetworkOptions options) : options_(options), rng_(options.seed) {}

  std::mutex mu;

  // All below: caller holds mu.
  InMemoryMember* Find(const std::string& endpoint) {
    auto it = members_.find(endpoint);
    return it == members_.end() ? nullptr : it->second;
  }
  bool Register(const std::string& endpoint, InMemoryMember* member) {
    return members_.emplace(endpoint, member).second;
  }
  void Unregister(const std::string& endpoint) { members_.erase(endpoint); }

  void SetLoss(double p) { options_.loss_probability = std::clamp(p, 0.0, 1.0); }
  void Partition(const std::string& a, const std::string& b) { partitions_.insert(Key(a, b)); }
  void Heal(const std::string& a, const std::string& b) { partitions_.erase(Key(a, b)); }
  void HealAll() { partitions_.clear(); }
  bool Partitioned(const std::string& a, const std::string& b) const {
    return partitions_.count(Key(a, b)) != 0;
  }
  // One draw per call, so the sequence of drops depends only on seed and sends.
  bool Lose() {
    const double u =
        static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // [0, 1), same on every platform
    return u < options_.loss_probability;
  }
  InMemoryNetworkStats stats;

 private:
  static std::pair<std::string, std::string> Key(const std::string& a, const std::string& b) {
    return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
  }

  InMemoryNetworkOptions options_;
  std::mt19937_64 rng_;
  std::map<std::string, InMemoryMember*> members_;
  std::set<std::pair<std::string, std::string>> partitions_;
};

class InMemoryMember final : public Transport {
 public:
  InMemoryMember(std::shared_ptr<InMemoryHub> hub, std::string self_id, TransportKey key,
                 Clock& clock)
      : hub_(std::move(hub)),
        self_id_(std::move(self_id)),
        endpoint_(kScheme + self_id_),
        key_(key),
        clock_(clock),
        filter_(counters_),
        next_seq_(static_cast<std::uint64_t>(std::max<std::int64_t>(clock.WallNs(), 1))) {
    scratch_.sender = self_id_;
  }
  ~InMemoryMember() override {
    std::lock_guard lock(hub_->mu);
    if (registered_) hub_->Unregister(endpoint_);
  }

  bool Register() {
    std::lock_guard lock(hub_->mu);
    registered_ = hub_->Register(endpoint_, this);
    return registered_;
  }

  const std::string& self_id() const override { return self_id_; }
  const std::string& local_endpoint() const override { return endpoint_; }

  Status AddPeer(const PeerInfo& peer) override {
    if (peer.id.empty() || peer.endpoint.rfind(kScheme, 0) != 0) {
      return Status::InvalidArgument("add peer", "need an id and a mem:// endpoint");
    }
    std::lock_guard lock(hub_->mu);
    peers_[peer.id] = peer;
    return Status::Ok();
  }

  Status RemovePeer(const std::string& peer_id) override {
    std::lock_guard lock(hub_->mu);
    if (peers_.erase(peer_id) == 0) return Status::NotFound("remove peer", peer_id);
    return Status::Ok();
  }

  Status SetAuthorizedKeys(const std::vector<AuthorizedKey>& keys) override {
    std::lock_guard lock(hub_->mu);
    return filter_.SetAuthorized(keys);
  }

  Result<SendOutcome> Send(const std::string& peer_id, MsgType type,
                           std::string_view payload) override {
    std::lock_guard lock(hub_->mu);
    auto it = peers_.find(peer_id);
    if (it == peers_.end()) return Status::NotFound("send", "unknown peer " + peer_id);
    MESH_RETURN_IF_ERROR(CheckSend(peer_id, type, payload));
    scratch_.type = type;
    scratch_.seq = next_seq_;
    scratch_.sent_ns = clock_.WallNs();
    scratch_.payload.assign(payload);
    std::string wire;
    MESH_RETURN_IF_ERROR(EncodeTo(scratch_, wire));

    InMemoryMember* to = hub_->Find(it->second.endpoint);
    // Not connected: nobody there, an impostor's key, or we are refused.
    if (to == nullptr || to->key_ != it->second.public_key || !to->Admits(key_)) {
      Bump(counters_.send_would_block);
      return SendOutcome::kWouldBlock;
    }
    ++next_seq_;
    Bump(counters_.sent);
    if (hub_->Partitioned(self_id_, to->self_id_)) {
      ++hub_->stats.dropped_partition;
    } else if (hub_->Lose()) {
      ++hub_->stats.dropped_loss;
    } else {
      to->Enqueue(key_, std::move(wire));
      ++hub_->stats.delivered;
    }
    return SendOutcome::kQueued;
  }

  Result<std::optional<Envelope>> Receive(Nanos /*timeout*/) override {
    std::lock_guard lock(hub_->mu);
    while (accepted_.empty() && !inbox_.empty()) {
      Inbound in = std::move(inbox_.front());
      inbox_.pop_front();
      filter_.Accept(in.authenticated_id, in.bytes, accepted_);
    }
    if (accepted_.empty()) return std::optional<Envelope>();
    std::optional<Envelope> env(std::move(accepted_.front()));
    accepted_.pop_front();
    return env;
  }

  // Send() delivers at once: nothing ever waits here.
  Result<bool> Flush(Nanos /*timeout*/) override { return true; }

  TransportStats stats() const override { return counters_.Snapshot(); }

  // Caller holds hub_->mu. Counts a refusal, as a ZAP handler does.
  bool Admits(const TransportKey& key) {
    if (filter_.IdForKey(key)) return true;
    Bump(counters_.rejected_unauthorized);
    return false;
  }
  // Caller holds hub_->mu and checked Admits(key).
  void Enqueue(const TransportKey& key, std::string bytes) {
    inbox_.push_back(Inbound{std::string(*filter_.IdForKey(key)), std::move(bytes)});
  }

 private:
  struct Inbound {
    std::string authenticated_id;
    std::string bytes;
  };

  std::shared_ptr<InMemoryHub> hub_;
  const std::string self_id_;
  const std::string endpoint_;
  const TransportKey key_;
  Clock& clock_;
  bool registered_ = false;
  TransportCounters counters_;
  InboundFilter filter_;  // guarded by hub_->mu, like everything below
  std::map<std::string, PeerInfo> peers_;
  std::deque<Inbound> inbox_;
  std::deque<Envelope> accepted_;  // checked, not yet handed out by Receive()
  std::uint64_t next_seq_;
  Envelope scratch_;
};

}  // namespace internal

InMemoryNetwork::InMemoryNetwork(InMemoryNetworkOptions options)
    : hub_(std::make_shared<internal::InMemoryHub>(options)) {
  hub_->SetLoss(options.loss_probability);
}

InMemoryNetwork::~InMemoryNetwork() = default;

Result<std::unique_ptr<Transport>> InMemoryNetwork::Attach(const std::string& self_id,
                                                           const TransportKey& public_key,
                                                           Clock& clock) {
  if (self_id.empty() || self_id.size() > kMaxSenderBytes) {
    return Status::InvalidArgument(
        "attach", "member id must be 1.." + std::to_string(kMaxSenderBytes) + " bytes");
  }
  auto member = std::make_unique<internal::InMemoryMember>(hub_, self_id, public_key, clock);
  if (!member->Register()) return Status::AlreadyExists("attach", "member " + self_id);
  return std::unique_ptr<Transport>(std::move(member));
}

void InMemoryNetwork::SetLossProbability(double probability) {
  std::lock_guard lock(hub_->mu);
  hub_->SetLoss(probability);
}

void InMemoryNetwork::Partition(const std::string& a, const std::string& b) {
  std::lock_guard lock(hub_->mu);
  hub_->Partition(a, b);
}

void InMemoryNetwork::Heal(const std::string& a, const std::string& b) {
  std::lock_guard lock(hub_->mu);
  hub_->Heal(a, b);
}

void InMemoryNetwork::HealAll() {
  std::lock_guard lock(hub_->mu);
  hub_->HealAll();
}

Status InMemoryNetwork::InjectRaw(const TransportKey& from_key, const std::string& to_endpoint,
                                  std::string bytes) {
  std::lock_guard lock(hub_->mu);
  internal::InMemoryMember* to = hub_->Find(to_endpoint);
  if (to == nullptr) return Status::NotFound("inject", "no member at " + to_endpoint);
  if (!to->Admits(from_key)) return Status::PermissionDenied("inject", "key not authorized");
  to->Enqueue(from_key, std::move(bytes));
  ++hub_->stats.delivered;
  return Status::Ok();
}

InMemoryNetworkStats InMemoryNetwork::stats() const {
  std::lock_guard lock(hub_->mu);
  return hub_->stats;
}

}  // namespace mesh
