// libFuzzer target: the certificate, member-list and identity-file decoders
// (mesh/certificate.h, mesh/member_list.h, mesh/identity_store.h). Every input
// goes to all four; whatever decodes must round-trip through its encoder, and
// verification of whatever decodes must return (OK or not) without crashing.
// Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mesh/certificate.h"
#include "mesh/identity_store.h"
#include "mesh/member_list.h"

namespace {

template <typename T, typename Encode, typename Decode>
void RoundTrip(const T& value, Encode encode, Decode decode) {
  auto bytes = encode(value);
  if (!bytes.ok()) std::abort();
  auto back = decode(*bytes);
  if (!back.ok() || !(*back == value)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const mesh::CaPublicKeys any_ca{};

  if (auto cert = mesh::DecodeCertificate(bytes); cert.ok()) {
    RoundTrip(*cert, mesh::EncodeCertificate, mesh::DecodeCertificate);
    (void)mesh::VerifyCertificate(any_ca, *cert, 0);
  }
  if (auto list = mesh::DecodeMemberList(bytes); list.ok()) {
    RoundTrip(*list, mesh::EncodeMemberList, mesh::DecodeMemberList);
    (void)mesh::VerifyMemberList(any_ca, *list);
  }
  if (auto id = mesh::DecodeNodeIdentity(bytes); id.ok()) {
    RoundTrip(*id, mesh::EncodeNodeIdentity, mesh::DecodeNodeIdentity);
  }
  if (auto ca = mesh::DecodeCaIdentity(bytes); ca.ok()) {
    auto again = mesh::DecodeCaIdentity(*mesh::EncodeCaIdentity(*ca));
    if (!again.ok() || again->fingerprint() != ca->fingerprint()) std::abort();
  }
  return 0;
}
