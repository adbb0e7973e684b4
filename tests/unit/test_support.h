// Helpers shared by the unit tests.
#pragma once

#include <unistd.h>

#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

// Ends the current test case as skipped. ctest reports a case whose output
// contains "SKIPPED:" as skipped (see tests/CMakeLists.txt), never as passed.
#define SKIP_TEST(reason)                                   \
  do {                                                      \
    std::cout << "SKIPPED: " << (reason) << std::endl;      \
    return;                                                 \
  } while (0)

inline bool RunningAsRoot() { return geteuid() == 0; }

// What an in-process run of a command line printed and returned.
struct CliOutcome {
  int code;
  std::string out;  // the stream handed to the command plus anything on std::cout
  std::string err;  // std::cerr
};

// Runs `main_like(argc, argv, out)` with std::cout and std::cerr captured.
inline CliOutcome RunCli(const std::function<int(int, const char* const*, std::ostream&)>& main_like,
                         std::vector<const char*> argv) {
  std::ostringstream out, err, cout_capture;
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  auto* old_out = std::cout.rdbuf(cout_capture.rdbuf());
  const int code = main_like(static_cast<int>(argv.size()), argv.data(), out);
  std::cerr.rdbuf(old_err);
  std::cout.rdbuf(old_out);
  return {code, out.str() + cout_capture.str(), err.str()};
}
