// The node's image cache: squashfs root filesystems fetched from the GPU peer
// by digest (DESIGN.md "Images"), verified, kept under a byte capacity and
// loop-mounted read-only once per image.
//
// Layout of `dir` (the caller passes <state-dir>/image-cache):
//   <hex>.sqfs          a complete, verified image (hex = the digest's 64 hex digits)
//   <hex>.sqfs.partial  a fetch in progress; its length is the resume offset
// Last-use times for LRU eviction are the .sqfs files' mtimes (set from the
// injected clock's wall time on Acquire and Release), so there is no index to
// keep consistent: a crash can lose at most an LRU nudge. Refcounts live in
// memory only: after a restart the caller Acquires again for every workload it
// still runs. Mounts live at <mount_dir>/<hex> and outlive the ImageCache
// object (a restarted swarmlet reuses them); only eviction unmounts. Eviction
// uses a plain umount: a mount that is busy (a process inside it) is skipped.
// An overlay built on an evicted image by a workload the caller forgot to
// re-Acquire after a restart keeps working: the kernel holds the squashfs and
// its loop device until that overlay is unmounted.
//
// Fetching is driven by the caller's event loop: Want() declares an image is
// needed, TakeRequests() says which ImageFetch messages to send to the GPU
// peer now, OnChunk() takes each answer, Poll() does housekeeping. Nothing here
// sends, sleeps or starts threads. Chunks are appended only at the write
// offset and hashed as written, so a fetch cut by a drop or a restart of
// either side resumes where the .partial ends.
//
// A failed fetch (verification, error chunk, full cache, full disk) leaves the
// image in kFailed with a one-line error and no file; the next Want() starts it
// again from byte 0 (there is no separate Retry()).
//
// Thread safety: none; one thread drives an ImageCache.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mesh/clock.h"
#include "mesh/status.h"
#include "swarmlet/image_protocol.h"

namespace swarmlet {

struct ImageCacheOptions {
  std::string dir;  // created if missing (its parent must exist)
  // Bytes of images kept (complete images plus the full size of fetches in
  // progress); least recently used images nobody holds are evicted to make
  // room. 0: no limit.
  std::uint64_t capacity_bytes = 0;
  const mesh::Clock* clock = nullptr;  // nullptr: SystemClock::Get()
  std::uint32_t chunk_bytes = 256 * 1024;  // per ImageFetch; 1..kMaxImageChunkBytes
  int window = 8;  // chunk requests in flight per image; >= 1
  // Nothing arrived for this long: re-request from the write offset.
  std::chrono::milliseconds request_timeout{2000};
  // A .partial found by Open that no Want() claims within this is deleted.
  std::chrono::milliseconds partial_grace{60000};
  std::string mount_dir;  // images mount at <mount_dir>/<hex>; required when mount;
                          // created if missing (its parent must exist)
  bool mount = true;      // false (tests without root): Acquire returns the .sqfs path
};

struct ImageProgress {
  enum class State { kAbsent, kFetching, kReady, kFailed };
  State state = State::kAbsent;
  std::uint64_t have_bytes = 0;   // verified-so-far bytes on disk
  std::uint64_t total_bytes = 0;  // the size Want() was given (or the file's size)
  std::string error;              // one line, set in kFailed
};

const char* ImageStateName(ImageProgress::State state);

struct CachedImage {
  std::string digest;
  std::uint64_t size = 0;
  ImageProgress::State state = ImageProgress::State::kAbsent;
  int refcount = 0;
  std::int64_t last_used_wall_ns = 0;  // 0 for images not complete yet
};

class ImageCache {
 public:
  // Creates `dir` (and `mount_dir` when mounting), indexes the complete images,
  // keeps .partial files for resumption and deletes temporary-file garbage.
  // InvalidArgument for bad options; I/O errors name the path.
  static mesh::Result<std::unique_ptr<ImageCache>> Open(ImageCacheOptions options);

  ~ImageCache();
  ImageCache(const ImageCache&) = delete;
  ImageCache& operator=(const ImageCache&) = delete;

  // The image `digest` of `size` bytes is needed. Ready or already fetching:
  // nothing to do. Otherwise starts a fetch, resuming an existing .partial
  // (its bytes are hashed again, which reads the whole file once). Makes room
  // first by evicting unheld images, least recently used first.
  // InvalidArgument: bad digest, size 0, or a size contradicting the known one.
  // Unavailable (and the image becomes kFailed with the same message): the
  // cache or the disk is too full; nothing is evicted when eviction could not
  // make enough room. I/O errors opening or re-reading the .partial also fail
  // the image and are returned. Everything after that (verification included,
  // even of a .partial that was already whole) shows in Progress(), not here.
  mesh::Status Want(const std::string& digest, std::uint64_t size);

  ImageProgress Progress(const std::string& digest) const;

  // The fetch messages to send to the GPU peer now: for each fetching image, up
  // to `window` chunk requests outstanding, contiguous from the write offset;
  // when nothing arrived for `request_timeout` the outstanding ones are
  // forgotten and asked again. request_ids are unique and never 0. Also
  // deletes stale .partial files.
  std::vector<ImageFetch> TakeRequests();

  // An answer from the GPU peer. Chunks for unknown requests, out of order or
  // duplicated are ignored (the window asks again). An error chunk, a
  // total_bytes other than the wanted size, data longer than asked or past the
  // end fail the fetch. The last byte triggers verification: a match renames
  // the file to .sqfs (kReady), a mismatch deletes it (kFailed).
  void OnChunk(const ImageChunk& chunk);

  // Takes a reference on a kReady image and returns its root filesystem: the
  // read-only mount directory (mounted on the first Acquire; a mount left by an
  // earlier run of the swarmlet is found and reused), or the .sqfs path when
  // `mount` is false. NotFound / Unavailable when the image is not ready.
  mesh::Result<std::string> Acquire(const std::string& digest);
  // Drops a reference. At 0 the image stays cached and mounted (mounting is
  // not free on a Pi) and becomes evictable. Unknown or unheld: no effect.
  void Release(const std::string& digest);

  // Every image known: complete, fetching or failed, sorted by digest.
  std::vector<CachedImage> List() const;
  // Bytes counted against the capacity: complete images plus the full size of
  // fetches in progress.
  std::uint64_t used_bytes() const;

  // Housekeeping: deletes stale .partial files; evicts unheld images, least
  // recently used first, while used_bytes() exceeds the capacity (an image
  // whose mount is busy is skipped).
  void Poll();

 private:
  struct Entry;

  explicit ImageCache(ImageCacheOptions options);

  mesh::Status IndexDirectory();
  mesh::Status StartFetch(const std::string& digest, Entry& e);
  mesh::Status MakeRoom(const std::string& digest, std::uint64_t size, std::uint64_t already_on_disk);
  // kFailed with `error`; the .partial is deleted.
  void Fail(const std::string& digest, Entry& e, std::string error);
  void Complete(const std::string& digest, Entry& e);
  bool Evict(const std::string& digest);
  void RemoveStalePartials();
  void Touch(const std::string& digest, Entry& e);
  std::string FilePath(const std::string& digest) const;
  std::string MountPath(const std::string& digest) const;

  ImageCacheOptions options_;
  const mesh::Clock* clock_;
  mesh::MonoTime opened_at_;
  std::uint64_t next_request_id_ = 1;
  std::map<std::string, std::unique_ptr<Entry>> entries_;  // by digest
  std::vector<std::string> unclaimed_partials_;            // file paths found by Open
};

}  // namespace swarmlet
