// libFuzzer target: the workload protocol (swarmlet/workload_protocol.h):
// commands the GPU peer sends and the status a node answers with. The first
// byte picks the decoder; whatever decodes must round-trip through its
// encoder. Build and run: see CMakeLists.txt here.
#include <cstdint>

#include "fuzz_support.h"
#include "swarmlet/workload_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 2);
  switch (in.which) {
    case 0:
      fuzz::Exercise("workload command", in.bytes, swarmlet::EncodeWorkloadCommand,
                     swarmlet::DecodeWorkloadCommand);
      break;
    case 1:
      fuzz::Exercise("workload status", in.bytes, swarmlet::EncodeWorkloadStatus,
                     swarmlet::DecodeWorkloadStatus);
      break;
  }
  return 0;
}
