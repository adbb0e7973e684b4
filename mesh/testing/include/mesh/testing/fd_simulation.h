// FdSimulation: N FailureDetectors on a simulated network, in simulated time.
//
// Discrete-event and deterministic: time jumps to the next message delivery or
// detector wakeup, and one seed fixes every latency, loss and choice, so a run
// replays exactly. Every message is checked to encode as a wire envelope and
// its payload goes through the real decoders. The network can lose messages (per-message
// probability), delay them (uniform latency), drop everything to and from a killed member, and
// block individual links (partitions: A cannot reach B, C reaches both).
//
// Thread safety: none; test-support code for one thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mesh/failure_detector.h"

namespace mesh::testing {

struct SimNetworkConfig {
  Nanos min_latency = std::chrono::microseconds(200);  // one way, uniform in [min, max]
  Nanos max_latency = std::chrono::microseconds(1000);
  double loss = 0.0;  // probability that any one message is dropped
  std::uint64_t seed = 1;
  // Members start at uniformly random offsets in [0, start_spread] (a real
  // cluster never starts in lockstep).
  Nanos start_spread{0};
};

struct SimEvent {
  std::string observer;  // the detector that emitted it
  FdEvent event;
};

class FdSimulation {
 public:
  FdSimulation(const std::vector<std::string>& ids, const FailureDetectorConfig& config,
               const SimNetworkConfig& net);

  // Advances simulated time, running every delivery and wakeup up to `until`.
  void RunUntil(MonoTime until);
  void RunFor(Nanos d) { RunUntil(now_ + d); }
  MonoTime Now() const { return now_; }

  // A killed member stops: it sends nothing and everything sent to it is lost.
  void Kill(const std::string& id);
  bool IsKilled(const std::string& id) const { return killed_.contains(id); }
  // Blocks / unblocks both directions between a and b.
  void BlockLink(const std::string& a, const std::string& b);
  void UnblockLink(const std::string& a, const std::string& b);
  // Blocks every link of `id` (it keeps running, alone); Heal() unblocks all links.
  void Isolate(const std::string& id);
  void Heal() { blocked_.clear(); }
  void SetLoss(double loss) { net_.loss = loss; }

  const std::vector<std::string>& ids() const { return ids_; }
  // nullptr before the member's start time.
  const FailureDetector* Detector(const std::string& id) const;
  MonoTime StartTime(const std::string& id) const { return start_at_.at(id); }

  const std::vector<SimEvent>& events() const { return events_; }
  // Events of `kind` about `member` (any observer), in time order.
  std::vector<SimEvent> EventsAbout(FdEventKind kind, const std::string& member) const;

  // Packets: an envelope and the rumors piggybacked on it count once.
  std::uint64_t sent() const { return sent_; }
  // Packets by the type of their first envelope (index: MsgType), and the
  // gossip envelopes that rode in another's packet.
  const std::array<std::uint64_t, kLastMsgType + 1>& sent_by_type() const { return sent_by_type_; }
  std::uint64_t piggybacked() const { return piggybacked_; }
  std::uint64_t dropped() const { return dropped_; }

 private:
  struct InFlight {
    MonoTime at;
    std::uint64_t order;  // ties broken by send order: determinism
    std::string to;
    Envelope envelope;  // checked encodable when sent; carried as a struct (speed)
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : order > o.order; }
  };

  void StartDue();
  void Collect(const std::string& id, FailureDetector& fd);
  void SetWake(const std::string& id, MonoTime at);
  std::uint64_t NextRandom();
  bool Blocked(const std::string& a, const std::string& b) const;

  std::vector<std::string> ids_;
  std::map<std::string, std::size_t> index_;  // id -> its first position in ids_
  std::vector<MemberInfo> members_;           // the list every member is given
  FailureDetectorConfig config_;
  SimNetworkConfig net_;
  std::uint64_t rng_;
  MonoTime now_{};
  std::map<std::string, MonoTime> start_at_;
  std::map<std::string, std::unique_ptr<FailureDetector>> nodes_;
  std::set<std::string> killed_;
  std::set<std::pair<std::string, std::string>> blocked_;
  std::vector<InFlight> queue_;           // min-heap on (at, order)
  std::map<std::string, MonoTime> wake_;  // cached NextWakeup() of each running member
  // The same, ordered by time, and the members not started yet by start
  // time: each step costs O(log N), not O(N) (1,000-member runs).
  std::set<std::pair<MonoTime, std::string>> wake_order_;
  std::set<std::pair<MonoTime, std::string>> not_started_;
  std::uint64_t order_ = 0;
  std::string encoded_;  // scratch for the encodability check
  std::uint64_t sent_ = 0;
  std::array<std::uint64_t, kLastMsgType + 1> sent_by_type_{};
  std::uint64_t piggybacked_ = 0;
  std::uint64_t dropped_ = 0;
  std::vector<SimEvent> events_;
};

}  // namespace mesh::testing
