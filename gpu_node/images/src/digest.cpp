// SHA-256 through libsodium: the images module's only include of <sodium.h>.
#include "images/digest.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "mesh/crypto.h"

namespace images {

struct Sha256::State {
  crypto_hash_sha256_state st;
};

Sha256::Sha256() : state_(std::make_unique<State>()) { crypto_hash_sha256_init(&state_->st); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(const void* data, std::size_t len) {
  crypto_hash_sha256_update(&state_->st, static_cast<const unsigned char*>(data), len);
}

std::string Sha256::Finish() {
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256_final(&state_->st, out.data());
  return "sha256:" + mesh::ToHex(out);
}

std::string DigestOf(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Finish();
}

mesh::Result<std::string> FileDigest(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return mesh::Status::FromErrno("open " + path, errno);
  Sha256 h;
  std::array<char, 1 << 16> buf;
  for (;;) {
    const ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return mesh::Status::FromErrno("read " + path, err);
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<std::size_t>(n));
  }
  close(fd);
  return h.Finish();
}

}  // namespace images
