// Helpers shared by the unit tests.
#pragma once

#include <unistd.h>

#include <iostream>

// Ends the current test case as skipped. ctest reports a case whose output
// contains "SKIPPED:" as skipped (see tests/CMakeLists.txt), never as passed.
#define SKIP_TEST(reason)                                   \
  do {                                                      \
    std::cout << "SKIPPED: " << (reason) << std::endl;      \
    return;                                                 \
  } while (0)

inline bool RunningAsRoot() { return geteuid() == 0; }
