#include "swarmlet/executor/executor.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <msgpack.hpp>
#include <thread>

#include "fd.h"

namespace swarmlet::executor {

using mesh::Result;
using mesh::Status;

std::chrono::milliseconds BackoffDelay(const RestartPolicy& policy, int restarts_done) {
  auto delay = policy.initial_backoff;
  for (int i = 0; i < restarts_done && delay < policy.max_backoff; ++i) delay *= 2;
  return std::min(delay, policy.max_backoff);
}

Result<RestartPolicy> ParseRestartPolicy(std::string_view text) {
  RestartPolicy policy;
  if (text == "never" || text == "no") return policy;
  if (text == "always" || text == "unless-stopped") {
    policy.mode = text == "always" ? RestartMode::kAlways : RestartMode::kUnlessStopped;
    return policy;
  }
  if (text.rfind("on-failure", 0) == 0) {
    policy.mode = RestartMode::kOnFailure;
    std::string_view rest = text.substr(10);
    if (rest.empty()) return policy;
    if (rest[0] == ':' && rest.size() > 1) {
      int max = 0;
      bool ok = true;
      for (char c : rest.substr(1)) {
        if (c < '0' || c > '9' || max > 100000) ok = false;
        max = max * 10 + (c - '0');
      }
      if (ok && max > 0) {
        policy.max_restarts = max;
        return policy;
      }
    }
  }
  return Status::InvalidArgument("--restart \"" + std::string(text) + "\"",
                                 "expected never, on-failure, on-failure:N, always or unless-stopped");
}

std::string_view WorkloadStateName(WorkloadState state) {
  switch (state) {
    case WorkloadState::kRunning: return "running";
    case WorkloadState::kBackoff: return "restarting";
    case WorkloadState::kExited: return "exited";
  }
  return "unknown";
}

namespace {

// The persisted form of a workload (msgpack map; field names are the
// schema, new fields must be optional for old readers).
struct WorkloadRecord {
  int version = 1;
  std::string id, name, cwd, log_path, image;
  std::vector<std::string> argv, env, volumes;
  double cpu = 0;                  // 0: none
  std::uint64_t memory = 0;        // 0: none
  std::int64_t pids = 0;           // 0: none
  std::string cpuset;              // "": none
  int restart_mode = 0;
  int max_restarts = 0;
  std::int64_t initial_backoff_ms = 1000, max_backoff_ms = 60000;
  int state = 0;
  std::int64_t pid = 0;
  std::uint64_t start_time = 0;
  int restarts = 0;
  bool has_exit = false, exit_known = true, oom_killed = false;
  int exit_code = 0, exit_signal = 0;
  std::uint64_t oom_baseline = 0;
  std::int64_t started_wall_ns = 0;
  bool stop_requested = false;
  std::uint64_t cpu_usage_ns = 0, memory_peak = 0, oom_kills = 0;
  std::string image_digest;
  std::int64_t uid = -1, gid = -1;
  std::vector<std::uint32_t> groups;
  int stop_signal = 0;
  std::string boot_id;  // of the current (or last) run
  bool privileged = false;  // absent in records before issue 17: confined
  MSGPACK_DEFINE_MAP(version, id, name, cwd, log_path, image, volumes, argv, env, cpu, memory, pids, cpuset,
                     restart_mode, max_restarts, initial_backoff_ms, max_backoff_ms, state, pid,
                     start_time, restarts, has_exit, exit_known, oom_killed, exit_code,
                     exit_signal, oom_baseline, started_wall_ns, stop_requested, cpu_usage_ns,
                     memory_peak, oom_kills, image_digest, uid, gid, groups, stop_signal, boot_id,
                     privileged)
};

std::string NewId() {
  unsigned char bytes[6];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    // getrandom only fails before the pool is seeded; time + pid still
    // makes a collision with a live workload (AlreadyExists) unlikely.
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count() ^ ::getpid();
    for (std::size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<unsigned char>(t >> (8 * i));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

int StopSignalOf(const WorkloadSpec& spec) {
  return spec.stop_signal > 0 && spec.stop_signal < NSIG ? spec.stop_signal : SIGTERM;
}

bool IsWorkloadId(std::string_view id) {
  if (id.size() != 12) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

struct Executor::Impl {
  struct Workload {
    WorkloadInfo info;
    std::unique_ptr<WorkloadCgroup> cgroup;
    std::uint64_t oom_baseline = 0;  // oom_kills before the current run
    mesh::MonoTime next_start{};     // kBackoff: when to respawn
    std::string boot_id;             // of the current (or last) run
    // RequestStop(): when Poll() escalates to SIGKILL.
    std::optional<std::chrono::steady_clock::time_point> kill_at;
  };

  ExecutorOptions options;
  std::string boot_id;  // this boot of the node
  const mesh::Clock* clock = nullptr;
  UniqueFd lock;
  std::map<std::string, Workload, std::less<>> workloads;

  std::string DataDir(const std::string& id) const { return options.state_dir + "/data/" + id; }

  std::string RecordPath(const std::string& id) const {
    return options.state_dir + "/workloads/" + id + ".msgpack";
  }

  Status Persist(const Workload& w, bool durable = false) const {
    WorkloadRecord r;
    const WorkloadInfo& i = w.info;
    r.id = i.id;
    r.name = i.spec.name;
    r.cwd = i.spec.cwd;
    r.image = i.spec.image;
    r.volumes = i.spec.volumes;
    r.log_path = i.log_path;
    r.argv = i.spec.argv;
    r.env = i.spec.env;
    r.cpu = i.spec.limits.cpu_cores.value_or(0);
    r.memory = i.spec.limits.memory_bytes.value_or(0);
    r.pids = i.spec.limits.pids_max.value_or(0);
    r.cpuset = i.spec.limits.cpuset.value_or("");
    r.restart_mode = static_cast<int>(i.spec.restart.mode);
    r.max_restarts = i.spec.restart.max_restarts;
    r.initial_backoff_ms = i.spec.restart.initial_backoff.count();
    r.max_backoff_ms = i.spec.restart.max_backoff.count();
    r.image_digest = i.spec.image_digest;
    r.uid = i.spec.uid;
    r.gid = i.spec.gid;
    r.groups = i.spec.groups;
    r.stop_signal = i.spec.stop_signal;
    r.privileged = i.spec.privileged;
    r.boot_id = w.boot_id;
    r.state = static_cast<int>(i.state);
    r.pid = i.pid;
    r.start_time = i.start_time;
    r.restarts = i.restarts;
    r.has_exit = i.last_exit.has_value();
    if (i.last_exit) {
      r.exit_known = i.last_exit->code_known;
      r.exit_code = i.last_exit->exit_code;
      r.exit_signal = i.last_exit->signal;
      r.oom_killed = i.last_exit->oom_killed;
    }
    r.oom_baseline = w.oom_baseline;
    r.started_wall_ns = i.started_wall_ns;
    r.stop_requested = i.stop_requested;
    r.cpu_usage_ns = i.stats.cpu_usage_ns;
    r.memory_peak = i.stats.memory_peak;
    r.oom_kills = i.stats.oom_kills;
    msgpack::sbuffer buf;
    msgpack::pack(buf, r);
    // Transitions are not durable (no fdatasync): a record must survive a
    // swarmlet restart, which the page cache guarantees; an fdatasync per
    // transition would cost ~10 ms on an SD card (and wear it). The first
    // record of a workload that restarts by policy is (`durable`): after a
    // power cut the node starts it again from that record.
    return WriteFileAtomic(RecordPath(i.id), std::string_view(buf.data(), buf.size()), durable);
  }

  static Result<Workload> Load(const std::string& path) {
    auto bytes = ReadFileAt(AT_FDCWD, path);
    if (!bytes.ok()) return bytes.status();
    WorkloadRecord r;
    try {
      msgpack::object_handle oh = msgpack::unpack(bytes->data(), bytes->size());
      oh.get().convert(r);
    } catch (const std::exception& e) {
      return Status::Corrupt("read workload record " + path, e.what());
    }
    Workload w;
    WorkloadInfo& i = w.info;
    i.id = r.id;
    i.spec.id = r.id;
    i.spec.name = r.name;
    i.spec.cwd = r.cwd;
    i.spec.image = r.image;
    i.spec.volumes = r.volumes;
    i.log_path = r.log_path;
    i.spec.argv = r.argv;
    i.spec.env = r.env;
    if (r.cpu > 0) i.spec.limits.cpu_cores = r.cpu;
    if (r.memory > 0) i.spec.limits.memory_bytes = r.memory;
    if (r.pids > 0) i.spec.limits.pids_max = r.pids;
    if (!r.cpuset.empty()) i.spec.limits.cpuset = r.cpuset;
    i.spec.restart.mode = static_cast<RestartMode>(std::clamp(r.restart_mode, 0, 3));
    i.spec.restart.max_restarts = r.max_restarts;
    i.spec.restart.initial_backoff = std::chrono::milliseconds(r.initial_backoff_ms);
    i.spec.restart.max_backoff = std::chrono::milliseconds(r.max_backoff_ms);
    i.spec.image_digest = r.image_digest;
    i.spec.uid = r.uid;
    i.spec.gid = r.gid;
    i.spec.groups = r.groups;
    i.spec.stop_signal = r.stop_signal;
    i.spec.privileged = r.privileged;
    i.state = static_cast<WorkloadState>(std::clamp(r.state, 0, 2));
    i.pid = static_cast<pid_t>(r.pid);
    i.start_time = r.start_time;
    i.restarts = r.restarts;
    if (r.has_exit) {
      ExitStatus e;
      e.code_known = r.exit_known;
      e.exit_code = r.exit_code;
      e.signal = r.exit_signal;
      e.oom_killed = r.oom_killed;
      i.last_exit = e;
    }
    w.oom_baseline = r.oom_baseline;
    w.boot_id = r.boot_id;
    i.started_wall_ns = r.started_wall_ns;
    i.stop_requested = r.stop_requested;
    i.stats.cpu_usage_ns = r.cpu_usage_ns;
    i.stats.memory_peak = r.memory_peak;
    i.stats.oom_kills = r.oom_kills;
    if (i.id.empty() || !ValidateCgroupName("workload id", i.id).ok()) {
      return Status::Corrupt("read workload record " + path, "bad id");
    }
    return w;
  }

  // Spawns the current run of `w` into its (existing) cgroup.
  Status SpawnRun(Workload& w) {
    auto log_fd = OpenLogForAppend(w.info.log_path);
    if (!log_fd.ok()) return log_fd.status();
    UniqueFd log(*log_fd);
    SpawnRequest req;
    req.argv = w.info.spec.argv;
    req.env = w.info.spec.env;
    if (req.env.empty()) {
      req.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"};
    }
    req.cwd = w.info.spec.cwd;
    if (!w.info.spec.image.empty()) {
      req.rootfs = w.info.spec.image;
      req.hostname = w.info.id;
      req.data_dir = DataDir(w.info.id);
      for (const auto& v : w.info.spec.volumes) {
        const auto colon = v.find(':');
        req.volumes.emplace_back(v.substr(0, colon), v.substr(colon + 1));
      }
      if (::mkdir(req.data_dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus("mkdir", req.data_dir, errno);
      }
      req.uid = w.info.spec.uid;
      req.gid = w.info.spec.gid;
      req.groups.assign(w.info.spec.groups.begin(), w.info.spec.groups.end());
      req.confine = !w.info.spec.privileged;
      // A local image directory is shared by its runs: each gets a private
      // writable layer. A cluster image's root is already the workload's own
      // overlay (WorkloadHost). --privileged writes to the image as before.
      if (w.info.spec.image_digest.empty() && !w.info.spec.privileged) {
        req.scratch_dir = options.state_dir + "/scratch";
        if (::mkdir(req.scratch_dir.c_str(), 0700) != 0 && errno != EEXIST) {
          return ErrnoStatus("mkdir", req.scratch_dir, errno);
        }
      }
      // /data belongs to the image's user (a fresh one only: a restart keeps it).
      if (req.uid >= 0 || req.gid >= 0) {
        (void)::chown(req.data_dir.c_str(), static_cast<uid_t>(req.uid), static_cast<gid_t>(req.gid));
      }
    }
    req.cgroup_procs_fds = w.cgroup->procs_fds();
    req.stdout_fd = log.get();
    req.stderr_fd = log.get();
    if (auto stats = w.cgroup->ReadStats(); stats.ok()) w.oom_baseline = stats->oom_kills;
    auto pid = Spawn(req);
    if (!pid.ok()) return pid.status();
    w.info.pid = *pid;
    w.boot_id = boot_id;
    auto start = ProcessStartTime(*pid);
    w.info.start_time = start.ok() ? *start : 0;
    w.info.state = WorkloadState::kRunning;
    return Status::Ok();
  }

  // Records how a run ended and decides what comes next.
  void HandleExit(Workload& w, ExitStatus exit) {
    if (!w.cgroup) {
      w.info.last_exit = exit;
      Finish(w);
      (void)Persist(w);
      return;
    }
    if (auto stats = w.cgroup->ReadStats(); stats.ok()) {
      w.info.stats = *stats;
      if (stats->oom_kills > w.oom_baseline) exit.oom_killed = true;
    }
    w.info.last_exit = exit;
    w.info.pid = 0;
    w.info.start_time = 0;
    const RestartPolicy& p = w.info.spec.restart;
    const bool wanted = p.mode == RestartMode::kOnFailure ? !exit.success() : p.mode != RestartMode::kNever;
    const bool restart = !w.info.stop_requested && wanted &&
                         (p.max_restarts == 0 || w.info.restarts < p.max_restarts);
    if (restart) {
      w.info.state = WorkloadState::kBackoff;
      w.next_start = clock->Now() + BackoffDelay(p, w.info.restarts);
    } else {
      Finish(w);
    }
    (void)Persist(w);
  }

  // The workload has ended for good: its cgroup goes (and with it any
  // process the main one left behind).
  void Finish(Workload& w) {
    w.info.state = WorkloadState::kExited;
    w.info.pid = 0;
    if (w.cgroup) {
      (void)w.cgroup->Remove(std::chrono::milliseconds(2000));
    }
  }

  // The node's cgroup parents stay while this executor lives (creating and
  // removing them per workload cost ~2 ms per cycle on v1) and go with it
  // when no workload is left in them.
  void RemoveNodeIfIdle() {
    for (const auto& [id, other] : workloads) {
      if (other.info.state != WorkloadState::kExited) return;
    }
    options.cgroups->RemoveNodeIfUnused(options.node_name);
  }

  Status PollOne(Workload& w) {
    if (w.info.state == WorkloadState::kRunning && w.kill_at && std::chrono::steady_clock::now() >= *w.kill_at) {
      ::kill(w.info.pid, SIGKILL);
      w.kill_at.reset();
    }
    if (w.info.state == WorkloadState::kRunning) {
      auto ended = WaitProcess(w.info.pid, std::chrono::milliseconds(0));
      if (!ended.ok()) return ended.status();
      if (ended->has_value()) {
        HandleExit(w, **ended);
      } else if (w.cgroup) {
        if (auto stats = w.cgroup->ReadStats(); stats.ok()) w.info.stats = *stats;
      }
    }
    if (w.info.state == WorkloadState::kBackoff && !w.cgroup) Finish(w);
    if (w.info.state == WorkloadState::kBackoff && clock->Now() >= w.next_start) {
      ++w.info.restarts;
      Status st = SpawnRun(w);
      if (!st.ok()) {
        // The command cannot start at all (deleted binary...): retrying
        // would fail the same way.
        ExitStatus failed;
        failed.exit_code = 127;
        w.info.last_exit = failed;
        Finish(w);
      }
      (void)Persist(w);
    }
    if (w.info.state == WorkloadState::kRunning) {
      (void)RotateLogIfNeeded(w.info.log_path, options.log);
    }
    return Status::Ok();
  }

  Result<Workload*> Find(std::string_view id) {
    auto it = workloads.find(id);
    if (it == workloads.end()) {
      return Status::NotFound("workload " + std::string(id), "no such workload on this node");
    }
    return &it->second;
  }

  // Re-adoption, see executor.h.
  Status Adopt() {
    const std::string dir = options.state_dir + "/workloads";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("open", dir, errno);
    std::vector<std::string> files;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 8 && name.ends_with(".msgpack")) files.push_back(dir + "/" + name);
    }
    ::closedir(d);
    for (const auto& path : files) {
      auto loaded = Load(path);
      if (!loaded.ok()) continue;  // a torn or foreign file: skip, never crash
      Workload w = std::move(*loaded);
      // Docker's `always`: a workload stopped before a reboot of the node
      // starts again after it (unless-stopped stays stopped).
      const bool rebooted = !w.boot_id.empty() && w.boot_id != boot_id;
      if (rebooted && w.info.state == WorkloadState::kExited && w.info.stop_requested &&
          w.info.spec.restart.mode == RestartMode::kAlways) {
        w.info.stop_requested = false;
        w.info.state = WorkloadState::kBackoff;
      }
      if (w.info.state != WorkloadState::kExited) {
        auto cg = options.cgroups->Open(options.node_name, w.info.id, w.info.spec.limits);
        if (!cg.ok()) {
          // The cgroup is gone (a reboot): recreate it so a restart policy
          // can still apply its limits.
          cg = options.cgroups->Create(options.node_name, w.info.id, w.info.spec.limits);
        }
        if (cg.ok()) w.cgroup = std::move(*cg);
      }
      if (w.info.state == WorkloadState::kRunning) {
        auto start = ProcessStartTime(w.info.pid);
        const bool alive = w.cgroup && start.ok() && *start == w.info.start_time;
        if (!alive) {
          ExitStatus unknown;
          unknown.code_known = false;
          HandleExit(w, unknown);
          // Ended while no swarmlet watched (a reboot, a kill of the
          // process): it did not fail on its own, so no backoff.
          if (w.info.state == WorkloadState::kBackoff) w.next_start = clock->Now();
        }
      } else if (w.info.state == WorkloadState::kBackoff) {
        if (w.cgroup) {
          w.next_start = clock->Now();
        } else {
          Finish(w);
        }
      }
      workloads.emplace(w.info.id, std::move(w));
    }
    // Orphans: cgroups under our node that no live record owns.
    for (const auto& name : options.cgroups->List(options.node_name)) {
      auto it = workloads.find(name);
      if (it != workloads.end() && it->second.info.state != WorkloadState::kExited) continue;
      // Limits naming every controller, so every hierarchy is searched.
      ResourceLimits all;
      all.cpu_cores = 1;
      all.pids_max = 1;
      all.cpuset = "0";
      auto cg = options.cgroups->Open(options.node_name, name, all);
      if (cg.ok()) (void)(*cg)->Remove(std::chrono::milliseconds(2000));
    }
    RemoveNodeIfIdle();
    return Status::Ok();
  }
};

Executor::Executor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Executor::~Executor() {
  if (impl_) impl_->RemoveNodeIfIdle();
}

Result<std::unique_ptr<Executor>> Executor::Open(ExecutorOptions options) {
  if (!options.cgroups) return Status::InvalidArgument("open executor", "no cgroup backend");
  MESH_RETURN_IF_ERROR(ValidateCgroupName("node name", options.node_name));
  auto impl = std::make_unique<Impl>();
  impl->clock = options.clock != nullptr ? options.clock : &mesh::SystemClock::Get();
  if (options.node_cpus <= 0) options.node_cpus = NodeCpuCount();
  if (options.state_dir.empty()) return Status::InvalidArgument("open executor", "no state dir");
  // mkdir -p: each prefix of the state dir, then its two subdirectories.
  std::vector<std::string> dirs;
  for (std::size_t slash = options.state_dir.find('/', 1); slash != std::string::npos;
       slash = options.state_dir.find('/', slash + 1)) {
    dirs.push_back(options.state_dir.substr(0, slash));
  }
  for (const std::string& dir :
       {options.state_dir, options.state_dir + "/workloads", options.state_dir + "/logs",
        options.state_dir + "/data"}) {
    dirs.push_back(dir);
  }
  for (const std::string& dir : dirs) {
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", dir, errno);
  }
  const std::string lock_path = options.state_dir + "/lock";
  impl->lock.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!impl->lock.valid()) return ErrnoStatus("open", lock_path, errno);
  if (::flock(impl->lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Unavailable("lock " + lock_path, "another swarmlet uses this state directory");
    }
    return ErrnoStatus("lock", lock_path, errno);
  }
  impl->options = std::move(options);
  impl->boot_id = impl->options.boot_id;
  if (impl->boot_id.empty()) {
    auto id = ReadFileAt(AT_FDCWD, "/proc/sys/kernel/random/boot_id");
    if (id.ok()) impl->boot_id = id->substr(0, id->find('\n'));
  }
  MESH_RETURN_IF_ERROR(impl->Adopt());
  return std::unique_ptr<Executor>(new Executor(std::move(impl)));
}

Result<std::string> Executor::Start(WorkloadSpec spec) {
  Impl& m = *impl_;
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Status::InvalidArgument("start workload", "missing command");
  }
  MESH_RETURN_IF_ERROR(ValidateLimits(spec.limits, m.options.node_cpus));
  for (const auto& v : spec.volumes) {
    const auto colon = v.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= v.size() || v[colon + 1] != '/') {
      return Status::InvalidArgument("--volume \"" + v + "\"", "expected HOST:/PATH");
    }
    if (spec.image.empty()) {
      return Status::InvalidArgument("--volume \"" + v + "\"", "volumes need an image");
    }
  }
  if (!spec.image_digest.empty()) {
    // A mounted cluster image: the caller passes the workload's own root.
    if (spec.image.empty() || spec.image[0] != '/') {
      return Status::InvalidArgument("start workload", "image " + spec.image_digest + " has no root directory");
    }
  } else if (!spec.image.empty()) {
    auto rootfs = ResolveImage(m.options.images_dir, spec.image);
    if (!rootfs.ok()) return rootfs.status();
    spec.image = *rootfs;
  }
  if (spec.name.empty()) {
    const auto slash = spec.argv[0].rfind('/');
    spec.name = slash == std::string::npos ? spec.argv[0] : spec.argv[0].substr(slash + 1);
  }
  if (spec.id.empty()) {
    do {
      spec.id = NewId();
    } while (m.workloads.count(spec.id) != 0);
  } else if (!IsWorkloadId(spec.id)) {
    return Status::InvalidArgument("workload id \"" + spec.id + "\"",
                                   "expected 12 lowercase hex digits");
  } else if (m.workloads.count(spec.id) != 0) {
    return Status::AlreadyExists("start workload " + spec.id,
                                 "a workload with this id exists on this node");
  }
  Impl::Workload w;
  w.info.id = spec.id;
  w.info.spec = std::move(spec);
  w.info.log_path = m.options.state_dir + "/logs/" + w.info.id + ".log";
  w.info.started_wall_ns = m.clock->WallNs();
  auto cg = m.options.cgroups->Create(m.options.node_name, w.info.id, w.info.spec.limits);
  if (!cg.ok()) return cg.status();
  w.cgroup = std::move(*cg);
  Status st = m.SpawnRun(w);
  if (!st.ok()) {
    (void)w.cgroup->Remove(std::chrono::milliseconds(500));
    ::unlink(w.info.log_path.c_str());
    ::rmdir(m.DataDir(w.info.id).c_str());
    return st;
  }
  st = m.Persist(w, /*durable=*/w.info.spec.restart.mode != RestartMode::kNever);
  if (!st.ok()) {
    // Unrecorded, it would be an orphan after a restart: undo.
    (void)w.cgroup->Remove(std::chrono::milliseconds(2000));
    (void)WaitProcess(w.info.pid, std::chrono::milliseconds(1000));
    return st;
  }
  const std::string id = w.info.id;
  m.workloads.emplace(id, std::move(w));
  return id;
}

mesh::Status Executor::Poll() {
  Status result;
  for (auto& [id, w] : impl_->workloads) {
    Status st = impl_->PollOne(w);
    if (!st.ok() && result.ok()) result = st;
  }
  return result;
}

Result<WorkloadInfo> Executor::Wait(std::string_view id,
                                    std::optional<std::chrono::milliseconds> timeout) {
  auto found = impl_->Find(id);
  if (!found.ok()) return found.status();
  Impl::Workload& w = **found;
  const auto deadline = std::chrono::steady_clock::now() +
                        timeout.value_or(std::chrono::hours(24 * 365 * 10));
  // The log check interval: the cap is enforced this often while waiting.
  constexpr std::chrono::milliseconds kTick{100};
  for (;;) {
    MESH_RETURN_IF_ERROR(impl_->PollOne(w));
    if (w.info.state == WorkloadState::kExited) return w.info;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return Status::Timeout("wait for workload " + w.info.id, "still " +
                                                               std::string(WorkloadStateName(w.info.state)));
    }
    const auto slice = std::min<std::chrono::steady_clock::duration>(kTick, deadline - now);
    if (w.info.state == WorkloadState::kRunning) {
      auto ended = WaitProcess(w.info.pid, std::chrono::duration_cast<std::chrono::milliseconds>(slice));
      if (!ended.ok()) return ended.status();
      if (ended->has_value()) impl_->HandleExit(w, **ended);
    } else {
      std::this_thread::sleep_for(slice);
    }
  }
}

mesh::Status Executor::Stop(std::string_view id) {
  auto found = impl_->Find(id);
  if (!found.ok()) return found.status();
  Impl::Workload& w = **found;
  // An ended workload stays as it ended: stop_requested means "ended by Stop()".
  if (w.info.state == WorkloadState::kExited) return Status::Ok();
  w.info.stop_requested = true;
  if (w.info.state == WorkloadState::kBackoff) {
    impl_->Finish(w);
    return impl_->Persist(w);
  }
  if (w.info.state != WorkloadState::kRunning) return Status::Ok();
  ::kill(w.info.pid, StopSignalOf(w.info.spec));
  auto ended = WaitProcess(w.info.pid, impl_->options.stop_grace);
  if (!ended.ok()) return ended.status();
  if (!ended->has_value()) {
    ::kill(w.info.pid, SIGKILL);
    ended = WaitProcess(w.info.pid, std::nullopt);
    if (!ended.ok()) return ended.status();
  }
  impl_->HandleExit(w, ended->value_or(ExitStatus{}));
  return Status::Ok();
}

mesh::Status Executor::RequestStop(std::string_view id) {
  auto found = impl_->Find(id);
  if (!found.ok()) return found.status();
  Impl::Workload& w = **found;
  if (w.info.state == WorkloadState::kExited || w.info.stop_requested) return Status::Ok();
  w.info.stop_requested = true;
  if (w.info.state == WorkloadState::kBackoff) {
    impl_->Finish(w);
    return impl_->Persist(w);
  }
  ::kill(w.info.pid, StopSignalOf(w.info.spec));
  w.kill_at = std::chrono::steady_clock::now() + impl_->options.stop_grace;
  return impl_->Persist(w);
}

mesh::Status Executor::Remove(std::string_view id) {
  MESH_RETURN_IF_ERROR(Stop(id));
  auto it = impl_->workloads.find(id);
  if (it->second.cgroup) {
    MESH_RETURN_IF_ERROR(it->second.cgroup->Remove(std::chrono::milliseconds(2000)));
  }
  const std::string path = impl_->RecordPath(it->second.info.id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("unlink", path, errno);
  impl_->workloads.erase(it);
  return Status::Ok();
}

Result<WorkloadInfo> Executor::Get(std::string_view id) const {
  auto it = impl_->workloads.find(id);
  if (it == impl_->workloads.end()) {
    return Status::NotFound("workload " + std::string(id), "no such workload on this node");
  }
  return it->second.info;
}

std::vector<WorkloadInfo> Executor::List() const {
  std::vector<WorkloadInfo> out;
  for (const auto& [id, w] : impl_->workloads) out.push_back(w.info);
  return out;
}

const CgroupBackend& Executor::cgroups() const { return *impl_->options.cgroups; }

}  // namespace swarmlet::executor
