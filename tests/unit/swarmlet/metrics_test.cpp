#include "swarmlet/metrics.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "swarmlet/build_info.h"
#include "test_support.h"

#include "fake_root.h"

namespace fs = std::filesystem;

namespace {

// A Raspberry Pi 4's files, trimmed to what the reader uses (plus noise).
void WritePiTree(FakeRoot& r, const std::string& proc = "/proc/self") {
  r.Write("/proc/device-tree/model", std::string("Raspberry Pi 4 Model B Rev 1.4\0", 31));
  r.Write("/sys/devices/system/cpu/online", "0-3\n");
  r.Write("/proc/stat",
          "cpu  1000 20 300 50000 40 0 5 0 0 0\n"
          "cpu0 250 5 75 12500 10 0 1 0 0 0\n"
          "intr 12345 0 0\n"
          "ctxt 99999\n"
          "btime 1764150000\n"
          "processes 4242\n");
  r.Write("/proc/loadavg", "0.52 0.31 0.12 1/234 5678\n");
  r.Write("/proc/meminfo",
          "MemTotal:        3884772 kB\n"
          "MemFree:         2000000 kB\n"
          "MemAvailable:    3000000 kB\n"
          "Buffers:           10000 kB\n"
          "Cached:           500000 kB\n");
  r.Write("/proc/net/dev",
          "Inter-|   Receive                                                |  Transmit\n"
          " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
          "errs drop fifo colls carrier compressed\n"
          "    lo:  123456     100    0    0    0     0          0         0   123456     100  "
          "  0    0    0     0       0          0\n"
          "  eth0: 98765432  70000    0    0    0     0          0        10  1234567    9000  "
          "  0    0    0     0       0          0\n"
          " wlan0:       0       0    0    0    0     0          0         0        0       0  "
          "  0    0    0     0       0          0\n");
  r.Write("/proc/uptime", "3600.25 14000.00\n");
  r.Write(proc + "/status",
          "Name:\tswarmlet\nVmPeak:\t   20000 kB\nVmSize:\t   18000 kB\nVmHWM:\t    9000 kB\n"
          "VmRSS:\t    8192 kB\nThreads:\t3\n");
  // utime 250 ticks, stime 50 ticks, 3 threads, started 1000 ticks after boot.
  r.Write(proc + "/stat",
          "1234 (swarm let) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 1000 "
          "18432000 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
  r.Write(proc + "/fd/0", "");
  r.Write(proc + "/fd/1", "");
  r.Write(proc + "/fd/2", "");
}

std::string Text(const std::vector<swarmlet::MetricFamily>& families) {
  auto text = swarmlet::FormatPrometheus(families);
  REQUIRE(text.ok());
  return *text;
}

// A strict reader of the text format 0.0.4: every family has HELP then TYPE
// before its samples, samples belong to the family just declared, names and
// labels follow the grammar, escapes are the three allowed ones, values parse.
// Returns an empty string when valid, else what is wrong; fills `samples`
// with "name{k=v,...}" -> value (label values unescaped).
std::string CheckExposition(const std::string& text,
                            std::map<std::string, double>* samples = nullptr) {
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
  static const std::regex kType(
      R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex kName(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*))");
  if (text.empty() || text.back() != '\n') return "does not end in a newline";
  std::istringstream in(text);
  std::string line, family, type;
  std::set<std::string> seen;
  bool help_seen = false;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + " '" + line + "': ";
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      if (!seen.insert(m[1]).second) return where + "family declared twice";
      family = m[1];
      help_seen = true;
      type.clear();
      const std::string h = m[2];
      for (std::size_t i = 0; i < h.size(); ++i) {
        if (h[i] == '\\' && (i + 1 >= h.size() || (h[i + 1] != '\\' && h[i + 1] != 'n'))) {
          return where + "bad escape in HELP";
        }
        if (h[i] == '\\') ++i;
      }
      continue;
    }
    if (std::regex_match(line, m, kType)) {
      if (!help_seen || m[1] != family) return where + "TYPE without its HELP";
      type = m[2];
      continue;
    }
    if (line.empty() || line[0] == '#') return where + "unexpected comment or blank line";
    if (!std::regex_search(line, m, kName)) return where + "bad metric name";
    const std::string name = m[1];
    const bool histogram_part =
        type == "histogram" &&
        (name == family + "_bucket" || name == family + "_sum" || name == family + "_count");
    if ((name != family && !histogram_part) || type.empty()) {
      return where + "sample outside its family";
    }
    if (type == "histogram" && !histogram_part) return where + "bare histogram sample";
    if (type == "counter" && !name.ends_with("_total")) return where + "counter without _total";
    std::size_t i = name.size();
    std::string key = name;
    if (i < line.size() && line[i] == '{') {
      ++i;
      key += "{";
      bool first = true;
      while (i < line.size() && line[i] != '}') {
        if (!first) {
          if (line[i] != ',') return where + "expected ','";
          ++i;
        }
        first = false;
        const std::size_t start = i;
        while (i < line.size() &&
               (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_'))
          ++i;
        const std::string label = line.substr(start, i - start);
        if (label.empty() || std::isdigit(static_cast<unsigned char>(label[0])))
          return where + "bad label name";
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
          return where + "expected =\"";
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) return where + "dangling backslash";
            const char e = line[i + 1];
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              return where + "bad escape in label value";
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (i >= line.size()) return where + "unterminated label value";
        ++i;  // closing quote
        key += label + "=" + value + ",";
      }
      if (i >= line.size()) return where + "unterminated label set";
      ++i;
      key += "}";
    }
    if (i >= line.size() || line[i] != ' ') return where + "expected a space before the value";
    const std::string value = line.substr(i + 1);
    double v = 0;
    if (value == "NaN") {
      v = std::nan("");
    } else if (value == "+Inf") {
      v = HUGE_VAL;
    } else if (value == "-Inf") {
      v = -HUGE_VAL;
    } else {
      char* end = nullptr;
      v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') return where + "bad value";
    }
    if (samples != nullptr) (*samples)[key] = v;
  }
  return "";
}

}  // namespace

TEST_CASE("metrics: label values escape backslash, quote and newline", "[swarmlet][metrics]") {
  CHECK(swarmlet::EscapeLabelValue("plain") == "plain");
  CHECK(swarmlet::EscapeLabelValue(R"(C:\dir)") == R"(C:\\dir)");
  CHECK(swarmlet::EscapeLabelValue("say \"hi\"") == R"(say \"hi\")");
  CHECK(swarmlet::EscapeLabelValue("two\nlines") == R"(two\nlines)");
  CHECK(swarmlet::EscapeLabelValue("\\\"\n") == R"(\\\"\n)");
  // HELP escapes backslash and newline only.
  CHECK(swarmlet::EscapeHelp("a \"b\" \\ c\nd") == R"(a "b" \\ c\nd)");
}

TEST_CASE("metrics: an escaped label value reads back as written", "[swarmlet][metrics]") {
  const std::string nasty = "rpi \"4\"\\x\nnext}, {a=\"b\"";
  const auto text = Text({{"stratoswarm_test_info",
                           "Help with \\ and\nnewline.",
                           swarmlet::MetricType::kGauge,
                           {{{{"model", nasty}, {"arch", "aarch64"}}, 1}}}});
  std::map<std::string, double> samples;
  REQUIRE(CheckExposition(text, &samples).empty());
  CHECK(samples.count("stratoswarm_test_info{model=" + nasty + ",arch=aarch64,}") == 1);
  CHECK(text.find("# HELP stratoswarm_test_info Help with \\\\ and\\nnewline.\n") !=
        std::string::npos);
}

TEST_CASE("metrics: values print exactly, without exponents for integers", "[swarmlet][metrics]") {
  CHECK(swarmlet::FormatMetricValue(0) == "0");
  CHECK(swarmlet::FormatMetricValue(3) == "3");
  CHECK(swarmlet::FormatMetricValue(-7) == "-7");
  CHECK(swarmlet::FormatMetricValue(3978006528.0) == "3978006528");
  CHECK(swarmlet::FormatMetricValue(0.25) == "0.25");
  CHECK(swarmlet::FormatMetricValue(0.1) == "0.1");
  CHECK(swarmlet::FormatMetricValue(1e300) == "1e+300");
  CHECK(swarmlet::FormatMetricValue(std::nan("")) == "NaN");
  CHECK(swarmlet::FormatMetricValue(HUGE_VAL) == "+Inf");
  CHECK(swarmlet::FormatMetricValue(-HUGE_VAL) == "-Inf");
}

TEST_CASE("metrics: names follow the Prometheus grammar", "[swarmlet][metrics]") {
  CHECK(swarmlet::ValidMetricName("stratoswarm_node_load1"));
  CHECK(swarmlet::ValidMetricName("a:b_c"));
  CHECK_FALSE(swarmlet::ValidMetricName(""));
  CHECK_FALSE(swarmlet::ValidMetricName("1abc"));
  CHECK_FALSE(swarmlet::ValidMetricName("with-dash"));
  CHECK_FALSE(swarmlet::ValidMetricName("with space"));
  CHECK(swarmlet::ValidLabelName("device"));
  CHECK(swarmlet::ValidLabelName("_x1"));
  CHECK_FALSE(swarmlet::ValidLabelName("__name__"));
  CHECK_FALSE(swarmlet::ValidLabelName("a:b"));
  CHECK_FALSE(swarmlet::ValidLabelName("9x"));
  CHECK_FALSE(swarmlet::ValidLabelName(""));
}

TEST_CASE("metrics: the formatter refuses what the format forbids", "[swarmlet][metrics]") {
  using swarmlet::MetricType;
  auto fails = [](std::vector<swarmlet::MetricFamily> f) {
    auto r = swarmlet::FormatPrometheus(f);
    return !r.ok() && r.status().code() == mesh::StatusCode::kInvalidArgument;
  };
  CHECK(fails({{"bad-name", "h", MetricType::kGauge, {{{}, 1}}}}));
  CHECK(fails({{"x_bytes", "h", MetricType::kCounter, {{{}, 1}}}}));  // counter without _total
  CHECK(fails(
      {{"x", "h", MetricType::kGauge, {{{}, 1}}}, {"x", "h", MetricType::kGauge, {{{}, 2}}}}));
  CHECK(fails({{"x", "h", MetricType::kGauge, {{{{"a", "1"}}, 1}, {{{"a", "1"}}, 2}}}}));
  CHECK(fails({{"x",
                "h",
                MetricType::kGauge,
                {{{{"a", "1"}, {"b", "2"}}, 1}, {{{"b", "2"}, {"a", "1"}}, 2}}}}));
  CHECK(fails({{"x", "h", MetricType::kGauge, {{{{"a", "1"}, {"a", "2"}}, 1}}}}));
  CHECK(fails({{"x", "h", MetricType::kGauge, {{{{"__name__", "1"}}, 1}}}}));
  // The same label with different values is two series: fine.
  const auto ok =
      Text({{"x_total", "h", MetricType::kCounter, {{{{"a", "1"}}, 1}, {{{"a", "2"}}, 2}}}});
  CHECK(ok == "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"1\"} 1\nx_total{a=\"2\"} 2\n");
  // An empty list is an empty (valid) exposition.
  CHECK(Text({}).empty());
}

TEST_CASE("metrics: /proc/stat gives CPU seconds by mode and boot time", "[swarmlet][metrics]") {
  swarmlet::NodeMetrics m;
  REQUIRE(
      swarmlet::ParseProcStat("cpu  1000 20 300 50000 40 0 5 7 0 0\nbtime 1764150000\n", 100, m));
  REQUIRE(m.cpu_seconds.size() == 8);
  CHECK(m.cpu_seconds[0] == std::pair<std::string, double>{"user", 10.0});
  CHECK(m.cpu_seconds[2] == std::pair<std::string, double>{"system", 3.0});
  CHECK(m.cpu_seconds[3] == std::pair<std::string, double>{"idle", 500.0});
  CHECK(m.cpu_seconds[7] == std::pair<std::string, double>{"steal", 0.07});
  CHECK(m.boot_time_seconds == 1764150000);
  // Per-CPU lines alone, garbage, or nothing: not read.
  swarmlet::NodeMetrics n;
  CHECK_FALSE(swarmlet::ParseProcStat("cpu0 1 2 3 4\n", 100, n));
  CHECK_FALSE(swarmlet::ParseProcStat("cpu  1 x 3 4\n", 100, n));
  CHECK_FALSE(swarmlet::ParseProcStat("", 100, n));
  CHECK_FALSE(n.has_cpu);
}

TEST_CASE("metrics: meminfo, loadavg and uptime", "[swarmlet][metrics]") {
  swarmlet::NodeMetrics m;
  REQUIRE(swarmlet::ParseMemInfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\n", m));
  CHECK(m.memory_total_bytes == 1024000);
  CHECK(m.memory_available_bytes == 614400);
  CHECK(m.memory_used_bytes == 409600);
  // Before Linux 3.14 there is no MemAvailable: free + buffers + cached.
  swarmlet::NodeMetrics old;
  REQUIRE(swarmlet::ParseMemInfo(
      "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n", old));
  CHECK(old.memory_available_bytes == 400 * 1024);
  CHECK_FALSE(swarmlet::ParseMemInfo("MemFree: 100 kB\n", old));

  REQUIRE(swarmlet::ParseLoadAvg("1.50 0.75 0.25 2/300 999\n", m));
  CHECK(m.load1 == 1.5);
  CHECK(m.load15 == 0.25);
  CHECK_FALSE(swarmlet::ParseLoadAvg("1.50 nope\n", old));
  CHECK_FALSE(old.has_load);

  REQUIRE(swarmlet::ParseUptime("12345.67 999.00\n", m));
  CHECK(m.uptime_seconds == Approx(12345.67));
  CHECK_FALSE(swarmlet::ParseUptime("", old));
}

TEST_CASE("metrics: /proc/net/dev skips loopback and malformed lines", "[swarmlet][metrics]") {
  std::vector<swarmlet::NetworkDevice> d;
  REQUIRE(swarmlet::ParseNetDev(
      "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n"
      "    lo: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n"
      "eth0:18446744073709551615 5 0 0 0 0 0 0 7 8 0 0 0 0 0 0\n"  // no space after the colon
      "  br-x1: 10 20 0 0 0 0 0 0 30 40 0 0 0 0 0 0\n"
      "  bad: 1 2 3\n"
      "  worse: a b c d e f g h i j k l m n o p\n",
      d));
  REQUIRE(d.size() == 2);
  CHECK(d[0].name == "eth0");
  CHECK(d[0].rx_bytes == 18446744073709551615ULL);
  CHECK(d[0].tx_bytes == 7);
  CHECK(d[1].name == "br-x1");
  CHECK(d[1].rx_packets == 20);
  CHECK(d[1].tx_packets == 40);
  // Headers only (no interfaces up): read, and empty.
  std::vector<swarmlet::NetworkDevice> none{{"stale", 1, 1, 1, 1}};
  REQUIRE(swarmlet::ParseNetDev("Inter-|   Receive |  Transmit\n face |bytes|bytes\n", none));
  CHECK(none.empty());
  CHECK_FALSE(swarmlet::ParseNetDev("", none));
}

TEST_CASE("metrics: process stat with spaces and parentheses in comm", "[swarmlet][metrics]") {
  swarmlet::ProcessMetrics p;
  REQUIRE(swarmlet::ParseProcessStat(
      "77 (we ird) (x) R 1 77 77 0 -1 0 0 0 0 0 200 100 0 0 20 0 5 0 500 0 0\n", 100, 1000, p));
  CHECK(p.cpu_user_seconds == 2.0);
  CHECK(p.cpu_system_seconds == 1.0);
  CHECK(p.threads == 5);
  CHECK(p.start_time_seconds == 1005.0);
  swarmlet::ProcessMetrics q;
  CHECK_FALSE(swarmlet::ParseProcessStat("77 no parens 1 2 3", 100, 0, q));
  CHECK_FALSE(swarmlet::ParseProcessStat("77 (short) R 1 2", 100, 0, q));
  CHECK_FALSE(q.has_stat);
  REQUIRE(swarmlet::ParseProcessStatus("VmRSS:\t 100 kB\nVmHWM:\t 200 kB\nThreads:\t4\n", q));
  CHECK(q.resident_bytes == 102400);
  CHECK(q.resident_max_bytes == 204800);
  CHECK(q.threads == 4);
  CHECK_FALSE(swarmlet::ParseProcessStatus("Name: x\n", q));
}

TEST_CASE("metrics: a fake Pi tree becomes the expected exposition", "[swarmlet][metrics]") {
  FakeRoot pi;
  WritePiTree(pi);
  const auto m = swarmlet::ReadNodeMetrics(pi.root(), pi.root());
  CHECK(m.hardware.cores == 4);
  CHECK(m.has_cpu);
  CHECK(m.has_load);
  CHECK(m.has_memory);
  CHECK(m.has_uptime);
  CHECK(m.has_state_fs);
  REQUIRE(m.network.size() == 2);  // eth0, wlan0; lo skipped
  CHECK(m.process.resident_bytes == 8192 * 1024);
  CHECK(m.process.threads == 3);
  CHECK(m.process.open_fds == 3);

  std::map<std::string, double> s;
  auto text = swarmlet::NodeMetricsText(
      pi.root(), pi.root(),
      {{"stratoswarm_swarmlet_workloads", "Workloads by state.", {{"state", "running"}}, 2},
       {"stratoswarm_swarmlet_workloads", "ignored", {{"state", "failed"}}, 1}});
  REQUIRE(text.ok());
  INFO(*text);
  REQUIRE(CheckExposition(*text, &s).empty());
  CHECK(s.at("stratoswarm_node_cpu_seconds_total{mode=user,}") == 10.0);
  CHECK(s.at("stratoswarm_node_cpu_seconds_total{mode=idle,}") == 500.0);
  CHECK(s.at("stratoswarm_node_cpu_cores") == 4);
  CHECK(s.at("stratoswarm_node_load1") == 0.52);
  CHECK(s.at("stratoswarm_node_memory_total_bytes") == 3884772.0 * 1024);
  CHECK(s.at("stratoswarm_node_memory_available_bytes") == 3000000.0 * 1024);
  CHECK(s.at("stratoswarm_node_memory_used_bytes") == 884772.0 * 1024);
  CHECK(s.at("stratoswarm_node_network_receive_bytes_total{device=eth0,}") == 98765432);
  CHECK(s.at("stratoswarm_node_network_transmit_bytes_total{device=eth0,}") == 1234567);
  CHECK(s.count("stratoswarm_node_network_receive_bytes_total{device=lo,}") == 0);
  CHECK(s.at("stratoswarm_node_uptime_seconds") == 3600.25);
  CHECK(s.at("stratoswarm_node_boot_time_seconds") == 1764150000);
  CHECK(s.at("stratoswarm_swarmlet_resident_memory_bytes") == 8192.0 * 1024);
  CHECK(s.at("stratoswarm_swarmlet_cpu_seconds_total{mode=user,}") == 2.5);
  CHECK(s.at("stratoswarm_swarmlet_cpu_seconds_total{mode=system,}") == 0.5);
  CHECK(s.at("stratoswarm_swarmlet_start_time_seconds") == 1764150010);
  CHECK(s.at("stratoswarm_swarmlet_workloads{state=running,}") == 2);
  CHECK(s.at("stratoswarm_swarmlet_workloads{state=failed,}") == 1);
  CHECK(s.at("stratoswarm_node_info{arch=" + m.hardware.arch +
             ",model=Raspberry Pi 4 Model B Rev 1.4,gpu_model=,cgroup_mode=none,}") == 1);
  CHECK(s.at("stratoswarm_swarmlet_build_info{version=" + std::string(swarmlet::Version()) +
             ",revision=" + std::string(swarmlet::Revision()) +
             ",arch=" + std::string(swarmlet::Arch()) +
             ",static=" + (swarmlet::StaticallyLinked() ? "true" : "false") + ",}") == 1);
  CHECK(text->find("# HELP stratoswarm_swarmlet_workloads Workloads by state.\n") !=
        std::string::npos);
}

TEST_CASE("metrics: an empty tree still gives a valid exposition", "[swarmlet][metrics]") {
  FakeRoot empty;
  const auto m = swarmlet::ReadNodeMetrics(empty.root(), "");
  CHECK_FALSE(m.has_cpu);
  CHECK_FALSE(m.has_memory);
  CHECK_FALSE(m.has_state_fs);
  CHECK(m.network.empty());
  auto text = swarmlet::FormatPrometheus(swarmlet::NodeMetricFamilies(m));
  REQUIRE(text.ok());
  CHECK(CheckExposition(*text).empty());
  CHECK(text->find("stratoswarm_node_cpu_seconds_total") == std::string::npos);
  CHECK(text->find("stratoswarm_swarmlet_build_info{") != std::string::npos);
}

TEST_CASE("metrics: garbage files are skipped, never fatal", "[swarmlet][metrics]") {
  FakeRoot junk;
  static const char kGarbage[] = "\x01\xff)(((: : \n\n\0\0 9999999999999999999999999 -1 nan";
  const std::string garbage(kGarbage, sizeof kGarbage - 1);  // NULs included
  for (const char* f : {"/proc/stat", "/proc/loadavg", "/proc/meminfo", "/proc/net/dev",
                        "/proc/uptime", "/proc/self/status", "/proc/self/stat"}) {
    junk.Write(f, garbage);
  }
  const auto m = swarmlet::ReadNodeMetrics(junk.root(), "");
  auto text = swarmlet::FormatPrometheus(swarmlet::NodeMetricFamilies(m));
  REQUIRE(text.ok());
  CHECK(CheckExposition(*text).empty());
}

TEST_CASE("metrics: this machine's real /proc gives a valid exposition", "[swarmlet][metrics]") {
  auto text = swarmlet::NodeMetricsText("/", "/tmp");
  REQUIRE(text.ok());
  INFO(*text);
  std::map<std::string, double> s;
  REQUIRE(CheckExposition(*text, &s).empty());
  CHECK(s.at("stratoswarm_node_memory_total_bytes") > 0);
  CHECK(s.at("stratoswarm_swarmlet_resident_memory_bytes") > 0);
  CHECK(s.at("stratoswarm_node_cpu_seconds_total{mode=user,}") > 0);
}

TEST_CASE("metrics: a hardware root gives the profile, the real /proc the usage",
          "[swarmlet][metrics]") {
  FakeRoot pi;
  WritePiTree(pi);
  const auto fake = swarmlet::ReadNodeMetrics(pi.root(), "");
  const auto real = swarmlet::ReadNodeMetrics("/", "");
  const auto mixed = swarmlet::ReadNodeMetrics("/", "", 0, pi.root());
  CHECK(mixed.hardware.model == fake.hardware.model);
  CHECK(mixed.hardware.cores == 4);
  CHECK(mixed.hardware.memory_mb == fake.hardware.memory_mb);
  // Usage is this machine's, not the tree's (its process has this pid's threads).
  CHECK(mixed.has_cpu);
  CHECK(mixed.boot_time_seconds == real.boot_time_seconds);
  CHECK(mixed.boot_time_seconds != fake.boot_time_seconds);
  CHECK(mixed.process.resident_bytes > 0);
}

TEST_CASE("metrics: stratoswarm-metrics prints a table or the exposition", "[swarmlet][metrics]") {
  FakeRoot pi;
  WritePiTree(pi, "/proc/4321");
  WritePiTree(pi);
  pi.Write("/state/swarmlet.pid", "4321\n");
  swarmlet::MetricsToolOptions o;
  o.root = pi.root();
  o.state_dir = pi.root() + "/state";
  o.extra = {{"stratoswarm_swarmlet_workloads", "Workloads.", {{"state", "running"}}, 2}};
  std::ostringstream table;
  REQUIRE(swarmlet::RunMetricsTool(o, table) == 0);
  const std::string t = table.str();
  INFO(t);
  CHECK(std::regex_search(t, std::regex("\nload +0\\.52 0\\.31 0\\.12\n")));
  CHECK(std::regex_search(
      t, std::regex("\nmemory +864\\.0 MB used, 2929\\.7 MB available, 3793\\.7 MB total\n")));
  CHECK(std::regex_search(t, std::regex("\nnet eth0 +rx 94\\.2 MB, tx 1\\.2 MB\n")));
  CHECK(table.str().find("swarmlet (pid 4321)") != std::string::npos);
  CHECK(table.str().find("stratoswarm_swarmlet_workloads state=running") != std::string::npos);

  o.prometheus_format = true;
  std::ostringstream prom;
  REQUIRE(swarmlet::RunMetricsTool(o, prom) == 0);
  CHECK(CheckExposition(prom.str()).empty());
  CHECK(prom.str().find("stratoswarm_swarmlet_workloads{state=\"running\"} 2\n") !=
        std::string::npos);

  // A stale pid file falls back to the tool's own process.
  pi.Write("/state/swarmlet.pid", "999999\n");
  o.prometheus_format = false;
  std::ostringstream self;
  REQUIRE(swarmlet::RunMetricsTool(o, self) == 0);
  CHECK(self.str().find("this process") != std::string::npos);

  // A bad extra gauge is the caller's error: exit 1, nothing printed.
  o.extra = {{"bad name", "x", {}, 1}};
  std::ostringstream bad;
  CHECK(swarmlet::RunMetricsTool(o, bad) == 1);
  CHECK(bad.str().empty());
}

TEST_CASE("metrics: promtool accepts the real exposition", "[swarmlet][metrics][promtool]") {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    SKIP_TEST("promtool not installed (Debian package 'prometheus')");
  }
  char tmpl[] = "/tmp/metrics-promtool-XXXXXX";
  const int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  close(fd);
  swarmlet::MetricsToolOptions o;
  o.prometheus_format = true;
  o.state_dir = "/tmp";
  o.extra = {{"stratoswarm_swarmlet_workloads", "Workloads by state.", {{"state", "running"}}, 3}};
  swarmlet::DurationHistograms h;
  h.Observe("join", "discovery", 0.012);
  h.Observe("join", "total", 2.5);
  h.Observe("failure_detection", "declared", 7.2);
  o.extra_families = h.Families();
  {
    std::ofstream out(tmpl);
    REQUIRE(swarmlet::RunMetricsTool(o, out) == 0);
  }
  const std::string log = std::string(tmpl) + ".log";
  const int rc = std::system(
      ("promtool check metrics < " + std::string(tmpl) + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  const std::string promtool_says((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  fs::remove(tmpl);
  fs::remove(log);
  INFO(promtool_says);
  CHECK(rc == 0);
  CHECK(promtool_says.empty());  // no lint warnings either
}

TEST_CASE("metrics: histograms print _bucket, _sum and _count", "[swarmlet][metrics]") {
  using swarmlet::MetricType;
  const auto text = Text({{"x_seconds",
                           "h",
                           MetricType::kHistogram,
                           {{{{"le", "0.5"}}, 1, "_bucket"},
                            {{{"le", "+Inf"}}, 2, "_bucket"},
                            {{}, 1.75, "_sum"},
                            {{}, 2, "_count"}}}});
  CHECK(text ==
        "# HELP x_seconds h\n# TYPE x_seconds histogram\n"
        "x_seconds_bucket{le=\"0.5\"} 1\nx_seconds_bucket{le=\"+Inf\"} 2\n"
        "x_seconds_sum 1.75\nx_seconds_count 2\n");
  CHECK(CheckExposition(text).empty());
  auto fails = [](swarmlet::MetricFamily f) { return !swarmlet::FormatPrometheus({f}).ok(); };
  CHECK(fails({"x", "h", MetricType::kHistogram, {{{}, 1, ""}}}));         // bare sample
  CHECK(fails({"x", "h", MetricType::kHistogram, {{{}, 1, "_bucket"}}}));  // bucket without le
  CHECK(fails({"x", "h", MetricType::kHistogram, {{{{"le", "1"}}, 1, "_sum"}}}));
  CHECK(fails({"x", "h", MetricType::kHistogram, {{{}, 1, "_max"}}}));
  CHECK(fails({"x", "h", MetricType::kGauge, {{{}, 1, "_sum"}}}));  // suffix on a gauge
}

TEST_CASE("metrics: duration histograms per event and phase", "[swarmlet][metrics]") {
  swarmlet::DurationHistograms h({0.01, 0.1, 1});
  h.Observe("join", "discovery", 0.005);
  h.Observe("join", "discovery", 0.01);  // on a bound: counted in it (le is <=)
  h.Observe("join", "discovery", 0.5);
  h.Observe("join", "discovery", 5);  // above every bound: +Inf only
  h.Observe("join", "total", 1);
  h.Observe("mesh-formation", "", 0.2);      // '-' is not a name character
  h.Observe("join", "total", std::nan(""));  // ignored
  auto text = swarmlet::FormatPrometheus(h.Families());
  REQUIRE(text.ok());
  INFO(*text);
  std::map<std::string, double> s;
  REQUIRE(CheckExposition(*text, &s).empty());
  CHECK(text->find("# TYPE stratoswarm_join_duration_seconds histogram\n") != std::string::npos);
  CHECK(s.at("stratoswarm_join_duration_seconds_bucket{phase=discovery,le=0.01,}") == 2);
  CHECK(s.at("stratoswarm_join_duration_seconds_bucket{phase=discovery,le=0.1,}") == 2);
  CHECK(s.at("stratoswarm_join_duration_seconds_bucket{phase=discovery,le=1,}") == 3);
  CHECK(s.at("stratoswarm_join_duration_seconds_bucket{phase=discovery,le=+Inf,}") == 4);
  CHECK(s.at("stratoswarm_join_duration_seconds_count{phase=discovery,}") == 4);
  CHECK(s.at("stratoswarm_join_duration_seconds_sum{phase=discovery,}") == Approx(5.515));
  CHECK(s.at("stratoswarm_join_duration_seconds_count{phase=total,}") == 1);
  CHECK(s.at("stratoswarm_mesh_formation_duration_seconds_count{phase=,}") == 1);
}

TEST_CASE("metrics: duration histograms take observations from many threads",
          "[swarmlet][metrics]") {
  swarmlet::DurationHistograms h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 1000; ++i) h.Observe("join", "phase" + std::to_string(i % 3), 0.001 * t);
    });
  }
  for (auto& t : threads) t.join();
  std::map<std::string, double> s;
  auto text = swarmlet::FormatPrometheus(h.Families());
  REQUIRE(text.ok());
  REQUIRE(CheckExposition(*text, &s).empty());
  double total = 0;
  for (int p = 0; p < 3; ++p) {
    total += s.at("stratoswarm_join_duration_seconds_count{phase=phase" + std::to_string(p) + ",}");
  }
  CHECK(total == 4000);
}

TEST_CASE("metrics: resource rates between two readings", "[swarmlet][metrics]") {
  swarmlet::NodeMetrics a, b;
  REQUIRE(swarmlet::ParseProcStat("cpu  100 0 100 700 100 0 0 0\n", 100, a));  // 10 s total
  REQUIRE(swarmlet::ParseProcStat("cpu  200 0 150 900 150 0 0 0\n", 100, b));  // +4 s, 1.5 busy
  a.network = {{"eth0", 1'000'000, 10, 500'000, 5}, {"wlan0", 0, 0, 0, 0}};
  b.network = {{"eth0", 3'500'000, 20, 500'000, 5},  // +2.5 MB rx
               {"wlan0", 0, 0, 0, 0},
               {"veth9", 999'999, 1, 999'999, 1}};  // new: no baseline, left out
  REQUIRE(swarmlet::ParseMemInfo("MemTotal: 4194304 kB\nMemAvailable: 3145728 kB\n", b));
  a.process = {.cpu_user_seconds = 1.0, .cpu_system_seconds = 0.5, .has_stat = true};
  b.process = {.resident_bytes = 20 * 1024 * 1024,
               .cpu_user_seconds = 1.2,
               .cpu_system_seconds = 0.6,
               .has_status = true,
               .has_stat = true};
  const auto r = swarmlet::ComputeResourceRates(a, b, 2.0);
  CHECK(r.cpu_percent == Approx(37.5));
  CHECK(r.memory_used_mb == Approx(1024));
  CHECK(r.network_rx_mbit_s == Approx(10.0));  // 2.5e6 B * 8 / 2 s
  CHECK(r.network_tx_mbit_s == 0);
  CHECK(r.process_cpu_percent == Approx(15.0));  // 0.3 s of CPU in 2 s
  CHECK(r.process_rss_mb == Approx(20));

  // Counters that went backwards (reboot, re-created interface) count as zero.
  const auto back = swarmlet::ComputeResourceRates(b, a, 2.0);
  CHECK(back.cpu_percent == 0);
  CHECK(back.network_rx_mbit_s == 0);
  CHECK(back.process_cpu_percent == 0);
  CHECK(swarmlet::ResourceRatesJson(r, 42, "rpi-\"1\"") ==
        "{\"ts_ns\":42,\"node\":\"rpi-\\\"1\\\"\",\"interval_s\":2.000,\"cpu_percent\":37.50,"
        "\"memory_used_mb\":1024.0,\"net_rx_mbit_s\":10.000,\"net_tx_mbit_s\":0.000,"
        "\"process_cpu_percent\":15.00,\"process_rss_mb\":20.0}");
}

TEST_CASE("metrics: --series prints one JSON line per interval", "[swarmlet][metrics]") {
  FakeRoot pi;
  WritePiTree(pi);
  mesh::FakeClock clock;
  int step = 0;
  auto sleep = [&](std::chrono::milliseconds d) {
    clock.Advance(d);
    ++step;
    // Each second: 1 s of 4 CPUs' time passes, half busy; eth0 receives 1 MB.
    pi.Write("/proc/stat", "cpu  " + std::to_string(1000 + 200 * step) + " 20 300 " +
                               std::to_string(50000 + 200 * step) + " 40 0 5 0\n");
    pi.Write("/proc/net/dev", "Inter-|\n face |\n  eth0: " + std::to_string(1'000'000 * step) +
                                  " 1 0 0 0 0 0 0 0 1 0 0 0 0 0 0\n");
  };
  swarmlet::MetricsToolOptions o;
  o.root = pi.root();
  o.state_dir = "";
  std::ostringstream out;
  REQUIRE(swarmlet::RunMetricsSeries(o, "rpi-1", 4, std::chrono::milliseconds(1000), out, clock,
                                     sleep) == 0);
  std::istringstream lines(out.str());
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  REQUIRE(all.size() == 3);
  // The first interval starts from the tree's original net/dev (98765432 bytes): backwards, 0.
  CHECK(all[1].find("\"cpu_percent\":50.00") != std::string::npos);
  CHECK(all[1].find("\"net_rx_mbit_s\":8.000") != std::string::npos);
  CHECK(all[2].find("\"interval_s\":1.000") != std::string::npos);
  CHECK(all[0].find("\"node\":\"rpi-1\"") != std::string::npos);

  std::ostringstream none;
  CHECK(swarmlet::RunMetricsSeries(o, "x", 1, std::chrono::milliseconds(1000), none, clock,
                                   sleep) == 2);
  CHECK(swarmlet::RunMetricsSeries(o, "x", 3, std::chrono::milliseconds(0), none, clock, sleep) ==
        2);
  CHECK(none.str().empty());
}

TEST_CASE("metrics: the swarmlet pid file makes the tool meter that process",
          "[swarmlet][metrics]") {
  FakeRoot state;
  REQUIRE(swarmlet::WriteSwarmletPidFile(state.root()).ok());
  std::ifstream in(state.dir / "swarmlet.pid");
  int pid = 0;
  in >> pid;
  CHECK(pid == getpid());
  swarmlet::MetricsToolOptions o;
  o.state_dir = state.root();  // real /proc: our own pid is live
  std::ostringstream out;
  REQUIRE(swarmlet::RunMetricsTool(o, out) == 0);
  CHECK(out.str().find("swarmlet (pid " + std::to_string(getpid()) + ")") != std::string::npos);
  CHECK_FALSE(swarmlet::WriteSwarmletPidFile(state.root() + "/missing/dir").ok());
}
