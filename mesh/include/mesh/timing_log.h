// TimingLog: self-timing records. Every timed event (join phases, mesh
// formation, failure detection, scheduling) becomes one JSON line in a file,
//
//   {"ts_ns":1764151200123456789,"node":"rpi-1","event":"join","phase":"discovery","ms":12.345}
//
// (optionally followed by extra string/number fields), and one human line,
//
//   [timing] join.discovery 12.3 ms
//
// on stderr or any injected sink. The format is in docs/timing_log.md.
//
// Lines are appended with one write(2) on an O_APPEND descriptor, so lines
// from several processes sharing a file never interleave. The file is
// rotated by size: past max_bytes (kDefaultTimingLogMaxBytes) it becomes
// <path>.1 (replacing the previous one) and a new file starts; a log whose
// file was rotated by another process follows to the new file. Time comes only
// from the injected Clock: ts_ns is its wall time, PhaseTimer measures with its
// monotonic time.
//
// Thread safety: Record(), SetNode() and PhaseTimer on distinct timers may be
// called from any thread at once. A single PhaseTimer belongs to one thread.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "mesh/clock.h"
#include "mesh/status.h"

namespace mesh {

// One extra field of a record: "key": "string" | integer | number.
struct TimingField {
  using Value = std::variant<std::string, std::int64_t, double>;

  TimingField(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  TimingField(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  TimingField(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <std::integral I>
  requires(!std::same_as<I, bool>) TimingField(std::string_view k, I v)
      : key(k), value(static_cast<std::int64_t>(v)) {}
  TimingField(std::string_view k, double v) : key(k), value(v) {}

  std::string key;
  Value value;
};

// Receives each human line, newline included.
using TimingSink = std::function<void(std::string_view line)>;
// Receives each record's event, phase and milliseconds once it is written
// (e.g. to feed duration histograms from the same places that time phases).
using TimingObserver = std::function<void(std::string_view event, std::string_view phase, double ms)>;
// Writes to fd 2 with one write(2) per line.
TimingSink StderrTimingSink();

class PhaseTimer;

inline constexpr std::uint64_t kDefaultTimingLogMaxBytes = 16ull << 20;

class TimingLog {
 public:
  // Appends to `path` (created 0644 if missing). `human` may be empty for no
  // human lines. `clock` must outlive the log.
  static Result<std::unique_ptr<TimingLog>> Open(const std::string& path, std::string node,
                                                 const Clock& clock,
                                                 TimingSink human = StderrTimingSink());

  // Rotate past this many bytes (0: never). Default kDefaultTimingLogMaxBytes.
  void SetMaxBytes(std::uint64_t max_bytes);
  ~TimingLog();
  TimingLog(const TimingLog&) = delete;
  TimingLog& operator=(const TimingLog&) = delete;

  // Appends one record stamped with the clock's wall time. InvalidArgument
  // for an empty event, a non-finite number, or an extra key that repeats or
  // shadows ts_ns/node/event/phase/ms. IoError when the write fails.
  Status Record(std::string_view event, std::string_view phase, double ms,
                std::span<const TimingField> extra = {});
  Status Record(std::string_view event, std::string_view phase, double ms,
                std::initializer_list<TimingField> extra) {
    return Record(event, phase, ms, std::span<const TimingField>(extra.begin(), extra.size()));
  }

  // Starts timing a phase now (see PhaseTimer).
  PhaseTimer StartPhase(std::string event, std::string phase);

  // Names this node in later records (e.g. once join has assigned a name).
  void SetNode(std::string node);

  // Calls `observer` after every later record (also one whose write failed),
  // under the log's lock: it must be quick and must not record into this log.
  // Empty: none.
  void SetObserver(TimingObserver observer);

  const Clock& clock() const { return clock_; }
  const std::string& path() const { return path_; }

 private:
  TimingLog(int fd, std::string path, std::string node, const Clock& clock, TimingSink human);
  // Under mu_: moves a full file to <path>.1 and reopens (or follows another
  // process's rotation). Errors leave the current file in use.
  void RotateIfFull();

  int fd_;  // guarded by mu_ (replaced on rotation)
  const std::string path_;
  const Clock& clock_;
  const TimingSink human_;
  std::mutex mu_;
  std::string node_;         // guarded by mu_
  TimingObserver observer_;  // guarded by mu_
  std::uint64_t max_bytes_ = kDefaultTimingLogMaxBytes;  // guarded by mu_
};

// Times one phase with the log's monotonic clock. Stop() records it once;
// a timer neither stopped nor cancelled records itself when destroyed (so a
// phase that ends in an early return still shows up), ignoring write errors.
class PhaseTimer {
 public:
  PhaseTimer(TimingLog& log, std::string event, std::string phase);
  PhaseTimer(PhaseTimer&& other) noexcept;
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;
  PhaseTimer& operator=(PhaseTimer&&) = delete;
  ~PhaseTimer();

  double ElapsedMs() const;
  // Records the phase with its elapsed time and `extra`; later calls return
  // InvalidArgument and record nothing.
  Status Stop(std::initializer_list<TimingField> extra = {});
  Status Stop(std::span<const TimingField> extra);
  // Forgets the phase: nothing is recorded.
  void Cancel() { done_ = true; }

 private:
  TimingLog* log_;
  std::string event_;
  std::string phase_;
  MonoTime start_;
  bool done_ = false;
};

// JSON string body for `s` (no surrounding quotes): escapes quotes, backslash
// and control characters, replaces invalid UTF-8 with U+FFFD.
std::string JsonEscape(std::string_view s);

}  // namespace mesh
