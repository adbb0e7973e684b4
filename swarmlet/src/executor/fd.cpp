#include "fd.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace swarmlet::executor {

mesh::Status ErrnoStatus(std::string_view op, std::string_view path, int err) {
  std::string what(op);
  if (!path.empty()) {
    what += ' ';
    what += path;
  }
  return mesh::Status::FromErrno(what, err);
}

mesh::Result<std::string> ReadFileAt(int dirfd, const std::string& name) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", name, errno);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", name, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

mesh::Status WriteFileAt(int dirfd, const std::string& name, std::string_view data,
                         int extra_flags) {
  // errno survives the return (callers explain ENOENT/EPERM from it).
  const int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CLOEXEC | extra_flags, 0644);
  if (fd < 0) return ErrnoStatus("open", name, errno);
  const ssize_t n = ::write(fd, data.data(), data.size());
  const int err = errno;
  ::close(fd);
  errno = err;
  if (n < 0) return ErrnoStatus("write " + std::string(data) + " to", name, err);
  if (static_cast<std::size_t>(n) != data.size()) {
    return mesh::Status::IoError("write " + name, "short write");
  }
  return mesh::Status::Ok();
}

mesh::Status WriteFileAtomic(const std::string& path, std::string_view data, bool durable) {
  const std::string tmp = path + ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus("create", tmp, errno);
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::unlink(tmp.c_str());
        return ErrnoStatus("write", tmp, err);
      }
      done += static_cast<std::size_t>(n);
    }
    // fdatasync: after a power cut the rename must not point at an empty file.
    if (durable && ::fdatasync(fd.get()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus("fsync", tmp, err);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("rename to", path, err);
  }
  return mesh::Status::Ok();
}

std::uint64_t ReadKeyedValue(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        line[key.size()] == ' ') {
      std::uint64_t value = 0;
      const std::string_view num = line.substr(key.size() + 1);
      std::from_chars(num.data(), num.data() + num.size(), value);
      return value;
    }
    pos = end + 1;
  }
  return 0;
}

}  // namespace swarmlet::executor
