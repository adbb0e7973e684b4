// Mounting image root filesystems (Linux; needs CAP_SYS_ADMIN): a squashfs
// file on a read-only loop device, and a private overlay per workload on top.
//
// Every function leaves nothing behind on failure: no mount, no attached loop
// device. Errors say what failed and on which path.
//
// Thread safety: reentrant free functions (loop-device allocation races with
// other processes are retried).
#pragma once

#include <string>

#include "mesh/status.h"

namespace swarmlet {

// Attaches `image_file` to a free loop device, read-only and auto-clearing
// (the device goes away with the last unmount), and mounts it at `target`
// (an existing directory) as squashfs, read-only, nodev, nosuid.
mesh::Status MountSquashfs(const std::string& image_file, const std::string& target);

// Creates <dir>/upper, <dir>/work and <dir>/rootfs and mounts an overlay at
// <dir>/rootfs with `lower` read-only beneath a private writable upper. The
// overlay allows device nodes (the executor creates /dev/null and friends in
// it). Paths containing ',', ':' or '\' are refused (overlay option syntax).
mesh::Status MountOverlay(const std::string& lower, const std::string& dir);

// Unmounts <dir>/rootfs if it is a mount point (lazily if busy), then deletes
// `dir` recursively without following symlinks and without descending into
// any other filesystem, so a botched cleanup cannot reach host files. A
// missing `dir` is OK.
mesh::Status UnmountAndRemove(const std::string& dir);

// Whether `path` is a mount point (per /proc/self/mountinfo, after resolving
// symlinks). A missing path is not one.
mesh::Result<bool> IsMountPoint(const std::string& path);

// umount(2) of `target`, never following a symlink. Busy mounts fail.
mesh::Status Unmount(const std::string& target);

}  // namespace swarmlet
