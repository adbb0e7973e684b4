#include "swarmlet/image_mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "executor/fd.h"

// Kernels since 5.8 configure a loop device in one ioctl; the headers of older
// toolchains lack it, and older kernels answer it with EINVAL/ENOTTY.
#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
  __u32 fd;
  __u32 block_size;
  struct loop_info64 info;
  __u64 __reserved[8];
};
#endif

namespace swarmlet {
namespace {

using executor::UniqueFd;
using mesh::Status;

constexpr int kLoopAttempts = 16;  // LOOP_CTL_GET_FREE races with other losetups

// "<op>: <strerror> (<hint>)" with the code FromErrno would pick.
Status ErrnoWithHint(const std::string& op, int err, std::string_view hint) {
  Status s = Status::FromErrno(op, err);
  if (hint.empty()) return s;
  const std::string cause = std::string(std::strerror(err)) + " (" + std::string(hint) + ")";
  switch (s.code()) {
    case mesh::StatusCode::kNotFound:
      return Status::NotFound(op, cause);
    case mesh::StatusCode::kPermissionDenied:
      return Status::PermissionDenied(op, cause);
    default:
      return Status::IoError(op, cause);
  }
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const auto oct = [](char c) { return c >= '0' && c <= '7'; };
      if (oct(field[i + 1]) && oct(field[i + 2]) && oct(field[i + 3])) {
        out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                 (field[i + 3] - '0'));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

// The mount points listed in /proc/self/mountinfo (field 5 of each line).
mesh::Result<std::vector<std::string>> MountPoints() {
  auto text = executor::ReadFileAt(AT_FDCWD, "/proc/self/mountinfo");  // size 0 to stat
  if (!text.ok()) return text.status();
  std::vector<std::string> points;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const std::size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    for (int skip = 0; skip < 4 && !line.empty(); ++skip) {
      const std::size_t sp = line.find(' ');
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    }
    const std::string_view field = line.substr(0, line.find(' '));
    if (!field.empty()) points.push_back(UnescapeMountField(field));
  }
  return points;
}

// The canonical path, or "" when it does not exist.
mesh::Result<std::string> Canonical(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return std::string();
    return Status::FromErrno("resolve " + path, errno);
  }
  std::string out(real);
  std::free(real);
  return out;
}

struct LoopDevice {
  UniqueFd fd;
  std::string path;
};

// Attaches `file_fd` read-only with autoclear to a free loop device.
mesh::Result<LoopDevice> AttachLoop(int file_fd, const std::string& image_file) {
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control.valid()) return Status::FromErrno("open /dev/loop-control", errno);
  for (int attempt = 0; attempt < kLoopAttempts; ++attempt) {
    const int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return Status::FromErrno("find a free loop device", errno);
    LoopDevice dev;
    dev.path = "/dev/loop" + std::to_string(n);
    dev.fd.reset(::open(dev.path.c_str(), O_RDWR | O_CLOEXEC));
    if (!dev.fd.valid()) {
      if (errno == ENOENT)
        return ErrnoWithHint("open " + dev.path, errno, "no device node; is /dev a devtmpfs?");
      return Status::FromErrno("open " + dev.path, errno);
    }

    loop_config config{};
    config.fd = static_cast<__u32>(file_fd);
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    std::snprintf(reinterpret_cast<char*>(config.info.lo_file_name), LO_NAME_SIZE, "%s",
                  image_file.c_str());
    if (::ioctl(dev.fd.get(), LOOP_CONFIGURE, &config) == 0) return dev;
    const int configure_err = errno;
    if (configure_err == EBUSY) continue;  // taken between GET_FREE and now
    if (configure_err != EINVAL && configure_err != ENOTTY)
      return Status::FromErrno("attach " + image_file + " to " + dev.path, configure_err);

    // Before 5.8: attach, then set the flags.
    if (::ioctl(dev.fd.get(), LOOP_SET_FD, file_fd) != 0) {
      if (errno == EBUSY) continue;
      return Status::FromErrno("attach " + image_file + " to " + dev.path, errno);
    }
    loop_info64 info{};
    info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    std::memcpy(info.lo_file_name, config.info.lo_file_name, LO_NAME_SIZE);
    if (::ioctl(dev.fd.get(), LOOP_SET_STATUS64, &info) != 0) {
      const int err = errno;
      (void)::ioctl(dev.fd.get(), LOOP_CLR_FD, 0);
      return Status::FromErrno("configure " + dev.path + " for " + image_file, err);
    }
    return dev;
  }
  return Status::Unavailable("attach " + image_file,
                             "every free loop device was taken by someone else; retry");
}

// Deletes the contents of directory `dfd` (named `path`), staying on `dev`.
// Returns the first error and carries on with the rest.
Status RemoveContents(int dfd, dev_t dev, const std::string& path) {
  const int dup_fd = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return Status::FromErrno("read " + path, errno);
  DIR* d = ::fdopendir(dup_fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(dup_fd);
    return Status::FromErrno("read " + path, err);
  }
  std::vector<std::string> names;
  while (const dirent* ent = ::readdir(d)) {
    const std::string_view name = ent->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);

  Status first;
  const auto note = [&first](Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  for (const std::string& name : names) {
    const std::string child = path + "/" + name;
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) note(Status::FromErrno("stat " + child, errno));
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (::unlinkat(dfd, name.c_str(), 0) != 0 && errno != ENOENT)
        note(Status::FromErrno("remove " + child, errno));
      continue;
    }
    if (st.st_dev != dev) {
      note(Status::PermissionDenied("remove " + child, "another filesystem is mounted there; left alone"));
      continue;
    }
    UniqueFd sub(::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) {
      note(Status::FromErrno("open " + child, errno));
      continue;
    }
    struct stat sub_st {};
    if (::fstat(sub.get(), &sub_st) != 0 || sub_st.st_dev != dev || sub_st.st_ino != st.st_ino) {
      note(Status::PermissionDenied("remove " + child, "it changed while being removed; left alone"));
      continue;
    }
    Status s = RemoveContents(sub.get(), dev, child);
    if (!s.ok()) {
      note(std::move(s));
      continue;
    }
    sub.reset();
    if (::unlinkat(dfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      note(Status::FromErrno("remove " + child, errno));
  }
  return first;
}

Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
    if (!S_ISDIR(st.st_mode)) return Status::AlreadyExists("create directory " + path, "something else is there");
    return Status::Ok();
  }
  return Status::FromErrno("create directory " + path, errno);
}

}  // namespace

mesh::Result<bool> IsMountPoint(const std::string& path) {
  auto real = Canonical(path);
  if (!real.ok()) return real.status();
  if (real->empty()) return false;
  auto points = MountPoints();
  if (!points.ok()) return points.status();
  for (const std::string& p : *points) {
    if (p == *real) return true;
  }
  return false;
}

Status Unmount(const std::string& target) {
  if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return Status::Ok();
  const int err = errno;
  if (err == EINVAL) return Status::InvalidArgument("umount " + target, "not a mount point");
  return Status::FromErrno("umount " + target, err);
}

Status MountSquashfs(const std::string& image_file, const std::string& target) {
  UniqueFd file(::open(image_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!file.valid()) return Status::FromErrno("open " + image_file, errno);
  auto loop = AttachLoop(file.get(), image_file);
  if (!loop.ok()) return loop.status();
  if (::mount(loop->path.c_str(), target.c_str(), "squashfs", MS_RDONLY | MS_NODEV | MS_NOSUID,
              nullptr) != 0) {
    const int err = errno;
    (void)::ioctl(loop->fd.get(), LOOP_CLR_FD, 0);  // closing would autoclear too
    std::string_view hint;
    if (err == EINVAL) hint = "not a squashfs image?";
    if (err == ENODEV) hint = "the kernel lacks squashfs";
    if (err == ENOENT) hint = "the mount point is missing";
    return ErrnoWithHint("mount squashfs " + image_file + " on " + target, err, hint);
  }
  // The mount holds the loop device now; closing ours lets AUTOCLEAR detach
  // it at the last unmount.
  return Status::Ok();
}

Status MountOverlay(const std::string& lower, const std::string& dir) {
  for (const std::string* p : {&lower, &dir}) {
    if (p->find_first_of(",:\\") != std::string::npos)
      return Status::InvalidArgument("mount overlay " + *p, "path contains ',', ':' or '\\'");
  }
  struct stat lower_st {};
  if (::stat(lower.c_str(), &lower_st) != 0) return Status::FromErrno("stat " + lower, errno);
  if (!S_ISDIR(lower_st.st_mode)) return Status::InvalidArgument("mount overlay " + lower, "not a directory");

  const std::string upper = dir + "/upper";
  const std::string work = dir + "/work";
  const std::string rootfs = dir + "/rootfs";
  MESH_RETURN_IF_ERROR(MakeDir(dir, 0755));
  MESH_RETURN_IF_ERROR(MakeDir(upper, 0755));
  MESH_RETURN_IF_ERROR(MakeDir(work, 0700));
  MESH_RETURN_IF_ERROR(MakeDir(rootfs, 0755));
  // The overlay's root takes the upper's owner and mode; give it the image's.
  if (::chown(upper.c_str(), lower_st.st_uid, lower_st.st_gid) != 0)
    return Status::FromErrno("chown " + upper, errno);
  if (::chmod(upper.c_str(), lower_st.st_mode & 07777) != 0)
    return Status::FromErrno("chmod " + upper, errno);

  const std::string options = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
  if (::mount("overlay", rootfs.c_str(), "overlay", 0, options.c_str()) != 0) {
    const int err = errno;
    return ErrnoWithHint("mount overlay on " + rootfs, err,
                         err == ENODEV ? "the kernel lacks overlayfs" : std::string_view());
  }
  return Status::Ok();
}

Status UnmountAndRemove(const std::string& dir) {
  const std::string rootfs = dir + "/rootfs";
  auto mounted = IsMountPoint(rootfs);
  if (!mounted.ok()) return mounted.status();
  // Detached at once: the workload has ended, nothing else uses its root,
  // and a lazy umount does not wait for an RCU grace period (~0.7 ms here).
  if (*mounted && ::umount2(rootfs.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
    return Status::FromErrno("umount " + rootfs, errno);
  }

  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dfd.valid()) {
    if (errno == ENOENT) return Status::Ok();
    return Status::FromErrno("open " + dir, errno);
  }
  // Anything still mounted inside (stacked or bind mounts, which st_dev
  // cannot tell apart) is refused outright.
  auto real = Canonical(dir);
  if (!real.ok()) return real.status();
  auto points = MountPoints();
  if (!points.ok()) return points.status();
  for (const std::string& p : *points) {
    if (p == *real || p.starts_with(*real + "/"))
      return Status::PermissionDenied("remove " + dir, p + " is still mounted; nothing removed");
  }
  struct stat st {};
  if (::fstat(dfd.get(), &st) != 0) return Status::FromErrno("stat " + dir, errno);
  MESH_RETURN_IF_ERROR(RemoveContents(dfd.get(), st.st_dev, dir));
  dfd.reset();
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return Status::FromErrno("remove " + dir, errno);
  return Status::Ok();
}

}  // namespace swarmlet
