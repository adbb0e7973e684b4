#include "swarmlet/node_health.h"

#include <charconv>
#include <limits>

#include "mesh/msgpack_strict.h"
#include "swarmlet/cgroup_mode.h"
#include "read_text.h"

namespace swarmlet {
namespace {

using mesh::Status;
using mesh::internal::FieldReader;
using mesh::internal::Packer;
using mesh::internal::StringSink;
using Ms = std::chrono::duration<double, std::milli>;

// [version, wall_ns, temperature_mc|nil, throttled|nil, memory_controller]
// (docs/wire_format.md, "Node health"; change both together).
constexpr std::uint64_t kNodeHealthVersion = 1;
constexpr std::size_t kNodeHealthFields = 5;
const mesh::internal::Limits kNodeHealthLimits{kMaxNodeHealthBytes, kNodeHealthFields, 0, 0, 0, 1};

struct Reason {
  std::uint32_t bit;
  std::string_view name;
  std::string_view text;
};
constexpr Reason kReasons[] = {
    {kThrottleUnderVoltage, "under_voltage", "under-voltage"},
    {kThrottleFrequencyCapped, "frequency_capped", "frequency capped"},
    {kThrottleThrottled, "throttled", "cpu throttled"},
    {kThrottleSoftTempLimit, "soft_temp_limit", "soft temperature limit"},
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

std::string Join(const std::string& root, const char* path) {
  return root == "/" ? path : root + path;
}

bool ValidTemperature(std::int64_t mc) { return mc >= kMinTemperatureMc && mc <= kMaxTemperatureMc; }

Status Check(const NodeHealthMsg& m) {
  constexpr std::string_view op = "encode node health";
  if (m.wall_ns <= 0) return Status::InvalidArgument(op, "wall_ns must be > 0");
  if (m.temperature_mc && !ValidTemperature(*m.temperature_mc)) {
    return Status::InvalidArgument(op, "temperature out of -100..200 °C");
  }
  return Status::Ok();
}

std::string JoinReasons(std::uint32_t bits) {
  std::string out;
  for (std::string_view r : ThrottleReasons(bits)) out += (out.empty() ? "" : ",") + std::string(r);
  return out;
}

}  // namespace

bool MemoryLimitsAvailable(const std::string& root) {
  // As ReadHardwareProfile reads it, so the join profile and the health
  // messages agree.
  const std::string cgroup_root = Join(root, "/sys/fs/cgroup");
  return DetectCgroupMode(cgroup_root) != CgroupMode::kNone && MemoryControllerEnabled(cgroup_root);
}

std::vector<std::string_view> ThrottleReasons(std::uint32_t bits) {
  std::vector<std::string_view> out;
  for (const Reason& r : kReasons) {
    if ((bits & r.bit) != 0) out.push_back(r.name);
  }
  return out;
}

std::vector<std::string_view> ThrottleReasonTexts(std::uint32_t bits) {
  std::vector<std::string_view> out;
  for (const Reason& r : kReasons) {
    if ((bits & r.bit) != 0) out.push_back(r.text);
  }
  return out;
}

std::optional<std::int64_t> ParseMillidegrees(std::string_view text) {
  text = Trim(text);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !ValidTemperature(v)) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::uint32_t> ParseThrottled(std::string_view text) {
  text = Trim(text);
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

ThermalReading ReadThermal(const std::string& root) {
  ThermalReading r;
  r.temperature_mc =
      ParseMillidegrees(internal::ReadText(Join(root, "/sys/class/thermal/thermal_zone0/temp")));
  r.throttled = ParseThrottled(
      internal::ReadText(Join(root, "/sys/devices/platform/soc/soc:firmware/get_throttled")));
  return r;
}

mesh::Result<std::string> EncodeNodeHealth(const NodeHealthMsg& m) {
  MESH_RETURN_IF_ERROR(Check(m));
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kNodeHealthFields);
  pk.pack_uint64(kNodeHealthVersion);
  pk.pack_int64(m.wall_ns);
  if (m.temperature_mc) {
    pk.pack_int64(*m.temperature_mc);
  } else {
    pk.pack_nil();
  }
  if (m.throttled) {
    pk.pack_uint32(*m.throttled);
  } else {
    pk.pack_nil();
  }
  if (m.memory_controller) {
    pk.pack_true();
  } else {
    pk.pack_false();
  }
  return out;
}

mesh::Result<NodeHealthMsg> DecodeNodeHealth(std::string_view bytes) {
  constexpr std::string_view op = "decode node health";
  msgpack::object_handle h;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kNodeHealthLimits, op, h));
  const msgpack::object& root = h.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size == 0) {
    return Status::Corrupt(op, "not a non-empty array");
  }
  FieldReader r(op, root);
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kNodeHealthVersion) {
    return Status::Unsupported(op, "version " + std::to_string(version) + " (this build speaks " +
                                       std::to_string(kNodeHealthVersion) + ")");
  }
  MESH_RETURN_IF_ERROR(r.ExpectArray(kNodeHealthFields, "node health"));
  NodeHealthMsg m;
  MESH_RETURN_IF_ERROR(r.Int(1, "wall_ns", m.wall_ns));
  if (m.wall_ns <= 0) return r.Bad("wall_ns", "is not positive");
  if (r.at(2).type != msgpack::type::NIL) {
    std::int64_t t = 0;
    MESH_RETURN_IF_ERROR(r.Int(2, "temperature_mc", t));
    if (!ValidTemperature(t)) return r.Bad("temperature_mc", "is out of -100..200 °C");
    m.temperature_mc = t;
  }
  if (r.at(3).type != msgpack::type::NIL) {
    std::uint64_t bits = 0;
    MESH_RETURN_IF_ERROR(r.Uint(3, "throttled", bits));
    if (bits > std::numeric_limits<std::uint32_t>::max()) return r.Bad("throttled", "exceeds 32 bits");
    m.throttled = static_cast<std::uint32_t>(bits);
  }
  if (r.at(4).type != msgpack::type::BOOLEAN) return r.Bad("memory_controller", "is not a boolean");
  m.memory_controller = r.at(4).via.boolean;
  return m;
}

HealthReporter::HealthReporter(std::string hw_root, mesh::TimingLog& log)
    : hw_root_(std::move(hw_root)), memory_controller_(MemoryLimitsAvailable(hw_root_)), log_(log) {}

void HealthReporter::Transition(const ThermalReading& now, mesh::MonoTime at) {
  const std::uint32_t bits = now.throttled.value_or(0);
  const bool throttling = ThrottlingNow(bits);
  if (throttling == throttling_) return;
  std::vector<mesh::TimingField> extra;
  if (throttling) extra.emplace_back("reasons", JoinReasons(bits));
  if (now.temperature_mc) extra.emplace_back("temperature_mc", *now.temperature_mc);
  if (throttling) {
    throttle_since_ = at;
    (void)log_.Record("throttle", "start", 0.0, extra);
  } else {
    (void)log_.Record("throttle", "end", Ms(at - throttle_since_).count(), extra);
  }
  throttling_ = throttling;
}

std::optional<std::string> HealthReporter::Poll() {
  const mesh::MonoTime now = log_.clock().Now();
  const bool send_due = !last_sent_ || now - *last_sent_ >= kSendInterval;
  if (!send_due && last_read_ && now - *last_read_ < kReadInterval) return std::nullopt;
  last_read_ = now;
  last_ = ReadThermal(hw_root_);
  const bool was_throttling = throttling_;
  Transition(last_, now);
  if (!send_due && throttling_ == was_throttling) return std::nullopt;
  NodeHealthMsg msg;
  msg.wall_ns = log_.clock().WallNs();
  msg.temperature_mc = last_.temperature_mc;
  msg.throttled = last_.throttled;
  msg.memory_controller = memory_controller_;
  auto bytes = EncodeNodeHealth(msg);
  if (!bytes.ok()) return std::nullopt;  // only a wall clock before 1970
  last_sent_ = now;
  return std::move(*bytes);
}

}  // namespace swarmlet
