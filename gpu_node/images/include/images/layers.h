// Merging OCI/Docker layer tarballs into one filesystem tar stream — the pure,
// heavily tested core of the image store.
//
// Layers are given lowest first; each may be gzip, zstd, xz, bzip2 or
// uncompressed (libarchive detects it). The merged result is what a container
// runtime would see after extracting the layers in order (OCI image-spec
// "Applying Changesets"):
//
//   * `DIR/.wh.NAME` deletes DIR/NAME and its subtree from LOWER layers.
//   * `DIR/.wh..wh..opq` hides every lower-layer entry below DIR (DIR stays).
//   * Whiteouts never affect entries of their own layer, whatever their order.
//   * An entry replaces a lower one of the same path. Directory over directory
//     keeps the lower children (only the directory's metadata changes); any
//     other replacement removes the lower subtree.
//   * Hard links resolve against the tree as it stands when the link is read
//     (this layer's earlier entries plus the lower layers). The merged tree
//     tracks inodes, so a link whose original name is later deleted or
//     replaced keeps the old content ("materialised"): the first surviving
//     name carries the data, the others link to it. A link to a name that does
//     not exist at that point, or to a directory, is an error.
//   * Symlinks are kept verbatim (absolute targets included); they are never
//     followed while merging. An entry below a path that is a symlink or file
//     in the tree is rejected (docker would follow the symlink; layers made by
//     diffing never contain such paths).
//   * Mode bits (setuid/setgid/sticky), uid/gid, mtimes, device nodes, fifos
//     and xattrs in the user., trusted. and security. namespaces (all that
//     squashfs can hold) are kept. ACLs and file flags are dropped.
//
// Rejected with InvalidArgument naming the layer and the entry: a path with a
// ".." component, a hard link target that is absolute or has "..", a
// non-directory entry for the root, sockets, and unreadable or truncated
// archives. Leading "./" and "/" of entry paths are stripped.
//
// Output is a pax tar (libarchive "pax restricted") written to a file
// descriptor: directories, symlinks, devices and fifos first (sorted by path),
// then regular files in layer order, then extra hard-link names. Writes to a
// socket use MSG_NOSIGNAL, so a reader that dies gives an error, not SIGPIPE.
//
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace images {

struct MergeResult {
  // Final contents of /etc/passwd and /etc/group (regular files up to 1 MiB;
  // nullopt when absent, not a regular file, or larger).
  std::optional<std::string> passwd;
  std::optional<std::string> group;
  std::uint64_t entries = 0;  // tar entries written
};

struct MergeOptions {
  // Adds what every workload's root needs when the image lacks it: the
  // directories /dev, /proc and /data, and the character devices /dev/null,
  // zero, full, random, urandom and tty (Linux's fixed numbers, the same on
  // every architecture). The node then finds them in the read-only image
  // and its per-workload overlay stays empty: no copy-up at each start
  // (docs/PERFORMANCE.md, "Container images"). What the image has wins.
  bool runtime_skeleton = false;
};

// Merges `layer_paths` (lowest first) into a tar written to `out_fd` (not
// closed). On error the stream is incomplete and must be discarded.
mesh::Result<MergeResult> MergeLayers(const std::vector<std::string>& layer_paths, int out_fd,
                                      const MergeOptions& options = {});

// The layer's diff_id: "sha256:<hex>" of its decompressed tar stream.
// Corrupt when the compressed stream is damaged or truncated.
mesh::Result<std::string> DiffId(const std::string& layer_path);

// An entry path as stored in the merged tar: leading "./" and "/" stripped,
// empty and "." components dropped, no trailing slash; "" is the root.
// InvalidArgument for a ".." component.
mesh::Result<std::string> CleanEntryPath(std::string_view path);

}  // namespace images
