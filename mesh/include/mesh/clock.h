// Clock: the one source of time for everything that times itself or waits.
//
// Protocol code (heartbeats, suspicion, timing records) reads time only through
// a Clock so that tests step a FakeClock instead of sleeping. Two readings:
//   Now()    monotonic, for intervals and deadlines;
//   WallNs() wall-clock nanoseconds since the Unix epoch, for records users read.
//
// Thread safety: every method of every Clock may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mesh {

using Nanos = std::chrono::nanoseconds;
using MonoTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;
  virtual std::int64_t WallNs() const = 0;
};

// The real clocks of the machine (CLOCK_MONOTONIC, CLOCK_REALTIME).
class SystemClock final : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  std::int64_t WallNs() const override;

  // A process-wide instance for code that is not handed a clock.
  static SystemClock& Get();
};

// A clock that moves only when told. Starts at monotonic 0 and wall time
// `wall_start_ns`; Advance() moves both by the same amount.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t wall_start_ns = 1'700'000'000'000'000'000) : wall_start_ns_(wall_start_ns) {}

  MonoTime Now() const override { return MonoTime(Nanos(elapsed_ns_.load(std::memory_order_acquire))); }
  std::int64_t WallNs() const override {
    return wall_start_ns_ + elapsed_ns_.load(std::memory_order_acquire);
  }

  // Moves time forward; a negative step is ignored (monotonic clocks never go back).
  void Advance(Nanos step) {
    if (step.count() > 0) elapsed_ns_.fetch_add(step.count(), std::memory_order_acq_rel);
  }

 private:
  const std::int64_t wall_start_ns_;
  std::atomic<std::int64_t> elapsed_ns_{0};
};

}  // namespace mesh
