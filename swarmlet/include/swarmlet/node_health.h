// Node health (docs/node_health.md): the facts a Pi in the field needs the
// GPU peer to know — SoC temperature, the firmware's under-voltage and
// throttling bits, whether cgroup memory limits work, and the node's own
// wall clock (a Pi has no RTC, so its clock may be far off until NTP answers).
//
// Three parts, one pipeline:
//   - ReadThermal(): the readings, under a filesystem root (`--hw-root`) so
//     tests use a fake tree, as ReadHardwareProfile does;
//   - EncodeNodeHealth()/DecodeNodeHealth(): the kNodeHealth payload (strict
//     msgpack; decoding refuses malformed input with a Corrupt status);
//   - HealthReporter: what the agent loop calls each turn; it says when a
//     message is due (right after joining, every 10 s, and at once when
//     throttling starts or ends) and records throttle start/end in the
//     timing log.
//
// Thread safety: the free functions may be called from any thread;
// a HealthReporter belongs to one thread (the agent loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/clock.h"
#include "mesh/status.h"
#include "mesh/timing_log.h"

namespace swarmlet {

// get_throttled bits (Raspberry Pi firmware, `vcgencmd get_throttled`).
inline constexpr std::uint32_t kThrottleUnderVoltage = 1u << 0;
inline constexpr std::uint32_t kThrottleFrequencyCapped = 1u << 1;
inline constexpr std::uint32_t kThrottleThrottled = 1u << 2;
inline constexpr std::uint32_t kThrottleSoftTempLimit = 1u << 3;
// Bits 0-3 are "now"; bits 16-19 the same conditions "has occurred since boot".
inline constexpr std::uint32_t kThrottleNowMask = 0xfu;
inline constexpr unsigned kThrottleOccurredShift = 16;

// The "now" conditions of `bits` as metric/JSON reason names, in bit order:
// "under_voltage", "frequency_capped", "throttled", "soft_temp_limit".
std::vector<std::string_view> ThrottleReasons(std::uint32_t bits);
// The same for people: "under-voltage", "frequency capped", "cpu throttled",
// "soft temperature limit".
std::vector<std::string_view> ThrottleReasonTexts(std::uint32_t bits);
inline bool ThrottlingNow(std::uint32_t bits) { return (bits & kThrottleNowMask) != 0; }

struct ThermalReading {
  std::optional<std::int64_t> temperature_mc;  // thermal_zone0, millidegrees Celsius
  std::optional<std::uint32_t> throttled;      // get_throttled; absent off a Pi

  bool operator==(const ThermalReading&) const = default;
};

// `<root>/sys/class/thermal/thermal_zone0/temp` and
// `<root>/sys/devices/platform/soc/soc:firmware/get_throttled`. A missing or
// unparsable file leaves its field empty; reading never fails.
ThermalReading ReadThermal(const std::string& root = "/");

// "48312\n" -> 48312; nullopt for anything else (empty, garbage, out of
// kMinTemperatureMc..kMaxTemperatureMc).
std::optional<std::int64_t> ParseMillidegrees(std::string_view text);
// "0x50005\n" or "50005" (hex, as the firmware writes it) -> bits; nullopt
// for garbage or more than 32 bits.
std::optional<std::uint32_t> ParseThrottled(std::string_view text);

// Whether cgroup memory limits work under `root` (a cgroup hierarchy with the
// memory controller enabled), read as ReadHardwareProfile reads it.
bool MemoryLimitsAvailable(const std::string& root = "/");

inline constexpr std::int64_t kMinTemperatureMc = -100'000;  // -100 °C
inline constexpr std::int64_t kMaxTemperatureMc = 200'000;   // 200 °C

// The kNodeHealth payload (docs/wire_format.md, "Node health").
struct NodeHealthMsg {
  std::int64_t wall_ns = 0;  // the node's wall clock when sent (> 0)
  std::optional<std::int64_t> temperature_mc;
  std::optional<std::uint32_t> throttled;
  bool memory_controller = false;

  bool operator==(const NodeHealthMsg&) const = default;
};

inline constexpr std::size_t kMaxNodeHealthBytes = 64;

// InvalidArgument when a field is out of bounds (the decoder would refuse it).
mesh::Result<std::string> EncodeNodeHealth(const NodeHealthMsg& msg);
// Corrupt for malformed, truncated, oversized or out-of-bounds input;
// Unsupported for an unknown version.
mesh::Result<NodeHealthMsg> DecodeNodeHealth(std::string_view bytes);

// Decides when the agent sends its health and logs throttle transitions as
// timing events (`throttle` / `start`, `end`; docs/timing_log.md).
class HealthReporter {
 public:
  static constexpr std::chrono::seconds kSendInterval{10};
  // How often the sysfs files are read between sends (to catch throttle
  // transitions quickly without reading them every loop turn).
  static constexpr std::chrono::seconds kReadInterval{1};

  // `log` and its clock must outlive the reporter. Whether memory limits
  // work is read once, here (it only changes with a reboot).
  HealthReporter(std::string hw_root, mesh::TimingLog& log);

  // The encoded payload when a message is due now: on the first call, every
  // kSendInterval, and as soon as a reading shows throttling start or end.
  std::optional<std::string> Poll();

  // The last reading (for tests and logs).
  const ThermalReading& last() const { return last_; }

 private:
  void Transition(const ThermalReading& now, mesh::MonoTime at);

  const std::string hw_root_;
  const bool memory_controller_;
  mesh::TimingLog& log_;
  ThermalReading last_;
  bool throttling_ = false;
  mesh::MonoTime throttle_since_{};
  std::optional<mesh::MonoTime> last_read_;
  std::optional<mesh::MonoTime> last_sent_;
};

}  // namespace swarmlet
