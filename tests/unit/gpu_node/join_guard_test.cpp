// Join endpoint limits (serve/join_guard.h).
#include <catch2/catch.hpp>

#include "serve/join_guard.h"

using namespace std::chrono_literals;

TEST_CASE("join rate limiter: a burst, then the source's rate", "[gpu_node][join]") {
  gpu_node::JoinRateLimiter limiter({.per_second = 5, .burst = 10, .max_sources = 100});
  mesh::MonoTime t(100s);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.Allow("10.0.0.9", t);  // a flood, all at once
  CHECK(allowed == 10);
  CHECK(limiter.Allow("10.0.0.7", t));  // another source is not held back
  t += 1s;
  allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.Allow("10.0.0.9", t);
  CHECK(allowed == 5);
}

TEST_CASE("join rate limiter: many sources share one bucket past the cap", "[gpu_node][join]") {
  gpu_node::JoinRateLimiter limiter({.per_second = 1, .burst = 2, .max_sources = 8});
  const mesh::MonoTime t(100s);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.Allow("10.1." + std::to_string(i), t);
  CHECK(limiter.sources() == 8);
  CHECK(allowed == 8 + 2);  // the first eight sources, then the shared bucket's burst
  // Idle sources are forgotten once their bucket would be full again.
  CHECK(limiter.Allow("10.2.0.1", t + 3s));
  CHECK(limiter.sources() <= 8);
}

TEST_CASE("refusal throttle: a few said per period, the rest counted once", "[gpu_node][join]") {
  gpu_node::RefusalThrottle throttle(3, 10s);
  mesh::MonoTime t(100s);
  int said = 0;
  for (int i = 0; i < 50; ++i) said += throttle.Allow(t);
  CHECK(said == 3);
  CHECK(throttle.TakeSuppressed(t + 1s) == 0);  // the period is not over
  CHECK(throttle.TakeSuppressed(t + 11s) == 47);
  CHECK(throttle.TakeSuppressed(t + 12s) == 0);
  CHECK(throttle.Allow(t + 12s));
}
