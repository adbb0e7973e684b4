// The workload protocol between the GPU peer and a node's executor
// (docs/wire_format.md, types kWorkloadCommand / kWorkloadStatus).
//
// The GPU peer sends WorkloadCommand (start / stop / remove / logs / report)
// to the node a workload is placed on; the node answers every command with a
// WorkloadStatus carrying the same request_id, and also sends unsolicited
// WorkloadStatus messages (request_id 0) whenever one of its workloads
// changes state, plus a full report of everything it runs (full = true)
// right after it joins or rejoins, so that a restarted GPU peer or swarmlet
// can reconcile (no duplicates, no lost workloads).
//
// Workload ids are chosen by the GPU peer (12 hex digits) and are the ids on
// the node too (executor records, cgroups, log files).
//
// Encodings are strict msgpack; decoders never throw and refuse oversize or
// badly shaped input with a Corrupt status.
//
// Thread safety: values and free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace swarmlet {

inline constexpr std::size_t kMaxWorkloadArgs = 256;
inline constexpr std::size_t kMaxLogReplyBytes = 256 * 1024;
// WorkloadReport::error and WorkloadStatusMsg::error.
inline constexpr std::size_t kMaxWorkloadErrorBytes = 1024;

enum class WorkloadOp : std::uint8_t {
  kStart = 1,   // start `spec` under `workload_id` (already running: answered with its status)
  kStop = 2,    // SIGTERM, SIGKILL after the grace period; no restart afterwards
  kRemove = 3,  // stop if needed and forget it (cgroup, record; the log stays)
  kLogs = 4,    // the last `log_bytes` of its log in WorkloadStatus::logs
  kReport = 5,  // a full report of every workload on the node
};
std::string_view WorkloadOpName(WorkloadOp op);

struct WorkloadStartSpec {
  std::string name;
  std::string image;               // local image name; empty: host command
  std::vector<std::string> argv;   // non-empty
  std::vector<std::string> env;    // "K=V"
  std::int64_t cpu_millis = 0;     // 0: no CPU limit
  std::int64_t memory_bytes = 0;   // 0: no memory limit
  std::int64_t pids_max = 0;       // 0: no pids limit
  bool gpu = false;                // give it the node's NVIDIA device nodes
  std::string restart = "never";   // ParseRestartPolicy text
  // A cluster image (issue 15): the node fetches the squashfs with this
  // digest from the GPU peer (image_protocol.h), mounts it and runs the
  // workload on a private overlay of it; `image` is then the reference for
  // people ("alpine:latest"). Empty: `image` names a local rootfs, or none.
  std::string image_digest;
  std::uint64_t image_bytes = 0;   // size of that squashfs
  std::string cwd;                 // inside the image; empty: /
  std::int64_t uid = -1;           // -1: root
  std::int64_t gid = -1;           // -1: root
  std::vector<std::uint32_t> groups;  // supplementary groups
  std::int32_t stop_signal = 0;    // 0: SIGTERM
  // Image workloads: opt out of the confinement (executor/security.h) and
  // of the read-only image root. Encoded only when true, so nodes from
  // before it still decode every unprivileged start.
  bool privileged = false;

  bool operator==(const WorkloadStartSpec&) const = default;
};

struct WorkloadCommand {
  std::uint64_t request_id = 0;  // echoed in the answer; never 0
  WorkloadOp op = WorkloadOp::kReport;
  std::string workload_id;       // empty only for kReport
  WorkloadStartSpec spec;        // kStart only
  std::uint32_t log_bytes = 0;   // kLogs only; capped at kMaxLogReplyBytes

  bool operator==(const WorkloadCommand&) const = default;
};

// Where a workload stands on its node.
enum class WorkloadRunState : std::uint8_t {
  kRunning = 0,
  kBackoff = 1,   // ended, restarting after its backoff
  kExited = 2,    // ended for good (see exit_code / signal / oom_killed)
  kFailed = 3,    // could not start (error says why)
  kStopped = 4,   // stopped by a kStop
  kUnknown = 5,   // the node does not know this id (answer to stop/logs of an unknown id)
  kPulling = 6,   // fetching its image from the GPU peer (pulled_bytes of image_bytes)
};
std::string_view WorkloadRunStateName(WorkloadRunState state);

struct WorkloadReport {
  std::string workload_id;
  WorkloadRunState state = WorkloadRunState::kUnknown;
  std::int32_t pid = 0;
  std::int32_t exit_code = -1;  // -1: none
  std::int32_t signal = 0;
  bool oom_killed = false;
  std::int32_t restarts = 0;
  std::int64_t started_ns = 0;       // wall clock of the first start on this node
  double cpu_percent = 0;            // of one core, since the previous report
  std::int64_t memory_bytes = 0;     // current usage
  std::string error;                 // one line, when kFailed or kUnknown
  std::int64_t pulled_bytes = 0;     // kPulling: of the image, so far
  std::int64_t image_bytes = 0;      // kPulling: the whole image

  bool operator==(const WorkloadReport&) const = default;
};

struct WorkloadStatusMsg {
  std::uint64_t request_id = 0;  // the command answered; 0: unsolicited change
  bool full = false;             // `workloads` is everything this node runs
  std::string error;             // the command failed as a whole (one line)
  std::vector<WorkloadReport> workloads;
  std::string logs;              // kLogs answer
  std::vector<std::string> images;  // full reports: digests of the images cached on the node

  bool operator==(const WorkloadStatusMsg&) const = default;
};

mesh::Result<std::string> EncodeWorkloadCommand(const WorkloadCommand& command);
mesh::Result<WorkloadCommand> DecodeWorkloadCommand(std::string_view bytes);
mesh::Result<std::string> EncodeWorkloadStatus(const WorkloadStatusMsg& status);
mesh::Result<WorkloadStatusMsg> DecodeWorkloadStatus(std::string_view bytes);

}  // namespace swarmlet
