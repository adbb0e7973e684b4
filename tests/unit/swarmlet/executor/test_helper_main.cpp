// executor_test_helper: the workloads the executor tests run.
//   alloc MIB      allocates and touches MIB MiB, then sleeps 10 s (OOM target)
//   spin SECONDS   burns CPU for SECONDS
//   print BYTES    writes BYTES 'x' characters (in 100-char lines) to stdout
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s alloc MIB | spin SECONDS | print BYTES\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const long n = std::strtol(argv[2], nullptr, 10);
  if (mode == "alloc") {
    for (long i = 0; i < n; ++i) {
      auto* block = static_cast<char*>(std::malloc(1 << 20));
      if (block == nullptr) return 3;
      std::memset(block, 1, 1 << 20);  // touch every page: only resident memory counts
    }
    std::this_thread::sleep_for(std::chrono::seconds(10));
    return 0;
  }
  if (mode == "spin") {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(n);
    volatile unsigned long sink = 0;
    while (std::chrono::steady_clock::now() < end) {
      for (int i = 0; i < 100000; ++i) sink = sink + static_cast<unsigned long>(i);
    }
    return 0;
  }
  if (mode == "print") {
    std::string line(99, 'x');
    line += '\n';
    for (long done = 0; done < n; done += 100) std::fwrite(line.data(), 1, line.size(), stdout);
    return 0;
  }
  return 2;
}
