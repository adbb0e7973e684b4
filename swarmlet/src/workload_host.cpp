#include "swarmlet/workload_host.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "mesh/atomic_file.h"
#include "swarmlet/executor/executor.h"
#include "swarmlet/image_cache.h"
#include "swarmlet/image_mount.h"

namespace swarmlet {
namespace {

using mesh::Result;
using mesh::Status;
namespace ex = executor;

// What makes a report worth sending unsolicited: a new state, a new run
// (pid, restarts) or a new exit. CPU and memory figures alone are not.
struct ReportKey {
  WorkloadRunState state = WorkloadRunState::kUnknown;
  std::int32_t pid = 0;
  std::int32_t restarts = 0;
  std::int32_t exit_code = -1;
  std::int32_t signal = 0;
  bool oom_killed = false;
  bool operator==(const ReportKey&) const = default;
};

// An executor state as the protocol names it. kStopped is derived from the
// executor's record (stop_requested is persisted with it), so it survives
// a swarmlet restart exactly as long as the record does (until kRemove).
WorkloadRunState MapState(const ex::WorkloadInfo& info) {
  switch (info.state) {
    // Stopping (RequestStop): reported as stopped at once; the exit follows
    // as a change of pid and exit status.
    case ex::WorkloadState::kRunning:
      return info.stop_requested ? WorkloadRunState::kStopped : WorkloadRunState::kRunning;
    case ex::WorkloadState::kBackoff:
      return WorkloadRunState::kBackoff;
    case ex::WorkloadState::kExited:
      return info.stop_requested ? WorkloadRunState::kStopped : WorkloadRunState::kExited;
  }
  return WorkloadRunState::kUnknown;
}

ReportKey KeyOf(const ex::WorkloadInfo& info) {
  ReportKey k;
  k.state = MapState(info);
  k.pid = static_cast<std::int32_t>(info.pid);
  k.restarts = info.restarts;
  if (info.last_exit) {
    const ex::ExitStatus& e = *info.last_exit;
    if (e.code_known && e.signal == 0) k.exit_code = e.exit_code;
    k.signal = e.signal;
    k.oom_killed = e.oom_killed;
  }
  return k;
}

// Reports carry one line of bounded length.
std::string OneLine(std::string_view text) {
  std::string out(text.substr(0, kMaxWorkloadErrorBytes));
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

WorkloadReport ErrorReport(std::string_view id, WorkloadRunState state, std::string_view error) {
  WorkloadReport r;
  r.workload_id = std::string(id.substr(0, 64));
  r.state = state;
  r.error = OneLine(error);
  return r;
}

// The last `max` bytes of `path` ("" when it cannot be read).
std::string ReadTail(const std::string& path, std::size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    const auto size = static_cast<std::size_t>(st.st_size);
    const std::size_t want = std::min(size, max);
    out.resize(want);
    std::size_t got = 0;
    while (got < want) {
      const ssize_t n =
          ::pread(fd, out.data() + got, want - got, static_cast<off_t>(size - want + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    out.resize(got);
  }
  ::close(fd);
  return out;
}

// The NVIDIA device nodes of this machine (/dev/nvidia0, nvidiactl,
// nvidia-uvm, ...): character devices only, so /dev/nvidia-caps is skipped.
std::vector<std::string> NvidiaDeviceNodes() {
  std::vector<std::string> out;
  DIR* d = ::opendir("/dev");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind("nvidia", 0) != 0) continue;
    const std::string path = "/dev/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) out.push_back(path);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool HasEnv(const std::vector<std::string>& env, std::string_view key) {
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) {
    return e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=';
  });
}

// The protocol's start spec as the executor takes it; InvalidArgument for
// what the executor's own checks would not catch.
Result<ex::WorkloadSpec> Translate(const std::string& id, const WorkloadStartSpec& s) {
  ex::WorkloadSpec spec;
  spec.id = id;
  spec.name = s.name;
  spec.image = s.image;
  spec.argv = s.argv;
  spec.env = s.env;
  spec.cwd = s.cwd;
  spec.image_digest = s.image_digest;
  spec.uid = s.uid;
  spec.gid = s.gid;
  spec.groups = s.groups;
  spec.stop_signal = s.stop_signal;
  spec.privileged = s.privileged;
  if (s.cpu_millis != 0) spec.limits.cpu_cores = static_cast<double>(s.cpu_millis) / 1000.0;
  if (s.memory_bytes < 0) {
    return Status::InvalidArgument("memory " + std::to_string(s.memory_bytes),
                                   "must not be negative");
  }
  if (s.memory_bytes > 0) spec.limits.memory_bytes = static_cast<std::uint64_t>(s.memory_bytes);
  if (s.pids_max != 0) spec.limits.pids_max = s.pids_max;
  auto restart = ex::ParseRestartPolicy(s.restart.empty() ? "never" : s.restart);
  if (!restart.ok()) return restart.status();
  spec.restart = *restart;
  if (s.gpu) {
    const std::vector<std::string> nodes = NvidiaDeviceNodes();
    if (nodes.empty()) {
      return Status::Unsupported("start a GPU workload",
                                 "this node has no NVIDIA device nodes (/dev/nvidia*)");
    }
    // A host run sees /dev already (the executor has no devices cgroup);
    // an image run gets the nodes bind-mounted at the same paths. The
    // driver's user-space libraries are not injected: a GPU image must
    // bring them (nvidia-container-toolkit's job, not ours).
    if (!spec.image.empty()) {
      for (const auto& node : nodes) spec.volumes.push_back(node + ":" + node);
    }
    if (spec.env.empty()) {
      // Keep the executor's defaults for an empty environment.
      spec.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"};
    }
    if (!HasEnv(spec.env, "NVIDIA_VISIBLE_DEVICES"))
      spec.env.push_back("NVIDIA_VISIBLE_DEVICES=all");
  }
  return spec;
}

}  // namespace

struct WorkloadHost::Impl {
  // A full executor poll (reap, restart, stats, log rotation) reads a
  // handful of cgroup files per workload; the agent polls every 20 ms while
  // workloads run, so in between only a no-wait "has one of them ended"
  // check runs (one waitid per running workload). Measured on x86 with 5
  // workloads, the whole swarmlet: 2.1-2.6 % of a core with a full poll
  // every 20 ms, 0.8-0.9 % with this. Stats and log rotation are this fresh;
  // exits and restarts are not delayed by it.
  static constexpr std::chrono::milliseconds kFullPollInterval{250};

  struct CpuSample {
    std::uint64_t usage_ns = 0;
    mesh::MonoTime at{};  // when usage_ns was read
    double percent = 0;   // over the interval that ended at `at`
  };

  const mesh::Clock* clock = nullptr;
  std::unique_ptr<ex::Executor> executor;  // null: unavailable
  std::unique_ptr<ImageCache> images;       // null: no image workloads here
  std::string images_error;                 // why not
  std::string rootfs_dir;                   // <state_dir>/rootfs: overlays by workload id
  // Starts waiting for their image, and the progress last reported for each.
  std::map<std::string, WorkloadCommand, std::less<>> pulling;
  std::map<std::string, std::uint64_t, std::less<>> pulled_reported;
  // Fetches under way (digest -> reference and start), and finished ones.
  std::map<std::string, std::pair<std::string, mesh::MonoTime>, std::less<>> fetch_started;
  std::vector<WorkloadHost::ImageFetchTiming> fetch_timings;
  std::string unavailable_reason;
  // What each workload looked like when it was last reported (by Poll, an
  // answer or a full report): Poll sends only what differs.
  std::map<std::string, ReportKey, std::less<>> reported;
  std::map<std::string, CpuSample, std::less<>> cpu;
  // kRemove'd workloads still stopping; removed once ended.
  std::set<std::string, std::less<>> removing;
  // Starts that came while their id was still being removed (the cluster
  // placed the workload back here): run once the old process has ended.
  std::map<std::string, WorkloadCommand, std::less<>> start_after_remove;
  // As of the last full poll or command.
  std::vector<pid_t> running_pids;
  bool any_backoff = false;
  bool watching = false;  // see WorkloadHost::watching()
  std::optional<mesh::MonoTime> last_full_poll;
  mesh::MonoTime stats_at{};  // when the executor last read the cgroups' counters

  void Refresh(const std::vector<ex::WorkloadInfo>& all) {
    running_pids.clear();
    any_backoff = false;
    for (const ex::WorkloadInfo& i : all) {
      if (i.state == ex::WorkloadState::kRunning) running_pids.push_back(i.pid);
      if (i.state == ex::WorkloadState::kBackoff) any_backoff = true;
    }
    watching = any_backoff || !running_pids.empty() || !pulling.empty();
  }

  std::string OverlayDir(std::string_view id) const { return rootfs_dir + "/" + std::string(id); }

  WorkloadReport PullingReport(std::string_view id, const ImageProgress& p) {
    WorkloadReport r;
    r.workload_id = std::string(id);
    r.state = WorkloadRunState::kPulling;
    r.pulled_bytes = static_cast<std::int64_t>(p.have_bytes);
    r.image_bytes = static_cast<std::int64_t>(p.total_bytes);
    pulled_reported[r.workload_id] = p.have_bytes;
    reported[r.workload_id] = ReportKey{WorkloadRunState::kPulling};
    return r;
  }

  // The workload's own root: an overlay on its mounted image.
  Result<std::string> MountWorkloadRoot(const std::string& id, const std::string& digest) {
    auto lower = images->Acquire(digest);
    if (!lower.ok()) return lower.status();
    const std::string dir = OverlayDir(id);
    if (Status st = MountOverlay(*lower, dir); !st.ok()) {
      (void)UnmountAndRemove(dir);
      images->Release(digest);
      return st;
    }
    return dir + "/rootfs";
  }

  void UnmountWorkloadRoot(const std::string& id, const std::string& digest) {
    if (Status st = UnmountAndRemove(OverlayDir(id)); !st.ok()) {
      std::fprintf(stderr, "swarmlet: workload %s: %s\n", id.c_str(), st.message().c_str());
    }
    if (images) images->Release(digest);
  }

  // After a restart: every image workload's record holds its image again,
  // and one whose overlay is gone (a reboot) gets it mounted again (its
  // upper, on disk, keeps what the workload wrote).
  void Readopt() {
    if (!executor || !images) return;
    for (const ex::WorkloadInfo& info : executor->List()) {
      if (info.spec.image_digest.empty()) continue;
      auto lower = images->Acquire(info.spec.image_digest);
      if (!lower.ok()) {
        std::fprintf(stderr, "swarmlet: workload %s: image %s: %s\n", info.id.c_str(),
                     info.spec.image_digest.c_str(), lower.status().message().c_str());
        continue;
      }
      auto mounted = IsMountPoint(OverlayDir(info.id) + "/rootfs");
      if (mounted.ok() && !*mounted) (void)MountOverlay(*lower, OverlayDir(info.id));
    }
  }

  // A start that will not run: it waits for its image no more.
  WorkloadReport FailStart(const WorkloadCommand& c, std::string_view why) {
    pulling.erase(c.workload_id);
    pulled_reported.erase(c.workload_id);
    return ErrorReport(c.workload_id, WorkloadRunState::kFailed, "image " + c.spec.image + ": " + std::string(why));
  }

  // A start whose image is cached runs now; one being fetched waits.
  WorkloadReport StartWithImage(const WorkloadCommand& c) {
    const std::string& digest = c.spec.image_digest;
    if (!images) return FailStart(c, "this node cannot run images: " + images_error);
    // A pull this start was waiting on failed (a digest mismatch, an error
    // from the GPU peer): the start fails with it. Only a new start fetches
    // again (Want() restarts a failed image from byte 0).
    if (const ImageProgress waited = images->Progress(digest);
        pulling.contains(c.workload_id) && waited.state == ImageProgress::State::kFailed) {
      return FailStart(c, waited.error);
    }
    if (Status st = images->Want(digest, c.spec.image_bytes); !st.ok()) return FailStart(c, st.message());
    const ImageProgress p = images->Progress(digest);
    if (p.state == ImageProgress::State::kFetching && !fetch_started.contains(digest)) {
      fetch_started[digest] = {c.spec.image, clock->Now()};
    }
    if (auto it = fetch_started.find(digest); it != fetch_started.end() && p.state != ImageProgress::State::kFetching) {
      if (p.state == ImageProgress::State::kReady) {
        fetch_timings.push_back({it->second.first, digest, p.total_bytes,
                                 mesh::Nanos(clock->Now() - it->second.second).count() / 1e6});
      }
      fetch_started.erase(it);
    }
    if (p.state == ImageProgress::State::kFailed) return FailStart(c, p.error);  // e.g. a resumed .partial
    if (p.state != ImageProgress::State::kReady) {
      pulling[c.workload_id] = c;
      watching = true;
      return PullingReport(c.workload_id, p);
    }
    pulling.erase(c.workload_id);
    pulled_reported.erase(c.workload_id);
    auto spec = Translate(c.workload_id, c.spec);
    if (!spec.ok()) return ErrorReport(c.workload_id, WorkloadRunState::kFailed, spec.status().message());
    auto root = MountWorkloadRoot(c.workload_id, digest);
    if (!root.ok()) return FailStart(c, root.status().message());
    spec->image = *root;
    auto id = executor->Start(std::move(*spec));
    if (!id.ok()) {
      UnmountWorkloadRoot(c.workload_id, digest);
      return ErrorReport(c.workload_id, WorkloadRunState::kFailed, id.status().message());
    }
    cpu[*id] = {0, clock->Now(), 0};
    return Current(*id);
  }

  // Pulls that finished, failed or moved on since the last report.
  void PollPulls(WorkloadStatusMsg& out) {
    if (!images) return;
    images->Poll();
    for (auto it = pulling.begin(); it != pulling.end();) {
      const WorkloadCommand c = it->second;
      const ImageProgress p = images->Progress(c.spec.image_digest);
      ++it;
      if (p.state != ImageProgress::State::kFetching) {
        out.workloads.push_back(StartWithImage(c));
      } else if (p.total_bytes > 0 &&
                 p.have_bytes * 20 / p.total_bytes != pulled_reported[c.workload_id] * 20 / p.total_bytes) {
        // Every 5%: each report is a durable write on the GPU peer.
        out.workloads.push_back(PullingReport(c.workload_id, p));
      }
    }
  }

  // Whether a running workload's process has ended, without reaping it (the
  // executor does that). A re-adopted process is not our child: it is gone
  // once its reaper (init) has reaped it. Pid reuse within one full-poll
  // interval would only delay the report to the next full poll, which
  // checks the process's start time.
  bool SomethingEnded() const {
    for (pid_t pid : running_pids) {
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
        if (info.si_pid != 0) return true;
      } else if (errno == ECHILD && ::kill(pid, 0) != 0 && errno == ESRCH) {
        return true;
      }
    }
    return false;
  }

  WorkloadReport Report(const ex::WorkloadInfo& info) {
    const ReportKey key = KeyOf(info);
    WorkloadReport r;
    r.workload_id = info.id;
    r.state = key.state;
    r.pid = key.pid;
    r.exit_code = key.exit_code;
    r.signal = key.signal;
    r.oom_killed = key.oom_killed;
    r.restarts = key.restarts;
    r.started_ns = info.started_wall_ns;
    if (info.state == ex::WorkloadState::kRunning) {
      r.memory_bytes = static_cast<std::int64_t>(info.stats.memory_current);
      // CPU use between the counter readings of this workload's previous
      // report and this one (the cgroup's cumulative counter; 0 on the null
      // backend). A report without a newer reading repeats the last figure.
      CpuSample& sample = cpu[info.id];
      if (stats_at > sample.at) {
        if (sample.at != mesh::MonoTime{} && info.stats.cpu_usage_ns >= sample.usage_ns) {
          const double used = static_cast<double>(info.stats.cpu_usage_ns - sample.usage_ns);
          const double wall = static_cast<double>(mesh::Nanos(stats_at - sample.at).count());
          sample.percent = 100.0 * used / wall;
        }
        sample.usage_ns = info.stats.cpu_usage_ns;
        sample.at = stats_at;
      }
      r.cpu_percent = sample.percent;
    } else {
      cpu.erase(info.id);
    }
    reported[info.id] = key;
    return r;
  }

  WorkloadReport Current(std::string_view id) {
    auto info = executor->Get(id);
    if (!info.ok()) return ErrorReport(id, WorkloadRunState::kUnknown, info.status().message());
    return Report(*info);
  }

  void Forget(std::string_view id) {
    if (auto it = reported.find(id); it != reported.end()) reported.erase(it);
    if (auto it = cpu.find(id); it != cpu.end()) cpu.erase(it);
    if (auto it = pulled_reported.find(id); it != pulled_reported.end()) pulled_reported.erase(it);
  }

  WorkloadReport Start(const WorkloadCommand& c) {
    if (c.workload_id.empty()) {
      return ErrorReport(c.workload_id, WorkloadRunState::kFailed,
                         "start workload: no workload id");
    }
    if (removing.contains(c.workload_id)) {
      // Reported as restarting: it runs again as soon as the old copy is gone.
      start_after_remove[c.workload_id] = c;
      WorkloadReport r = Current(c.workload_id);
      r.state = WorkloadRunState::kBackoff;
      return r;
    }
    // Idempotent: the GPU peer resends a start it is not sure arrived.
    if (executor->Get(c.workload_id).ok()) return Current(c.workload_id);
    if (!c.spec.image_digest.empty()) return StartWithImage(c);
    auto spec = Translate(c.workload_id, c.spec);
    if (!spec.ok())
      return ErrorReport(c.workload_id, WorkloadRunState::kFailed, spec.status().message());
    auto id = executor->Start(std::move(*spec));
    if (!id.ok())
      return ErrorReport(c.workload_id, WorkloadRunState::kFailed, id.status().message());
    // Its counters start at 0 now, not at the last reading of the others.
    cpu[*id] = {0, clock->Now(), 0};
    return Current(*id);
  }

  WorkloadStatusMsg Handle(const WorkloadCommand& c) {
    WorkloadStatusMsg out;
    out.request_id = c.request_id;
    if (!executor) {
      const auto state =
          c.op == WorkloadOp::kStart ? WorkloadRunState::kFailed : WorkloadRunState::kUnknown;
      out.workloads.push_back(ErrorReport(c.workload_id, state, unavailable_reason));
      return out;
    }
    const std::string& id = c.workload_id;
    // The latest command wins: a stop or remove cancels a start still waiting.
    if (c.op == WorkloadOp::kStop || c.op == WorkloadOp::kRemove) {
      start_after_remove.erase(id);
      if (pulling.erase(id) != 0) {
        // Never started: nothing to stop. The fetch goes on (other
        // workloads may want the image; the cache keeps it for later).
        Forget(id);
        out.workloads.push_back(ErrorReport(
            id, c.op == WorkloadOp::kStop ? WorkloadRunState::kStopped : WorkloadRunState::kUnknown,
            "stopped while pulling its image"));
        Refresh(executor->List());
        return out;
      }
    }
    switch (c.op) {
      case WorkloadOp::kReport:
        break;  // handled by the caller
      case WorkloadOp::kStart:
        out.workloads.push_back(Start(c));
        break;
      case WorkloadOp::kStop: {
        if (!executor->Get(id).ok()) {
          out.workloads.push_back(Current(id));
          break;
        }
        // Never blocks the agent's loop (a pid 1 in its own namespace
        // ignores SIGTERM and would hold it for the whole grace period).
        if (Status st = executor->RequestStop(id); !st.ok()) out.error = OneLine(st.message());
        out.workloads.push_back(Current(id));
        break;
      }
      case WorkloadOp::kRemove: {
        if (!executor->Get(id).ok()) {
          out.workloads.push_back(Current(id));
          break;
        }
        // Stopped without blocking; the record goes once the process has
        // ended (Poll). The answer is kStopped (or how it ended by itself);
        // afterwards the id is unknown here.
        Status st = executor->RequestStop(id);
        if (!st.ok()) out.error = OneLine(st.message());
        out.workloads.push_back(Current(id));
        removing.insert(id);
        RemoveEnded();
        break;
      }
      case WorkloadOp::kLogs: {
        auto info = executor->Get(id);
        out.workloads.push_back(Current(id));
        if (!info.ok()) break;
        const std::size_t max = c.log_bytes == 0
                                    ? kMaxLogReplyBytes
                                    : std::min<std::size_t>(c.log_bytes, kMaxLogReplyBytes);
        out.logs = ReadTail(info->log_path, max);
        // Just rotated: the rest comes from the previous file.
        if (out.logs.size() < max)
          out.logs = ReadTail(info->log_path + ".1", max - out.logs.size()) + out.logs;
        break;
      }
    }
    Refresh(executor->List());
    return out;
  }

  WorkloadStatusMsg FullReport() {
    WorkloadStatusMsg out;
    out.full = true;
    if (!executor) {
      out.error = OneLine("this node cannot run workloads: " + unavailable_reason);
      return out;
    }
    for (const ex::WorkloadInfo& info : executor->List()) out.workloads.push_back(Report(info));
    if (images) {
      for (const auto& [id, c] : pulling) {
        out.workloads.push_back(PullingReport(id, images->Progress(c.spec.image_digest)));
      }
      for (const CachedImage& i : images->List()) {
        if (i.state == ImageProgress::State::kReady) out.images.push_back(i.digest);
      }
    }
    return out;
  }

  void RemoveEnded() {
    for (auto it = removing.begin(); it != removing.end();) {
      auto info = executor->Get(*it);
      if (info.ok() && info->state != ex::WorkloadState::kExited) {
        ++it;
        continue;
      }
      if (info.ok() && executor->Remove(*it).ok()) {
        Forget(*it);
        if (!info->spec.image_digest.empty()) UnmountWorkloadRoot(*it, info->spec.image_digest);
      }
      const std::string id = *it;
      it = removing.erase(it);
      if (auto start = start_after_remove.extract(id)) {
        (void)Start(start.mapped());
        reported.erase(id);        // so that the next Poll reports it
        last_full_poll.reset();    // and is due at once
      }
    }
  }

  std::optional<WorkloadStatusMsg> Poll() {
    if (!executor) return std::nullopt;
    const mesh::MonoTime now = clock->Now();
    const bool due = !last_full_poll || any_backoff || now - *last_full_poll >= kFullPollInterval ||
                     SomethingEnded();
    WorkloadStatusMsg out;
    PollPulls(out);
    if (!due) {
      if (out.workloads.empty()) return std::nullopt;
      Refresh(executor->List());
      return out;
    }
    last_full_poll = now;
    // A failure here concerns one workload's bookkeeping (a waitpid error);
    // what the others did is still reported below.
    (void)executor->Poll();
    RemoveEnded();
    stats_at = now;
    std::vector<ex::WorkloadInfo> all = executor->List();
    Refresh(all);
    for (const ex::WorkloadInfo& info : all) {
      auto it = reported.find(info.id);
      const bool just_started = std::any_of(out.workloads.begin(), out.workloads.end(),
                                            [&](const WorkloadReport& r) { return r.workload_id == info.id; });
      if (!just_started && (it == reported.end() || !(it->second == KeyOf(info))))
        out.workloads.push_back(Report(info));
    }
    if (reported.size() > all.size()) {
      for (auto it = reported.begin(); it != reported.end();) {
        const bool gone = !pulling.contains(it->first) &&
            std::none_of(all.begin(), all.end(), [&](const auto& i) { return i.id == it->first; });
        if (gone) cpu.erase(it->first);
        it = gone ? reported.erase(it) : std::next(it);
      }
    }
    if (out.workloads.empty()) return std::nullopt;
    return out;
  }
};

WorkloadHost::WorkloadHost(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkloadHost::~WorkloadHost() = default;

Result<std::unique_ptr<WorkloadHost>> WorkloadHost::Open(WorkloadHostOptions options) {
  if (options.state_dir.empty())
    return Status::InvalidArgument("open workload host", "no state dir");
  auto impl = std::make_unique<Impl>();
  impl->clock = options.clock != nullptr ? options.clock : &mesh::SystemClock::Get();
  if (options.executor) {
    impl->executor = std::move(options.executor);
  } else {
    auto backend = ex::MakeHostCgroupBackend();
    if (!backend.ok()) {
      impl->unavailable_reason = OneLine(backend.status().message());
    } else {
      ex::ExecutorOptions eo;
      eo.state_dir = options.state_dir + "/executor";
      eo.node_name = options.node_name;
      eo.images_dir =
          options.images_dir.empty() ? options.state_dir + "/images" : options.images_dir;
      eo.cgroups = std::move(*backend);
      eo.clock = options.clock;
      auto executor = ex::Executor::Open(std::move(eo));
      if (executor.ok()) {
        impl->executor = std::move(*executor);
      } else {
        impl->unavailable_reason = OneLine(executor.status().message());
      }
    }
  }
  if (impl->executor) {
    ImageCacheOptions io;
    io.dir = options.state_dir + "/image-cache";
    io.mount_dir = options.state_dir + "/image-mounts";
    io.capacity_bytes = options.image_cache_bytes;
    io.clock = impl->clock;
    io.mount = options.mount_images;
    impl->rootfs_dir = options.state_dir + "/rootfs";
    if (Status st = mesh::EnsureDirectory(impl->rootfs_dir, 0700); !st.ok()) {
      std::fprintf(stderr, "swarmlet: WARNING: %s\n", st.message().c_str());
    }
    auto cache = ImageCache::Open(std::move(io));
    if (cache.ok()) {
      impl->images = std::move(*cache);
    } else {
      impl->images_error = OneLine(cache.status().message());
      std::fprintf(stderr, "swarmlet: WARNING: no image cache: %s\n", impl->images_error.c_str());
    }
    impl->Readopt();
    impl->Refresh(impl->executor->List());
  }
  return std::unique_ptr<WorkloadHost>(new WorkloadHost(std::move(impl)));
}

bool WorkloadHost::available() const { return impl_->executor != nullptr; }
const std::string& WorkloadHost::unavailable_reason() const { return impl_->unavailable_reason; }
bool WorkloadHost::watching() const { return impl_->watching; }

WorkloadStatusMsg WorkloadHost::Handle(const WorkloadCommand& command) {
  if (command.op == WorkloadOp::kReport) {
    WorkloadStatusMsg out = impl_->FullReport();
    out.request_id = command.request_id;
    return out;
  }
  return impl_->Handle(command);
}

std::optional<WorkloadStatusMsg> WorkloadHost::Poll() { return impl_->Poll(); }
WorkloadStatusMsg WorkloadHost::FullReport() { return impl_->FullReport(); }

std::map<WorkloadRunState, int> WorkloadHost::CountByState() const {
  std::map<WorkloadRunState, int> counts;
  if (!impl_->executor) return counts;
  for (const ex::WorkloadInfo& info : impl_->executor->List()) ++counts[KeyOf(info).state];
  if (!impl_->pulling.empty()) counts[WorkloadRunState::kPulling] += static_cast<int>(impl_->pulling.size());
  return counts;
}

std::vector<ImageFetch> WorkloadHost::TakeImageRequests() {
  if (!impl_->images) return {};
  return impl_->images->TakeRequests();
}

std::vector<WorkloadHost::ImageFetchTiming> WorkloadHost::TakeImageFetchTimings() {
  return std::exchange(impl_->fetch_timings, {});
}

void WorkloadHost::OnImageChunk(const ImageChunk& chunk) {
  if (impl_->images) impl_->images->OnChunk(chunk);
}

}  // namespace swarmlet
