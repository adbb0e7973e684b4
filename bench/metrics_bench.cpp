// metrics_bench: what one metrics scrape costs on this node (issue 9), so the
// swarmlet's /metrics stays far below the seed's overhead budgets.
//
//   metrics_bench [--iterations N] [--output FILE]
//
// Rows: reading /proc + /sys alone (ReadNodeMetrics), read + Prometheus
// formatting (NodeMetricsText), and a full HTTP GET /metrics over 127.0.0.1
// against MetricsHttpServer (new TCP connection per scrape). Baseline in the
// same run: a bare read of /proc/stat, the cheapest file the scrape reads.
// Prints median and p99 in µs, process CPU per scrape and the body size, and
// writes the same as JSON.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "swarmlet/metrics.h"
#include "swarmlet/metrics_http.h"

namespace {

struct Row {
  std::string name;
  double p50_us = 0;
  double p99_us = 0;
  double cpu_us = 0;  // process CPU (all threads) per operation
  int iterations = 0;
};

double CpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

Row Measure(const std::string& name, int iterations, const std::function<void()>& op) {
  for (int i = 0; i < std::min(iterations / 10 + 1, 50); ++i) op();  // warm up
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(iterations));
  const double cpu0 = CpuUs();
  for (int i = 0; i < iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    op();
    const auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  const double cpu = (CpuUs() - cpu0) / iterations;
  std::sort(us.begin(), us.end());
  return {name, us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], cpu,
          iterations};
}

std::string Scrape(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("metrics_bench: connect");
    std::exit(1);
  }
  static const char kRequest[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ::send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL);
  std::string reply;
  char buf[16384];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 2000;
  std::string output;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::max(10, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
      output = argv[++i];
    } else {
      std::fprintf(stderr, "usage: metrics_bench [--iterations N] [--output FILE]\n");
      return 2;
    }
  }

  std::vector<Row> rows;
  rows.push_back(Measure("baseline: read /proc/stat", iterations, [] {
    std::ifstream in("/proc/stat");
    std::ostringstream s;
    s << in.rdbuf();
  }));
  rows.push_back(
      Measure("ReadNodeMetrics", iterations, [] { (void)swarmlet::ReadNodeMetrics("/", "/tmp"); }));
  std::size_t body_bytes = 0;
  rows.push_back(Measure("NodeMetricsText (read + format)", iterations, [&] {
    auto text = swarmlet::NodeMetricsText("/", "/tmp");
    body_bytes = text.ok() ? text->size() : 0;
  }));

  auto server = swarmlet::MetricsHttpServer::Listen(
      {}, [] { return swarmlet::NodeMetricsText("/", "/tmp"); });
  if (!server.ok()) {
    std::fprintf(stderr, "metrics_bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::atomic<bool> stop{false};
  std::thread loop([&] {
    while (!stop.load()) (void)(*server)->PollOnce(std::chrono::milliseconds(20));
  });
  bool all_ok = true;
  rows.push_back(Measure("HTTP GET /metrics on 127.0.0.1", iterations, [&] {
    all_ok = all_ok && Scrape((*server)->port()).rfind("HTTP/1.1 200 OK", 0) == 0;
  }));
  stop.store(true);
  loop.join();

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("%-34s %10s %10s %10s\n", "operation", "p50 us", "p99 us", "cpu us/op");
  for (const auto& r : rows) {
    std::printf("%-34s %10.1f %10.1f %10.1f\n", r.name.c_str(), r.p50_us, r.p99_us, r.cpu_us);
  }
  std::printf("exposition body: %zu bytes; max RSS of this bench: %ld KiB; all scrapes 200: %s\n",
              body_bytes, ru.ru_maxrss, all_ok ? "yes" : "NO");

  if (!output.empty()) {
    std::ofstream out(output);
    out << "{\n  \"benchmark\": \"metrics_bench\",\n  \"iterations\": " << iterations
        << ",\n  \"body_bytes\": " << body_bytes << ",\n  \"max_rss_kib\": " << ru.ru_maxrss
        << ",\n  \"rows\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      out << "    {\"name\": \"" << r.name << "\", \"p50_us\": " << r.p50_us
          << ", \"p99_us\": " << r.p99_us << ", \"cpu_us\": " << r.cpu_us << "}"
          << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    out << "  ]\n}\n";
  }
  return all_ok ? 0 : 1;
}
