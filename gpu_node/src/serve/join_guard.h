// Limits for the join endpoint, which anyone who can reach the GPU peer may
// talk to (issue 17): a per-source request rate, checked before any
// signature or token work, and a cap on how often refusals are said (stderr
// and timing.jsonl), with the rest counted.
//
// Thread safety: none; the GPU peer's mesh thread owns both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "mesh/clock.h"

namespace gpu_node {

// A token bucket per source address. Sources beyond max_sources (after
// idle ones are forgotten) share one bucket, so a spread-out flood cannot
// grow the map or starve the table.
class JoinRateLimiter {
 public:
  struct Options {
    double per_second = 5;  // a swarmlet sends one request per join attempt
    double burst = 20;      // a rack of Pis behind one NAT joining at once
    std::size_t max_sources = 4096;
  };
  JoinRateLimiter() : JoinRateLimiter(Options{}) {}
  explicit JoinRateLimiter(Options options) : o_(options) {}

  // One request from `source` at `now`: false when it is over its rate.
  bool Allow(const std::string& source, mesh::MonoTime now);
  std::size_t sources() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    mesh::MonoTime at{};
  };
  bool Take(Bucket& b, mesh::MonoTime now);

  Options o_;
  std::unordered_map<std::string, Bucket> buckets_;
  Bucket shared_;
  bool shared_started_ = false;
};

// Says at most `per_period` refusals per period; counts the others.
class RefusalThrottle {
 public:
  RefusalThrottle(int per_period, mesh::Nanos period) : per_period_(per_period), period_(period) {}

  // Whether this refusal may be said.
  bool Allow(mesh::MonoTime now);
  // When a period with unsaid refusals has ended: how many, once; else 0.
  std::uint64_t TakeSuppressed(mesh::MonoTime now);

 private:
  void Roll(mesh::MonoTime now);

  const int per_period_;
  const mesh::Nanos period_;
  mesh::MonoTime start_{};
  int said_ = 0;
  std::uint64_t suppressed_ = 0;  // in finished periods, not yet taken
  std::uint64_t pending_ = 0;     // in the current period
};

}  // namespace gpu_node
