// Small file helpers shared by the executor sources (private).
//
// Thread safety: UniqueFd is a move-only value; the functions are reentrant.
#pragma once

#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>

#include "mesh/status.h"

namespace swarmlet::executor {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// The errno translation for the executor: "<op> <path>: <strerror>".
mesh::Status ErrnoStatus(std::string_view op, std::string_view path, int err);

// Reads a whole small file relative to `dirfd` (AT_FDCWD for absolute paths).
mesh::Result<std::string> ReadFileAt(int dirfd, const std::string& name);
// Writes `data` to a file relative to `dirfd` in one write().
mesh::Status WriteFileAt(int dirfd, const std::string& name, std::string_view data,
                         int extra_flags = 0);
// Writes `data` to `path` through a temp file + rename, so readers see the
// old or the new content, never a torn one. `durable` adds an fdatasync
// before the rename, for content that must survive a power cut.
mesh::Status WriteFileAtomic(const std::string& path, std::string_view data, bool durable);
// Parses "key value" lines (memory.events, cpu.stat, memory.oom_control).
std::uint64_t ReadKeyedValue(std::string_view text, std::string_view key);

}  // namespace swarmlet::executor
