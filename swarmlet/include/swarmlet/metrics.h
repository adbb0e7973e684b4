// Node and process metrics for `stratoswarm-metrics` and the HTTP /metrics
// endpoint: host CPU time, load, memory, network bytes, uptime, the metered
// process's RSS and CPU, and build info, read from /proc and /sys and
// serialized in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Every reading goes through a filesystem root (default "/") so tests point it
// at a fake tree, as ReadHardwareProfile does. A file that is missing or does
// not parse leaves its figures out (the `has_*` flags say which were read);
// reading never fails as a whole, so the endpoint always answers.
//
// The serializer is ours (no prometheus-cpp): it validates metric and label
// names, escapes HELP text and label values, and groups every sample of a
// family under one HELP/TYPE pair, as the format requires. Metric names and
// units are listed in docs/metrics.md.
//
// Thread safety: every function here may be called from any thread; the
// structs are plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mesh/clock.h"
#include "mesh/status.h"
#include "swarmlet/hwprofile.h"
#include "swarmlet/node_health.h"

namespace swarmlet {

// ---------------------------------------------------------------------------
// Prometheus text format

enum class MetricType { kCounter, kGauge, kHistogram };

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

struct MetricSample {
  MetricSample() = default;
  MetricSample(MetricLabels l, double v, std::string s = {})
      : labels(std::move(l)), value(v), suffix(std::move(s)) {}

  MetricLabels labels;
  double value = 0;
  // Histograms only: "_bucket" (with an "le" label), "_sum" or "_count",
  // appended to the family name. Empty for counters and gauges.
  std::string suffix;
};

// One metric family: one HELP and TYPE line, then its samples.
struct MetricFamily {
  std::string name;  // counters end in "_total"
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<MetricSample> samples;
};

// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
bool ValidMetricName(std::string_view name);
// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with "__" (reserved by Prometheus).
bool ValidLabelName(std::string_view name);
// Label value body: backslash -> `\\`, double quote -> `\"`, newline -> `\n`.
std::string EscapeLabelValue(std::string_view value);
// HELP text body: backslash -> `\\`, newline -> `\n` (quotes stay as they are).
std::string EscapeHelp(std::string_view help);
// A sample value: integers without exponent ("3", "1048576"), other numbers
// in their shortest round-trip form, and "NaN", "+Inf", "-Inf".
std::string FormatMetricValue(double value);

// The whole exposition, newline-terminated. InvalidArgument (naming the
// family) for an invalid metric or label name, a family name used twice, a
// counter not ending in "_total", a label repeated within one sample, two
// samples of a family with the same suffix and label set, a suffix on a
// counter or gauge sample, or a histogram sample whose suffix is not
// _bucket/_sum/_count or whose _bucket lacks "le" (or carries it elsewhere).
mesh::Result<std::string> FormatPrometheus(const std::vector<MetricFamily>& families);

// ---------------------------------------------------------------------------
// Readings

struct NetworkDevice {
  std::string name;
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_packets = 0;
};

// The metered process (by default the caller itself: /proc/self).
struct ProcessMetrics {
  std::int64_t resident_bytes = 0;      // VmRSS
  std::int64_t resident_max_bytes = 0;  // VmHWM (peak RSS)
  std::int64_t virtual_bytes = 0;       // VmSize
  int threads = 0;
  double cpu_user_seconds = 0;    // utime / CLK_TCK
  double cpu_system_seconds = 0;  // stime / CLK_TCK
  double start_time_seconds = 0;  // Unix time (btime + starttime / CLK_TCK); 0 if unknown
  int open_fds = -1;              // -1 when /proc/<pid>/fd is unreadable
  bool has_status = false;        // /proc/<pid>/status was read
  bool has_stat = false;          // /proc/<pid>/stat was read
};

struct NodeMetrics {
  HardwareProfile hardware;  // static facts (arch, model, cores, GPU, cgroup mode)
  ThermalReading thermal;    // SoC temperature, firmware throttling bits (hardware root)

  // Host CPU time summed over all CPUs, by mode, from the "cpu" line of
  // /proc/stat in its column order: user, nice, system, idle, iowait, irq,
  // softirq, steal (guest time is already inside user/nice, so left out).
  std::vector<std::pair<std::string, double>> cpu_seconds;
  std::int64_t boot_time_seconds = 0;  // "btime" in /proc/stat
  bool has_cpu = false;

  double load1 = 0, load5 = 0, load15 = 0;
  bool has_load = false;

  std::int64_t memory_total_bytes = 0;
  std::int64_t memory_available_bytes = 0;  // MemAvailable (MemFree+Buffers+Cached on old kernels)
  std::int64_t memory_used_bytes = 0;       // total - available
  bool has_memory = false;

  std::vector<NetworkDevice> network;  // /proc/net/dev, loopback left out

  double uptime_seconds = 0;
  bool has_uptime = false;

  // Filesystem holding the state dir (statvfs), in bytes.
  std::int64_t state_fs_size_bytes = 0;
  std::int64_t state_fs_avail_bytes = 0;
  bool has_state_fs = false;

  ProcessMetrics process;
  int process_pid = 0;  // 0: the reading process itself (/proc/self)
};

// Reads this node's figures under `root`. `state_dir` is where filesystem
// space counts (empty: skipped). `pid` selects the metered process; 0 reads
// /proc/self. `hardware_root` (empty: `root`) is where the hardware profile
// (model, arch, cores, GPUs) is read: a swarmlet joined with --hw-root
// reports the hardware it joined as, with the real host's usage.
NodeMetrics ReadNodeMetrics(const std::string& root = "/", const std::string& state_dir = "",
                            int pid = 0, const std::string& hardware_root = "");

// Parsers of the individual files (exposed for tests; each returns false
// when the text lacks what it needs, leaving its output untouched).
bool ParseProcStat(std::string_view text, long clock_ticks, NodeMetrics& m);
bool ParseLoadAvg(std::string_view text, NodeMetrics& m);
bool ParseMemInfo(std::string_view text, NodeMetrics& m);
bool ParseNetDev(std::string_view text, std::vector<NetworkDevice>& devices);
bool ParseUptime(std::string_view text, NodeMetrics& m);
bool ParseProcessStatus(std::string_view text, ProcessMetrics& p);
bool ParseProcessStat(std::string_view text, long clock_ticks, std::int64_t boot_time_seconds,
                      ProcessMetrics& p);

// A caller-supplied gauge (e.g. workload counts) appended to the exposition.
// Gauges sharing a name become one family (the first one's help is used).
struct ExtraGauge {
  std::string name;  // full name, e.g. "stratoswarm_swarmlet_workloads"
  std::string help;
  MetricLabels labels;
  double value = 0;
};

// The metric families for `m` (names in docs/metrics.md) plus `extra`.
std::vector<MetricFamily> NodeMetricFamilies(const NodeMetrics& m,
                                             const std::vector<ExtraGauge>& extra = {});

// Convenience: read, build and format. InvalidArgument only for a bad extra
// gauge (the built-in families are always valid).
mesh::Result<std::string> NodeMetricsText(const std::string& root, const std::string& state_dir,
                                          const std::vector<ExtraGauge>& extra = {}, int pid = 0);

// ---------------------------------------------------------------------------
// Duration histograms

// Upper bounds in seconds, for joins (target < 30 s), failure detection
// (< 10 s) and millisecond-scale phases alike.
std::vector<double> DefaultDurationBuckets();

// Cumulative histograms of timed phases, exposed as one family per event:
// `stratoswarm_<event>_duration_seconds{phase="..."}` (event characters
// outside [a-zA-Z0-9_] become '_'), e.g. stratoswarm_join_duration_seconds.
// Whoever records a TimingLog phase also calls Observe().
//
// Thread safety: Observe() and Families() may be called from any thread.
class DurationHistograms {
 public:
  // `bounds` ascending, finite; +Inf is implied.
  explicit DurationHistograms(std::vector<double> bounds = DefaultDurationBuckets());
  void Observe(std::string_view event, std::string_view phase, double seconds);
  std::vector<MetricFamily> Families() const;

 private:
  struct Series {
    std::vector<std::uint64_t> buckets;  // per bound, not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  // metric name -> phase -> series, names in order for a stable exposition.
  std::map<std::string, std::map<std::string, Series>> series_;  // guarded by mu_
};

// ---------------------------------------------------------------------------
// `stratoswarm-metrics`

struct MetricsToolOptions {
  bool prometheus_format = false;  // else a short human table
  std::string root = "/";
  // Where the filesystem space counts. When it holds "swarmlet.pid" naming a
  // live process, that process is metered instead of the tool itself (so
  // `stratoswarm-metrics` run beside a swarmlet reports the swarmlet).
  std::string state_dir = "/var/lib/stratoswarm";
  int pid = 0;  // explicit process to meter; overrides swarmlet.pid
  std::vector<ExtraGauge> extra;
  std::vector<MetricFamily> extra_families;  // e.g. DurationHistograms::Families()
};

// Writes this process's pid to `<state_dir>/swarmlet.pid` (atomically, 0644)
// so `stratoswarm-metrics` run beside it meters the swarmlet. The running
// swarmlet calls it once its state dir exists.
mesh::Status WriteSwarmletPidFile(const std::string& state_dir);

// Prints the metrics to `out`; returns kExitOk, or kExitFailure with a
// one-line error on stderr when an extra gauge is invalid.
int RunMetricsTool(const MetricsToolOptions& options, std::ostream& out);

// ---------------------------------------------------------------------------
// Resource series (issue 9: CPU %, memory MB, network Mbit/s per node)

// Rates between two readings of the same node. Counters that went backwards
// (a reboot, an interface re-created) count as zero for that interval;
// interfaces are matched by name. Inside a network namespace /proc/net/dev is
// that namespace's, while /proc/stat is the whole host's, so on a testbed the
// per-node CPU figure is the process one.
struct ResourceRates {
  double interval_seconds = 0;
  double cpu_percent = 0;        // host, busy / all CPU time (0..100), busy = not idle/iowait
  double memory_used_mb = 0;     // at the second reading (MiB)
  double network_rx_mbit_s = 0;  // all interfaces but lo, 10^6 bits per second
  double network_tx_mbit_s = 0;
  double process_cpu_percent = 0;  // of one core (may exceed 100 with threads)
  double process_rss_mb = 0;       // at the second reading (MiB)
};
ResourceRates ComputeResourceRates(const NodeMetrics& before, const NodeMetrics& after,
                                   double interval_seconds);

// One JSON object (no newline): {"ts_ns":…,"node":"…","interval_s":…,
// "cpu_percent":…,"memory_used_mb":…,"net_rx_mbit_s":…,"net_tx_mbit_s":…,
// "process_cpu_percent":…,"process_rss_mb":…}.
std::string ResourceRatesJson(const ResourceRates& r, std::int64_t ts_ns, std::string_view node);

// `stratoswarm-metrics --series`: takes `count` readings `interval` apart
// (`sleep` waits; tests pass one that advances a FakeClock and edits the fake
// tree) and prints count-1 JSON lines of ResourceRates, each over the
// interval the clock's monotonic time actually measured, stamped with its
// wall time. Returns kExitOk, or kExitUsage for count < 2 or a non-positive
// interval.
int RunMetricsSeries(const MetricsToolOptions& options, std::string_view node, int count,
                     std::chrono::milliseconds interval, std::ostream& out,
                     const mesh::Clock& clock,
                     const std::function<void(std::chrono::milliseconds)>& sleep);

}  // namespace swarmlet
