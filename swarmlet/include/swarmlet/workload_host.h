// WorkloadHost: a node's side of the workload protocol. It owns the node's
// executor::Executor, answers WorkloadCommands with WorkloadStatus messages
// and turns executor state changes into unsolicited reports.
//
// Used by the swarmlet agent (commands arrive over the mesh) and by the GPU
// peer for itself (primary-gpu is a node too; commands are direct calls).
//
// When the node cannot run workloads (no cgroup access, not root), Open()
// still succeeds with a host whose every kStart is answered kFailed with the
// reason, so the cluster shows why instead of the node going quiet;
// available() tells which.
//
// Image workloads (WorkloadStartSpec::image_digest): the image's squashfs is
// fetched from the GPU peer into the node's ImageCache, loop-mounted once,
// and each workload runs on its own overlay (upper removed with the
// workload). A re-adopted workload takes its image reference again, and its
// overlay is mounted again after a reboot.
//
// Thread safety: none; the owner's event loop drives it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/clock.h"
#include "mesh/status.h"
// Whole, not forward-declared: WorkloadHostOptions owns a
// unique_ptr<Executor>, whose destructor every user instantiates.
#include "swarmlet/executor/executor.h"
#include "swarmlet/image_protocol.h"
#include "swarmlet/workload_protocol.h"

namespace swarmlet {

struct WorkloadHostOptions {
  std::string state_dir;   // executor state under <state_dir>/executor
  std::string node_name;   // the cgroup parent stratoswarm/<node_name>
  std::string images_dir;  // default: <state_dir>/images
  const mesh::Clock* clock = nullptr;  // nullptr: SystemClock
  // Tests: an executor built by the caller (fake cgroups); null: the host's
  // cgroup backend (v1 or v2, as detected).
  std::unique_ptr<executor::Executor> executor;
  // Cluster images (issue 15): the node's cache in <state_dir>/image-cache,
  // squashfs mounts in <state_dir>/image-mounts, each image workload's
  // overlay in <state_dir>/rootfs/<id>. 0: no size limit.
  std::uint64_t image_cache_bytes = 0;
  bool mount_images = true;  // false: tests without root (starts then fail)
};

class WorkloadHost {
 public:
  static mesh::Result<std::unique_ptr<WorkloadHost>> Open(WorkloadHostOptions options);
  ~WorkloadHost();
  WorkloadHost(const WorkloadHost&) = delete;
  WorkloadHost& operator=(const WorkloadHost&) = delete;

  bool available() const;
  const std::string& unavailable_reason() const;
  // Some workload is running or waiting to restart: Poll() has something
  // to notice. The agent polls often only then (an idle loop costs less).
  bool watching() const;

  // Executes one command; the answer carries command.request_id.
  WorkloadStatusMsg Handle(const WorkloadCommand& command);
  // Polls the executor; returns the workloads whose state changed since the
  // last call (as an unsolicited message), or nullopt when nothing changed.
  std::optional<WorkloadStatusMsg> Poll();
  // Everything on the node (full = true, request_id 0).
  WorkloadStatusMsg FullReport();
  // How many workloads are in each state now (metrics); changes nothing, so
  // Poll() still reports what changed since the last report.
  std::map<WorkloadRunState, int> CountByState() const;

  // Image transfer: the fetches to send to the GPU peer now, and a chunk it
  // sent back. A start whose image is not cached yet is reported kPulling
  // (with progress) and runs once the image is complete and verified.
  std::vector<ImageFetch> TakeImageRequests();
  void OnImageChunk(const ImageChunk& chunk);
  // Fetches that completed (verified) since the last call, for the timing
  // log (`image fetch`): from the first request to the verified file.
  struct ImageFetchTiming {
    std::string image;  // the reference, for people
    std::string digest;
    std::uint64_t bytes = 0;
    double ms = 0;
  };
  std::vector<ImageFetchTiming> TakeImageFetchTimings();

 private:
  struct Impl;
  explicit WorkloadHost(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace swarmlet
