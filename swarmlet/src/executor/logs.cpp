#include "swarmlet/executor/logs.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "fd.h"

namespace swarmlet::executor {

mesh::Result<int> OpenLogForAppend(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus("open log", path, errno);
  return fd;
}

mesh::Result<bool> RotateLogIfNeeded(const std::string& path, const LogConfig& config) {
  if (config.max_bytes == 0) return false;
  UniqueFd in(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!in.valid()) {
    if (errno == ENOENT) return false;
    return ErrnoStatus("open log", path, errno);
  }
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoStatus("stat log", path, errno);
  if (static_cast<std::uint64_t>(st.st_size) < config.max_bytes) return false;
  if (config.keep < 1) {
    if (::ftruncate(in.get(), 0) != 0) return ErrnoStatus("truncate log", path, errno);
    return true;
  }
  for (int i = config.keep - 1; i >= 1; --i) {
    const std::string from = path + "." + std::to_string(i);
    const std::string to = path + "." + std::to_string(i + 1);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus("rotate log", from, errno);
    }
  }
  const std::string first = path + ".1";
  UniqueFd out(::open(first.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!out.valid()) return ErrnoStatus("create", first, errno);
  // Copy what is there now; output appended between this copy and the
  // truncate is lost (the copytruncate trade-off, see logs.h).
  off_t offset = 0;
  while (offset < st.st_size) {
    const ssize_t n = ::sendfile(out.get(), in.get(), &offset,
                                 static_cast<std::size_t>(st.st_size - offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("copy log to", first, errno);
    }
    if (n == 0) break;
  }
  if (::ftruncate(in.get(), 0) != 0) return ErrnoStatus("truncate log", path, errno);
  return true;
}

}  // namespace swarmlet::executor
