// libFuzzer target: the envelope decoders (mesh/envelope.h). Decode() and
// DecodeView() must agree on every input; whatever decodes must re-encode to
// bytes that decode to the same envelope. Build and run: see CMakeLists.txt here.
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "mesh/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto env = mesh::Decode(bytes);
  auto view = mesh::DecodeView(bytes);
  if (env.ok() != view.ok()) fuzz::Fail("envelope", "Decode and DecodeView disagree");
  if (!env.ok()) {
    if (env.status().code() != view.status().code()) {
      fuzz::Fail("envelope", "Decode and DecodeView refuse with different codes");
    }
    return 0;
  }
  if (!(view->ToEnvelope() == *env)) fuzz::Fail("envelope", "DecodeView reads other fields");
  fuzz::CheckRoundTrip("envelope", *env, mesh::Encode, mesh::Decode);
  return 0;
}
