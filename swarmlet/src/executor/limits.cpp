#include "swarmlet/executor/limits.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace swarmlet::executor {
namespace {

using mesh::Result;
using mesh::Status;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A non-negative decimal number ("1", "0.5", ".5"); the rest of `text` after
// it is returned through `rest`. strtod would also take "inf", "0x1p3" and
// locale commas, none of which a limit should accept.
bool ParseDecimal(std::string_view text, double* value, std::string_view* rest) {
  std::size_t i = 0;
  double integer = 0;
  bool digits = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    integer = integer * 10 + (text[i] - '0');
    digits = true;
    ++i;
  }
  double fraction = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    double scale = 0.1;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      fraction += (text[i] - '0') * scale;
      scale /= 10;
      digits = true;
      ++i;
    }
  }
  if (!digits) return false;
  *value = integer + fraction;
  *rest = text.substr(i);
  return true;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

Result<std::uint64_t> ParseMemorySize(std::string_view text) {
  const std::string op = "--memory " + Quote(text);
  double number = 0;
  std::string_view rest;
  if (!ParseDecimal(text, &number, &rest)) {
    return Status::InvalidArgument(op, "expected a size like 128M, 1G or 512Ki");
  }
  const std::string suffix = Lower(rest);
  double multiplier = 0;
  if (suffix.empty() || suffix == "b") {
    multiplier = 1;
  } else {
    static constexpr struct {
      char letter;
      double factor;
    } kUnits[] = {{'k', 1024.0},
                  {'m', 1024.0 * 1024},
                  {'g', 1024.0 * 1024 * 1024},
                  {'t', 1024.0 * 1024 * 1024 * 1024}};
    for (const auto& unit : kUnits) {
      if (suffix[0] != unit.letter) continue;
      const std::string_view tail = std::string_view(suffix).substr(1);
      if (tail.empty() || tail == "i" || tail == "b" || tail == "ib") multiplier = unit.factor;
    }
  }
  if (multiplier == 0) {
    return Status::InvalidArgument(op, "unknown unit " + Quote(rest) +
                                           " (use K, M, G, T; Ki/KB are the same)");
  }
  const double bytes = std::floor(number * multiplier);
  // 2^63: far above any memory and still representable in the kernel's
  // signed 64-bit limits.
  if (bytes >= 9.2e18) return Status::InvalidArgument(op, "too large");
  return static_cast<std::uint64_t>(bytes);
}

Result<double> ParseCpuCores(std::string_view text) {
  const std::string op = "--cpu " + Quote(text);
  if (!text.empty() && text[0] == '-') {
    return Status::InvalidArgument(op, "must be positive (0.5 = half a core)");
  }
  double number = 0;
  std::string_view rest;
  if (!ParseDecimal(text, &number, &rest)) {
    return Status::InvalidArgument(op, "expected cores like 0.5 or 2, or millicores like 500m");
  }
  if (rest == "m") {
    number /= 1000;
  } else if (!rest.empty()) {
    return Status::InvalidArgument(op, "expected cores like 0.5 or 2, or millicores like 500m");
  }
  return number;
}

Result<std::int64_t> ParsePidsMax(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1) {
    return Status::InvalidArgument("--pids " + Quote(text), "expected a positive integer");
  }
  return value;
}

mesh::Status ValidateCpuset(std::string_view text, int node_cpus) {
  const std::string op = "--cpuset " + Quote(text);
  if (text.empty()) return Status::InvalidArgument(op, "empty");
  int previous = -1;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string_view item = text.substr(pos, comma - pos);
    const std::size_t dash = item.find('-');
    int lo = 0, hi = 0;
    const auto parse = [](std::string_view s, int* out) {
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
      return !s.empty() && ec == std::errc() && end == s.data() + s.size() && *out >= 0;
    };
    const bool ok = dash == std::string_view::npos
                        ? parse(item, &lo) && (hi = lo, true)
                        : parse(item.substr(0, dash), &lo) && parse(item.substr(dash + 1), &hi);
    if (!ok || hi < lo || lo <= previous) {
      return Status::InvalidArgument(op, "expected ascending CPU numbers like 0-1,3");
    }
    if (hi >= node_cpus) {
      return Status::InvalidArgument(
          op, "CPU " + std::to_string(hi) + " does not exist (this node has " +
                  std::to_string(node_cpus) + ")");
    }
    previous = hi;
    pos = comma + 1;
  }
  return Status::Ok();
}

mesh::Status ValidateLimits(const ResourceLimits& limits, int node_cpus) {
  if (limits.cpu_cores) {
    const double cpu = *limits.cpu_cores;
    char text[32];
    std::snprintf(text, sizeof text, "%g", cpu);
    const std::string op = std::string("--cpu ") + text;
    if (!(cpu >= kMinCpuCores)) {
      return Status::InvalidArgument(op, "must be at least 0.01 cores");
    }
    if (cpu > node_cpus) {
      return Status::InvalidArgument(
          op, "more than the " + std::to_string(node_cpus) + " CPUs this node has");
    }
  }
  if (limits.memory_bytes && *limits.memory_bytes < kMinMemoryBytes) {
    return Status::InvalidArgument("--memory " + FormatBytes(*limits.memory_bytes),
                                   "must be at least 1M");
  }
  if (limits.pids_max && *limits.pids_max < 1) {
    return Status::InvalidArgument("--pids " + std::to_string(*limits.pids_max),
                                   "must be at least 1");
  }
  if (limits.cpuset) MESH_RETURN_IF_ERROR(ValidateCpuset(*limits.cpuset, node_cpus));
  return Status::Ok();
}

int NodeCpuCount() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
}

std::string FormatBytes(std::uint64_t bytes) {
  static constexpr const char* kSuffix[] = {"", "K", "M", "G", "T"};
  int unit = 0;
  while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kSuffix[unit];
}

std::string FormatLimits(const ResourceLimits& limits) {
  std::string out;
  const auto add = [&out](const std::string& item) {
    if (!out.empty()) out += ' ';
    out += item;
  };
  if (limits.cpu_cores) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", *limits.cpu_cores);
    add(std::string("cpu=") + buf);
  }
  if (limits.memory_bytes) add("memory=" + FormatBytes(*limits.memory_bytes));
  if (limits.pids_max) add("pids=" + std::to_string(*limits.pids_max));
  if (limits.cpuset) add("cpuset=" + *limits.cpuset);
  return out.empty() ? "unlimited" : out;
}

namespace {
std::int64_t QuotaUs(double cores) {
  return std::max<std::int64_t>(1000, std::llround(cores * kCpuPeriodUs));
}
}  // namespace

std::vector<CgroupWrite> TranslateV1(const ResourceLimits& limits, V1SwapControl swap,
                                     std::string_view cpuset_mems) {
  std::vector<CgroupWrite> out;
  if (limits.cpuset) {
    out.push_back({"cpuset", "cpuset.cpus", *limits.cpuset});
    out.push_back({"cpuset", "cpuset.mems", std::string(cpuset_mems)});
  }
  if (limits.cpu_cores) {
    // Period first: the quota is checked against it.
    out.push_back({"cpu", "cpu.cfs_period_us", std::to_string(kCpuPeriodUs)});
    out.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(QuotaUs(*limits.cpu_cores))});
  }
  if (limits.memory_bytes) {
    const std::string bytes = std::to_string(*limits.memory_bytes);
    out.push_back({"memory", "memory.limit_in_bytes", bytes});
    if (swap == V1SwapControl::kMemsw) {
      out.push_back({"memory", "memory.memsw.limit_in_bytes", bytes});
    } else if (swap == V1SwapControl::kSwappiness) {
      out.push_back({"memory", "memory.swappiness", "0"});
    }
  }
  if (limits.pids_max) out.push_back({"pids", "pids.max", std::to_string(*limits.pids_max)});
  return out;
}

std::vector<CgroupWrite> TranslateV2(const ResourceLimits& limits) {
  std::vector<CgroupWrite> out;
  if (limits.cpuset) {
    out.push_back({"cpuset", "cpuset.cpus", *limits.cpuset});
  }
  if (limits.cpu_cores) {
    out.push_back({"cpu", "cpu.max",
                   std::to_string(QuotaUs(*limits.cpu_cores)) + " " + std::to_string(kCpuPeriodUs)});
  }
  if (limits.memory_bytes) {
    out.push_back({"memory", "memory.max", std::to_string(*limits.memory_bytes)});
    out.push_back({"memory", "memory.swap.max", "0"});
  }
  if (limits.pids_max) out.push_back({"pids", "pids.max", std::to_string(*limits.pids_max)});
  return out;
}

std::vector<std::string> V1Controllers(const ResourceLimits& limits, bool memory_available) {
  std::vector<std::string> out;
  if (limits.cpuset) out.push_back("cpuset");
  if (limits.cpu_cores) out.push_back("cpu");
  out.push_back("cpuacct");
  if (memory_available || limits.memory_bytes) out.push_back("memory");
  if (limits.pids_max) out.push_back("pids");
  return out;
}

std::vector<std::string> V2Controllers(const ResourceLimits& limits, bool memory_available) {
  std::vector<std::string> out;
  if (limits.cpuset) out.push_back("cpuset");
  if (limits.cpu_cores) out.push_back("cpu");
  if (memory_available || limits.memory_bytes) out.push_back("memory");
  if (limits.pids_max) out.push_back("pids");
  return out;
}

}  // namespace swarmlet::executor
