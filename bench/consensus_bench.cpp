// Seed-000 consensus benchmark: prints the table, writes JSON with --output.
//   consensus_bench [--output FILE] [--iterations N] [--batch-iterations N] [--threads N]
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "consensus/bench.h"

int main(int argc, char** argv) {
  consensus::BenchOptions options;
  std::string output;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--output") {
      output = next();
    } else if (arg == "--iterations") {
      options.single_iterations = std::atoi(next());
    } else if (arg == "--batch-iterations") {
      options.batch_iterations = std::atoi(next());
    } else if (arg == "--threads") {
      options.threads = static_cast<unsigned>(std::atoi(next()));
    } else {
      std::cerr << "usage: consensus_bench [--output FILE] [--iterations N] "
                   "[--batch-iterations N] [--threads N]\n";
      return 2;
    }
  }
  if (options.single_iterations < 1 || options.batch_iterations < 1) {
    std::cerr << "iterations must be >= 1\n";
    return 2;
  }
  auto json = consensus::RunConsensusBench(options, std::cout);
  if (!json.ok()) {
    std::cerr << "consensus_bench: " << json.status().ToString() << "\n";
    return 1;
  }
  if (!output.empty()) {
    std::ofstream f(output);
    f << *json;
    if (!f) {
      std::cerr << "consensus_bench: cannot write " << output << "\n";
      return 1;
    }
  }
  return 0;
}
