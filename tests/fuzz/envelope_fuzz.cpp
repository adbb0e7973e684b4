// libFuzzer target: the envelope decoder (mesh/envelope.h).
// Whatever decodes must re-encode to bytes that decode to the same envelope.
// Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mesh/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto env = mesh::Decode(bytes);
  if (!env.ok()) return 0;
  auto again = mesh::Encode(*env);
  if (!again.ok()) std::abort();
  auto twice = mesh::Decode(*again);
  if (!twice.ok() || !(*twice == *env)) std::abort();
  return 0;
}
