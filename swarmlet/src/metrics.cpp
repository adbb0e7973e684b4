#include "swarmlet/metrics.h"

#include "read_text.h"

#include <dirent.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include "mesh/atomic_file.h"
#include "mesh/timing_log.h"
#include "swarmlet/build_info.h"
#include "swarmlet/cli.h"

namespace swarmlet {
namespace {

// ---------------------------------------------------------------------------
// Text helpers

std::string Join(const std::string& root, const std::string& path) {
  return root == "/" || root.empty() ? path : root + path;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

long ClockTicks() {
  const long ticks = sysconf(_SC_CLK_TCK);
  return ticks > 0 ? ticks : 100;
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ---------------------------------------------------------------------------
// Family building

void AddFamily(std::vector<MetricFamily>& families, std::string name, std::string help,
               MetricType type, double value, MetricLabels labels = {}) {
  families.push_back({std::move(name), std::move(help), type, {{std::move(labels), value}}});
}

std::string BytesText(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// Short, stable label values (CgroupModeName is the human wording).
std::string CgroupLabel(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kUnified:
      return "unified";
    case CgroupMode::kHybrid:
      return "hybrid";
    case CgroupMode::kLegacy:
      return "legacy";
    case CgroupMode::kNone:
      return "none";
  }
  return "unknown";
}

int PidFromStateDir(const std::string& root, const std::string& state_dir) {
  if (state_dir.empty()) return 0;
  std::string text = internal::ReadText(state_dir + "/swarmlet.pid");
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  int pid = 0;
  if (!ParseNumber(std::string_view(text), pid) || pid <= 0) return 0;
  // Only a live process counts; a stale file falls back to the tool itself.
  return access(Join(root, "/proc/" + std::to_string(pid) + "/stat").c_str(), R_OK) == 0 ? pid : 0;
}

}  // namespace

// ---------------------------------------------------------------------------
// Prometheus text format

bool ValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (char c : name) {
    if (!(IsNameStart(c) || IsDigit(c) || c == ':')) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.substr(0, 2) == "__") return false;
  for (char c : name) {
    if (!(IsNameStart(c) || IsDigit(c))) return false;
  }
  return true;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Whole numbers below 2^53 print exactly, without an exponent.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    return std::to_string(static_cast<std::int64_t>(value));
  }
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, ptr) : "NaN";
}

mesh::Result<std::string> FormatPrometheus(const std::vector<MetricFamily>& families) {
  constexpr std::string_view kOp = "format metrics";
  std::set<std::string, std::less<>> names;
  std::string out;
  for (const auto& f : families) {
    if (!ValidMetricName(f.name)) {
      return mesh::Status::InvalidArgument(kOp, "invalid metric name '" + f.name + "'");
    }
    if (!names.insert(f.name).second) {
      return mesh::Status::InvalidArgument(kOp, "metric family '" + f.name + "' given twice");
    }
    const bool counter = f.type == MetricType::kCounter;
    const bool histogram = f.type == MetricType::kHistogram;
    if (counter && !f.name.ends_with("_total")) {
      return mesh::Status::InvalidArgument(kOp, "counter '" + f.name + "' must end in _total");
    }
    out += "# HELP " + f.name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + f.name + (counter ? " counter\n" : histogram ? " histogram\n" : " gauge\n");
    std::set<std::string> label_sets;
    for (const auto& s : f.samples) {
      if (!histogram && !s.suffix.empty()) {
        return mesh::Status::InvalidArgument(kOp, "suffix on a sample of '" + f.name + "'");
      }
      if (histogram && s.suffix != "_bucket" && s.suffix != "_sum" && s.suffix != "_count") {
        return mesh::Status::InvalidArgument(
            kOp, "histogram '" + f.name + "' sample suffix must be _bucket, _sum or _count");
      }
      const bool has_le = std::any_of(s.labels.begin(), s.labels.end(),
                                      [](const auto& kv) { return kv.first == "le"; });
      if (histogram && has_le != (s.suffix == "_bucket")) {
        return mesh::Status::InvalidArgument(
            kOp, "histogram '" + f.name + "': 'le' belongs on _bucket samples only");
      }
      std::set<std::string_view> label_names;
      std::string labels;
      for (const auto& [key, value] : s.labels) {
        if (!ValidLabelName(key)) {
          return mesh::Status::InvalidArgument(
              kOp, "invalid label name '" + key + "' in '" + f.name + "'");
        }
        if (!label_names.insert(key).second) {
          return mesh::Status::InvalidArgument(kOp,
                                               "label '" + key + "' repeated in '" + f.name + "'");
        }
        labels += (labels.empty() ? "" : ",") + key + "=\"" + EscapeLabelValue(value) + "\"";
      }
      // Label order does not make a series distinct.
      std::vector<std::string> canonical;
      for (const auto& [key, value] : s.labels) canonical.push_back(key + "=" + value);
      std::sort(canonical.begin(), canonical.end());
      std::string key_of_set = s.suffix + '\0';
      for (const auto& c : canonical) key_of_set += c + '\0';
      if (!label_sets.insert(key_of_set).second) {
        return mesh::Status::InvalidArgument(
            kOp, "two samples of '" + f.name + "' have the same labels");
      }
      out += f.name + s.suffix;
      if (!labels.empty()) out += "{" + labels + "}";
      out += " " + FormatMetricValue(s.value) + "\n";
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Parsers

bool ParseProcStat(std::string_view text, long clock_ticks, NodeMetrics& m) {
  static constexpr const char* kModes[] = {"user",   "nice", "system",  "idle",
                                           "iowait", "irq",  "softirq", "steal"};
  bool found = false;
  std::vector<std::pair<std::string, double>> cpu;
  std::int64_t btime = 0;
  for (auto line : Lines(text)) {
    const auto f = Fields(line);
    if (f.empty()) continue;
    if (f[0] == "cpu") {
      for (std::size_t i = 0; i < std::size(kModes) && i + 1 < f.size(); ++i) {
        std::uint64_t ticks = 0;
        if (!ParseNumber(f[i + 1], ticks)) return false;
        cpu.emplace_back(kModes[i], static_cast<double>(ticks) / static_cast<double>(clock_ticks));
      }
      found = cpu.size() >= 4;  // kernels before 2.6 stop at idle
    } else if (f[0] == "btime" && f.size() >= 2) {
      if (!ParseNumber(f[1], btime)) btime = 0;
    }
  }
  if (!found) return false;
  m.cpu_seconds = std::move(cpu);
  m.boot_time_seconds = btime;
  m.has_cpu = true;
  return true;
}

bool ParseLoadAvg(std::string_view text, NodeMetrics& m) {
  const auto f = Fields(Lines(text).empty() ? std::string_view() : Lines(text)[0]);
  double l1 = 0, l5 = 0, l15 = 0;
  if (f.size() < 3 || !ParseNumber(f[0], l1) || !ParseNumber(f[1], l5) || !ParseNumber(f[2], l15)) {
    return false;
  }
  m.load1 = l1;
  m.load5 = l5;
  m.load15 = l15;
  m.has_load = true;
  return true;
}

bool ParseMemInfo(std::string_view text, NodeMetrics& m) {
  std::int64_t total = -1, available = -1, free_kb = -1, buffers = 0, cached = 0;
  for (auto line : Lines(text)) {
    const auto f = Fields(line);
    if (f.size() < 2) continue;
    std::int64_t kb = 0;
    if (!ParseNumber(f[1], kb)) continue;
    if (f[0] == "MemTotal:") total = kb;
    if (f[0] == "MemAvailable:") available = kb;
    if (f[0] == "MemFree:") free_kb = kb;
    if (f[0] == "Buffers:") buffers = kb;
    if (f[0] == "Cached:") cached = kb;
  }
  if (total < 0) return false;
  // Kernels before 3.14 have no MemAvailable; approximate it.
  if (available < 0) available = free_kb < 0 ? 0 : free_kb + buffers + cached;
  if (available > total) available = total;
  m.memory_total_bytes = total * 1024;
  m.memory_available_bytes = available * 1024;
  m.memory_used_bytes = (total - available) * 1024;
  m.has_memory = true;
  return true;
}

bool ParseNetDev(std::string_view text, std::vector<NetworkDevice>& devices) {
  std::vector<NetworkDevice> out;
  bool header = false;
  for (auto line : Lines(text)) {
    // The two header lines are the ones with '|'.
    if (line.find('|') != std::string_view::npos) {
      header = true;
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const auto name_fields = Fields(line.substr(0, colon));
    if (name_fields.size() != 1) continue;
    const auto f = Fields(line.substr(colon + 1));
    NetworkDevice d;
    d.name = std::string(name_fields[0]);
    if (f.size() < 16 || !ParseNumber(f[0], d.rx_bytes) || !ParseNumber(f[1], d.rx_packets) ||
        !ParseNumber(f[8], d.tx_bytes) || !ParseNumber(f[9], d.tx_packets)) {
      continue;
    }
    if (d.name == "lo") continue;
    out.push_back(std::move(d));
  }
  if (!header && out.empty()) return false;
  devices = std::move(out);
  return true;
}

bool ParseUptime(std::string_view text, NodeMetrics& m) {
  const auto f = Fields(Lines(text).empty() ? std::string_view() : Lines(text)[0]);
  double up = 0;
  if (f.empty() || !ParseNumber(f[0], up) || up < 0) return false;
  m.uptime_seconds = up;
  m.has_uptime = true;
  return true;
}

bool ParseProcessStatus(std::string_view text, ProcessMetrics& p) {
  bool any = false;
  ProcessMetrics q = p;
  for (auto line : Lines(text)) {
    const auto f = Fields(line);
    if (f.size() < 2) continue;
    std::int64_t n = 0;
    if (!ParseNumber(f[1], n)) continue;
    const std::int64_t kb_scale = f.size() >= 3 && f[2] == "kB" ? 1024 : 1;
    if (f[0] == "VmRSS:") {
      q.resident_bytes = n * kb_scale;
      any = true;
    } else if (f[0] == "VmHWM:") {
      q.resident_max_bytes = n * kb_scale;
    } else if (f[0] == "VmSize:") {
      q.virtual_bytes = n * kb_scale;
    } else if (f[0] == "Threads:") {
      q.threads = static_cast<int>(n);
    }
  }
  if (!any) return false;
  q.has_status = true;
  p = q;
  return true;
}

bool ParseProcessStat(std::string_view text, long clock_ticks, std::int64_t boot_time_seconds,
                      ProcessMetrics& p) {
  // "pid (comm) state ...": comm may hold spaces and parentheses, so the
  // fields start after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return false;
  const auto f = Fields(Lines(text.substr(close + 1)).empty() ? std::string_view()
                                                              : Lines(text.substr(close + 1))[0]);
  // f[0] is field 3 (state); utime is field 14, stime 15, num_threads 20, starttime 22.
  if (f.size() < 20) return false;
  std::uint64_t utime = 0, stime = 0, start = 0;
  int threads = 0;
  if (!ParseNumber(f[11], utime) || !ParseNumber(f[12], stime) || !ParseNumber(f[17], threads) ||
      !ParseNumber(f[19], start)) {
    return false;
  }
  const auto ticks = static_cast<double>(clock_ticks);
  p.cpu_user_seconds = static_cast<double>(utime) / ticks;
  p.cpu_system_seconds = static_cast<double>(stime) / ticks;
  if (p.threads == 0) p.threads = threads;
  p.start_time_seconds = boot_time_seconds > 0 ? static_cast<double>(boot_time_seconds) +
                                                     static_cast<double>(start) / ticks
                                               : 0;
  p.has_stat = true;
  return true;
}

// ---------------------------------------------------------------------------
// Reading

NodeMetrics ReadNodeMetrics(const std::string& root, const std::string& state_dir, int pid,
                            const std::string& hardware_root) {
  NodeMetrics m;
  m.hardware = ReadHardwareProfile(hardware_root.empty() ? root : hardware_root,
                                   state_dir.empty() ? "/" : state_dir);
  m.thermal = ReadThermal(hardware_root.empty() ? root : hardware_root);
  const long ticks = ClockTicks();
  ParseProcStat(internal::ReadText(Join(root, "/proc/stat")), ticks, m);
  ParseLoadAvg(internal::ReadText(Join(root, "/proc/loadavg")), m);
  ParseMemInfo(internal::ReadText(Join(root, "/proc/meminfo")), m);
  ParseNetDev(internal::ReadText(Join(root, "/proc/net/dev")), m.network);
  ParseUptime(internal::ReadText(Join(root, "/proc/uptime")), m);

  if (!state_dir.empty()) {
    struct statvfs fs {};
    if (statvfs(state_dir.c_str(), &fs) == 0) {
      m.state_fs_size_bytes = static_cast<std::int64_t>(fs.f_blocks * fs.f_frsize);
      m.state_fs_avail_bytes = static_cast<std::int64_t>(fs.f_bavail * fs.f_frsize);
      m.has_state_fs = true;
    }
  }

  m.process_pid = pid;
  const std::string proc = Join(root, pid > 0 ? "/proc/" + std::to_string(pid) : "/proc/self");
  ParseProcessStatus(internal::ReadText(proc + "/status"), m.process);
  ParseProcessStat(internal::ReadText(proc + "/stat"), ticks, m.boot_time_seconds, m.process);
  if (DIR* d = opendir((proc + "/fd").c_str())) {
    int n = 0;
    while (const dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    // Listing the real /proc/self/fd opens one descriptor of its own.
    m.process.open_fds = pid == 0 && (root.empty() || root == "/") ? n - 1 : n;
  }
  return m;
}

namespace {

// Temperature and the firmware's throttling bits (docs/node_health.md), each
// only where the node exposes it.
void AddThermalFamilies(std::vector<MetricFamily>& f, const ThermalReading& t) {
  if (t.temperature_mc) {
    AddFamily(f, "stratoswarm_node_temperature_celsius", "SoC temperature (thermal_zone0).",
              MetricType::kGauge, static_cast<double>(*t.temperature_mc) / 1000.0);
  }
  if (!t.throttled) return;
  MetricFamily now{"stratoswarm_node_throttled",
                   "1 while the firmware reports this condition now (get_throttled bits 0-3).",
                   MetricType::kGauge,
                   {}};
  MetricFamily occurred{"stratoswarm_node_throttled_since_boot",
                        "1 when the firmware reports this condition happened since boot (bits 16-19).",
                        MetricType::kGauge,
                        {}};
  const auto names = ThrottleReasons(kThrottleNowMask);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::uint32_t bit = 1u << i;
    now.samples.push_back({{{"reason", std::string(names[i])}}, (*t.throttled & bit) ? 1.0 : 0.0});
    occurred.samples.push_back(
        {{{"reason", std::string(names[i])}},
         (*t.throttled & (bit << kThrottleOccurredShift)) ? 1.0 : 0.0});
  }
  f.push_back(std::move(now));
  f.push_back(std::move(occurred));
}

}  // namespace

std::vector<MetricFamily> NodeMetricFamilies(const NodeMetrics& m,
                                             const std::vector<ExtraGauge>& extra) {
  std::vector<MetricFamily> f;
  AddFamily(f, "stratoswarm_swarmlet_build_info",
            "Build of the swarmlet binary reporting these metrics; always 1.", MetricType::kGauge,
            1,
            {{"version", std::string(Version())},
             {"revision", std::string(Revision())},
             {"arch", std::string(Arch())},
             {"static", StaticallyLinked() ? "true" : "false"}});
  const auto& hw = m.hardware;
  AddFamily(f, "stratoswarm_node_info", "Static facts about this node; always 1.",
            MetricType::kGauge, 1,
            {{"arch", hw.arch},
             {"model", hw.model},
             {"gpu_model", hw.gpu_model},
             {"cgroup_mode", CgroupLabel(hw.cgroup_mode)}});
  AddFamily(f, "stratoswarm_node_cpu_cores", "Online CPUs.", MetricType::kGauge, hw.cores);
  AddFamily(f, "stratoswarm_node_gpus", "NVIDIA GPUs with a loaded driver (0 or 1).",
            MetricType::kGauge, hw.gpu ? 1 : 0);
  AddThermalFamilies(f, m.thermal);

  if (m.has_cpu) {
    MetricFamily cpu{"stratoswarm_node_cpu_seconds_total",
                     "CPU time spent by all CPUs of this node, by mode.",
                     MetricType::kCounter,
                     {}};
    for (const auto& [mode, seconds] : m.cpu_seconds)
      cpu.samples.push_back({{{"mode", mode}}, seconds});
    f.push_back(std::move(cpu));
    if (m.boot_time_seconds > 0) {
      AddFamily(f, "stratoswarm_node_boot_time_seconds",
                "Node boot time, seconds since the Unix epoch.", MetricType::kGauge,
                static_cast<double>(m.boot_time_seconds));
    }
  }
  if (m.has_load) {
    AddFamily(f, "stratoswarm_node_load1", "1-minute load average.", MetricType::kGauge, m.load1);
    AddFamily(f, "stratoswarm_node_load5", "5-minute load average.", MetricType::kGauge, m.load5);
    AddFamily(f, "stratoswarm_node_load15", "15-minute load average.", MetricType::kGauge,
              m.load15);
  }
  if (m.has_memory) {
    AddFamily(f, "stratoswarm_node_memory_total_bytes", "Physical memory (MemTotal).",
              MetricType::kGauge, static_cast<double>(m.memory_total_bytes));
    AddFamily(f, "stratoswarm_node_memory_available_bytes",
              "Memory available for new work without swapping (MemAvailable).", MetricType::kGauge,
              static_cast<double>(m.memory_available_bytes));
    AddFamily(f, "stratoswarm_node_memory_used_bytes", "Memory in use: total minus available.",
              MetricType::kGauge, static_cast<double>(m.memory_used_bytes));
  }
  if (!m.network.empty()) {
    MetricFamily rx{"stratoswarm_node_network_receive_bytes_total",
                    "Bytes received per network interface (loopback excluded).",
                    MetricType::kCounter,
                    {}};
    MetricFamily tx{"stratoswarm_node_network_transmit_bytes_total",
                    "Bytes sent per network interface (loopback excluded).",
                    MetricType::kCounter,
                    {}};
    MetricFamily rxp{"stratoswarm_node_network_receive_packets_total",
                     "Packets received per network interface (loopback excluded).",
                     MetricType::kCounter,
                     {}};
    MetricFamily txp{"stratoswarm_node_network_transmit_packets_total",
                     "Packets sent per network interface (loopback excluded).",
                     MetricType::kCounter,
                     {}};
    for (const auto& d : m.network) {
      rx.samples.push_back({{{"device", d.name}}, static_cast<double>(d.rx_bytes)});
      tx.samples.push_back({{{"device", d.name}}, static_cast<double>(d.tx_bytes)});
      rxp.samples.push_back({{{"device", d.name}}, static_cast<double>(d.rx_packets)});
      txp.samples.push_back({{{"device", d.name}}, static_cast<double>(d.tx_packets)});
    }
    f.push_back(std::move(rx));
    f.push_back(std::move(tx));
    f.push_back(std::move(rxp));
    f.push_back(std::move(txp));
  }
  if (m.has_uptime) {
    AddFamily(f, "stratoswarm_node_uptime_seconds", "Seconds since the node booted.",
              MetricType::kGauge, m.uptime_seconds);
  }
  if (m.has_state_fs) {
    AddFamily(f, "stratoswarm_node_state_filesystem_size_bytes",
              "Size of the filesystem holding the state directory.", MetricType::kGauge,
              static_cast<double>(m.state_fs_size_bytes));
    AddFamily(f, "stratoswarm_node_state_filesystem_avail_bytes",
              "Space available to unprivileged users on the state directory's filesystem.",
              MetricType::kGauge, static_cast<double>(m.state_fs_avail_bytes));
  }

  const auto& p = m.process;
  if (p.has_status) {
    AddFamily(f, "stratoswarm_swarmlet_resident_memory_bytes", "Resident set size (VmRSS).",
              MetricType::kGauge, static_cast<double>(p.resident_bytes));
    AddFamily(f, "stratoswarm_swarmlet_resident_memory_max_bytes",
              "Peak resident set size (VmHWM).", MetricType::kGauge,
              static_cast<double>(p.resident_max_bytes));
    AddFamily(f, "stratoswarm_swarmlet_virtual_memory_bytes", "Virtual memory size (VmSize).",
              MetricType::kGauge, static_cast<double>(p.virtual_bytes));
  }
  if (p.has_status || p.has_stat) {
    AddFamily(f, "stratoswarm_swarmlet_threads", "Threads of the swarmlet process.",
              MetricType::kGauge, p.threads);
  }
  if (p.has_stat) {
    AddFamily(f, "stratoswarm_swarmlet_cpu_seconds_total",
              "CPU time used by the swarmlet process, by mode.", MetricType::kCounter, 0);
    f.back().samples = {{{{"mode", "user"}}, p.cpu_user_seconds},
                        {{{"mode", "system"}}, p.cpu_system_seconds}};
    if (p.start_time_seconds > 0) {
      AddFamily(f, "stratoswarm_swarmlet_start_time_seconds",
                "Start time of the swarmlet process, seconds since the Unix epoch.",
                MetricType::kGauge, p.start_time_seconds);
    }
  }
  if (p.open_fds >= 0) {
    AddFamily(f, "stratoswarm_swarmlet_open_fds", "Open file descriptors of the swarmlet process.",
              MetricType::kGauge, p.open_fds);
  }

  // Caller gauges: one family per name, in first-seen order.
  for (const auto& g : extra) {
    auto it = std::find_if(f.begin(), f.end(), [&](const MetricFamily& fam) {
      return fam.name == g.name && fam.type == MetricType::kGauge;
    });
    if (it == f.end()) {
      f.push_back({g.name, g.help, MetricType::kGauge, {}});
      it = f.end() - 1;
    }
    it->samples.push_back({g.labels, g.value});
  }
  return f;
}

mesh::Result<std::string> NodeMetricsText(const std::string& root, const std::string& state_dir,
                                          const std::vector<ExtraGauge>& extra, int pid) {
  return FormatPrometheus(NodeMetricFamilies(ReadNodeMetrics(root, state_dir, pid), extra));
}

// ---------------------------------------------------------------------------
// Duration histograms

std::vector<double> DefaultDurationBuckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

DurationHistograms::DurationHistograms(std::vector<double> bounds) : bounds_(std::move(bounds)) {}

void DurationHistograms::Observe(std::string_view event, std::string_view phase, double seconds) {
  if (!std::isfinite(seconds)) return;
  std::string name = "stratoswarm_";
  for (char c : event) name += IsNameStart(c) || IsDigit(c) ? c : '_';
  name += "_duration_seconds";
  std::lock_guard lock(mu_);
  Series& s = series_[name][std::string(phase)];
  if (s.buckets.empty()) s.buckets.resize(bounds_.size());
  // The first bound that holds it; above every bound only +Inf counts it.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
  if (it != bounds_.end()) ++s.buckets[static_cast<std::size_t>(it - bounds_.begin())];
  ++s.count;
  s.sum += seconds;
}

std::vector<MetricFamily> DurationHistograms::Families() const {
  std::vector<MetricFamily> families;
  std::lock_guard lock(mu_);
  for (const auto& [name, phases] : series_) {
    MetricFamily f{name,
                   "Duration of timed phases (see the timing log), by phase.",
                   MetricType::kHistogram,
                   {}};
    for (const auto& [phase, s] : phases) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += s.buckets[i];
        f.samples.push_back({{{"phase", phase}, {"le", FormatMetricValue(bounds_[i])}},
                             static_cast<double>(cumulative),
                             "_bucket"});
      }
      f.samples.push_back(
          {{{"phase", phase}, {"le", "+Inf"}}, static_cast<double>(s.count), "_bucket"});
      f.samples.push_back({{{"phase", phase}}, s.sum, "_sum"});
      f.samples.push_back({{{"phase", phase}}, static_cast<double>(s.count), "_count"});
    }
    families.push_back(std::move(f));
  }
  return families;
}

// ---------------------------------------------------------------------------
// `stratoswarm-metrics`

mesh::Status WriteSwarmletPidFile(const std::string& state_dir) {
  return mesh::WriteFileAtomic(state_dir + "/swarmlet.pid", std::to_string(getpid()) + "\n", 0644);
}

int RunMetricsTool(const MetricsToolOptions& options, std::ostream& out) {
  const int pid = options.pid > 0 ? options.pid : PidFromStateDir(options.root, options.state_dir);
  std::string state_dir = options.state_dir;
  if (!state_dir.empty() && access(state_dir.c_str(), F_OK) != 0) state_dir.clear();
  const NodeMetrics m = ReadNodeMetrics(options.root, state_dir, pid);
  auto families = NodeMetricFamilies(m, options.extra);
  families.insert(families.end(), options.extra_families.begin(), options.extra_families.end());
  auto text = FormatPrometheus(families);
  if (!text.ok()) {
    std::cerr << "stratoswarm-metrics: " << text.status().message() << "\n";
    return kExitFailure;
  }
  if (options.prometheus_format) {
    out << *text;
    return kExitOk;
  }

  // The short human view.
  std::vector<std::pair<std::string, std::string>> rows;
  const auto& hw = m.hardware;
  rows.emplace_back("node", hw.arch + ", " + hw.model + ", " + std::to_string(hw.cores) + " cores" +
                                (hw.gpu ? ", GPU " + hw.gpu_model : ""));
  rows.emplace_back("build", std::string(Version()) + " (" + std::string(Revision()) + ", " +
                                 std::string(Arch()) + ")");
  if (m.has_uptime) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f s", m.uptime_seconds);
    rows.emplace_back("uptime", buf);
  }
  if (m.has_load) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", m.load1, m.load5, m.load15);
    rows.emplace_back("load", buf);
  }
  if (m.has_cpu) {
    double busy = 0, total = 0;
    for (const auto& [mode, s] : m.cpu_seconds) {
      total += s;
      if (mode != "idle" && mode != "iowait") busy += s;
    }
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.0f s busy of %.0f s (since boot, %.1f%%)", busy, total,
                  total > 0 ? 100.0 * busy / total : 0.0);
    rows.emplace_back("cpu", buf);
  }
  if (m.has_memory) {
    rows.emplace_back("memory", BytesText(m.memory_used_bytes) + " used, " +
                                    BytesText(m.memory_available_bytes) + " available, " +
                                    BytesText(m.memory_total_bytes) + " total");
  }
  for (const auto& d : m.network) {
    rows.emplace_back("net " + d.name, "rx " + BytesText(static_cast<std::int64_t>(d.rx_bytes)) +
                                           ", tx " +
                                           BytesText(static_cast<std::int64_t>(d.tx_bytes)));
  }
  if (m.has_state_fs) {
    rows.emplace_back("state fs", BytesText(m.state_fs_avail_bytes) + " free of " +
                                      BytesText(m.state_fs_size_bytes));
  }
  const std::string who = pid > 0 ? "swarmlet (pid " + std::to_string(pid) + ")" : "this process";
  if (m.process.has_status) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ", cpu %.2f s user %.2f s system", m.process.cpu_user_seconds,
                  m.process.cpu_system_seconds);
    rows.emplace_back(who, "rss " + BytesText(m.process.resident_bytes) + ", peak " +
                               BytesText(m.process.resident_max_bytes) + buf);
  }
  for (const auto& g : options.extra) {
    std::string name = g.name;
    for (const auto& [k, v] : g.labels) name += " " + k + "=" + v;
    rows.emplace_back(name, FormatMetricValue(g.value));
  }
  // Long keys (extra gauges with labels) overflow rather than widen every row.
  std::size_t width = 0;
  for (const auto& [k, v] : rows) width = std::max(width, std::min<std::size_t>(k.size(), 20));
  for (const auto& [k, v] : rows) {
    out << std::left << std::setw(static_cast<int>(width)) << k << "  " << v << "\n";
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Resource series

namespace {

// Counter delta, zero when it went backwards.
double Delta(double before, double after) { return after >= before ? after - before : 0; }

void CpuTotals(const NodeMetrics& m, double& busy, double& total) {
  busy = total = 0;
  for (const auto& [mode, seconds] : m.cpu_seconds) {
    total += seconds;
    if (mode != "idle" && mode != "iowait") busy += seconds;
  }
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::isfinite(v) ? v : 0.0);
  return buf;
}

}  // namespace

ResourceRates ComputeResourceRates(const NodeMetrics& before, const NodeMetrics& after,
                                   double interval_seconds) {
  constexpr double kMiB = 1024.0 * 1024.0;
  ResourceRates r;
  r.interval_seconds = interval_seconds;
  r.memory_used_mb = static_cast<double>(after.memory_used_bytes) / kMiB;
  r.process_rss_mb = static_cast<double>(after.process.resident_bytes) / kMiB;
  if (before.has_cpu && after.has_cpu) {
    double busy0 = 0, total0 = 0, busy1 = 0, total1 = 0;
    CpuTotals(before, busy0, total0);
    CpuTotals(after, busy1, total1);
    const double total = Delta(total0, total1);
    if (total > 0) r.cpu_percent = std::min(100.0, 100.0 * Delta(busy0, busy1) / total);
  }
  if (interval_seconds <= 0) return r;
  double rx_bytes = 0, tx_bytes = 0;
  for (const auto& d1 : after.network) {
    const auto d0 = std::find_if(before.network.begin(), before.network.end(),
                                 [&](const NetworkDevice& d) { return d.name == d1.name; });
    if (d0 == before.network.end()) continue;  // appeared in between: no baseline
    rx_bytes += Delta(static_cast<double>(d0->rx_bytes), static_cast<double>(d1.rx_bytes));
    tx_bytes += Delta(static_cast<double>(d0->tx_bytes), static_cast<double>(d1.tx_bytes));
  }
  r.network_rx_mbit_s = rx_bytes * 8 / 1e6 / interval_seconds;
  r.network_tx_mbit_s = tx_bytes * 8 / 1e6 / interval_seconds;
  if (before.process.has_stat && after.process.has_stat) {
    const double cpu0 = before.process.cpu_user_seconds + before.process.cpu_system_seconds;
    const double cpu1 = after.process.cpu_user_seconds + after.process.cpu_system_seconds;
    r.process_cpu_percent = 100.0 * Delta(cpu0, cpu1) / interval_seconds;
  }
  return r;
}

std::string ResourceRatesJson(const ResourceRates& r, std::int64_t ts_ns, std::string_view node) {
  return "{\"ts_ns\":" + std::to_string(ts_ns) + ",\"node\":\"" + mesh::JsonEscape(node) +
         "\",\"interval_s\":" + Fixed(r.interval_seconds, 3) +
         ",\"cpu_percent\":" + Fixed(r.cpu_percent, 2) +
         ",\"memory_used_mb\":" + Fixed(r.memory_used_mb, 1) +
         ",\"net_rx_mbit_s\":" + Fixed(r.network_rx_mbit_s, 3) +
         ",\"net_tx_mbit_s\":" + Fixed(r.network_tx_mbit_s, 3) +
         ",\"process_cpu_percent\":" + Fixed(r.process_cpu_percent, 2) +
         ",\"process_rss_mb\":" + Fixed(r.process_rss_mb, 1) + "}";
}

int RunMetricsSeries(const MetricsToolOptions& options, std::string_view node, int count,
                     std::chrono::milliseconds interval, std::ostream& out,
                     const mesh::Clock& clock,
                     const std::function<void(std::chrono::milliseconds)>& sleep) {
  if (count < 2 || interval.count() <= 0) {
    std::cerr << "stratoswarm-metrics: --series needs a count of at least 2 and a positive "
                 "interval\n";
    return kExitUsage;
  }
  const int pid = options.pid > 0 ? options.pid : PidFromStateDir(options.root, options.state_dir);
  NodeMetrics before = ReadNodeMetrics(options.root, "", pid);
  mesh::MonoTime t0 = clock.Now();
  for (int i = 1; i < count; ++i) {
    sleep(interval);
    NodeMetrics after = ReadNodeMetrics(options.root, "", pid);
    const mesh::MonoTime t1 = clock.Now();
    const auto rates =
        ComputeResourceRates(before, after, std::chrono::duration<double>(t1 - t0).count());
    out << ResourceRatesJson(rates, clock.WallNs(), node) << "\n" << std::flush;
    before = std::move(after);
    t0 = t1;
  }
  return kExitOk;
}

}  // namespace swarmlet
