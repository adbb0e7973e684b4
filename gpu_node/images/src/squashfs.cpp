// tar2sqfs fed through a socketpair: the merge writes with MSG_NOSIGNAL, so a
// tar2sqfs that dies early makes the merge fail instead of raising SIGPIPE.
#include "images/squashfs.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "images/digest.h"
#include "images/layers.h"
#include "mesh/atomic_file.h"
#include "subprocess.h"

namespace images {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::string DirOf(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

mesh::Result<std::uint64_t> FileSize(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return mesh::Status::FromErrno("open " + path, errno);
  const off_t size = lseek(fd, 0, SEEK_END);
  close(fd);
  if (size < 0) return mesh::Status::FromErrno("stat " + path, errno);
  return static_cast<std::uint64_t>(size);
}

}  // namespace

const char* CompressorName(Compressor c) { return c == Compressor::kXz ? "xz" : "gzip"; }

mesh::Result<Compressor> ParseCompressor(std::string_view name) {
  if (name == "gzip") return Compressor::kGzip;
  if (name == "xz") return Compressor::kXz;
  return mesh::Status::InvalidArgument("squashfs compressor '" + std::string(name) + "'",
                                       "use gzip or xz (what Linux 6.1 Pi kernels can mount)");
}

mesh::Result<SquashfsInfo> BuildSquashfs(const std::vector<std::string>& layer_paths,
                                         const std::string& out_path, Compressor c) {
  const std::string tmp = out_path + ".tmp";
  const std::string op = "build squashfs " + out_path;
  unlink(tmp.c_str());
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return mesh::Status::FromErrno(op + ": socketpair", errno);
  Fd ours(sv[0]);
  Fd theirs(sv[1]);
  shutdown(ours.get(), SHUT_RD);
  auto child = internal::Spawn({"tar2sqfs", "-q", "-f", "-s", "-c", CompressorName(c), "-b",
                                "131072", "-d", "uid=0,gid=0,mode=0755,mtime=0", tmp},
                               theirs.get());
  if (!child.ok()) return child.status().WithContext(op);
  theirs.Reset();

  auto merged = MergeLayers(layer_paths, ours.get(), MergeOptions{.runtime_skeleton = true});
  ours.Reset();  // EOF for tar2sqfs
  if (!merged.ok()) {
    // A write error usually means tar2sqfs gave up first: its reason is better.
    if (merged.status().code() == mesh::StatusCode::kIoError) {
      auto exit = internal::Wait(*child);
      unlink(tmp.c_str());
      if (exit.ok() && !exit->ok())
        return mesh::Status::Corrupt(op, "tar2sqfs: " + exit->LastLine());
      return merged.status();
    }
    internal::Kill(*child);
    unlink(tmp.c_str());
    return merged.status();
  }
  auto exit = internal::Wait(*child);
  if (!exit.ok()) {
    unlink(tmp.c_str());
    return exit.status().WithContext(op);
  }
  if (!exit->ok()) {
    unlink(tmp.c_str());
    return mesh::Status::Corrupt(op, "tar2sqfs: " + exit->LastLine());
  }
  if (auto s = mesh::FsyncPath(tmp); !s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  SquashfsInfo info;
  auto digest = FileDigest(tmp);
  auto size = FileSize(tmp);
  if (!digest.ok() || !size.ok()) {
    unlink(tmp.c_str());
    return (!digest.ok() ? digest.status() : size.status()).WithContext(op);
  }
  if (std::rename(tmp.c_str(), out_path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return mesh::Status::FromErrno(op + ": rename", err);
  }
  MESH_RETURN_IF_ERROR(mesh::FsyncPath(DirOf(out_path)));
  info.digest = std::move(*digest);
  info.size = *size;
  info.passwd = std::move(merged->passwd);
  info.group = std::move(merged->group);
  return info;
}

}  // namespace images
