// libFuzzer target: the join protocol (swarmlet/join_protocol.h): the join
// request the GPU peer reads from a would-be node, the response a node reads
// back, the bootstrap line a node reads from --cluster IP, and the mDNS TXT
// records it reads from discovery ("key=value" lines here). The first byte
// picks the decoder; whatever decodes must round-trip through its encoder.
// Build and run: see CMakeLists.txt here.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "swarmlet/join_protocol.h"

namespace {

void CheckSameInfo(const char* decoder, const swarmlet::BootstrapInfo& a,
                   const swarmlet::BootstrapInfo& b) {
  if (!(a.keys == b.keys) || a.join_port != b.join_port || a.mesh_port != b.mesh_port) {
    fuzz::Fail(decoder, "encode then decode changes the value");
  }
}

void BootstrapLine(std::string_view bytes) {
  auto info = swarmlet::ParseBootstrapLine(bytes);
  if (!info.ok()) return;
  auto again = swarmlet::ParseBootstrapLine(swarmlet::EncodeBootstrapLine(*info));
  if (!again.ok()) fuzz::Fail("bootstrap line", "the parser refuses the encoder's line");
  CheckSameInfo("bootstrap line", *info, *again);
}

void BootstrapTxt(std::string_view bytes) {
  std::map<std::string, std::string> txt;
  while (!bytes.empty()) {
    const std::size_t end = bytes.find('\n');
    const std::string_view record = bytes.substr(0, end);
    const std::size_t eq = record.find('=');
    txt[std::string(record.substr(0, eq))] =
        eq == std::string_view::npos ? std::string() : std::string(record.substr(eq + 1));
    bytes.remove_prefix(end == std::string_view::npos ? bytes.size() : end + 1);
  }
  auto info = swarmlet::BootstrapFromTxt(txt);
  if (!info.ok()) return;
  auto again = swarmlet::BootstrapFromTxt(swarmlet::BootstrapTxt(*info));
  if (!again.ok()) fuzz::Fail("mDNS records", "the parser refuses the encoder's records");
  CheckSameInfo("mDNS records", *info, *again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Selected in = fuzz::Select(data, size, 4);
  switch (in.which) {
    case 0:
      if (auto request = swarmlet::DecodeJoinRequest(in.bytes); request.ok()) {
        if (!swarmlet::JoinRequestSignedBytes(*request).ok()) {
          fuzz::Fail("join request", "decoded but has no signed bytes");
        }
        fuzz::CheckRoundTrip("join request", *request, swarmlet::EncodeJoinRequest,
                             swarmlet::DecodeJoinRequest);
      }
      break;
    case 1:
      fuzz::Exercise("join response", in.bytes, swarmlet::EncodeJoinResponse,
                     swarmlet::DecodeJoinResponse);
      break;
    case 2:
      BootstrapLine(in.bytes);
      break;
    case 3:
      BootstrapTxt(in.bytes);
      break;
  }
  return 0;
}
