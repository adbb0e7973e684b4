// SHA-256 digests in OCI form ("sha256:<64 lowercase hex>"), over memory,
// streams and files. Backed by libsodium's crypto_hash_sha256 (this module's
// src/digest.cpp is its only user of <sodium.h>).
//
// Thread safety: Sha256 objects are values (one per thread); the free
// functions may be called from any thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace images {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, std::size_t len);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // "sha256:<hex>"; the object must not be updated afterwards.
  std::string Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Digest of the bytes.
std::string DigestOf(std::string_view bytes);

// Digest of the file's bytes (not decompressed). NotFound / IoError.
mesh::Result<std::string> FileDigest(const std::string& path);

}  // namespace images
