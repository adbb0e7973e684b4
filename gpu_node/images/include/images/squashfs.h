// Building one read-only squashfs from an image's layers: MergeLayers streams
// the merged tar through a socket into `tar2sqfs` (squashfs-tools-ng), run as
// a child process without a shell.
//
// tar2sqfs options and why (see docs/images.md):
//   -c gzip|xz   what Linux 6.1 (Raspberry Pi OS kernels) mounts; never zstd
//   -b 131072    the default block size, supported by every kernel
//   -s           --no-skip: a tar record it cannot read fails the build
//   -d uid=0,gid=0,mode=0755,mtime=0   implicit directories are fixed, and the
//                superblock time follows mtime=0, so the same layers always
//                give the same bytes (tar2sqfs output does not depend on -j)
//   -q -f        quiet; overwrite a stale temporary
// The image is written to `out_path + ".tmp"`, fsynced and renamed.
//
// Thread safety: free functions; distinct output paths may be built
// concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mesh/status.h"

namespace images {

enum class Compressor { kGzip, kXz };

// "gzip" / "xz".
const char* CompressorName(Compressor c);
// InvalidArgument for anything but "gzip" and "xz" (zstd is refused: squashfs
// zstd support is not reliably built into the nodes' Linux 6.1 kernels).
mesh::Result<Compressor> ParseCompressor(std::string_view name);

struct SquashfsInfo {
  std::uint64_t size = 0;
  std::string digest;                 // "sha256:<hex>" of the squashfs file
  std::optional<std::string> passwd;  // final /etc/passwd, see MergeResult
  std::optional<std::string> group;
};

// Builds `out_path` from `layer_paths` (lowest first). Any failure leaves no
// output; when tar2sqfs fails, the last line of its stderr is in the message.
mesh::Result<SquashfsInfo> BuildSquashfs(const std::vector<std::string>& layer_paths,
                                         const std::string& out_path,
                                         Compressor c = Compressor::kGzip);

}  // namespace images
