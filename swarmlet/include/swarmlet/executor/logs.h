// Per-workload log files with a size cap and rotation.
//
// Design: the workload's stdout and stderr point straight at one file opened
// O_APPEND (no pump process or thread between them). That keeps the
// swarmlet's per-workload cost at zero threads and lets a workload keep
// logging while the swarmlet restarts; a pipe would have died with the
// swarmlet and SIGPIPEd the workload. The cost: the cap is enforced by a
// check, not per write. The executor calls RotateLogIfNeeded() from Poll()
// and while waiting (every 100 ms by default); a file over the cap is copied
// to <log>.1 (older ones shift to .2 ... .keep) and truncated in place.
// O_APPEND makes the workload's next write land at the new end. Output
// written between the copy and the truncate (microseconds) is lost; that is
// the price of copytruncate, as with logrotate.
//
// Thread safety: the functions are reentrant; do not rotate one file from
// two threads at once.
#pragma once

#include <cstdint>
#include <string>

#include "mesh/status.h"

namespace swarmlet::executor {

struct LogConfig {
  std::uint64_t max_bytes = 10 * 1024 * 1024;  // per file; 0 = never rotate
  int keep = 2;                                 // rotated files kept (<log>.1 .. .keep)
};

// Opens (creating) `path` for appending, mode 0640, O_CLOEXEC.
mesh::Result<int> OpenLogForAppend(const std::string& path);

// Rotates `path` when it has reached config.max_bytes. Returns whether it did.
mesh::Result<bool> RotateLogIfNeeded(const std::string& path, const LogConfig& config);

}  // namespace swarmlet::executor
