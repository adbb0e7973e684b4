// ImageStore: the GPU peer's content-addressed container image store.
//
// Layout under the directory given to Open (the peer passes
// <state-dir>/images):
//   blobs/sha256/<hex>       manifests, indexes, configs, layers (OCI layout
//                            style), each verified against its digest
//   squashfs/<hex>.sqfs      one per (image, platform), named by the
//                            squashfs file's own sha256
//   index.json               the image records (written atomically)
//   tmp/                     work space of running imports; emptied by Open
//
// Archives (docker-archive, oci-archive, OCI layout directory) and registry
// pulls are normalised by skopeo into a temporary OCI layout, then imported:
// every blob's sha256 is checked against its digest, every layer's diff_id
// against the config's rootfs.diff_ids, and each platform becomes a squashfs
// (see squashfs.h). A failed import leaves the store as it was.
//
// Thread safety: all methods may be called from any thread. Load and Pull do
// their slow work (skopeo, hashing, squashfs) outside the store's mutex and
// publish under it, so Resolve, List and SquashfsPath stay fast while an
// import runs. Imports themselves run one at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "images/config.h"
#include "images/reference.h"
#include "images/squashfs.h"
#include "mesh/status.h"

namespace images {

// Receives human progress lines ("copying", "verifying layer 2/3",
// "building squashfs linux/arm64 (gzip)"). Called on the importing thread.
using ProgressFn = std::function<void(std::string_view line)>;

struct PlatformImage {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string manifest_digest;
  std::string config_digest;
  ImageConfig config;
  // The resolved config.User, or why it could not be resolved (then uid,
  // gid and groups are meaningless and a run must fail with user_error).
  ResolvedUser user;
  std::string user_error;
  std::string squashfs_digest;
  std::uint64_t squashfs_size = 0;
  std::uint64_t compressed_size = 0;  // sum of the layer blobs' sizes
  std::vector<std::string> layers;    // layer blob digests, lowest first

  // "linux/arm64" or "linux/arm/v7".
  std::string PlatformString() const;
};

struct ImageRecord {
  std::string name;
  std::string tag;     // may be empty for an image pulled by digest
  std::string digest;  // the top index or manifest digest
  // The digest a pull by digest asked for (the registry's, before skopeo
  // converted Docker manifests to OCI); Resolve matches it too. Else empty.
  std::string source_digest;
  std::int64_t created = 0;  // unix seconds when stored
  std::vector<PlatformImage> platforms;
  std::vector<std::string> blobs;  // every blob digest the image holds

  std::string RefString() const;  // "name:tag" or "name@digest"
};

struct LoadOptions {
  // Overrides the name:tag found in the archive (needed when it has none).
  std::string name;
  Compressor compressor = Compressor::kGzip;
  ProgressFn progress;
};

struct PullOptions {
  bool tls_verify = true;  // false: --src-tls-verify=false (local registries)
  Compressor compressor = Compressor::kGzip;
  ProgressFn progress;
};

class ImageStore {
 public:
  // Creates `dir` and its subdirectories when missing, loads index.json and
  // removes leftovers of crashed imports (tmp/*, *.tmp).
  static mesh::Result<std::unique_ptr<ImageStore>> Open(std::string dir);

  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;
  ~ImageStore();

  // Imports a docker-archive (`docker save`), an oci-archive or an OCI layout
  // directory; every platform of a multi-platform image is kept. The same
  // name:tag loaded again replaces the record.
  mesh::Result<ImageRecord> Load(const std::string& path, const LoadOptions& options = {});

  // skopeo copy --all docker://REF, then the same import as Load.
  mesh::Result<ImageRecord> Pull(std::string_view ref, const PullOptions& options = {});

  // Records sorted by name, then tag.
  std::vector<ImageRecord> List() const;

  // NAME[:TAG] (tag "latest" when absent) or NAME@sha256:... matching the
  // record's top digest or any of its platform manifest digests.
  mesh::Result<ImageRecord> Resolve(std::string_view ref) const;

  // Removes the record and every blob and squashfs no other record uses.
  mesh::Status Remove(std::string_view ref);

  // Absolute path of a stored squashfs; NotFound when no record has it.
  mesh::Result<std::string> SquashfsPath(std::string_view squashfs_digest) const;

  const std::string& dir() const { return dir_; }

 private:
  struct Staged;
  explicit ImageStore(std::string dir);

  // Verifies the temporary OCI layout, builds squashfs files, publishes.
  mesh::Result<ImageRecord> Import(const std::string& layout, const Reference& name,
                                   Compressor compressor, const ProgressFn& progress);
  mesh::Result<ImageRecord> Publish(Staged staged);
  mesh::Status SaveIndexLocked(const std::vector<ImageRecord>& records) const;
  // Deletes blobs and squashfs files of `dropped` that no record in records_ uses.
  void CollectGarbageLocked(const std::vector<ImageRecord>& dropped);
  mesh::Result<std::string> MakeTempDir();

  const std::string dir_;
  mutable std::mutex mu_;  // guards records_ and the files they name
  std::vector<ImageRecord> records_;
  std::mutex import_mu_;  // one import at a time
};

}  // namespace images
