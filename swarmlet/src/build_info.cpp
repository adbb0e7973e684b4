#include "swarmlet/build_info.h"

namespace swarmlet {

std::string_view Version() { return STRATOSWARM_VERSION; }
std::string_view Revision() { return STRATOSWARM_REVISION; }

std::string_view Arch() {
#if defined(__aarch64__)
  return "aarch64";
#elif defined(__x86_64__)
  return "x86_64";
#else
  return "unknown";
#endif
}

// The linker defines _DYNAMIC only in executables with a dynamic section, so
// the answer is read off the binary itself rather than a build flag.
extern "C" const void* _DYNAMIC[] __attribute__((weak));  // NOLINT(readability-identifier-naming)

bool StaticallyLinked() { return _DYNAMIC == nullptr; }

}  // namespace swarmlet
