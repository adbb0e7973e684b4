// VoteVerifier: batched Ed25519 signature verification behind one interface,
// so the tally does not care whether a CPU pool or a GPU checks the votes.
//
// Contract every implementation keeps, bit for bit: verdict[i] is 1 exactly
// when libsodium 1.0.18's crypto_sign_verify_detached() accepts item i, else
// 0. That means the same pre-checks, not just the group equation: S must be a
// canonical scalar (< L); R and A must not be small-order points (libsodium's
// blacklist); A must be a canonical encoding that decodes; then the
// cofactorless check encode([S]B - [k]A) == R bytes with
// k = SHA-512(R || A || M) mod L. The CUDA verifier (MakeCudaVerifier)
// implements exactly these rules (not the cofactored equation, not a
// probabilistic batch equation), and
// tests/unit/gpu_node/consensus/verifier_cases.h runs the same cases against
// every implementation.
//
// Thread safety: Verify() may be called from any thread; an implementation
// serializes concurrent calls internally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
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

  // Hint: these keys (the current member list) will verify many signatures.
  // An implementation may precompute per-key data now and drop it for keys not
  // listed. Never changes a verdict.
  virtual void Prepare(std::span<const PublicKey> keys) { (void)keys; }
};

// libsodium on a small persistent thread pool. Batches shorter than
// `min_parallel_batch` are verified on the calling thread (waking a worker
// costs more than a verify); longer ones are split in chunks that the caller
// and the workers take from a shared counter.
//
// Keys that sign repeatedly get a 40 KiB table of precomputed multiples
// (src/fixed_base.h): same verdicts as libsodium, about half the time per
// signature. A key gets a table when Prepare() lists it or when it is seen in
// a second Verify() call, up to `max_key_tables` keys; other keys go through
// crypto_sign_verify_detached. Tables are off when the linked libsodium is not
// the 1.0.18 they were written against.
class CpuVerifier final : public VoteVerifier {
 public:
  struct Options {
    // Threads verifying a batch, the caller included; 0 = hardware concurrency.
    unsigned threads = 0;
    std::size_t min_parallel_batch = 8;
    bool key_tables = true;
    std::size_t max_key_tables = 128;  // 5 MiB
  };

  CpuVerifier();
  explicit CpuVerifier(Options options);
  ~CpuVerifier() override;
  CpuVerifier(const CpuVerifier&) = delete;
  CpuVerifier& operator=(const CpuVerifier&) = delete;

  std::string Name() const override;
  unsigned threads() const;
  // Whether key tables are in use (enabled and supported by this libsodium).
  bool key_tables() const { return use_tables_; }
  mesh::Status Verify(std::span<const SignedMessage> items,
                      std::span<std::uint8_t> verdicts) override;
  void Prepare(std::span<const PublicKey> keys) override;

 private:
  class Pool;
  class KeyCache;
  std::mutex mu_;  // one Verify()/Prepare() at a time
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<KeyCache> cache_;
  Options options_;
  bool use_tables_ = false;
};

// The reference: crypto_sign_verify_detached on one item.
bool VerifyOne(const SignedMessage& item);

// The argument checks every Verify() makes before it looks at a signature:
// InvalidArgument unless there is one verdict slot per item and no item has
// a null signature, key, or message (with a non-zero length).
mesh::Status CheckVerifyArguments(std::span<const SignedMessage> items,
                                  std::span<const std::uint8_t> verdicts);

// Ed25519 on the first CUDA device: one GPU thread per signature running the
// same checks and equation as libsodium (src/ed25519_hd.h, whose host twin is
// tested against libsodium on every build). Name() is "cuda(<device name>)".
// Messages longer than 1 KiB are verified on the calling thread with
// libsodium instead. Device and pinned buffers are reused across calls.
//
// Unavailable("no CUDA device") when the machine has no usable device, and
// Unavailable("built without CUDA") when the build has no nvcc
// (STRATOSWARM_CUDA=OFF); callers keep a CpuVerifier then.
mesh::Result<std::unique_ptr<VoteVerifier>> MakeCudaVerifier();

}  // namespace consensus
