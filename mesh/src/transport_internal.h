// Pieces both transports share: the counters and the inbound filter that
// decides which received bytes become an Envelope (authorization, codec,
// sender binding, replay window). Private to the mesh library.
//
// Thread safety: TransportCounters may be bumped and read from any thread.
// InboundFilter belongs to one thread (the transport's owner), except
// IdForKey() on a const filter which the owner must not race with
// SetAuthorized().
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allow_list.h"
#include "mesh/envelope.h"
#include "mesh/status.h"
#include "mesh/transport.h"

namespace mesh::internal {

struct TransportCounters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> sent_batched{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> send_would_block{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> rejected_garbage{0};
  std::atomic<std::uint64_t> rejected_oversize{0};
  std::atomic<std::uint64_t> rejected_version{0};
  std::atomic<std::uint64_t> rejected_type{0};
  std::atomic<std::uint64_t> rejected_replay{0};
  std::atomic<std::uint64_t> rejected_unauthorized{0};
  std::atomic<std::uint64_t> rejected_spoofed{0};
  std::atomic<std::uint64_t> datagrams_sent{0};
  std::atomic<std::uint64_t> datagrams_received{0};
  std::atomic<std::uint64_t> links_opened{0};
  std::atomic<std::uint64_t> links_closed_idle{0};

  TransportStats Snapshot() const;
};

// Relaxed: counters order nothing, they are read as a snapshot.
inline void Bump(std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

// The checks Send() makes before anything is encoded: the payload limit, and
// kBatch is the transport's own type.
Status CheckSend(const std::string& peer_id, MsgType type, std::string_view payload);

// A kBatch payload is a sequence of [u32 big-endian length][encoded envelope].
inline constexpr std::size_t kBatchLengthBytes = 4;

class InboundFilter {
 public:
  explicit InboundFilter(TransportCounters& counters) : counters_(counters) {}

  Status SetAuthorized(const std::vector<AuthorizedKey>& keys);
  // The same from a list already built (and perhaps shared with others).
  void SetAuthorized(std::shared_ptr<const AllowList> allowed) { allowed_ = std::move(allowed); }
  const std::shared_ptr<const AllowList>& allowed() const { return allowed_; }
  // The member id `key` speaks as; nullopt when it is not authorized. The
  // view lives until the next SetAuthorized().
  std::optional<std::string_view> IdForKey(const TransportKey& key) const {
    return allowed_->IdForKey(key);
  }

  // One frame that arrived over a connection authenticated as
  // `authenticated_id`: a single envelope or a kBatch of them. Appends every
  // envelope that passes all checks to `out`, in the order sent, and counts
  // each one that does not. A kBatch frame is not itself replay-checked (it
  // only carries envelopes that are, one by one) and may not nest.
  void Accept(std::string_view authenticated_id, std::string_view bytes, std::deque<Envelope>& out);

 private:
  struct ReplayWindow {
    std::uint64_t highest = 0;
    std::uint64_t seen = 0;  // bit i: highest - i was accepted
  };
  // True (and recorded) when `seq` is new for `window`.
  static bool Admit(ReplayWindow& window, std::uint64_t seq);
  // Size, codec and sender checks (not the replay window), counted on failure.
  std::optional<EnvelopeView> DecodeFrom(std::string_view authenticated_id, std::string_view bytes);
  // Replay check, counted; true when `env` is new.
  bool AdmitSeq(const EnvelopeView& env);

  struct SenderWindow {
    std::string sender;
    ReplayWindow window;
  };

  TransportCounters& counters_;
  std::shared_ptr<const AllowList> allowed_ = AllowList::Empty();
  // Sorted by sender. Grows with the members ever heard from; kept after a
  // member is removed so that re-adding it does not reopen its old sequence
  // numbers. Flat: a node-based map cost twice the bytes per member.
  std::vector<SenderWindow> windows_;
};

}  // namespace mesh::internal
