// libFuzzer target: the image transfer protocol (swarmlet/image_protocol.h).
// The first byte picks the decoder; whatever decodes must round-trip through
// its encoder. Build and run: see CMakeLists.txt here.
#include <cstdint>

#include "fuzz_support.h"
#include "swarmlet/image_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 2);
  switch (in.which) {
    case 0:
      if (auto fetch = swarmlet::DecodeImageFetch(in.bytes); fetch.ok()) {
        if (fetch->max_bytes == 0 || fetch->max_bytes > swarmlet::kMaxImageChunkBytes) {
          fuzz::Fail("image fetch", "max_bytes out of 1..kMaxImageChunkBytes");
        }
        fuzz::CheckRoundTrip("image fetch", *fetch, swarmlet::EncodeImageFetch,
                             swarmlet::DecodeImageFetch);
      }
      break;
    case 1:
      fuzz::Exercise("image chunk", in.bytes, swarmlet::EncodeImageChunk,
                     swarmlet::DecodeImageChunk);
      break;
  }
  return 0;
}
