// Whole-file writes that are all-or-nothing, and bounded whole-file reads.
//
// WriteFileAtomic writes to a temporary file in the target's directory, sets
// its mode (exactly, regardless of umask), fsyncs it, renames it over the
// target and fsyncs the directory. A reader (or a crash) sees the old file or
// the new one, never a mix; on any failure the temporary is removed and the
// old file is untouched. Identity files use mode 0600.
//
// Thread safety: free functions; concurrent writers of one path each leave a
// complete file (the last rename wins).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace mesh {

Status WriteFileAtomic(const std::string& path, std::string_view bytes, mode_t mode);

// The whole file; Corrupt when it is larger than `max_bytes` (so a damaged or
// hostile file cannot make us allocate without bound), NotFound when missing.
Result<std::string> ReadFileLimited(const std::string& path, std::size_t max_bytes);

// fsync of a file, or of a directory (what makes a rename in it durable).
Status FsyncPath(const std::string& path);

// Creates directory `path` with `mode` if missing (parent must exist). OK if it
// already is a directory; AlreadyExists if it is something else.
Status EnsureDirectory(const std::string& path, mode_t mode);

}  // namespace mesh
