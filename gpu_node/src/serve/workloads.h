// WorkloadManager: the GPU peer's control plane for workloads — placement
// (scheduler), durable records (StateStore), commands to the nodes
// (workload protocol), their reports, rescheduling after a decided node
// failure, migration, and the API's run / ps / logs / stop / deploy /
// migrate.
//
// Durability: a workload's record is written (synchronously, see
// state/store.h) before its start command leaves; the store is the truth the
// nodes are reconciled against. After a restart of `serve`, every node is
// asked for a full report: a replica the store places on a node that does
// not run it is started again; a workload a node runs that the store places
// elsewhere (or does not know) is removed there. So neither a `kill -9` of
// serve nor of a swarmlet duplicates or loses a replica.
//
// Timing records (<state-dir>/timing.jsonl):
//   deploy     all_running   deploy request -> every placed replica Running
//   recovery   running       failure decided -> the workload Running elsewhere
//                            (since_last_heard_ms: from the node's last message)
//   migration  stop_source / start_target / total
//
// Threads: the On*/Pump methods run on the peer's mesh thread (they are the
// only ones that talk to the mesh and to the local node's WorkloadHost); the
// API methods run on the API thread and block, with timeouts, until the
// mesh thread has delivered their commands and the nodes answered.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>

#include "api/api.h"
#include "mesh/clock.h"
#include "mesh/status.h"
#include "mesh/timing_log.h"
#include "scheduler/scheduler.h"
#include "serve/image_service.h"
#include "state/store.h"
#include "swarmlet/workload_host.h"
#include "swarmlet/workload_protocol.h"

namespace gpu_node {

class WorkloadManager {
 public:
  // Sends a command to a remote node over the mesh; false when it cannot.
  using SendFn = std::function<bool(const std::string& node_id, const swarmlet::WorkloadCommand& command)>;

  WorkloadManager(state::StateStore& store, mesh::TimingLog& log, const mesh::Clock& clock, std::string self_id,
                  std::unique_ptr<swarmlet::WorkloadHost> local_host, std::ostream& out,
                  std::unique_ptr<scheduler::Scheduler> scheduler = nullptr);  // null: CpuScheduler
  ~WorkloadManager();

  // --- mesh thread ---
  // Sends queued commands (the local node's are handled here directly),
  // polls the local host, places Pending workloads now and then, and every
  // few seconds (first: at once, so after a restart) asks every Ready node
  // for a full report.
  void Pump(const SendFn& send);
  void OnStatus(const std::string& node_id, const swarmlet::WorkloadStatusMsg& status);
  // A quorum decided `node_id` failed: its workloads are placed elsewhere.
  // `last_heard` is when the peer last heard from it (for the timing).
  void OnNodeDown(const std::string& node_id, mesh::MonoTime last_heard);
  // The node is Ready again (or joined): ask it what it runs.
  void OnNodeReady(const std::string& node_id);
  // Asks every Ready node for a full report (after serve starts).
  void ReconcileAll();

  // Cluster images (issue 15): `run`/`deploy` refuse images the store
  // lacks, placement keeps to the image's platforms, start commands carry
  // the node's platform image. Without it (tests) `image` names a rootfs
  // directory on the node, as before. Set before the first Pump.
  void SetImages(ImageService* images) { images_ = images; }

  // --- API thread ---
  std::map<std::string, api::Handler> ApiHandlers();

 private:
  struct Queued {
    std::string node_id;
    swarmlet::WorkloadCommand command;
  };
  struct Recovery {
    mesh::MonoTime decided;
    mesh::MonoTime last_heard;
    std::string from;
  };

  mesh::Result<api::Json> Run(const api::Json& request);
  mesh::Result<api::Json> Ps(const api::Json& request);
  mesh::Result<api::Json> Logs(const api::Json& request);
  mesh::Result<api::Json> Stop(const api::Json& request);
  mesh::Result<api::Json> Deploy(const api::Json& request);
  mesh::Result<api::Json> Migrate(const api::Json& request);
  // By exact id, unique id prefix, or unique name (a live workload first
  // when an ended one has the same name).
  mesh::Result<state::WorkloadRecord> Find(const std::string& text);

  // Queues a command; returns its request id.
  std::uint64_t Enqueue(const std::string& node_id, swarmlet::WorkloadCommand command);
  swarmlet::WorkloadCommand StartCommand(const state::WorkloadRecord& w) const;
  // Waits for the answer to `request_id`; Timeout after `timeout`.
  mesh::Result<swarmlet::WorkloadStatusMsg> AwaitReply(std::uint64_t request_id, std::chrono::milliseconds timeout);
  // Waits until none of `ids` is Starting (or the timeout passes).
  void AwaitStarted(const std::vector<std::string>& ids, std::chrono::milliseconds timeout);
  // Places `records` (one replica each, node_id cleared) on the Ready nodes
  // other than `exclude`; fills node_id + phase Starting, or Pending + detail.
  mesh::Status Place(std::vector<state::WorkloadRecord>& records, const std::set<std::string>& exclude = {});
  // A replica that could not start on `node_id` (image missing, no cgroups
  // there...) is placed on another node that fits, up to kMaxStartNodes
  // nodes; with none left it stays Failed with the node's error.
  void StartElsewhere(const state::WorkloadRecord& w, const std::string& node_id);
  void ApplyReport(const std::string& node_id, const swarmlet::WorkloadReport& report);
  void PlacePending();
  std::string NodeName(const std::string& node_id);
  // The canonical image reference of `w` (store images); NotFound with one
  // line when the GPU peer does not have it.
  mesh::Status ResolveImage(state::WorkloadRecord& w) const;
  scheduler::WorkloadSpec SchedSpecOf(const state::WorkloadRecord& w, std::uint32_t replicas) const;
  // Fills a start command's image part for its node; false (and a Failed
  // report) when the image cannot run there.
  bool FillImage(const std::string& node_id, swarmlet::WorkloadCommand& command);
  api::Json WorkloadJson(const state::WorkloadRecord& w, const std::map<std::string, std::string>& node_names) const;

  state::StateStore& store_;
  mesh::TimingLog& log_;
  const mesh::Clock& clock_;
  const std::string self_id_;
  std::unique_ptr<swarmlet::WorkloadHost> local_;
  std::ostream& out_;
  ImageService* images_ = nullptr;

  std::mutex sched_mu_;  // one placement decision at a time (API and mesh threads)
  std::unique_ptr<scheduler::Scheduler> scheduler_;

  std::mutex mu_;  // guards everything below
  std::condition_variable changed_;
  std::deque<Queued> outbox_;
  std::uint64_t next_request_ = 1;
  std::set<std::uint64_t> awaited_;
  std::map<std::uint64_t, swarmlet::WorkloadStatusMsg> replies_;
  std::map<std::string, Recovery> recoveries_;  // by workload id
  std::map<std::string, std::set<std::string>> start_failed_on_;  // workload id -> node ids
  mesh::MonoTime next_pending_check_{};
  mesh::MonoTime next_reports_{};  // mesh thread only
};

}  // namespace gpu_node
