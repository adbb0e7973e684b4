#include "serve/workloads.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>

#include "mesh/crypto.h"
#include "scheduler/constraint.h"
#include "scheduler/deploy_file.h"
#include "scheduler/deploy_report.h"
#include "scheduler/quantity.h"
#include "swarmlet/executor/security.h"
#include "swarmlet/node_health.h"

namespace gpu_node {
namespace {

using api::Json;
using mesh::Result;
using mesh::Status;
using state::WorkloadPhase;
using state::WorkloadRecord;
using swarmlet::WorkloadOp;
using swarmlet::WorkloadRunState;
using Ms = std::chrono::duration<double, std::milli>;

constexpr auto kStartWait = std::chrono::milliseconds(10'000);
// Nodes a replica that fails to start is tried on before it stays Failed.
constexpr std::size_t kMaxStartNodes = 3;
constexpr auto kReplyWait = std::chrono::milliseconds(5'000);
constexpr auto kPendingRetry = std::chrono::seconds(2);
constexpr auto kReportInterval = std::chrono::seconds(5);
constexpr std::uint32_t kDefaultLogBytes = 64 * 1024;
constexpr std::size_t kMaxReplicas = 1000;
// A deploy-file workload without a command holds its placement and requests
// (a reservation, like a pause container) until it is stopped.
const std::vector<std::string> kReservationCommand{"sleep", "2147483647"};

Result<std::string> NewWorkloadId() {
  std::array<std::uint8_t, 6> bytes{};
  MESH_RETURN_IF_ERROR(mesh::RandomBytes(bytes));
  return mesh::ToHex(bytes);
}

// Not ended: waiting to be placed, starting, or running.
bool Live(WorkloadPhase phase) {
  return phase == WorkloadPhase::kPending || phase == WorkloadPhase::kStarting || phase == WorkloadPhase::kRunning;
}

// A command that names only its workload (stop, remove, logs).
swarmlet::WorkloadCommand Command(WorkloadOp op, const std::string& workload_id) {
  swarmlet::WorkloadCommand c;
  c.op = op;
  c.workload_id = workload_id;
  return c;
}

bool Active(const WorkloadRecord& w) {
  return w.desired_running && (w.phase == WorkloadPhase::kStarting || w.phase == WorkloadPhase::kRunning);
}

scheduler::WorkloadSpec SchedSpec(const WorkloadRecord& w, std::uint32_t replicas) {
  scheduler::WorkloadSpec s;
  s.name = w.group.empty() ? w.name : w.group;
  s.image = w.image;
  s.command = w.command;
  s.requests = {static_cast<std::uint64_t>(w.cpu_millis), static_cast<std::uint64_t>(w.memory_bytes),
                static_cast<std::uint32_t>(w.gpus)};
  s.replicas = replicas;
  for (const auto& text : w.constraints) {
    if (auto c = scheduler::ParseConstraint(text); c.ok()) s.constraints.push_back(*c);
  }
  return s;
}

// The nodes as the scheduler sees them, with what active workloads hold.
Result<std::vector<scheduler::NodeInfo>> SchedNodes(state::StateStore& store, const std::set<std::string>& exclude) {
  auto nodes = store.ListNodes();
  if (!nodes.ok()) return nodes.status();
  auto workloads = store.ListWorkloads();
  if (!workloads.ok()) return workloads.status();
  std::vector<scheduler::NodeInfo> out;
  for (const auto& n : *nodes) {
    scheduler::NodeInfo i;
    i.id = n.id;
    i.name = n.name;
    i.type = scheduler::ParseNodeType(n.type).value_or(scheduler::NodeType::kX86);
    i.arch = n.arch;
    i.labels = n.labels;
    i.capacity = {static_cast<std::uint64_t>(std::max(n.cores, 0)) * 1000,
                  static_cast<std::uint64_t>(std::max<std::int64_t>(n.memory_mb, 0)) << 20, n.gpu ? 1u : 0u};
    i.status = n.status == state::NodeStatus::kReady && !exclude.contains(n.id) ? scheduler::NodeStatus::kReady
                                                                        : scheduler::NodeStatus::kDown;
    i.memory_limits = n.health.memory_controller;  // docs/node_health.md
    i.throttled = n.health.throttled && swarmlet::ThrottlingNow(*n.health.throttled);
    for (const auto& w : *workloads) {
      if (w.node_id != n.id || !Active(w)) continue;
      i.allocated.cpu_millis += static_cast<std::uint64_t>(w.cpu_millis);
      i.allocated.memory_bytes += static_cast<std::uint64_t>(w.memory_bytes);
      i.allocated.gpus += static_cast<std::uint32_t>(w.gpus);
    }
    out.push_back(std::move(i));
  }
  return out;
}

std::string ExitDetail(const swarmlet::WorkloadReport& r) {
  if (r.oom_killed) return "OOM-killed (memory limit reached)";
  if (r.signal != 0) return "killed by signal " + std::to_string(r.signal);
  return "exit code " + std::to_string(r.exit_code);
}

// Why a replica the node reports as restarting (kBackoff) restarts.
std::string RestartDetail(const swarmlet::WorkloadReport& r) {
  // No exit yet: a start waiting for the node to finish removing the old copy.
  if (r.exit_code < 0 && r.signal == 0 && !r.oom_killed) {
    return "restarting once the previous copy is removed";
  }
  return "restarting after " + ExitDetail(r);
}

std::string PullDetail(const swarmlet::WorkloadReport& r) {
  char buf[96];
  const double have = static_cast<double>(r.pulled_bytes) / 1e6;
  const double total = static_cast<double>(r.image_bytes) / 1e6;
  const int pct = r.image_bytes > 0 ? static_cast<int>(100 * r.pulled_bytes / r.image_bytes) : 0;
  std::snprintf(buf, sizeof buf, "Pulling %d%% %.1f/%.1f MB", pct, have, total);
  return buf;
}

// The common fields of `run` and deploy-file workloads.
Result<WorkloadRecord> RecordFromRequest(const Json& r) {
  WorkloadRecord w;
  w.image = r.value("image", "");
  w.command = r.value("command", std::vector<std::string>{});
  if (w.command.empty() && w.image.empty()) return Status::InvalidArgument("run", "missing IMAGE and command");
  const double cpu = r.value("cpu", 0.0);
  if (!std::isfinite(cpu) || cpu < 0) return Status::InvalidArgument("--cpu", "must be a positive number of cores");
  w.cpu_millis = std::llround(cpu * 1000);
  if (cpu > 0 && w.cpu_millis < 10) return Status::InvalidArgument("--cpu", "at least 0.01 cores");
  if (const std::string mem = r.value("memory", ""); !mem.empty()) {
    auto bytes = scheduler::ParseMemory(mem);
    if (!bytes.ok()) return Status::InvalidArgument("--memory " + mem, bytes.status().message());
    if (*bytes < (1u << 20)) return Status::InvalidArgument("--memory " + mem, "at least 1M");
    w.memory_bytes = static_cast<std::int64_t>(*bytes);
  }
  w.gpus = r.value("gpu", false) ? 1 : 0;
  for (const auto& c : r.value("constraints", std::vector<std::string>{})) {
    auto parsed = scheduler::ParseConstraint(c);
    if (!parsed.ok()) return parsed.status();
    w.constraints.push_back(parsed->text);
  }
  w.restart = r.value("restart", "never");
  if (auto policy = swarmlet::executor::ParseRestartPolicy(w.restart); !policy.ok()) {
    return policy.status();
  }
  w.user = r.value("user", "");
  if (!w.user.empty()) {
    if (auto ids = swarmlet::executor::ParseUser(w.user); !ids.ok()) return ids.status();
    if (w.image.empty()) {
      return Status::InvalidArgument("--user " + w.user, "needs an image (host workloads run as root on the host)");
    }
  }
  w.privileged = r.value("privileged", false);
  return w;
}

}  // namespace

WorkloadManager::WorkloadManager(state::StateStore& store, mesh::TimingLog& log, const mesh::Clock& clock,
                                 std::string self_id, std::unique_ptr<swarmlet::WorkloadHost> local_host,
                                 std::ostream& out, std::unique_ptr<scheduler::Scheduler> scheduler)
    : store_(store), log_(log), clock_(clock), self_id_(std::move(self_id)), local_(std::move(local_host)),
      out_(out),
      scheduler_(scheduler != nullptr ? std::move(scheduler) : std::make_unique<scheduler::CpuScheduler>()) {}

WorkloadManager::~WorkloadManager() = default;

std::uint64_t WorkloadManager::Enqueue(const std::string& node_id, swarmlet::WorkloadCommand command) {
  std::lock_guard lock(mu_);
  command.request_id = next_request_++;
  const std::uint64_t id = command.request_id;
  outbox_.push_back({node_id, std::move(command)});
  return id;
}

swarmlet::WorkloadCommand WorkloadManager::StartCommand(const WorkloadRecord& w) const {
  swarmlet::WorkloadCommand c = Command(WorkloadOp::kStart, w.id);
  c.spec.name = w.name;
  c.spec.image = w.image;
  c.spec.argv = w.command;
  c.spec.cpu_millis = w.cpu_millis;
  c.spec.memory_bytes = w.memory_bytes;
  c.spec.gpu = w.gpus > 0;
  c.spec.restart = w.restart;
  c.spec.privileged = w.privileged;
  // --user wins over the image's User (FillStart keeps an explicit one).
  if (auto ids = swarmlet::executor::ParseUser(w.user); !w.user.empty() && ids.ok()) {
    c.spec.uid = ids->uid;
    c.spec.gid = ids->gid;
  }
  return c;
}

mesh::Status WorkloadManager::ResolveImage(WorkloadRecord& w) const {
  if (images_ == nullptr || w.image.empty()) return Status::Ok();
  auto resolved = images_->Resolve(w.image);
  if (!resolved.ok()) return resolved.status();
  w.image = resolved->ref;
  return Status::Ok();
}

scheduler::WorkloadSpec WorkloadManager::SchedSpecOf(const WorkloadRecord& w, std::uint32_t replicas) const {
  scheduler::WorkloadSpec s = SchedSpec(w, replicas);
  if (images_ != nullptr && !w.image.empty()) {
    // An image removed since: no platform, Pending with the reason.
    auto resolved = images_->Resolve(w.image);
    s.constraints.push_back(scheduler::ImagePlatformConstraint(
        w.image, resolved.ok() ? resolved->archs : std::vector<std::string>{}));
  }
  return s;
}

bool WorkloadManager::FillImage(const std::string& node_id, swarmlet::WorkloadCommand& c) {
  if (images_ == nullptr || c.op != WorkloadOp::kStart || c.spec.image.empty() || !c.spec.image_digest.empty()) {
    return true;
  }
  auto node = store_.GetNode(node_id);
  Status st = node.ok() ? images_->FillStart(c.spec.image, node->arch, c.spec) : node.status();
  if (st.ok()) return true;
  swarmlet::WorkloadStatusMsg failed;
  failed.request_id = c.request_id;
  swarmlet::WorkloadReport r;
  r.workload_id = c.workload_id;
  r.state = WorkloadRunState::kFailed;
  r.error = st.message();
  failed.workloads.push_back(r);
  OnStatus(node_id, failed);
  return false;
}

void WorkloadManager::Pump(const SendFn& send) {
  std::deque<Queued> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(outbox_);
  }
  for (Queued& q : batch) {
    if (!FillImage(q.node_id, q.command)) continue;
    if (q.node_id == self_id_) {
      if (local_) OnStatus(self_id_, local_->Handle(q.command));
    } else if (!send(q.node_id, q.command)) {
      // Not a member (any more): the waiting API call times out with the
      // node's state; placement reconciles when the node returns.
      swarmlet::WorkloadStatusMsg failed;
      failed.request_id = q.command.request_id;
      failed.error = "node " + NodeName(q.node_id) + " is not reachable on the mesh";
      OnStatus(q.node_id, failed);
    }
  }
  if (local_) {
    if (auto changes = local_->Poll()) OnStatus(self_id_, *changes);
    // primary-gpu fetches its images from the store like any node, without the mesh.
    for (const auto& f : local_->TakeImageRequests()) {
      if (images_ != nullptr) local_->OnImageChunk(images_->ServeFetch(f));
    }
    for (const auto& t : local_->TakeImageFetchTimings()) {
      (void)log_.Record("image", "fetch", t.ms, {{"image", t.image}, {"bytes", static_cast<std::int64_t>(t.bytes)}});
    }
  }
  const auto now = clock_.Now();
  if (now >= next_pending_check_) {
    next_pending_check_ = now + kPendingRetry;
    PlacePending();
  }
  // Fresh CPU% / MEM for `ps`, and a periodic reconciliation.
  if (now >= next_reports_) {
    next_reports_ = now + kReportInterval;
    ReconcileAll();
  }
}

std::string WorkloadManager::NodeName(const std::string& node_id) {
  auto n = store_.GetNode(node_id);
  return n.ok() ? n->name : node_id;
}

void WorkloadManager::OnStatus(const std::string& node_id, const swarmlet::WorkloadStatusMsg& status) {
  std::set<std::string> reported;
  for (const auto& r : status.workloads) {
    reported.insert(r.workload_id);
    ApplyReport(node_id, r);
  }
  if (status.full && images_ != nullptr) images_->SetNodeImages(NodeName(node_id), status.images);
  if (status.full) {
    // What the store places on this node but the node does not run: start it
    // (serve died between recording and sending, or the node lost it).
    auto placed = store_.ListWorkloads(node_id);
    if (placed.ok()) {
      for (const auto& w : *placed) {
        if (Active(w) && !reported.contains(w.id)) (void)Enqueue(node_id, StartCommand(w));
      }
    }
  }
  std::lock_guard lock(mu_);
  if (status.request_id != 0 && awaited_.contains(status.request_id)) replies_[status.request_id] = status;
  changed_.notify_all();
}

void WorkloadManager::ApplyReport(const std::string& node_id, const swarmlet::WorkloadReport& r) {
  const bool runs = r.state == WorkloadRunState::kRunning || r.state == WorkloadRunState::kBackoff;
  auto found = store_.GetWorkload(r.workload_id);
  if (!found.ok() || found->node_id != node_id) {
    // Placed elsewhere since (rescheduled, migrated) or never acknowledged:
    // one replica only, so it goes here.
    if (runs) {
      (void)Enqueue(node_id, Command(WorkloadOp::kRemove, r.workload_id));
      out_ << "Removing workload " << r.workload_id << " from " << NodeName(node_id)
           << (!found.ok()                ? ": not in the cluster's state"
               : found->node_id.empty() ? ": it waits to be placed again"
                                        : ": it runs on " + NodeName(found->node_id) + " now")
           << std::endl;
    }
    return;
  }
  WorkloadRecord w = *found;
  if (runs && !w.desired_running) {
    (void)Enqueue(node_id, Command(WorkloadOp::kStop, w.id));
    return;
  }
  const std::int64_t now = clock_.WallNs();
  switch (r.state) {
    case WorkloadRunState::kRunning:
    case WorkloadRunState::kBackoff:
      if (w.phase != WorkloadPhase::kRunning) w.started_ns = now;
      w.phase = WorkloadPhase::kRunning;
      w.detail = r.state == WorkloadRunState::kBackoff ? RestartDetail(r) : "";
      break;
    case WorkloadRunState::kExited:
      if (!w.desired_running) {
        w.phase = WorkloadPhase::kStopped;
      } else {
        const bool clean = r.exit_code == 0 && r.signal == 0 && !r.oom_killed;
        w.phase = clean ? WorkloadPhase::kExited : WorkloadPhase::kFailed;
      }
      w.detail = ExitDetail(r);
      break;
    case WorkloadRunState::kStopped:
      w.phase = WorkloadPhase::kStopped;
      w.detail.clear();
      break;
    case WorkloadRunState::kFailed:
      w.phase = WorkloadPhase::kFailed;
      w.detail = r.error;
      break;
    case WorkloadRunState::kPulling:
      w.phase = WorkloadPhase::kStarting;
      w.detail = PullDetail(r);
      break;
    case WorkloadRunState::kUnknown:
      if (w.desired_running) return;  // a full report re-sends the start
      w.phase = WorkloadPhase::kStopped;
      w.detail.clear();
      break;
  }
  w.exit_code = r.exit_code;
  w.signal = r.signal;
  w.oom_killed = r.oom_killed;
  w.restarts = r.restarts;
  w.cpu_percent = r.cpu_percent;
  w.memory_usage_bytes = r.memory_bytes;
  if (w.phase != found->phase || w.detail != found->detail) {
    w.updated_ns = now;
    if (w.phase == WorkloadPhase::kFailed) {
      out_ << "Workload " << w.name << " (" << w.id << ") on " << NodeName(node_id) << " failed: " << w.detail
           << std::endl;
    }
  }
  if (w != *found) (void)store_.PutWorkload(w);
  if (r.state == WorkloadRunState::kFailed && w.desired_running && found->phase != WorkloadPhase::kFailed) {
    StartElsewhere(w, node_id);
  }
  if (w.phase != WorkloadPhase::kStarting) {
    std::optional<Recovery> rec;
    {
      std::lock_guard lock(mu_);
      // Running (or no longer wanted): a later start failure gets a fresh
      // set of nodes to try.
      if (w.phase == WorkloadPhase::kRunning || !w.desired_running) start_failed_on_.erase(w.id);
      if (auto it = recoveries_.find(w.id); it != recoveries_.end()) {
        rec = it->second;
        recoveries_.erase(it);
      }
    }
    if (rec && w.phase == WorkloadPhase::kRunning) {
      const auto at = clock_.Now();
      const double ms = Ms(at - rec->decided).count();
      const double total = Ms(at - rec->last_heard).count();
      (void)log_.Record("recovery", "running", ms,
                        {{"workload", w.name}, {"id", w.id}, {"from", rec->from}, {"to", NodeName(node_id)},
                         {"since_last_heard_ms", total}});
      out_ << "Workload " << w.name << " recovered on " << NodeName(node_id) << " in " << std::to_string(total).substr(0, 6)
           << " ms after " << rec->from << " went silent" << std::endl;
    }
  }
}

mesh::Status WorkloadManager::Place(std::vector<WorkloadRecord>& records, const std::set<std::string>& exclude) {
  auto nodes = SchedNodes(store_, exclude);
  if (!nodes.ok()) return nodes.status();
  std::vector<scheduler::WorkloadSpec> specs;
  for (const auto& w : records) specs.push_back(SchedSpecOf(w, 1));
  // The scheduler spreads the replicas of one batch; a replica placed on its
  // own (rescheduled, pending) should also keep away from the nodes where
  // its group's other replicas run. Tried first as extra node.name !=
  // constraints; if that leaves any replica Pending, the plain placement wins.
  std::vector<scheduler::WorkloadSpec> apart = specs;
  bool any_apart = false;
  if (auto all = store_.ListWorkloads(); all.ok()) {
    std::set<std::string> moving;
    for (const auto& w : records) moving.insert(w.id);
    std::map<std::string, std::string> names;
    for (const auto& n : *nodes) names[n.id] = n.name;
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (records[i].group.empty()) continue;
      std::set<std::string> avoid;
      for (const auto& o : *all) {
        if (o.group == records[i].group && !moving.contains(o.id) && Active(o) && names.contains(o.node_id)) {
          avoid.insert(names[o.node_id]);
        }
      }
      for (const auto& name : avoid) {
        if (auto c = scheduler::ParseConstraint("node.name != " + name); c.ok()) {
          apart[i].constraints.push_back(*c);
          any_apart = true;
        }
      }
    }
  }
  auto result = scheduler_->Schedule(*nodes, any_apart ? apart : specs);
  if (!result.ok()) return result.status();
  if (any_apart && std::any_of(result->placements.begin(), result->placements.end(),
                               [](const scheduler::Placement& p) { return p.node == scheduler::kPending; })) {
    result = scheduler_->Schedule(*nodes, specs);
    if (!result.ok()) return result.status();
  }
  for (const auto& p : result->placements) {
    WorkloadRecord& w = records[p.workload];
    w.updated_ns = clock_.WallNs();
    if (p.node == scheduler::kPending) {
      w.node_id.clear();
      w.phase = WorkloadPhase::kPending;
      w.detail = p.reason;
    } else {
      w.node_id = (*nodes)[static_cast<std::size_t>(p.node)].id;
      w.phase = WorkloadPhase::kStarting;
      w.detail.clear();
    }
  }
  return Status::Ok();
}

void WorkloadManager::StartElsewhere(const WorkloadRecord& w, const std::string& node_id) {
  std::set<std::string> tried;
  {
    std::lock_guard lock(mu_);
    auto& failed_on = start_failed_on_[w.id];
    failed_on.insert(node_id);
    tried = failed_on;
  }
  if (tried.size() >= kMaxStartNodes) return;
  std::lock_guard sched(sched_mu_);
  std::vector<WorkloadRecord> one{w};
  // Nowhere else fits: it stays Failed with this node's error.
  if (!Place(one, tried).ok() || one[0].phase != WorkloadPhase::kStarting) return;
  if (!store_.PutWorkload(one[0]).ok()) return;
  out_ << "Workload " << w.name << " (" << w.id << ") could not start on " << NodeName(node_id) << "; starting it on "
       << NodeName(one[0].node_id) << std::endl;
  (void)Enqueue(node_id, Command(WorkloadOp::kRemove, w.id));
  (void)Enqueue(one[0].node_id, StartCommand(one[0]));
}

void WorkloadManager::PlacePending() {
  auto all = store_.ListWorkloads();
  if (!all.ok()) return;
  std::vector<WorkloadRecord> pending;
  for (const auto& w : *all) {
    if (w.desired_running && w.phase == WorkloadPhase::kPending) pending.push_back(w);
  }
  if (pending.empty()) return;
  std::lock_guard sched(sched_mu_);
  const std::vector<WorkloadRecord> before = pending;
  if (!Place(pending).ok()) return;
  std::vector<WorkloadRecord> placed;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    if (pending[i].phase == WorkloadPhase::kStarting) placed.push_back(pending[i]);
  }
  if (placed.empty() || !store_.PutWorkloads(placed).ok()) return;
  for (const auto& w : placed) {
    out_ << "Placing pending workload " << w.name << " on " << NodeName(w.node_id) << std::endl;
    (void)Enqueue(w.node_id, StartCommand(w));
  }
}

void WorkloadManager::OnNodeDown(const std::string& node_id, mesh::MonoTime last_heard) {
  const auto decided = clock_.Now();
  auto on_node = store_.ListWorkloads(node_id);
  if (!on_node.ok()) return;
  std::vector<WorkloadRecord> moving;
  for (const auto& w : *on_node) {
    if (Active(w)) moving.push_back(w);
  }
  if (moving.empty()) return;
  const std::string from = NodeName(node_id);
  std::lock_guard sched(sched_mu_);
  if (auto st = Place(moving, {node_id}); !st.ok()) {
    out_ << "Cannot reschedule the workloads of " << from << ": " << st.message() << std::endl;
    return;
  }
  if (auto st = store_.PutWorkloads(moving); !st.ok()) {
    out_ << "Cannot record the rescheduling of " << from << "'s workloads: " << st.message() << std::endl;
    return;
  }
  std::size_t placed = 0;
  for (const auto& w : moving) {
    if (w.phase != WorkloadPhase::kStarting) continue;
    ++placed;
    {
      std::lock_guard lock(mu_);
      recoveries_[w.id] = {decided, last_heard, from};
    }
    (void)Enqueue(w.node_id, StartCommand(w));
  }
  out_ << "Rescheduling " << moving.size() << " workload(s) of " << from << ": " << placed << " placed, "
       << moving.size() - placed << " pending" << std::endl;
}

void WorkloadManager::OnNodeReady(const std::string& node_id) {
  (void)Enqueue(node_id, Command(WorkloadOp::kReport, ""));
  std::lock_guard lock(mu_);
  next_pending_check_ = {};  // the node may fit what waits
}

void WorkloadManager::ReconcileAll() {
  auto nodes = store_.ListNodes();
  if (!nodes.ok()) return;
  for (const auto& n : *nodes) {
    if (n.status == state::NodeStatus::kReady) OnNodeReady(n.id);
  }
}

Result<swarmlet::WorkloadStatusMsg> WorkloadManager::AwaitReply(std::uint64_t request_id,
                                                                 std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  awaited_.insert(request_id);
  const bool got = changed_.wait_for(lock, timeout, [&] { return replies_.contains(request_id); });
  awaited_.erase(request_id);
  if (!got) return Status::Timeout("the node did not answer", "within " + std::to_string(timeout.count()) + " ms");
  auto reply = std::move(replies_[request_id]);
  replies_.erase(request_id);
  if (!reply.error.empty()) return Status::Unavailable(reply.error, "");
  return reply;
}

void WorkloadManager::AwaitStarted(const std::vector<std::string>& ids, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    lock.unlock();
    bool starting = false;
    for (const auto& id : ids) {
      auto w = store_.GetWorkload(id);
      starting = starting || (w.ok() && w->phase == WorkloadPhase::kStarting);
    }
    lock.lock();
    if (!starting || std::chrono::steady_clock::now() >= deadline) return;
    changed_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
  }
}

Json WorkloadManager::WorkloadJson(const WorkloadRecord& w, const std::map<std::string, std::string>& names) const {
  const auto node = names.find(w.node_id);
  const std::int64_t now = clock_.WallNs();
  Json j{{"id", w.id},
         {"name", w.name},
         {"group", w.group},
         {"replica", w.replica},
         {"image", w.image},
         {"command", w.command},
         {"node", w.node_id.empty() ? "" : node != names.end() ? node->second : w.node_id},
         {"node_id", w.node_id},
         {"status", std::string(state::WorkloadPhaseName(w.phase))},
         {"detail", w.detail},
         {"cpu", w.cpu_millis / 1000.0},
         {"memory_limit_bytes", w.memory_bytes},
         {"gpus", w.gpus},
         {"constraints", w.constraints},
         {"restart", w.restart},
         {"user", w.user},
         {"privileged", w.privileged},
         {"restarts", w.restarts},
         {"cpu_percent", w.cpu_percent},
         {"memory_bytes", w.memory_usage_bytes},
         {"uptime_s", w.phase == WorkloadPhase::kRunning ? (now - w.started_ns) / 1'000'000'000 : -1}};
  if (w.exit_code >= 0) j["exit_code"] = w.exit_code;
  if (w.signal != 0) j["signal"] = w.signal;
  if (w.oom_killed) j["oom_killed"] = true;
  return j;
}

Result<Json> WorkloadManager::Run(const Json& r) {
  auto base = RecordFromRequest(r);
  if (!base.ok()) return base.status();
  if (base->command.empty() && images_ == nullptr) {
    return Status::InvalidArgument("run", "missing command (stratoswarm run IMAGE CMD...)");
  }
  MESH_RETURN_IF_ERROR(ResolveImage(*base));
  const std::int64_t replicas = r.value("replicas", 1);
  if (replicas < 1 || replicas > static_cast<std::int64_t>(kMaxReplicas)) {
    return Status::InvalidArgument("--replicas " + std::to_string(replicas), "expected 1..1000");
  }
  std::string name = r.value("name", "");
  if (name.empty()) {
    const std::string& first = base->image.empty() ? base->command[0] : base->image;
    name = first.substr(first.rfind('/') + 1);
    name = name.substr(0, name.find_first_of(":@"));
  }
  std::vector<WorkloadRecord> records;
  {
    // Placed and recorded under the lock (the next placement must see these
    // requests as taken); never held while waiting for the nodes.
    std::lock_guard sched(sched_mu_);
    auto nodes = SchedNodes(store_, {});
    if (!nodes.ok()) return nodes.status();
    std::vector<scheduler::WorkloadSpec> spec{SchedSpecOf(*base, static_cast<std::uint32_t>(replicas))};
    auto result = scheduler_->Schedule(*nodes, spec);
    if (!result.ok()) return result.status();
    const std::int64_t now = clock_.WallNs();
    for (const auto& p : result->placements) {
      WorkloadRecord w = *base;
      auto id = NewWorkloadId();
      if (!id.ok()) return id.status();
      w.id = *id;
      w.group = name;
      w.replica = static_cast<int>(p.replica);
      w.name = replicas > 1 ? name + "." + std::to_string(p.replica + 1) : name;
      w.created_ns = w.updated_ns = now;
      if (p.node == scheduler::kPending) {
        w.phase = WorkloadPhase::kPending;
        w.detail = p.reason;
      } else {
        w.node_id = (*nodes)[static_cast<std::size_t>(p.node)].id;
        w.phase = WorkloadPhase::kStarting;
      }
      records.push_back(std::move(w));
    }
    // Recorded before any command leaves: what the CLI is told exists survives.
    MESH_RETURN_IF_ERROR(store_.PutWorkloads(records));
  }
  std::vector<std::string> ids;
  for (const auto& w : records) {
    ids.push_back(w.id);
    if (w.phase == WorkloadPhase::kStarting) (void)Enqueue(w.node_id, StartCommand(w));
  }
  AwaitStarted(ids, std::chrono::milliseconds(r.value("wait_ms", kStartWait.count())));
  return Ps(Json{{"ids", ids}, {"all", true}});
}

Result<Json> WorkloadManager::Ps(const Json& r) {
  auto all = store_.ListWorkloads();
  if (!all.ok()) return all.status();
  auto nodes = store_.ListNodes();
  if (!nodes.ok()) return nodes.status();
  std::map<std::string, std::string> names;
  for (const auto& n : *nodes) names[n.id] = n.name;
  const bool everything = r.value("all", false);
  const auto ids = r.value("ids", std::vector<std::string>{});
  const std::string node = r.value("node", "");
  Json out = Json::array();
  for (const auto& w : *all) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), w.id) == ids.end()) continue;
    if (!node.empty() && names[w.node_id] != node) continue;
    if (!everything && ids.empty() && !Live(w.phase)) continue;
    out.push_back(WorkloadJson(w, names));
  }
  return out;
}

Result<WorkloadRecord> WorkloadManager::Find(const std::string& text) {
  auto exact = store_.GetWorkload(text);
  if (exact.ok() || exact.status().code() != mesh::StatusCode::kNotFound) return exact;
  auto all = store_.ListWorkloads();
  if (!all.ok()) return all.status();
  std::vector<const WorkloadRecord*> hits;
  for (const auto& w : *all) {
    if (!text.empty() && (w.id.rfind(text, 0) == 0 || w.name == text)) hits.push_back(&w);
  }
  if (hits.size() > 1) {
    // A name reused by a later deploy: the live one is meant.
    std::erase_if(hits, [](const WorkloadRecord* w) { return !Live(w->phase); });
  }
  if (hits.size() == 1) return *hits[0];
  if (hits.empty()) return Status::NotFound("no workload " + text, "see stratoswarm ps --all");
  return Status::InvalidArgument("workload " + text, std::to_string(hits.size()) + " workloads match; use more of the ID");
}

Result<Json> WorkloadManager::Logs(const Json& r) {
  auto w = Find(r.at("id").get<std::string>());
  if (!w.ok()) return w.status();
  if (w->node_id.empty()) return Json{{"logs", ""}, {"detail", "never started: " + w->detail}};
  auto node = store_.GetNode(w->node_id);
  if (node.ok() && node->status == state::NodeStatus::kDown) {
    return Status::Unavailable("logs of " + w->name, "they are on " + node->name + ", which is Down");
  }
  swarmlet::WorkloadCommand c = Command(WorkloadOp::kLogs, w->id);
  c.log_bytes = r.value("bytes", kDefaultLogBytes);
  auto reply = AwaitReply(Enqueue(w->node_id, c), kReplyWait);
  if (!reply.ok()) return reply.status().WithContext("logs of " + w->name + " from " + NodeName(w->node_id));
  return Json{{"logs", reply->logs}, {"node", NodeName(w->node_id)}};
}

Result<Json> WorkloadManager::Stop(const Json& r) {
  WorkloadRecord w;
  {
    std::lock_guard sched(sched_mu_);
    auto found = Find(r.at("id").get<std::string>());
    if (!found.ok()) return found.status();
    w = *found;
    w.desired_running = false;
    w.updated_ns = clock_.WallNs();
    if (w.node_id.empty() || w.phase == WorkloadPhase::kExited || w.phase == WorkloadPhase::kFailed) {
      if (w.phase == WorkloadPhase::kPending) {
        w.phase = WorkloadPhase::kStopped;
        w.detail = "never placed";
      }
      MESH_RETURN_IF_ERROR(store_.PutWorkload(w));
      return Ps(Json{{"ids", {w.id}}});
    }
    MESH_RETURN_IF_ERROR(store_.PutWorkload(w));
  }
  auto node = store_.GetNode(w.node_id);
  if (node.ok() && node->status == state::NodeStatus::kDown) {
    // Stopped when the node comes back (its report shows it running).
    return Ps(Json{{"ids", {w.id}}});
  }
  auto reply = AwaitReply(Enqueue(w.node_id, Command(WorkloadOp::kStop, w.id)), kReplyWait);
  if (!reply.ok()) return reply.status().WithContext("stop " + w.name);
  return Ps(Json{{"ids", {w.id}}});
}

Result<Json> WorkloadManager::Deploy(const Json& r) {
  const std::string yaml = r.value("yaml", "");
  auto specs = scheduler::ParseDeployFile(yaml);
  if (!specs.ok()) return specs.status();
  for (const auto& s : *specs) {
    if (s.user.empty()) continue;
    if (auto ids = swarmlet::executor::ParseUser(s.user); !ids.ok()) {
      return ids.status().WithContext("workload " + s.name);
    }
    if (s.image.empty()) {
      return Status::InvalidArgument("workload " + s.name + " spec.user",
                                     "needs an image (host workloads run as root on the host)");
    }
  }
  if (images_ != nullptr) {
    for (auto& s : *specs) {
      if (s.image.empty()) continue;
      auto resolved = images_->Resolve(s.image);
      if (!resolved.ok()) return Status::NotFound("workload " + s.name, resolved.status().message());
      s.image = resolved->ref;
      s.constraints.push_back(scheduler::ImagePlatformConstraint(s.image, resolved->archs));
    }
  }
  const auto t0 = clock_.Now();
  std::vector<WorkloadRecord> records;
  Json report_json;
  {
    std::lock_guard sched(sched_mu_);
    auto existing = store_.ListWorkloads();
    if (!existing.ok()) return existing.status();
    for (const auto& s : *specs) {
      for (const auto& w : *existing) {
        if (w.group == s.name && w.desired_running) {
          return Status::AlreadyExists("workload " + s.name, "is already deployed (stop its replicas first)");
        }
      }
    }
    auto nodes = SchedNodes(store_, {});
    if (!nodes.ok()) return nodes.status();
    auto report = scheduler::ScheduleDeployment(*scheduler_, *nodes, *specs, clock_);
    if (!report.ok()) return report.status();
    std::map<std::string, std::string> ids_by_name;
    for (const auto& n : *nodes) ids_by_name[n.name] = n.id;
    const std::int64_t now = clock_.WallNs();
    for (std::size_t i = 0; i < specs->size(); ++i) {
      const auto& s = (*specs)[i];
      const auto& rep = report->workloads[i];
      for (std::uint32_t k = 0; k < s.replicas; ++k) {
        WorkloadRecord w;
        auto id = NewWorkloadId();
        if (!id.ok()) return id.status();
        w.id = *id;
        w.group = s.name;
        w.replica = static_cast<int>(k);
        w.name = s.replicas > 1 ? s.name + "." + std::to_string(k + 1) : s.name;
        w.image = s.image;
        // An image without a command runs its Entrypoint + Cmd.
        const bool image_default = images_ != nullptr && !s.image.empty();
        w.command = s.command.empty() && !image_default ? kReservationCommand : s.command;
        w.cpu_millis = static_cast<std::int64_t>(s.requests.cpu_millis);
        w.memory_bytes = static_cast<std::int64_t>(s.requests.memory_bytes);
        w.gpus = static_cast<int>(s.requests.gpus);
        w.user = s.user;
        w.privileged = s.privileged;
        for (const auto& c : s.constraints) {
          // The image's platforms are added again at each placement (SchedSpecOf).
          if (c.field != scheduler::Constraint::Field::kPlatforms) w.constraints.push_back(c.text);
        }
        w.created_ns = w.updated_ns = now;
        if (k < rep.nodes.size()) {
          w.node_id = ids_by_name[rep.nodes[k]];
          w.phase = WorkloadPhase::kStarting;
        } else {
          w.phase = WorkloadPhase::kPending;
          w.detail = rep.pending_reasons.empty() ? "no node fits" : rep.pending_reasons.front();
        }
        records.push_back(std::move(w));
      }
    }
    report_json = Json::parse(scheduler::RenderJson(*report));
    report_json["table"] = scheduler::RenderTable(*report);
    MESH_RETURN_IF_ERROR(store_.PutWorkloads(records));
  }
  std::vector<std::string> ids;
  std::size_t starting = 0;
  for (const auto& w : records) {
    ids.push_back(w.id);
    if (w.phase != WorkloadPhase::kStarting) continue;
    ++starting;
    (void)Enqueue(w.node_id, StartCommand(w));
  }
  AwaitStarted(ids, std::chrono::milliseconds(r.value("wait_ms", kStartWait.count())));
  const double ms = Ms(clock_.Now() - t0).count();
  auto listed = Ps(Json{{"ids", ids}, {"all", true}});
  if (!listed.ok()) return listed.status();
  std::size_t running = 0;
  for (const auto& w : *listed) running += w["status"] == "Running" ? 1 : 0;
  (void)log_.Record("deploy", "all_running", ms,
                    {{"replicas", static_cast<std::int64_t>(records.size())},
                     {"running", static_cast<std::int64_t>(running)},
                     {"started", static_cast<std::int64_t>(starting)}});
  report_json["workload_records"] = *listed;
  report_json["all_running_ms"] = ms;
  report_json["running"] = running;
  return report_json;
}

Result<Json> WorkloadManager::Migrate(const Json& r) {
  const std::string to = r.at("to").get<std::string>();
  const bool stop_first = r.value("stop_first", false);
  const auto t0 = clock_.Now();
  WorkloadRecord w;
  std::string source;
  {
    std::lock_guard sched(sched_mu_);
    auto found = Find(r.at("id").get<std::string>());
    if (!found.ok()) return found.status();
    w = *found;
    auto target = store_.FindNodeByName(to);
    if (!target.ok()) return target.status();
    if (!target->has_value()) return Status::NotFound("migrate " + w.name, "no node named " + to);
    const state::NodeRecord& t = **target;
    if (t.status != state::NodeStatus::kReady) return Status::Unavailable("migrate " + w.name, "node " + to + " is Down");
    if (!w.desired_running || w.phase == WorkloadPhase::kStopped) {
      return Status::InvalidArgument("workload " + w.name, "is stopped; run it again instead");
    }
    if (w.node_id == t.id) return Status::AlreadyExists("workload " + w.name, "already runs on " + to);
    // Does it fit there (resources, and its own constraints but for a
    // node.name pin, which the explicit --to replaces)?
    std::erase_if(w.constraints, [](const std::string& c) { return c.rfind("node.name ", 0) == 0; });
    std::vector<WorkloadRecord> probe{w};
    probe[0].constraints.push_back("node.name == " + to);
    probe[0].phase = WorkloadPhase::kPending;  // not counted against the source
    MESH_RETURN_IF_ERROR(Place(probe));
    if (probe[0].phase != WorkloadPhase::kStarting) {
      return Status::Unavailable("cannot migrate " + w.name + " to " + to, probe[0].detail);
    }
    source = w.node_id;
    w.node_id = t.id;
    w.phase = WorkloadPhase::kStarting;
    w.detail = "migrating from " + NodeName(source);
    w.updated_ns = clock_.WallNs();
  }
  Json phases = Json::object();
  auto remove_source = [&]() -> Status {
    if (source.empty()) return Status::Ok();
    auto node = store_.GetNode(source);
    if (node.ok() && node->status == state::NodeStatus::kDown) return Status::Ok();  // removed when it returns
    const auto s = clock_.Now();
    auto reply = AwaitReply(Enqueue(source, Command(WorkloadOp::kRemove, w.id)), kReplyWait);
    phases["stop_source"] = Ms(clock_.Now() - s).count();
    (void)log_.Record("migration", "stop_source", phases["stop_source"].get<double>(), {{"workload", w.name}});
    return reply.ok() ? Status::Ok() : reply.status();
  };
  if (stop_first) MESH_RETURN_IF_ERROR(remove_source());
  // The record moves first: from here a report of it from the source is a
  // duplicate and is removed there.
  MESH_RETURN_IF_ERROR(store_.PutWorkload(w));
  const auto s = clock_.Now();
  (void)Enqueue(w.node_id, StartCommand(w));
  AwaitStarted({w.id}, kStartWait);
  phases["start_target"] = Ms(clock_.Now() - s).count();
  (void)log_.Record("migration", "start_target", phases["start_target"].get<double>(), {{"workload", w.name}});
  auto now = store_.GetWorkload(w.id);
  const bool running = now.ok() && now->phase == WorkloadPhase::kRunning;
  if (!stop_first) {
    if (!running) {
      return Status::Unavailable("migration of " + w.name + " to " + to + " did not start",
                                 now.ok() ? std::string(state::WorkloadPhaseName(now->phase)) + " " + now->detail
                                          : "unknown state");
    }
    MESH_RETURN_IF_ERROR(remove_source());
  }
  const double total = Ms(clock_.Now() - t0).count();
  phases["total"] = total;
  (void)log_.Record("migration", "total", total, {{"workload", w.name}, {"from", NodeName(source)}, {"to", to}});
  out_ << "Migrated " << w.name << " from " << NodeName(source) << " to " << to << " in "
       << std::to_string(total).substr(0, 6) << " ms" << std::endl;
  return Json{{"id", w.id}, {"name", w.name}, {"from", NodeName(source)}, {"to", to}, {"running", running},
              {"phases_ms", phases}};
}

std::map<std::string, api::Handler> WorkloadManager::ApiHandlers() {
  std::map<std::string, api::Handler> h;
  h["run"] = [this](const Json& r) { return Run(r); };
  h["ps"] = [this](const Json& r) { return Ps(r); };
  h["logs"] = [this](const Json& r) { return Logs(r); };
  h["stop"] = [this](const Json& r) { return Stop(r); };
  h["deploy"] = [this](const Json& r) { return Deploy(r); };
  h["migrate"] = [this](const Json& r) { return Migrate(r); };
  return h;
}

}  // namespace gpu_node
