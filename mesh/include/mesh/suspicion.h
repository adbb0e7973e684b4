// Lifeguard suspicion timeout: how long a member stays "suspect" before it is
// declared failed, shrinking as independent members confirm the suspicion.
//
//   timeout(n) = max(min, max - (max - min) * log(n + 1) / log(k + 1))
//
// n = independent confirmations seen so far, k = confirmations wanted to reach
// `min`. With no confirmations a suspicion waits `max` (a lone suspicion may be
// this member's own network trouble, so give the suspect time to refute); each
// confirmation cuts the wait, the first ones the most. k <= 0 means no
// confirmations can be expected (too few members): the timeout is `min`.
//
// Thread safety: SuspicionTimeout is a pure function. A Suspicion is a value
// owned by one FailureDetector; not thread-safe.
#pragma once

#include <set>
#include <string>

#include "mesh/clock.h"

namespace mesh {

Nanos SuspicionTimeout(int confirmations, int wanted, Nanos min, Nanos max);

// One running suspicion: its start, its bounds and who confirmed it.
class Suspicion {
 public:
  // `origin` raised the suspicion; it never counts as a confirmation (our own
  // rumor may come back to us through gossip).
  Suspicion(MonoTime start, std::string origin, int wanted, Nanos min, Nanos max);

  // Records that `from` also suspects the member. Returns true when this was a
  // new, independent confirmation (and so the deadline moved earlier).
  bool Confirm(const std::string& from);

  // Whether `id` raised or confirmed this suspicion already.
  bool HasHeardFrom(const std::string& id) const { return seen_.contains(id); }
  MonoTime start() const { return start_; }
  MonoTime Deadline() const {
    return start_ + SuspicionTimeout(confirmations_, wanted_, min_, max_);
  }
  int confirmations() const { return confirmations_; }

 private:
  MonoTime start_;
  std::set<std::string> seen_;
  int wanted_;
  int confirmations_ = 0;
  Nanos min_;
  Nanos max_;
};

}  // namespace mesh
