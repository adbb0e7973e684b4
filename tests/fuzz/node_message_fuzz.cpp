// libFuzzer target: what a node says about itself and its certificate
// renewal (swarmlet/node_health.h, swarmlet/node_notice.h,
// swarmlet/cert_renewal.h). The first byte picks the decoder; whatever decodes
// must round-trip through its encoder. Build and run: see CMakeLists.txt here.
#include <cstdint>

#include "fuzz_support.h"
#include "swarmlet/cert_renewal.h"
#include "swarmlet/node_health.h"
#include "swarmlet/node_notice.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 4);
  switch (in.which) {
    case 0:
      fuzz::Exercise("node health", in.bytes, swarmlet::EncodeNodeHealth,
                     swarmlet::DecodeNodeHealth);
      break;
    case 1:
      fuzz::Exercise("node notice", in.bytes, swarmlet::EncodeNodeNotice,
                     swarmlet::DecodeNodeNotice);
      break;
    case 2:
      fuzz::Exercise("cert renew", in.bytes, swarmlet::EncodeCertRenew, swarmlet::DecodeCertRenew);
      break;
    case 3:
      fuzz::Exercise("cert renewed", in.bytes, swarmlet::EncodeCertRenewed, swarmlet::DecodeCertRenewed);
      break;
  }
  return 0;
}
