// The verifier test cases, written once against the VoteVerifier interface so
// every implementation (CpuVerifier, the CUDA verifier) runs the same
// cases and must give libsodium's verdicts bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "consensus/verifier.h"

namespace consensus_test {

// >= `count` random signatures: valid ones and ones corrupted by flipping one
// bit of the message, of R, of S, or of the public key, in batches of varying
// size (1 .. 600). Each verdict must equal single-threaded libsodium's.
void CheckRandomAgainstLibsodium(consensus::VoteVerifier& verifier, std::size_t count,
                                 std::uint64_t seed);

// Hand-made edge cases: non-canonical S, small-order R and A, non-canonical A,
// all-zero signature, empty message, the same item repeated in one batch.
void CheckEdgeCases(consensus::VoteVerifier& verifier);

// Length mismatch is an error; an empty batch is fine.
void CheckContract(consensus::VoteVerifier& verifier);

}  // namespace consensus_test
