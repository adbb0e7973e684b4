// Squashfs loop mounts and overlays, for real: needs root and mksquashfs or
// tar2sqfs; skips with a reason otherwise.
#include "swarmlet/image_mount.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "swarmlet/image_cache.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using swarmlet::IsMountPoint;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/image_mount_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);  // after every guard below has unmounted
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> MountInfoLines() {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// How often `path` appears as a mount point.
int MountCount(const std::string& path) {
  int n = 0;
  for (const std::string& line : MountInfoLines()) {
    std::istringstream fields(line);
    std::string f[5];
    for (auto& x : f) fields >> x;
    if (f[4] == path) ++n;
  }
  return n;
}

// The mount source (e.g. /dev/loop3) of the mount at `path`, or "".
std::string MountSource(const std::string& path) {
  for (const std::string& line : MountInfoLines()) {
    std::istringstream fields(line);
    std::string f[5];
    for (auto& x : f) fields >> x;
    if (f[4] != path) continue;
    const std::size_t dash = line.find(" - ");
    std::istringstream rest(line.substr(dash + 3));
    std::string type, source;
    rest >> type >> source;
    return source;
  }
  return "";
}

// Whether some loop device is backed by `file` (AUTOCLEAR detaches lazily,
// so callers poll).
bool LoopBackedBy(const std::string& file) {
  for (const auto& e : fs::directory_iterator("/sys/block")) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("loop")) continue;
    std::ifstream in(e.path() / "loop" / "backing_file");
    std::string backing;
    if (std::getline(in, backing) && (backing == file || backing.starts_with(file + " "))) return true;
  }
  return false;
}

bool LoopReleased(const std::string& file) {
  for (int i = 0; i < 100; ++i) {
    if (!LoopBackedBy(file)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool Have(const char* tool) {
  const std::string cmd = std::string("command -v ") + tool + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Why these tests cannot run here, or "".
std::string MissingPrerequisite() {
  if (!RunningAsRoot()) return "needs root (loop devices and mount(2))";
  if (!Have("mksquashfs") && !Have("tar2sqfs"))
    return "needs mksquashfs (squashfs-tools) or tar2sqfs (squashfs-tools-ng)";
  if (::access("/dev/loop-control", R_OK | W_OK) != 0) return "needs /dev/loop-control";
  return "";
}

// Packs directory `src` into squashfs file `out`.
bool MakeSquashfs(const std::string& src, const std::string& out) {
  const std::string cmd = Have("mksquashfs")
                              ? "mksquashfs '" + src + "' '" + out + "' -noappend -quiet -no-progress >/dev/null 2>&1"
                              : "tar -C '" + src + "' -cf - . | tar2sqfs -q -f '" + out + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Unmounts (lazily, repeatedly) whatever is still mounted at `path` when the
// test ends, pass or fail.
struct MountGuard {
  std::string path;
  ~MountGuard() {
    for (int i = 0; i < 8 && MountCount(path) > 0; ++i) ::umount2(path.c_str(), MNT_DETACH);
  }
};

// A temp dir with src/ (a tiny root filesystem) packed into image.sqfs.
struct Image {
  TempDir tmp;
  std::string src = tmp.path() + "/src";
  std::string file = tmp.path() + "/image.sqfs";
  bool ok = false;
  Image() {
    fs::create_directories(src + "/etc");
    WriteFile(src + "/etc/hello", "hello from the image\n");
    ok = MakeSquashfs(src, file);
  }
};

}  // namespace

TEST_CASE("image mount: squashfs read-only, overlay on top, full cleanup", "[swarmlet][image][root]") {
  if (const std::string why = MissingPrerequisite(); !why.empty()) SKIP_TEST(why);
  Image image;
  REQUIRE(image.ok);
  const std::string lower = image.tmp.path() + "/lower";
  const std::string work = image.tmp.path() + "/w1";
  fs::create_directories(lower);
  MountGuard lower_guard{lower};
  MountGuard overlay_guard{work + "/rootfs"};

  REQUIRE(swarmlet::MountSquashfs(image.file, lower).ok());
  CHECK(MountCount(lower) == 1);
  CHECK(*IsMountPoint(lower));
  const std::string loop = MountSource(lower);
  CHECK(loop.starts_with("/dev/loop"));
  CHECK(LoopBackedBy(image.file));
  CHECK(ReadFile(lower + "/etc/hello") == "hello from the image\n");
  {
    const int fd = ::open((lower + "/etc/hello").c_str(), O_WRONLY | O_CLOEXEC);
    const int err = errno;
    CHECK(fd < 0);
    CHECK(err == EROFS);
    if (fd >= 0) ::close(fd);
    const int created = ::open((lower + "/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    CHECK(created < 0);
    CHECK(errno == EROFS);
    if (created >= 0) ::close(created);
  }

  REQUIRE(swarmlet::MountOverlay(lower, work).ok());
  const std::string rootfs = work + "/rootfs";
  CHECK(*IsMountPoint(rootfs));
  CHECK(ReadFile(rootfs + "/etc/hello") == "hello from the image\n");
  WriteFile(rootfs + "/etc/hello", "changed in the overlay\n");
  WriteFile(rootfs + "/scratch", "workload data\n");
  REQUIRE(::mknod((rootfs + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  {
    const int fd = ::open((rootfs + "/null").c_str(), O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);  // device nodes work: the overlay is not nodev
    if (fd >= 0) ::close(fd);
  }
  CHECK(ReadFile(rootfs + "/etc/hello") == "changed in the overlay\n");
  CHECK(ReadFile(lower + "/etc/hello") == "hello from the image\n");
  CHECK_FALSE(fs::exists(lower + "/scratch"));
  CHECK(fs::exists(work + "/upper/scratch"));

  REQUIRE(swarmlet::UnmountAndRemove(work).ok());
  CHECK_FALSE(fs::exists(work));
  CHECK(MountCount(rootfs) == 0);
  CHECK(swarmlet::UnmountAndRemove(work).ok());  // already gone: fine

  REQUIRE(swarmlet::Unmount(lower).ok());
  CHECK(MountCount(lower) == 0);
  CHECK_FALSE(*IsMountPoint(lower));
  CHECK(LoopReleased(image.file));
  CHECK(swarmlet::Unmount(lower).code() == mesh::StatusCode::kInvalidArgument);
}

TEST_CASE("image mount: a file that is not squashfs fails cleanly", "[swarmlet][image][root]") {
  if (const std::string why = MissingPrerequisite(); !why.empty()) SKIP_TEST(why);
  TempDir tmp;
  const std::string file = tmp.path() + "/junk.sqfs";
  WriteFile(file, std::string(64 * 1024, 'j'));
  const std::string target = tmp.path() + "/mnt";
  fs::create_directories(target);
  MountGuard guard{target};

  const mesh::Status s = swarmlet::MountSquashfs(file, target);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("mount squashfs " + file) != std::string::npos);
  CHECK(s.message().find("not a squashfs image?") != std::string::npos);
  CHECK(MountCount(target) == 0);
  CHECK(LoopReleased(file));

  CHECK_FALSE(swarmlet::MountSquashfs(tmp.path() + "/missing.sqfs", target).ok());
  CHECK(swarmlet::MountOverlay(tmp.path() + "/a,b", tmp.path() + "/w").code() ==
        mesh::StatusCode::kInvalidArgument);
}

TEST_CASE("image mount: UnmountAndRemove neither follows symlinks nor crosses mounts", "[swarmlet][image][root]") {
  if (const std::string why = MissingPrerequisite(); !why.empty()) SKIP_TEST(why);
  TempDir tmp;
  const std::string host_file = tmp.path() + "/host-file";
  const std::string host_dir = tmp.path() + "/host-dir";
  WriteFile(host_file, "precious");
  fs::create_directories(host_dir);
  WriteFile(host_dir + "/inside", "precious too");

  const std::string work = tmp.path() + "/work";
  fs::create_directories(work + "/rootfs/deep/er");
  WriteFile(work + "/rootfs/deep/er/x", "x");
  fs::create_symlink(host_file, work + "/link-to-file");
  fs::create_symlink(host_dir, work + "/rootfs/link-to-dir");

  SECTION("symlinks are removed, their targets are not") {
    REQUIRE(swarmlet::UnmountAndRemove(work).ok());
    CHECK_FALSE(fs::exists(work));
    CHECK(ReadFile(host_file) == "precious");
    CHECK(ReadFile(host_dir + "/inside") == "precious too");
  }
  SECTION("a mount inside is left alone") {
    const std::string inner = work + "/rootfs/deep/mnt";
    fs::create_directories(inner);
    MountGuard guard{inner};
    REQUIRE(::mount("tmpfs", inner.c_str(), "tmpfs", 0, "size=1m") == 0);
    WriteFile(inner + "/kept", "kept");
    const mesh::Status s = swarmlet::UnmountAndRemove(work);
    CHECK_FALSE(s.ok());
    CHECK(s.message().find("still mounted") != std::string::npos);
    CHECK(ReadFile(inner + "/kept") == "kept");
    CHECK(ReadFile(host_file) == "precious");
  }
}

TEST_CASE("image mount: the cache mounts an image once for many acquires", "[swarmlet][image][root]") {
  if (const std::string why = MissingPrerequisite(); !why.empty()) SKIP_TEST(why);
  Image image;
  REQUIRE(image.ok);
  const std::string bytes = ReadFile(image.file);
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  const std::string digest = std::string("sha256:") + hex;

  mesh::FakeClock clock;
  swarmlet::ImageCacheOptions o;
  o.dir = image.tmp.path() + "/image-cache";
  o.mount_dir = image.tmp.path() + "/mnt";
  o.clock = &clock;
  o.chunk_bytes = 4096;
  const std::string target = o.mount_dir + "/" + hex;
  MountGuard guard{target};
  const std::string cached_file = o.dir + "/" + hex + ".sqfs";

  {
    auto cache = swarmlet::ImageCache::Open(o);
    REQUIRE(cache.ok());
    REQUIRE((*cache)->Want(digest, bytes.size()).ok());
    for (int round = 0; round < 1000; ++round) {
      auto reqs = (*cache)->TakeRequests();
      if (reqs.empty()) break;
      for (const auto& f : reqs) {
        swarmlet::ImageChunk c{f.request_id, f.digest, f.offset, bytes.size(), bytes.substr(f.offset, f.max_bytes), ""};
        (*cache)->OnChunk(c);
      }
    }
    REQUIRE((*cache)->Progress(digest).state == swarmlet::ImageProgress::State::kReady);
    auto first = (*cache)->Acquire(digest);
    REQUIRE(first.ok());
    auto second = (*cache)->Acquire(digest);
    REQUIRE(second.ok());
    CHECK(*first == target);
    CHECK(*second == target);
    CHECK(MountCount(target) == 1);
    CHECK(ReadFile(target + "/etc/hello") == "hello from the image\n");
    (*cache)->Release(digest);
    (*cache)->Release(digest);
    CHECK(MountCount(target) == 1);  // stays mounted while cached
  }
  {
    // A restarted swarmlet finds the mount and reuses it.
    auto cache = swarmlet::ImageCache::Open(o);
    REQUIRE(cache.ok());
    auto again = (*cache)->Acquire(digest);
    REQUIRE(again.ok());
    CHECK(MountCount(target) == 1);
    (*cache)->Release(digest);
  }
  {
    // Eviction unmounts and releases the loop device.
    o.capacity_bytes = 1;
    auto cache = swarmlet::ImageCache::Open(o);
    REQUIRE(cache.ok());
    (*cache)->Poll();
    CHECK((*cache)->Progress(digest).state == swarmlet::ImageProgress::State::kAbsent);
    CHECK(MountCount(target) == 0);
    CHECK_FALSE(fs::exists(cached_file));
    CHECK(LoopReleased(cached_file));
  }
}
