// VoteVerifier: batched Ed25519 signature verification behind one interface,
// so the tally does not care whether a CPU pool or a GPU checks the votes.
//
// Contract every implementation keeps, bit for bit: verdict[i] is 1 exactly
// when libsodium 1.0.18's crypto_sign_verify_detached() accepts item i, else
// 0. That means the same pre-checks, not just the group equation: S must be a
// canonical scalar (< L); R and A must not be small-order points (libsodium's
// blacklist); A must be a canonical encoding that decodes; then the
// cofactorless check encode([S]B - [k]A) == R bytes with
// k = SHA-512(R || A || M) mod L. A future CudaVerifier must implement exactly
// these rules (not the cofactored equation, not a probabilistic batch
// equation), and tests/unit/gpu_node/consensus/verifier_cases.h runs the same
// cases against every implementation.
//
// Thread safety: Verify() may be called from any thread; an implementation
// serializes concurrent calls internally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "consensus/types.h"
#include "mesh/status.h"

namespace consensus {

// One signature to check. Borrowed pointers: they must outlive the Verify() call.
struct SignedMessage {
  const std::uint8_t* message = nullptr;
  std::size_t message_len = 0;
  const Signature* signature = nullptr;
  const PublicKey* public_key = nullptr;
};

class VoteVerifier {
 public:
  virtual ~VoteVerifier() = default;

  // "cpu(2 threads)", "cuda(NVIDIA H100)", ...
  virtual std::string Name() const = 0;

  // Writes one verdict (1 valid, 0 invalid) per item. `verdicts` must be as
  // long as `items` (InvalidArgument otherwise). A non-OK Status means the
  // verifier itself failed (device lost, ...); invalid signatures are verdicts,
  // never errors.
  virtual mesh::Status Verify(std::span<const SignedMessage> items,
                              std::span<std::uint8_t> verdicts) = 0;
};

// libsodium on a small persistent thread pool. Batches shorter than
// `min_parallel_batch` are verified on the calling thread (waking a worker
// costs more than a verify); longer ones are split in chunks that the caller
// and the workers take from a shared counter.
class CpuVerifier final : public VoteVerifier {
 public:
  struct Options {
    // Threads verifying a batch, the caller included; 0 = hardware concurrency.
    unsigned threads = 0;
    std::size_t min_parallel_batch = 8;
  };

  CpuVerifier();
  explicit CpuVerifier(Options options);
  ~CpuVerifier() override;
  CpuVerifier(const CpuVerifier&) = delete;
  CpuVerifier& operator=(const CpuVerifier&) = delete;

  std::string Name() const override;
  unsigned threads() const;
  mesh::Status Verify(std::span<const SignedMessage> items,
                      std::span<std::uint8_t> verdicts) override;

 private:
  class Pool;
  std::unique_ptr<Pool> pool_;
  Options options_;
};

// The reference: crypto_sign_verify_detached on one item.
bool VerifyOne(const SignedMessage& item);

}  // namespace consensus
