#include "swarmlet/image_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string_view>
#include <utility>

#include "executor/fd.h"
#include "mesh/atomic_file.h"
#include "swarmlet/image_mount.h"

namespace swarmlet {
namespace {

using executor::UniqueFd;
using mesh::Status;

constexpr std::string_view kDigestPrefix = "sha256:";
constexpr std::string_view kImageSuffix = ".sqfs";
constexpr std::string_view kPartialSuffix = ".sqfs.partial";
constexpr std::size_t kHexDigits = 64;
constexpr std::size_t kRehashBlock = 1 << 20;
constexpr std::size_t kMaxPeerErrorChars = 300;

std::string Hex(std::string_view digest) { return std::string(digest.substr(kDigestPrefix.size())); }

// "sha256:ab12cd34ef56…", enough to tell images apart in a one-line error.
std::string Short(std::string_view digest) { return std::string(digest.substr(0, kDigestPrefix.size() + 12)) + "…"; }

std::string Megabytes(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

bool IsHex64(std::string_view s) {
  return s.size() == kHexDigits &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Text from the GPU peer, made one short printable line.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxPeerErrorChars)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  return out;
}

Status WriteAllAt(int fd, std::string_view data, std::uint64_t offset, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + path, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace

const char* ImageStateName(ImageProgress::State state) {
  switch (state) {
    case ImageProgress::State::kAbsent:
      return "absent";
    case ImageProgress::State::kFetching:
      return "fetching";
    case ImageProgress::State::kReady:
      return "ready";
    case ImageProgress::State::kFailed:
      return "failed";
  }
  return "unknown";
}

struct ImageCache::Entry {
  struct Request {
    std::uint64_t id = 0;
    std::uint32_t bytes = 0;
  };

  ImageProgress::State state = ImageProgress::State::kAbsent;
  std::uint64_t size = 0;
  std::string error;
  int refcount = 0;
  std::int64_t last_used_wall_ns = 0;

  // While fetching: the open .partial, the hash of its `have` bytes and the
  // chunk requests in flight, by offset.
  std::uint64_t have = 0;
  UniqueFd fd;
  crypto_hash_sha256_state sha{};
  std::map<std::uint64_t, Request> outstanding;
  mesh::MonoTime last_progress{};
};

ImageCache::ImageCache(ImageCacheOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &mesh::SystemClock::Get()),
      opened_at_(clock_->Now()) {}

ImageCache::~ImageCache() = default;

mesh::Result<std::unique_ptr<ImageCache>> ImageCache::Open(ImageCacheOptions options) {
  constexpr std::string_view op = "open image cache";
  if (options.dir.empty()) return Status::InvalidArgument(op, "no directory given");
  if (options.chunk_bytes == 0 || options.chunk_bytes > kMaxImageChunkBytes)
    return Status::InvalidArgument(op, "chunk size must be 1.." + std::to_string(kMaxImageChunkBytes) + " bytes");
  if (options.window < 1) return Status::InvalidArgument(op, "window must be at least 1");
  if (options.request_timeout.count() <= 0) return Status::InvalidArgument(op, "request timeout must be positive");
  if (options.mount && options.mount_dir.empty()) return Status::InvalidArgument(op, "no mount directory given");
  while (options.dir.size() > 1 && options.dir.back() == '/') options.dir.pop_back();
  while (options.mount_dir.size() > 1 && options.mount_dir.back() == '/') options.mount_dir.pop_back();

  MESH_RETURN_IF_ERROR(mesh::EnsureDirectory(options.dir, 0700));
  if (options.mount) MESH_RETURN_IF_ERROR(mesh::EnsureDirectory(options.mount_dir, 0755));
  std::unique_ptr<ImageCache> cache(new ImageCache(std::move(options)));
  MESH_RETURN_IF_ERROR(cache->IndexDirectory());
  return cache;
}

Status ImageCache::IndexDirectory() {
  const std::string& dir = options_.dir;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno("read " + dir, errno);
  std::vector<std::string> names;
  while (const dirent* ent = ::readdir(d)) names.emplace_back(ent->d_name);
  ::closedir(d);

  std::vector<std::string> partial_hexes;
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    // Leftovers of interrupted atomic writes (".x.tmp.AbC123", "x.tmp").
    if (name.ends_with(".tmp") || name.find(".tmp.") != std::string::npos) {
      ::unlink(path.c_str());
      continue;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (name.ends_with(kPartialSuffix)) {
      const std::string hex = name.substr(0, name.size() - kPartialSuffix.size());
      if (IsHex64(hex)) partial_hexes.push_back(hex);
    } else if (name.ends_with(kImageSuffix)) {
      const std::string hex = name.substr(0, name.size() - kImageSuffix.size());
      if (!IsHex64(hex)) continue;
      auto e = std::make_unique<Entry>();
      e->state = ImageProgress::State::kReady;
      e->size = static_cast<std::uint64_t>(st.st_size);
      e->last_used_wall_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      entries_[std::string(kDigestPrefix) + hex] = std::move(e);
    }
  }
  for (const std::string& hex : partial_hexes) {
    const std::string digest = std::string(kDigestPrefix) + hex;
    if (entries_.contains(digest)) {
      ::unlink(FilePath(digest).append(".partial").c_str());  // complete already
    } else {
      unclaimed_partials_.push_back(digest);
    }
  }
  return Status::Ok();
}

std::string ImageCache::FilePath(const std::string& digest) const {
  return options_.dir + "/" + Hex(digest) + std::string(kImageSuffix);
}

std::string ImageCache::MountPath(const std::string& digest) const {
  return options_.mount_dir + "/" + Hex(digest);
}

Status ImageCache::Want(const std::string& digest, std::uint64_t size) {
  const std::string op = "want image " + digest;
  if (!IsImageDigest(digest)) return Status::InvalidArgument("want image", "\"" + OneLine(digest) + "\" is not sha256:<64 lowercase hex digits>");
  if (size == 0) return Status::InvalidArgument(op, "size 0");
  auto it = entries_.find(digest);
  if (it != entries_.end()) {
    Entry& e = *it->second;
    if (e.state == ImageProgress::State::kReady || e.state == ImageProgress::State::kFetching) {
      if (e.size != size)
        return Status::InvalidArgument(op, "size " + std::to_string(size) + " contradicts the known " +
                                               std::to_string(e.size) + " bytes");
      return Status::Ok();
    }
  } else {
    it = entries_.emplace(digest, std::make_unique<Entry>()).first;
  }
  Entry& e = *it->second;
  e.state = ImageProgress::State::kAbsent;  // not counted by MakeRoom
  e.size = size;
  e.error.clear();
  return StartFetch(digest, e);
}

Status ImageCache::StartFetch(const std::string& digest, Entry& e) {
  const std::string partial = FilePath(digest) + ".partial";
  std::erase(unclaimed_partials_, digest);

  struct stat st {};
  std::uint64_t on_disk = 0;
  if (::lstat(partial.c_str(), &st) == 0 && S_ISREG(st.st_mode)) on_disk = static_cast<std::uint64_t>(st.st_size);
  if (on_disk > e.size) on_disk = 0;  // not this image's prefix; truncated below
  if (Status s = MakeRoom(digest, e.size, on_disk); !s.ok()) {
    Fail(digest, e, s.message());
    return s;
  }

  e.fd.reset(::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!e.fd.valid()) {
    Status s = Status::FromErrno("create " + partial, errno);
    Fail(digest, e, s.message());
    return s;
  }
  if (::fstat(e.fd.get(), &st) != 0) {
    Status s = Status::FromErrno("stat " + partial, errno);
    Fail(digest, e, s.message());
    return s;
  }
  std::uint64_t have = static_cast<std::uint64_t>(st.st_size);
  if (have > e.size) {
    if (::ftruncate(e.fd.get(), 0) != 0) {
      Status s = Status::FromErrno("truncate " + partial, errno);
      Fail(digest, e, s.message());
      return s;
    }
    have = 0;
  }

  // Resume: the hash state is rebuilt from the bytes already there.
  crypto_hash_sha256_init(&e.sha);
  std::string block(kRehashBlock, '\0');
  for (std::uint64_t off = 0; off < have;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kRehashBlock, have - off));
    const ssize_t n = ::pread(e.fd.get(), block.data(), want, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = n < 0 ? Status::FromErrno("read " + partial, errno)
                       : Status::IoError("read " + partial, "file shrank while resuming");
      Fail(digest, e, s.message());
      return s;
    }
    crypto_hash_sha256_update(&e.sha, reinterpret_cast<const unsigned char*>(block.data()),
                              static_cast<unsigned long long>(n));
    off += static_cast<std::uint64_t>(n);
  }
  e.have = have;
  e.outstanding.clear();
  e.last_progress = clock_->Now();
  e.state = ImageProgress::State::kFetching;
  if (e.have == e.size) Complete(digest, e);  // a crash between the last write and the rename
  return Status::Ok();
}

Status ImageCache::MakeRoom(const std::string& digest, std::uint64_t size, std::uint64_t already_on_disk) {
  const std::string op = "fetch image " + Short(digest);
  if (options_.capacity_bytes > 0) {
    std::uint64_t used = used_bytes();
    const std::uint64_t capacity = options_.capacity_bytes;
    if (used + size > capacity) {
      std::vector<std::pair<std::int64_t, std::string>> evictable;  // (last used, digest)
      std::uint64_t evictable_bytes = 0;
      for (const auto& [d, e] : entries_) {
        if (e->state == ImageProgress::State::kReady && e->refcount == 0 && d != digest) {
          evictable.emplace_back(e->last_used_wall_ns, d);
          evictable_bytes += e->size;
        }
      }
      const auto full = [&](std::uint64_t in_use) {
        return Status::Unavailable(op, "image cache full: " + Megabytes(in_use) + " of " + Megabytes(capacity) +
                                           " in use by running workloads, need " + Megabytes(size) +
                                           "; raise --image-cache");
      };
      // Evict nothing when evicting everything could not make room.
      if (used - evictable_bytes + size > capacity) return full(used - evictable_bytes);
      std::sort(evictable.begin(), evictable.end());
      for (const auto& [last_used, d] : evictable) {
        if (used + size <= capacity) break;
        const std::uint64_t bytes = entries_.at(d)->size;
        if (Evict(d)) used -= bytes;
      }
      if (used + size > capacity) return full(used);  // some mount was busy
    }
  }

  struct statvfs vfs {};
  if (::statvfs(options_.dir.c_str(), &vfs) != 0) return Status::FromErrno("statvfs " + options_.dir, errno);
  std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  for (const auto& [d, e] : entries_) {  // space other fetches will still take
    if (e->state == ImageProgress::State::kFetching && d != digest) {
      const std::uint64_t rest = e->size - e->have;
      free_bytes = free_bytes > rest ? free_bytes - rest : 0;
    }
  }
  const std::uint64_t need = size - already_on_disk;
  if (need > free_bytes)
    return Status::Unavailable(op, "no space left on " + options_.dir + ": need " + Megabytes(need) + ", " +
                                       Megabytes(free_bytes) + " free");
  return Status::Ok();
}

void ImageCache::Fail(const std::string& digest, Entry& e, std::string error) {
  ::unlink((FilePath(digest) + ".partial").c_str());
  e.state = ImageProgress::State::kFailed;
  e.error = std::move(error);
  e.fd.reset();
  e.outstanding.clear();
  e.have = 0;
}

std::vector<ImageFetch> ImageCache::TakeRequests() {
  RemoveStalePartials();
  const mesh::MonoTime now = clock_->Now();
  const std::uint64_t chunk = options_.chunk_bytes;
  std::vector<ImageFetch> out;
  for (auto& [digest, ep] : entries_) {
    Entry& e = *ep;
    if (e.state != ImageProgress::State::kFetching) continue;
    // Silence: a drop, or the GPU peer restarted. Forget what is in flight
    // (late answers become unknown requests) and ask again.
    if (!e.outstanding.empty() && now - e.last_progress >= options_.request_timeout) e.outstanding.clear();
    // Requests that no longer fit the window (it slid, or a short chunk
    // shifted it) are forgotten.
    const std::uint64_t window_end = e.have + chunk * static_cast<std::uint64_t>(options_.window);
    std::erase_if(e.outstanding, [&](const auto& kv) {
      return kv.first < e.have || kv.first >= window_end || (kv.first - e.have) % chunk != 0;
    });
    if (e.outstanding.empty()) e.last_progress = now;
    for (std::uint64_t off = e.have; off < window_end && off < e.size; off += chunk) {
      if (e.outstanding.contains(off)) continue;
      const auto bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(chunk, e.size - off));
      const std::uint64_t id = next_request_id_++;
      e.outstanding[off] = {id, bytes};
      out.push_back(ImageFetch{id, digest, off, bytes});
    }
  }
  return out;
}

void ImageCache::OnChunk(const ImageChunk& chunk) {
  auto it = entries_.find(chunk.digest);
  if (it == entries_.end() || it->second->state != ImageProgress::State::kFetching) return;
  Entry& e = *it->second;
  const std::string& digest = it->first;
  auto req = std::find_if(e.outstanding.begin(), e.outstanding.end(),
                          [&](const auto& kv) { return kv.second.id == chunk.request_id; });
  if (req == e.outstanding.end()) return;  // duplicate, late or never asked
  const std::uint64_t asked_offset = req->first;
  const std::uint32_t asked_bytes = req->second.bytes;
  e.outstanding.erase(req);

  const std::string partial = FilePath(digest) + ".partial";
  const auto fail = [&](std::string error) { Fail(digest, e, std::move(error)); };
  if (!chunk.error.empty()) return fail("GPU peer could not send image " + Short(digest) + ": " + OneLine(chunk.error));
  if (chunk.total_bytes != e.size)
    return fail("GPU peer says image " + Short(digest) + " has " + std::to_string(chunk.total_bytes) +
                " bytes, but " + std::to_string(e.size) + " were wanted");
  if (chunk.offset != asked_offset || chunk.offset != e.have) return;  // out of order: asked again
  if (chunk.data.size() > asked_bytes)
    return fail("GPU peer sent " + std::to_string(chunk.data.size()) + " bytes of image " + Short(digest) +
                " at offset " + std::to_string(chunk.offset) + " for a request of " + std::to_string(asked_bytes));
  if (chunk.data.empty())
    return fail("GPU peer sent no data for image " + Short(digest) + " at offset " + std::to_string(chunk.offset) +
                " of " + std::to_string(e.size));

  if (Status s = WriteAllAt(e.fd.get(), chunk.data, e.have, partial); !s.ok()) return fail(s.message());
  crypto_hash_sha256_update(&e.sha, reinterpret_cast<const unsigned char*>(chunk.data.data()),
                            static_cast<unsigned long long>(chunk.data.size()));
  e.have += chunk.data.size();
  e.last_progress = clock_->Now();
  if (e.have == e.size) Complete(digest, e);
}

void ImageCache::Complete(const std::string& digest, Entry& e) {
  const std::string file = FilePath(digest);
  const std::string partial = file + ".partial";
  const auto fail = [&](std::string error) { Fail(digest, e, std::move(error)); };
  if (::fsync(e.fd.get()) != 0) return fail(Status::FromErrno("fsync " + partial, errno).message());
  e.fd.reset();
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&e.sha, hash);
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  const std::string got = std::string(kDigestPrefix) + hex;
  if (got != digest)
    return fail("image " + Short(digest) + " failed verification: got " + Short(got) + "; nothing mounted");
  if (::rename(partial.c_str(), file.c_str()) != 0)
    return fail(Status::FromErrno("rename " + partial + " to " + file, errno).message());
  if (Status s = mesh::FsyncPath(options_.dir); !s.ok()) {
    ::unlink(file.c_str());
    return fail(s.message());
  }
  e.state = ImageProgress::State::kReady;
  e.have = e.size;
  e.outstanding.clear();
  Touch(digest, e);
}

void ImageCache::Touch(const std::string& digest, Entry& e) {
  e.last_used_wall_ns = clock_->WallNs();
  const timespec times[2] = {{0, UTIME_OMIT},
                             {static_cast<time_t>(e.last_used_wall_ns / 1'000'000'000),
                              static_cast<long>(e.last_used_wall_ns % 1'000'000'000)}};
  // Best effort: a lost mtime only reorders LRU after a restart.
  (void)::utimensat(AT_FDCWD, FilePath(digest).c_str(), times, AT_SYMLINK_NOFOLLOW);
}

ImageProgress ImageCache::Progress(const std::string& digest) const {
  auto it = entries_.find(digest);
  if (it == entries_.end()) return {};
  const Entry& e = *it->second;
  ImageProgress p;
  p.state = e.state;
  p.total_bytes = e.size;
  p.have_bytes = e.state == ImageProgress::State::kReady ? e.size : e.have;
  p.error = e.error;
  return p;
}

mesh::Result<std::string> ImageCache::Acquire(const std::string& digest) {
  const std::string op = "acquire image " + digest;
  auto it = entries_.find(digest);
  if (it == entries_.end() || it->second->state == ImageProgress::State::kAbsent)
    return Status::NotFound(op, "not in the cache; Want() it first");
  Entry& e = *it->second;
  if (e.state == ImageProgress::State::kFetching)
    return Status::Unavailable(op, "still fetching (" + std::to_string(e.have) + " of " + std::to_string(e.size) +
                                       " bytes)");
  if (e.state == ImageProgress::State::kFailed) return Status::Unavailable(op, e.error);

  std::string root = FilePath(digest);
  if (options_.mount) {
    root = MountPath(digest);
    MESH_RETURN_IF_ERROR(mesh::EnsureDirectory(root, 0755));
    auto mounted = IsMountPoint(root);  // also finds a mount left by an earlier run
    if (!mounted.ok()) return mounted.status();
    if (!*mounted) MESH_RETURN_IF_ERROR(MountSquashfs(FilePath(digest), root));
  }
  ++e.refcount;
  Touch(digest, e);
  return root;
}

void ImageCache::Release(const std::string& digest) {
  auto it = entries_.find(digest);
  if (it == entries_.end() || it->second->refcount == 0) return;
  --it->second->refcount;
  Touch(digest, *it->second);
}

bool ImageCache::Evict(const std::string& digest) {
  auto it = entries_.find(digest);
  if (it == entries_.end() || it->second->refcount > 0 || it->second->state != ImageProgress::State::kReady)
    return false;
  if (options_.mount) {
    const std::string target = MountPath(digest);
    auto mounted = IsMountPoint(target);
    if (!mounted.ok()) return false;
    // A plain umount fails while an overlay or a process still uses it:
    // then the image is in use after all and stays.
    if (*mounted && !Unmount(target).ok()) return false;
    ::rmdir(target.c_str());
  }
  ::unlink(FilePath(digest).c_str());
  entries_.erase(it);
  return true;
}

void ImageCache::RemoveStalePartials() {
  if (unclaimed_partials_.empty() || clock_->Now() - opened_at_ < options_.partial_grace) return;
  for (const std::string& digest : unclaimed_partials_) ::unlink((FilePath(digest) + ".partial").c_str());
  unclaimed_partials_.clear();
}

std::vector<CachedImage> ImageCache::List() const {
  std::vector<CachedImage> out;
  for (const auto& [digest, e] : entries_) {
    if (e->state == ImageProgress::State::kAbsent) continue;
    out.push_back({digest, e->size, e->state, e->refcount, e->last_used_wall_ns});
  }
  return out;
}

std::uint64_t ImageCache::used_bytes() const {
  std::uint64_t used = 0;
  for (const auto& [digest, e] : entries_) {
    if (e->state == ImageProgress::State::kReady || e->state == ImageProgress::State::kFetching) used += e->size;
  }
  return used;
}

void ImageCache::Poll() {
  RemoveStalePartials();
  if (options_.capacity_bytes == 0) return;
  std::uint64_t used = used_bytes();
  if (used <= options_.capacity_bytes) return;
  std::vector<std::pair<std::int64_t, std::string>> evictable;
  for (const auto& [d, e] : entries_) {
    if (e->state == ImageProgress::State::kReady && e->refcount == 0) evictable.emplace_back(e->last_used_wall_ns, d);
  }
  std::sort(evictable.begin(), evictable.end());
  for (const auto& [last_used, d] : evictable) {
    if (used <= options_.capacity_bytes) break;
    const std::uint64_t bytes = entries_.at(d)->size;
    if (Evict(d)) used -= bytes;
  }
}

}  // namespace swarmlet
