// The host twin of the CUDA verifier kernel: the SS_HD Ed25519 code of
// ed25519_hd.h compiled by the C++ compiler and run on the CPU. Tests compare
// it with libsodium on every machine, so the arithmetic the GPU runs is
// checked even where no GPU (or no nvcc) exists. Not a production verifier:
// CpuVerifier (libsodium) is faster on a CPU.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "consensus/verifier.h"

namespace consensus::internal {

// What crypto_sign_verify_detached() of libsodium 1.0.18 says about `item`,
// computed with the kernel's code.
bool HostEd25519Verify(const SignedMessage& item);

// SHA-512 through the kernel's code (tests compare it with libsodium's).
void HostSha512(const std::uint8_t* data, std::size_t len, std::uint8_t out[64]);

}  // namespace consensus::internal
