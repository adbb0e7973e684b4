#include "serve/join_guard.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace gpu_node {

bool JoinRateLimiter::Take(Bucket& b, mesh::MonoTime now) {
  const double elapsed = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(o_.burst, b.tokens + std::max(0.0, elapsed) * o_.per_second);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

bool JoinRateLimiter::Allow(const std::string& source, mesh::MonoTime now) {
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= o_.max_sources) {
      // A bucket idle long enough to be full again holds nothing to remember.
      const auto refill = std::chrono::duration<double>(o_.burst / o_.per_second);
      std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.at >= refill; });
    }
    if (buckets_.size() >= o_.max_sources) {
      if (!shared_started_) shared_ = {o_.burst, now};
      shared_started_ = true;
      return Take(shared_, now);
    }
    it = buckets_.emplace(source, Bucket{o_.burst, now}).first;
  }
  return Take(it->second, now);
}

void RefusalThrottle::Roll(mesh::MonoTime now) {
  if (now - start_ < period_) return;
  start_ = now;
  said_ = 0;
  suppressed_ += pending_;
  pending_ = 0;
}

bool RefusalThrottle::Allow(mesh::MonoTime now) {
  Roll(now);
  if (said_ < per_period_) {
    ++said_;
    return true;
  }
  ++pending_;
  return false;
}

std::uint64_t RefusalThrottle::TakeSuppressed(mesh::MonoTime now) {
  Roll(now);
  return std::exchange(suppressed_, 0);
}

}  // namespace gpu_node
