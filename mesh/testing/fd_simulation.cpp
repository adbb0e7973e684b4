#include "mesh/testing/fd_simulation.h"

#include <algorithm>
#include <stdexcept>

namespace mesh::testing {

FdSimulation::FdSimulation(const std::vector<std::string>& ids, const FailureDetectorConfig& config,
                           const SimNetworkConfig& net)
    : ids_(ids), config_(config), net_(net), rng_(net.seed) {
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    index_.try_emplace(ids_[i], i);
    members_.push_back(MemberInfo{ids_[i]});
  }
  for (const std::string& id : ids_) {
    Nanos offset{0};
    if (net_.start_spread.count() > 0) {
      offset = Nanos(static_cast<Nanos::rep>(
          NextRandom() % static_cast<std::uint64_t>(net_.start_spread.count() + 1)));
    }
    start_at_[id] = MonoTime(offset);
    not_started_.insert({MonoTime(offset), id});
  }
  StartDue();
}

std::uint64_t FdSimulation::NextRandom() {
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void FdSimulation::StartDue() {
  if (not_started_.empty() || not_started_.begin()->first > now_) return;
  // The members due, started in the caller's order (the seeds drawn stay the
  // same); only they are looked at, not all N (10,000-member runs).
  std::vector<std::size_t> due;
  for (auto it = not_started_.begin(); it != not_started_.end() && it->first <= now_; ++it) {
    due.push_back(index_.at(it->second));
  }
  std::sort(due.begin(), due.end());
  for (std::size_t i : due) {
    const std::string& id = ids_[i];
    if (nodes_.contains(id) || killed_.contains(id)) continue;
    not_started_.erase({start_at_[id], id});
    auto fd = FailureDetector::Create(id, config_, now_, NextRandom());
    if (!fd.ok()) throw std::invalid_argument(fd.status().ToString());
    auto node = std::make_unique<FailureDetector>(std::move(*fd));
    node->SetMembers(members_, now_);
    Collect(id, *node);
    nodes_.emplace(id, std::move(node));
  }
}

bool FdSimulation::Blocked(const std::string& a, const std::string& b) const {
  return blocked_.contains({a, b});
}

void FdSimulation::Collect(const std::string& id, FailureDetector& fd) {
  for (FdEvent& e : fd.TakeEvents()) events_.push_back(SimEvent{id, std::move(e)});
  // Piggybacked rumors share the packet of the envelope before them: one
  // message sent, one loss draw, one latency.
  bool lost = false;
  Nanos latency{0};
  for (OutgoingEnvelope& out : fd.TakeOutgoing()) {
    if (out.piggyback) {
      ++piggybacked_;
    } else {
      ++sent_;
      ++sent_by_type_[static_cast<std::size_t>(out.envelope.type)];
      const double draw = static_cast<double>(NextRandom() >> 11) * 0x1.0p-53;
      const std::uint64_t span =
          static_cast<std::uint64_t>((net_.max_latency - net_.min_latency).count()) + 1;
      latency = net_.min_latency + Nanos(static_cast<Nanos::rep>(NextRandom() % span));
      lost = draw < net_.loss || Blocked(id, out.to) || killed_.contains(out.to);
      if (lost) ++dropped_;
    }
    if (lost) continue;
    encoded_.clear();
    if (!EncodeTo(out.envelope, encoded_).ok()) {
      throw std::logic_error("detector produced an unencodable envelope");
    }
    queue_.push_back(
        InFlight{now_ + latency, order_++, std::move(out.to), std::move(out.envelope)});
    std::push_heap(queue_.begin(), queue_.end(), std::greater<>());
  }
  SetWake(id, fd.NextWakeup());
}

void FdSimulation::SetWake(const std::string& id, MonoTime at) {
  auto [it, added] = wake_.try_emplace(id, at);
  if (!added) {
    if (it->second == at) return;
    wake_order_.erase({it->second, id});
    it->second = at;
  }
  wake_order_.insert({at, id});
}

void FdSimulation::RunUntil(MonoTime until) {
  std::uint64_t spins_at_same_time = 0;
  while (true) {
    MonoTime next = MonoTime::max();
    if (!queue_.empty()) next = queue_.front().at;
    if (!not_started_.empty()) next = std::min(next, not_started_.begin()->first);
    if (!wake_order_.empty()) next = std::min(next, wake_order_.begin()->first);
    if (next > until) break;
    if (next <= now_) {
      // A detector that stays due after a Tick would spin forever: a bug.
      if (++spins_at_same_time > 100000) throw std::logic_error("simulation does not advance");
    } else {
      spins_at_same_time = 0;
      now_ = next;
    }
    StartDue();
    while (!queue_.empty() && queue_.front().at <= now_) {
      std::pop_heap(queue_.begin(), queue_.end(), std::greater<>());
      InFlight msg = std::move(queue_.back());
      queue_.pop_back();
      auto it = nodes_.find(msg.to);
      if (it == nodes_.end()) {
        ++dropped_;  // not started yet, or killed while the message flew
        continue;
      }
      (void)it->second->OnMessage(msg.envelope, now_);
      Collect(it->first, *it->second);
    }
    // Every member due now ticks once per step (in id order: determinism).
    std::vector<std::string> due;
    for (auto it = wake_order_.begin(); it != wake_order_.end() && it->first <= now_; ++it) {
      due.push_back(it->second);
    }
    std::sort(due.begin(), due.end());
    for (const std::string& id : due) {
      FailureDetector& node = *nodes_.at(id);
      node.Tick(now_);
      Collect(id, node);
    }
  }
  now_ = std::max(now_, until);
}

void FdSimulation::Kill(const std::string& id) {
  killed_.insert(id);
  nodes_.erase(id);
  not_started_.erase({start_at_.at(id), id});
  if (auto it = wake_.find(id); it != wake_.end()) {
    wake_order_.erase({it->second, id});
    wake_.erase(it);
  }
}

void FdSimulation::BlockLink(const std::string& a, const std::string& b) {
  blocked_.insert({a, b});
  blocked_.insert({b, a});
}

void FdSimulation::UnblockLink(const std::string& a, const std::string& b) {
  blocked_.erase({a, b});
  blocked_.erase({b, a});
}

void FdSimulation::Isolate(const std::string& id) {
  for (const std::string& other : ids_) {
    if (other != id) BlockLink(id, other);
  }
}

const FailureDetector* FdSimulation::Detector(const std::string& id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : it->second.get();
}

std::vector<SimEvent> FdSimulation::EventsAbout(FdEventKind kind, const std::string& member) const {
  std::vector<SimEvent> out;
  for (const SimEvent& e : events_) {
    if (e.event.kind == kind && e.event.member == member) out.push_back(e);
  }
  return out;
}

}  // namespace mesh::testing
