// timings_bench: how fast `stratoswarm timings` aggregates a timing log
// (issue 9). Writes N TimingLog-shaped lines (5 events x 4 phases, 1% garbage)
// to a temporary file, then times RunTimingsCommand on it; the baseline in the
// same run is a bare std::getline pass over the same file (the I/O floor).
//
//   timings_bench [--lines N] [--output FILE]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "timings/timings.h"

namespace {

double Seconds(const std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  long lines = 1'000'000;
  std::string output;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--lines") == 0 && i + 1 < argc) {
      lines = std::max(100L, std::atol(argv[++i]));
    } else if (std::strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
      output = argv[++i];
    } else {
      std::fprintf(stderr, "usage: timings_bench [--lines N] [--output FILE]\n");
      return 2;
    }
  }
  char path[] = "/tmp/timings-bench-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return 1;
  close(fd);
  {
    static const char* kEvents[] = {"join", "mesh_formation", "failure_detection", "migration",
                                    "scheduling"};
    static const char* kPhases[] = {"hw_profile", "discovery", "cert_exchange", "total"};
    std::mt19937_64 rng(7);
    std::ofstream out(path);
    char buf[256];
    for (long i = 0; i < lines; ++i) {
      if (i % 100 == 99) {
        out << "{\"ts_ns\":garbage\n";
        continue;
      }
      std::snprintf(buf, sizeof buf,
                    "{\"ts_ns\":%lld,\"node\":\"rpi-%d\",\"event\":\"%s\",\"phase\":\"%s\","
                    "\"ms\":%.3f,\"peer\":\"gpu\"}\n",
                    1764151200000000000LL + i * 1000, static_cast<int>(rng() % 20),
                    kEvents[rng() % 5], kPhases[rng() % 4],
                    static_cast<double>(rng() % 1000000) / 1000.0);
      out << buf;
    }
  }
  const auto size = std::ifstream(path, std::ios::ate | std::ios::binary).tellg();

  auto t0 = std::chrono::steady_clock::now();
  long counted = 0;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) ++counted;
  }
  const double baseline_s = Seconds(t0);

  gpu_node::TimingsOptions o;
  o.files = {path};
  o.format = "json";
  std::ostringstream sink, err;
  t0 = std::chrono::steady_clock::now();
  const int rc = gpu_node::RunTimingsCommand(o, sink, err);
  const double timings_s = Seconds(t0);
  std::remove(path);

  std::printf("%-36s %10s %14s\n", "pass", "seconds", "lines/s");
  std::printf("%-36s %10.3f %14.0f\n", "baseline: getline only", baseline_s, counted / baseline_s);
  std::printf("%-36s %10.3f %14.0f\n", "stratoswarm timings (parse+aggregate)", timings_s,
              lines / timings_s);
  std::printf("lines: %ld, file: %.1f MB, exit code %d\n", lines,
              static_cast<double>(size) / (1024.0 * 1024.0), rc);
  if (!output.empty()) {
    std::ofstream out(output);
    out << "{\"benchmark\":\"timings_bench\",\"lines\":" << lines << ",\"file_bytes\":" << size
        << ",\"baseline_getline_s\":" << baseline_s << ",\"timings_s\":" << timings_s
        << ",\"timings_lines_per_s\":" << lines / timings_s << "}\n";
  }
  return rc;
}
