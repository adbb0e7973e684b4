#include "swarmlet/executor/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <charconv>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "fd.h"

namespace swarmlet::executor {
namespace {

using mesh::Result;
using mesh::Status;

constexpr const char* kTopName = "stratoswarm";

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n')) ++pos;
    std::size_t end = pos;
    while (end < text.size() && text[end] != ' ' && text[end] != '\n') ++end;
    if (end > pos) out.emplace_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status MkdirIfMissing(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return Status::Ok();
  return ErrnoStatus("mkdir", path, errno);
}

// rmdir of a parent that may still hold other workloads (then it stays).
bool RemoveParent(const std::string& path, bool fake_tree) {
  if (::rmdir(path.c_str()) == 0) return true;
  if (errno != ENOTEMPTY || !fake_tree) return false;
  // A fake tree: parents hold our cgroup.subtree_control files; they go
  // only when no child directory is left.
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return false;
  std::vector<std::string> files;
  bool has_children = false;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_type == DT_DIR && e->d_name[0] != '.') has_children = true;
    if (e->d_type == DT_REG) files.emplace_back(e->d_name);
  }
  ::closedir(dir);
  if (has_children) return false;
  for (const auto& f : files) ::unlink((path + "/" + f).c_str());
  return ::rmdir(path.c_str()) == 0;
}

// One hierarchy directory of a workload: <mount>/stratoswarm/<node>/<workload>.
struct WorkloadDir {
  std::string mount;
  std::vector<std::string> controllers;  // the ones this workload uses here
  std::string path;
  UniqueFd dir;    // O_PATH directory fd: every file is opened relative to it
  UniqueFd procs;  // cgroup.procs, O_WRONLY
};

class FsWorkloadCgroup final : public WorkloadCgroup {
 public:
  FsWorkloadCgroup(bool v2, bool create_files) : v2_(v2), create_files_(create_files) {}

  std::vector<WorkloadDir>& dirs() { return dirs_; }
  void Finish() {
    procs_fds_.clear();
    for (const auto& d : dirs_) procs_fds_.push_back(d.procs.get());
  }

  std::string Describe() const override {
    std::string out;
    for (const auto& d : dirs_) out += (out.empty() ? "" : " ") + d.path;
    return out;
  }
  const std::vector<int>& procs_fds() const override { return procs_fds_; }

  Result<CgroupStats> ReadStats() const override {
    CgroupStats stats;
    const auto read = [](const WorkloadDir& d, const char* file) -> std::string {
      auto text = ReadFileAt(d.dir.get(), file);
      return text.ok() ? *text : std::string();
    };
    const auto number = [](const std::string& text) {
      std::uint64_t v = 0;
      std::from_chars(text.data(), text.data() + text.size(), v);
      return v;
    };
    for (const auto& d : dirs_) {
      if (!d.dir.valid()) continue;
      if (v2_) {
        stats.cpu_usage_ns = ReadKeyedValue(read(d, "cpu.stat"), "usage_usec") * 1000;
        stats.memory_current = number(read(d, "memory.current"));
        stats.memory_peak = number(read(d, "memory.peak"));
        stats.oom_kills = ReadKeyedValue(read(d, "memory.events"), "oom_kill");
        continue;
      }
      if (Contains(d.controllers, "cpuacct")) stats.cpu_usage_ns = number(read(d, "cpuacct.usage"));
      if (Contains(d.controllers, "memory")) {
        stats.memory_current = number(read(d, "memory.usage_in_bytes"));
        stats.memory_peak = number(read(d, "memory.max_usage_in_bytes"));
        // "oom_kill N" exists since Linux 4.13.
        stats.oom_kills = ReadKeyedValue(read(d, "memory.oom_control"), "oom_kill");
      }
    }
    return stats;
  }

  Result<std::vector<pid_t>> Pids() const override {
    std::vector<pid_t> pids;
    for (const auto& d : dirs_) {
      if (!d.dir.valid()) continue;
      auto text = ReadFileAt(d.dir.get(), "cgroup.procs");
      if (!text.ok()) return text.status();
      for (const auto& word : SplitWords(*text)) {
        pid_t pid = 0;
        std::from_chars(word.data(), word.data() + word.size(), pid);
        if (pid > 0 && std::find(pids.begin(), pids.end(), pid) == pids.end()) pids.push_back(pid);
      }
    }
    return pids;
  }

  Status Remove(std::chrono::milliseconds kill_wait) override {
    const auto deadline = std::chrono::steady_clock::now() + kill_wait;
    for (;;) {
      auto pids = Pids();
      if (pids.ok() && pids->empty()) break;
      if (pids.ok()) {
        for (pid_t pid : *pids) ::kill(pid, SIGKILL);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::Timeout("remove cgroup " + Describe(),
                               "processes still running after SIGKILL");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    Status result;
    for (auto& d : dirs_) {
      d.procs.reset();
      d.dir.reset();
      if (d.path.empty()) continue;
      Status st = RemoveDir(d.path, deadline);
      if (st.ok()) {
        d.path.clear();
      } else if (result.ok()) {
        result = st;
      }
    }
    return result;
  }

 private:
  Status RemoveDir(const std::string& path, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return Status::Ok();
      const int err = errno;
      if (err == ENOTEMPTY && create_files_) {
        // A fake tree: the "kernel files" are ours to delete.
        if (DIR* dir = ::opendir(path.c_str())) {
          while (dirent* e = ::readdir(dir)) {
            if (e->d_type == DT_REG) ::unlinkat(::dirfd(dir), e->d_name, 0);
          }
          ::closedir(dir);
          continue;
        }
      }
      // EBUSY: a task that just died may still be leaving the cgroup.
      if (err != EBUSY || std::chrono::steady_clock::now() >= deadline) {
        return ErrnoStatus("rmdir", path, err);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  bool v2_;
  bool create_files_;
  std::vector<WorkloadDir> dirs_;
  std::vector<int> procs_fds_;
};

class CgroupFsBackend final : public CgroupBackend {
 public:
  CgroupFsBackend(CgroupFsOptions options, std::map<std::string, std::string> v1_mounts)
      : options_(std::move(options)),
        v2_(options_.mode == CgroupMode::kUnified),
        v1_mounts_(std::move(v1_mounts)),
        memory_available_(MemoryAvailable()) {}

  std::string name() const override {
    if (!v2_) return "cgroupfs v1";
    return options_.home.empty() ? "cgroupfs v2" : "cgroupfs v2 under " + options_.home;
  }

  Result<std::unique_ptr<WorkloadCgroup>> Create(std::string_view node, std::string_view workload,
                                                 const ResourceLimits& limits) override {
    MESH_RETURN_IF_ERROR(ValidateCgroupName("node name", node));
    MESH_RETURN_IF_ERROR(ValidateCgroupName("workload name", workload));
    if (limits.memory_bytes && !memory_available_) {
      return Status::Unavailable("memory limit " + FormatBytes(*limits.memory_bytes),
                                 std::string(kMemoryControllerHint));
    }
    auto cg = std::make_unique<FsWorkloadCgroup>(v2_, options_.create_files);
    for (auto& [mount, controllers] : Layout(limits)) {
      WorkloadDir d;
      d.mount = mount;
      d.controllers = controllers;
      cg->dirs().push_back(std::move(d));
    }
    // Removes whatever was created if a later step fails.
    struct Undo {
      FsWorkloadCgroup* cg;
      ~Undo() {
        if (cg) (void)cg->Remove(std::chrono::milliseconds(500));
      }
    } undo{cg.get()};

    for (auto& d : cg->dirs()) {
      const std::string path = d.mount + "/" + kTopName + "/" + std::string(node) + "/" +
                               std::string(workload);
      // Fast path: the node's parents exist (they stay while it has
      // workloads), so one mkdir per hierarchy. ENOENT: make them, retry;
      // the retry loop covers a RemoveNodeIfUnused() racing with us.
      bool parents_done = false;
      for (int attempt = 0;; ++attempt) {
        if (::mkdir(path.c_str(), 0755) == 0) break;
        const int err = errno;
        if (err == EEXIST) {
          return Status::AlreadyExists("create cgroup " + path, "a workload of that name exists");
        }
        if (err != ENOENT || attempt == 3) return ErrnoStatus("mkdir", path, err);
        MESH_RETURN_IF_ERROR(EnsureParents(d, node));
        parents_done = true;
      }
      d.path = path;
      d.dir.reset(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!d.dir.valid()) return ErrnoStatus("open", path, errno);
      // v2: existing parents may not enable a controller this workload is
      // the first to need; enabling it in the parents makes its files
      // appear in the new directory too.
      if (v2_ && !parents_done && !HasControllers(d)) {
        MESH_RETURN_IF_ERROR(EnsureParents(d, node));
      }
    }

    std::string cpuset_mems = "0";
    if (!v2_ && limits.cpuset) {
      if (const WorkloadDir* d = Find(*cg, "cpuset")) {
        auto mems = ReadFileAt(AT_FDCWD, d->mount + "/" + kTopName + "/" + std::string(node) +
                                             "/cpuset.mems");
        if (mems.ok() && !Trim(*mems).empty()) cpuset_mems = Trim(*mems);
      }
    }
    const auto writes = v2_ ? TranslateV2(limits)
                            : TranslateV1(limits, SwapControl(*cg), cpuset_mems);
    for (const auto& w : writes) {
      WorkloadDir* d = Find(*cg, w.controller);
      if (d == nullptr) return Status::Internal("write " + w.file, "no hierarchy for " + w.controller);
      Status st = WriteFileAt(d->dir.get(), w.file, w.value, CreateFlag());
      if (!st.ok()) return Explain(*d, w, errno, st);
    }
    for (auto& d : cg->dirs()) {
      d.procs.reset(::openat(d.dir.get(), JoinFile(), O_WRONLY | O_CLOEXEC | CreateFlag(), 0644));
      if (!d.procs.valid()) return ErrnoStatus("open", d.path + "/" + JoinFile(), errno);
    }
    cg->Finish();
    undo.cg = nullptr;
    return std::unique_ptr<WorkloadCgroup>(std::move(cg));
  }

  Result<std::unique_ptr<WorkloadCgroup>> Open(std::string_view node, std::string_view workload,
                                               const ResourceLimits& limits) override {
    MESH_RETURN_IF_ERROR(ValidateCgroupName("node name", node));
    MESH_RETURN_IF_ERROR(ValidateCgroupName("workload name", workload));
    auto cg = std::make_unique<FsWorkloadCgroup>(v2_, options_.create_files);
    for (auto& [mount, controllers] : Layout(limits)) {
      WorkloadDir d;
      d.mount = mount;
      d.controllers = controllers;
      d.path = mount + "/" + kTopName + "/" + std::string(node) + "/" + std::string(workload);
      d.dir.reset(::open(d.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!d.dir.valid()) {
        const int err = errno;
        if (err != ENOENT) return ErrnoStatus("open", d.path, err);
        d.path.clear();  // gone from this hierarchy: nothing to remove there
      } else {
        d.procs.reset(::openat(d.dir.get(), JoinFile(), O_WRONLY | O_CLOEXEC));
      }
      cg->dirs().push_back(std::move(d));
    }
    bool any = false;
    for (const auto& d : cg->dirs()) any = any || d.dir.valid();
    if (!any) {
      return Status::NotFound("open cgroup", "no cgroup for workload " + std::string(workload));
    }
    cg->Finish();
    return std::unique_ptr<WorkloadCgroup>(std::move(cg));
  }

  void RemoveNodeIfUnused(std::string_view node) override {
    if (!ValidateCgroupName("node name", node).ok()) return;
    std::vector<std::string> mounts;
    if (v2_) {
      mounts.push_back(V2Base());
    } else {
      for (const char* c : {"cpuset", "cpu", "cpuacct", "memory", "pids"}) {
        const std::string m = MountOf(c);
        if (std::find(mounts.begin(), mounts.end(), m) == mounts.end()) mounts.push_back(m);
      }
    }
    for (const auto& m : mounts) {
      const std::string top = m + "/" + kTopName;
      if (RemoveParent(top + "/" + std::string(node), options_.create_files)) {
        RemoveParent(top, options_.create_files);
      }
    }
  }

  std::vector<std::string> List(std::string_view node) const override {
    std::vector<std::string> out;
    const std::string base = (v2_ ? V2Base() : MountOf("cpuacct")) + "/" + kTopName + "/" +
                             std::string(node);
    DIR* dir = ::opendir(base.c_str());
    if (dir == nullptr) return out;
    while (dirent* e = ::readdir(dir)) {
      if (e->d_type == DT_DIR && e->d_name[0] != '.') out.emplace_back(e->d_name);
    }
    ::closedir(dir);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  int CreateFlag() const { return options_.create_files ? O_CREAT : 0; }

  // The file a new child writes "0" into. v1: `tasks`, which moves only the
  // calling thread (the whole child: it is single-threaded before exec).
  // Moving a thread that is `current` lets the kernel skip the global
  // cgroup_threadgroup_rwsem that cgroup.procs takes for write, whose RCU
  // grace period costs ~3 ms per hierarchy when spawns come one at a time
  // (measured: 14 ms vs 1 ms per cycle, see docs/PERFORMANCE.md). v2 has no
  // such file for domain cgroups: cgroup.procs.
  const char* JoinFile() const { return v2_ ? "cgroup.procs" : "tasks"; }

  std::string MountOf(const std::string& controller) const {
    auto it = v1_mounts_.find(controller);
    return it != v1_mounts_.end() ? it->second : options_.root + "/" + controller;
  }

  // v2: the directory that holds stratoswarm/ (the root, or the home a
  // delegating service manager gave this process).
  std::string V2Base() const { return options_.root + options_.home; }

  // Whether workloads get the memory controller: v2, listed where their
  // parents are; v1, its hierarchy is mounted. Raspberry Pi OS boots without
  // it unless cmdline.txt enables it.
  bool MemoryAvailable() const {
    if (!v2_) {
      struct stat st{};
      return ::stat(MountOf("memory").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    auto text = ReadFileAt(AT_FDCWD, V2Base() + "/cgroup.controllers");
    return text.ok() && Contains(SplitWords(*text), "memory");
  }

  // (directory, controllers used there) for the workload. v1 co-mounted
  // controllers (cpu,cpuacct) share one directory.
  std::vector<std::pair<std::string, std::vector<std::string>>> Layout(
      const ResourceLimits& limits) const {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    if (v2_) {
      out.emplace_back(V2Base(), V2Controllers(limits, memory_available_));
      return out;
    }
    for (const auto& c : V1Controllers(limits, memory_available_)) {
      const std::string mount = MountOf(c);
      auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == mount; });
      if (it == out.end()) {
        out.emplace_back(mount, std::vector<std::string>{c});
      } else {
        it->second.push_back(c);
      }
    }
    return out;
  }

  static bool HasControllers(const WorkloadDir& d) {
    auto text = ReadFileAt(d.dir.get(), "cgroup.controllers");
    if (!text.ok()) return false;
    const auto present = SplitWords(*text);
    for (const auto& c : d.controllers) {
      if (!Contains(present, c)) return false;
    }
    return true;
  }

  static WorkloadDir* Find(FsWorkloadCgroup& cg, const std::string& controller) {
    for (auto& d : cg.dirs()) {
      if (Contains(d.controllers, controller)) return &d;
    }
    return nullptr;
  }

  V1SwapControl SwapControl(FsWorkloadCgroup& cg) const {
    const WorkloadDir* d = Find(cg, "memory");
    if (d == nullptr) return V1SwapControl::kNone;
    if (::faccessat(d->dir.get(), "memory.memsw.limit_in_bytes", F_OK, 0) == 0) {
      return V1SwapControl::kMemsw;
    }
    if (::faccessat(d->dir.get(), "memory.swappiness", F_OK, 0) == 0) {
      return V1SwapControl::kSwappiness;
    }
    return options_.create_files ? V1SwapControl::kMemsw : V1SwapControl::kNone;
  }

  // <mount>/stratoswarm/<node>, with the controllers enabled (v2) and the
  // cpuset inherited (v1, where an empty cpuset refuses tasks).
  Status EnsureParents(const WorkloadDir& d, std::string_view node) const {
    const std::string top = d.mount + "/" + kTopName;
    const std::string node_dir = top + "/" + std::string(node);
    if (v2_) MESH_RETURN_IF_ERROR(CheckV2Available(d.mount, d.controllers));
    // Another workload's Remove() may rmdir the parents between our mkdirs;
    // one retry covers that race.
    for (int attempt = 0;; ++attempt) {
      Status st = MkdirIfMissing(top);
      if (st.ok()) st = MkdirIfMissing(node_dir);
      if (st.ok() || attempt == 1) {
        MESH_RETURN_IF_ERROR(st);
        break;
      }
    }
    if (v2_ && !d.controllers.empty()) {
      std::string enable;
      for (const auto& c : d.controllers) enable += (enable.empty() ? "+" : " +") + c;
      for (const std::string& dir : {d.mount, top, node_dir}) {
        Status st = WriteFileAt(AT_FDCWD, dir + "/cgroup.subtree_control", enable, CreateFlag());
        if (!st.ok()) {
          return Status::Unavailable("enable " + enable + " in " + dir + "/cgroup.subtree_control",
                                     st.message());
        }
      }
    } else if (Contains(d.controllers, "cpuset")) {
      for (const auto& [parent, child] : {std::pair{d.mount, top}, std::pair{top, node_dir}}) {
        for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
          auto current = ReadFileAt(AT_FDCWD, child + "/" + file);
          if (current.ok() && !Trim(*current).empty()) continue;
          auto value = ReadFileAt(AT_FDCWD, parent + "/" + file);
          if (!value.ok()) return value.status();
          MESH_RETURN_IF_ERROR(WriteFileAt(AT_FDCWD, child + "/" + file, Trim(*value), CreateFlag()));
        }
      }
    }
    return Status::Ok();
  }

  Status CheckV2Available(const std::string& root, const std::vector<std::string>& needed) const {
    auto text = ReadFileAt(AT_FDCWD, root + "/cgroup.controllers");
    if (!text.ok()) return text.status();
    const auto available = SplitWords(*text);
    for (const auto& c : needed) {
      if (!Contains(available, c)) {
        return Status::Unavailable(
            "cgroup v2 controller " + c,
            "not available at " + root + " (cgroup.controllers lists: \"" + Trim(*text) + "\")");
      }
    }
    return Status::Ok();
  }

  // Turns a refused write into the reason a user can act on.
  Status Explain(const WorkloadDir& d, const CgroupWrite& w, int err, const Status& st) const {
    if (err != ENOENT && err != EPERM && err != EACCES) return st;
    const std::string what = "set " + w.file + "=" + w.value + " in " + d.path;
    if (v2_) {
      auto enabled = ReadFileAt(d.dir.get(), "cgroup.controllers");
      const std::string list = enabled.ok() ? Trim(*enabled) : std::string("?");
      if (!Contains(SplitWords(list), w.controller)) {
        return Status::Unavailable(what, "controller " + w.controller +
                                             " is not enabled here (cgroup.controllers lists: \"" +
                                             list + "\")");
      }
    } else if (err == ENOENT) {
      return Status::Unavailable(what, "the " + w.controller + " hierarchy at " + d.mount +
                                           " has no " + w.file +
                                           " (controller not mounted there, or the kernel lacks it)");
    }
    return st;
  }

  CgroupFsOptions options_;
  bool v2_;
  std::map<std::string, std::string> v1_mounts_;
  bool memory_available_;
};

class NullWorkloadCgroup final : public WorkloadCgroup {
 public:
  std::string Describe() const override { return "(no cgroup)"; }
  const std::vector<int>& procs_fds() const override { return fds_; }
  Result<CgroupStats> ReadStats() const override { return CgroupStats{}; }
  Result<std::vector<pid_t>> Pids() const override { return std::vector<pid_t>{}; }
  Status Remove(std::chrono::milliseconds) override { return Status::Ok(); }

 private:
  std::vector<int> fds_;
};

class NullBackend final : public CgroupBackend {
 public:
  std::string name() const override { return "null"; }
  Result<std::unique_ptr<WorkloadCgroup>> Create(std::string_view, std::string_view,
                                                 const ResourceLimits& limits) override {
    if (!limits.empty()) {
      return Status::Unsupported("apply limits " + FormatLimits(limits),
                                 "this node runs without cgroups");
    }
    return std::unique_ptr<WorkloadCgroup>(std::make_unique<NullWorkloadCgroup>());
  }
  Result<std::unique_ptr<WorkloadCgroup>> Open(std::string_view, std::string_view,
                                               const ResourceLimits&) override {
    return std::unique_ptr<WorkloadCgroup>(std::make_unique<NullWorkloadCgroup>());
  }
  void RemoveNodeIfUnused(std::string_view) override {}
  std::vector<std::string> List(std::string_view) const override { return {}; }
};

// libcgroup's view of where each v1 controller is mounted. cgroup_init()
// parses /proc/mounts once per process.
std::map<std::string, std::string> LibcgroupMounts(const std::string& root) {
  static std::once_flag once;
  static int init_rc = 0;
  std::call_once(once, [] { init_rc = cgroup_init(); });
  std::map<std::string, std::string> out;
  for (const char* c : {"cpu", "cpuacct", "memory", "pids", "cpuset"}) {
    char* mount = nullptr;
    if (init_rc == 0 && cgroup_get_subsys_mount_point(c, &mount) == 0 && mount != nullptr) {
      out[c] = mount;
    } else {
      out[c] = root + "/" + c;
    }
    std::free(mount);
  }
  return out;
}

// The cgroup v2 path in /proc/self/cgroup text ("0::/a/b"); nullopt if none.
std::optional<std::string> SelfV2Path(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, 3) == "0::" && line.size() > 3 && line[3] == '/') return std::string(line.substr(3));
    pos = end + 1;
  }
  return std::nullopt;
}

// systemd marks the cgroups it delegates (Delegate=yes) with this xattr:
// trusted.* by the system manager, user.* by a user manager.
bool Delegated(const std::string& dir) {
  for (const char* name : {"trusted.delegate", "user.delegate"}) {
    char value[4] = {};
    if (::getxattr(dir.c_str(), name, value, sizeof value) >= 1 && value[0] == '1') return true;
  }
  return false;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Moves every process of `dir` into `dir`/supervisor (created), so that `dir`
// may enable controllers for its children ("no internal processes"). A fake
// tree has no kernel to empty cgroup.procs: the move rewrites both files.
Status MoveProcessesToSupervisor(const std::string& dir, bool fake_tree) {
  const std::string leaf = dir + "/" + std::string(kSupervisorCgroup);
  MESH_RETURN_IF_ERROR(MkdirIfMissing(leaf));
  for (int round = 0; round < 8; ++round) {
    auto text = ReadFileAt(AT_FDCWD, dir + "/cgroup.procs");
    if (!text.ok()) return text.status();
    const auto pids = SplitWords(*text);
    if (pids.empty()) return Status::Ok();
    for (const auto& pid : pids) {
      if (fake_tree) {
        auto moved = ReadFileAt(AT_FDCWD, leaf + "/cgroup.procs");
        MESH_RETURN_IF_ERROR(WriteFileAt(AT_FDCWD, leaf + "/cgroup.procs",
                                         (moved.ok() ? *moved : std::string()) + pid + "\n", O_CREAT));
        continue;
      }
      Status st = WriteFileAt(AT_FDCWD, leaf + "/cgroup.procs", pid, 0);
      if (!st.ok() && errno != ESRCH) return st;  // ESRCH: it has exited meanwhile
    }
    if (fake_tree) MESH_RETURN_IF_ERROR(WriteFileAt(AT_FDCWD, dir + "/cgroup.procs", "", O_CREAT | O_TRUNC));
  }
  return Status::Unavailable("move the processes of " + dir + " into " + leaf,
                             "new processes keep appearing there");
}

}  // namespace

Result<CgroupHome> ClaimCgroupHome(const std::string& root, std::string_view self_cgroup, bool fake_tree) {
  CgroupHome home;
  const auto path = SelfV2Path(self_cgroup);
  if (!path) {
    home.reason = "no cgroup v2 entry in /proc/self/cgroup";
    return home;
  }
  const std::string dir = *path == "/" ? root : root + *path;
  const std::size_t slash = path->rfind('/');
  const std::string parent = path->substr(0, slash);
  const bool in_supervisor = *path != "/" && path->substr(slash + 1) == kSupervisorCgroup;
  // A cgroup namespace's root (a container) is an ordinary cgroup seen from
  // inside: it has cgroup.type, the real root has not.
  const bool namespace_root = *path == "/" && Exists(root + "/cgroup.type");
  if (in_supervisor && !parent.empty() && Delegated(root + parent)) {
    home.path = parent;
    home.reason = "delegated by the service manager (the agent runs in " + *path + ")";
  } else if (in_supervisor && parent.empty() && Exists(root + "/cgroup.type")) {
    home.reason = "the root of this cgroup namespace (the agent runs in /" + std::string(kSupervisorCgroup) + ")";
  } else if (namespace_root) {
    MESH_RETURN_IF_ERROR(MoveProcessesToSupervisor(root, fake_tree));
    home.reason = "the root of this cgroup namespace (the agent moved itself to /" +
                  std::string(kSupervisorCgroup) + ")";
  } else if (*path != "/" && Delegated(dir)) {
    // systemd < 254 starts the service in the delegated cgroup itself (no
    // DelegateSubgroup=): enabling controllers there would make the next
    // start of the unit fail to attach (EBUSY) while workloads outlive the
    // old agent (KillMode=process). Keep the old place then.
    home.warning = "systemd delegated " + *path + " but started the agent in it, not in its " +
                   std::string(kSupervisorCgroup) +
                   " subgroup (DelegateSubgroup=supervisor needs systemd >= 254): workload cgroups "
                   "stay at " + root + "/stratoswarm so that a restart of the unit keeps working";
    home.reason = "outside the delegated subtree (see the warning)";
  } else {
    home.reason = *path == "/" ? "the root cgroup" : "not under a delegating service manager";
  }
  return home;
}

Status ValidateCgroupName(std::string_view what, std::string_view name) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(std::string(what) + " \"" + std::string(name) + "\"", why);
  };
  if (name.empty() || name.size() > 64) return bad("must be 1 to 64 characters");
  if (name == "." || name == "..") return bad("is not a name");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return bad("may only contain letters, digits, '.', '_' and '-'");
  }
  return Status::Ok();
}

Result<std::unique_ptr<CgroupBackend>> MakeCgroupFsBackend(CgroupFsOptions options) {
  if (options.mode == CgroupMode::kNone) {
    return Status::Unsupported("cgroupfs backend", "no cgroup filesystem");
  }
  std::map<std::string, std::string> mounts;
  if (options.mode != CgroupMode::kUnified && options.use_libcgroup_mounts) {
    mounts = LibcgroupMounts(options.root);
  }
  return std::unique_ptr<CgroupBackend>(
      std::make_unique<CgroupFsBackend>(std::move(options), std::move(mounts)));
}

std::unique_ptr<CgroupBackend> MakeNullBackend() { return std::make_unique<NullBackend>(); }

Result<std::unique_ptr<CgroupBackend>> MakeHostCgroupBackend() {
  CgroupFsOptions options;
  options.mode = DetectCgroupMode(options.root);
  if (options.mode == CgroupMode::kNone) {
    return Status::Unsupported("run workloads under limits",
                               "no cgroup filesystem at /sys/fs/cgroup");
  }
  // v1: the cpuacct hierarchy is always used (memory may be off, issue 16).
  const std::string probe = options.mode == CgroupMode::kUnified ? options.root
                            : Exists(options.root + "/cpuacct") ? options.root + "/cpuacct"
                                                                : options.root + "/cpu,cpuacct";
  if (::access(probe.c_str(), W_OK) != 0) {
    return Status::PermissionDenied("create cgroups under " + probe,
                                    "not writable (run the swarmlet as root)");
  }
  options.use_libcgroup_mounts = options.mode != CgroupMode::kUnified;
  if (options.mode == CgroupMode::kUnified) {
    auto self = ReadFileAt(AT_FDCWD, "/proc/self/cgroup");
    auto home = ClaimCgroupHome(options.root, self.ok() ? *self : std::string());
    if (!home.ok()) return home.status();
    static std::once_flag warned;
    if (!home->warning.empty()) {
      std::call_once(warned, [&] { std::fprintf(stderr, "swarmlet: WARNING: %s\n", home->warning.c_str()); });
    }
    options.home = home->path;
  }
  return MakeCgroupFsBackend(std::move(options));
}

}  // namespace swarmlet::executor
