#include "ed25519_hd_host.h"

#include "ed25519_hd.h"

namespace consensus::internal {

bool HostEd25519Verify(const SignedMessage& item) {
  return ed25519_hd::Verify(item.message, item.message_len, item.signature->data(),
                            item.public_key->data());
}

void HostSha512(const std::uint8_t* data, std::size_t len, std::uint8_t out[64]) {
  ed25519_hd::Sha512State s;
  ed25519_hd::Sha512Init(s);
  ed25519_hd::Sha512Update(s, data, len);
  ed25519_hd::Sha512Final(s, out);
}

}  // namespace consensus::internal
