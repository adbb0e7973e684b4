// libFuzzer target: what a node says about itself (swarmlet/node_health.h,
// swarmlet/node_notice.h). The first byte picks the decoder; whatever decodes
// must round-trip through its encoder. Build and run: see CMakeLists.txt here.
#include <cstdint>

#include "fuzz_support.h"
#include "swarmlet/node_health.h"
#include "swarmlet/node_notice.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 2);
  switch (in.which) {
    case 0:
      fuzz::Exercise("node health", in.bytes, swarmlet::EncodeNodeHealth,
                     swarmlet::DecodeNodeHealth);
      break;
    case 1:
      fuzz::Exercise("node notice", in.bytes, swarmlet::EncodeNodeNotice,
                     swarmlet::DecodeNodeNotice);
      break;
  }
  return 0;
}
