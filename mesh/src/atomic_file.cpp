#include "mesh/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>
#include <vector>

namespace mesh {
namespace {

// Closes an fd on scope exit unless released; close errors after a
// successful fsync cannot lose data, so they are not reported here.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string DirName(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status WriteAll(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + what, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomic(const std::string& path, std::string_view bytes, mode_t mode) {
  if (path.empty() || path.back() == '/')
    return Status::InvalidArgument("write " + path, "not a file path");
  const std::string dir = DirName(path);
  std::string tmp = dir + "/." + BaseName(path) + ".tmp.XXXXXX";
  std::vector<char> tmpl(tmp.begin(), tmp.end());
  tmpl.push_back('\0');
  Fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("create temporary file in " + dir, errno);
  tmp.assign(tmpl.data());

  // From here on, any failure removes the temporary file.
  auto fail = [&](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail(Status::FromErrno("chmod " + tmp, errno));
  if (Status s = WriteAll(fd.get(), bytes, tmp); !s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0) return fail(Status::FromErrno("fsync " + tmp, errno));
  if (::close(fd.Release()) != 0) return fail(Status::FromErrno("close " + tmp, errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(Status::FromErrno("rename to " + path, errno));

  // Make the rename itself durable.
  return FsyncPath(dir);
}

Status FsyncPath(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("open " + path, errno);
  if (::fsync(fd.get()) != 0) return Status::FromErrno("fsync " + path, errno);
  return Status::Ok();
}

Result<std::string> ReadFileLimited(const std::string& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("open " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("read " + path, "not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return Status::Corrupt("read " + path, std::to_string(st.st_size) + " bytes exceeds the " +
                                               std::to_string(max_bytes) + "-byte limit");
  }
  std::string out;
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  // Read one byte past the size we saw so a file that grew is noticed.
  char probe;
  while (true) {
    char* dst = got < out.size() ? out.data() + got : &probe;
    const std::size_t want = got < out.size() ? out.size() - got : 1;
    const ssize_t n = ::read(fd.get(), dst, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + path, errno);
    }
    if (n == 0) break;
    if (got >= out.size()) return Status::Corrupt("read " + path, "file grew while being read");
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

Status EnsureDirectory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) return Status::Ok();
  const int err = errno;
  if (err != EEXIST) return Status::FromErrno("mkdir " + path, err);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if (!S_ISDIR(st.st_mode))
    return Status::AlreadyExists("mkdir " + path, "exists and is not a directory");
  return Status::Ok();
}

}  // namespace mesh
