#include "swarmlet/executor/exec_command.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "fd.h"
#include "swarmlet/executor/executor.h"
#include "swarmlet/executor/security.h"

namespace swarmlet::executor {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) { g_interrupted = 1; }

// Restores the previous handlers on every return path.
class InterruptScope {
 public:
  InterruptScope() {
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    g_interrupted = 0;
  }
  ~InterruptScope() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

void CopyFileTo(const std::string& path, std::ostream& out) {
  auto text = ReadFileAt(AT_FDCWD, path);
  if (text.ok()) out << *text;
}

}  // namespace

int RunExecCommand(const ExecCommandArgs& args, std::ostream& out,
                   const std::function<int(const std::string&)>& usage_error) {
  WorkloadSpec spec;
  spec.name = args.name;
  spec.argv = args.command;
  if (!spec.argv.empty() && spec.argv.front() == "--") spec.argv.erase(spec.argv.begin());
  if (spec.argv.empty()) return usage_error("missing command (swarmlet exec [options] -- CMD...)");
  const auto bad = [&](const mesh::Status& st) { return usage_error(st.message()); };
  if (!args.cpu.empty()) {
    auto v = ParseCpuCores(args.cpu);
    if (!v.ok()) return bad(v.status());
    spec.limits.cpu_cores = *v;
  }
  if (!args.memory.empty()) {
    auto v = ParseMemorySize(args.memory);
    if (!v.ok()) return bad(v.status());
    spec.limits.memory_bytes = *v;
  }
  if (!args.pids.empty()) {
    auto v = ParsePidsMax(args.pids);
    if (!v.ok()) return bad(v.status());
    spec.limits.pids_max = *v;
  }
  if (!args.cpuset.empty()) spec.limits.cpuset = args.cpuset;
  spec.volumes = args.volumes;
  if (!args.user.empty()) {
    auto ids = ParseUser(args.user);
    if (!ids.ok()) return bad(ids.status());
    if (args.image.empty()) {
      return usage_error("--user needs --image (host workloads run as root on the host)");
    }
    spec.uid = ids->uid;
    spec.gid = ids->gid;
  }
  spec.privileged = args.privileged;
  if (!args.image.empty()) {
    auto rootfs = ResolveImage(args.images_dir, args.image);
    if (!rootfs.ok()) {
      std::cerr << "swarmlet exec: " << rootfs.status().message() << "\n";
      return 1;
    }
    spec.image = *rootfs;
  }
  auto restart = ParseRestartPolicy(args.restart);
  if (!restart.ok()) return bad(restart.status());
  spec.restart = *restart;

  // Each exec is its own node with its own state: concurrent execs must not
  // see each other's cgroups as orphans, nor wait on each other's lock.
  ExecutorOptions options;
  const std::string own = "exec-" + std::to_string(::getpid());
  const std::string options_state_dir = args.state_dir + "/" + own;
  options.state_dir = options_state_dir;
  options.node_name = args.node.empty() ? own : args.node;
  options.images_dir = args.images_dir;
  // Limits are checked before the backend: a typo is a usage error on any node.
  if (auto st = ValidateLimits(spec.limits, NodeCpuCount()); !st.ok()) return bad(st);
  auto backend = MakeHostCgroupBackend();
  if (backend.ok()) {
    options.cgroups = std::move(*backend);
  } else if (spec.limits.empty()) {
    options.cgroups = MakeNullBackend();  // nothing to enforce: run without cgroups
  } else {
    std::cerr << "swarmlet exec: " << backend.status().message() << "\n";
    return 1;
  }
  auto ex = Executor::Open(std::move(options));
  // Removes this run's state directory on every way out; an image run's
  // /data stays only when the workload left something in it.
  struct StateCleanup {
    std::string dir;
    mesh::Result<std::unique_ptr<Executor>>* ex;
    ~StateCleanup() {
      if (ex->ok()) ex->value().reset();
      if (DIR* d = ::opendir((dir + "/data").c_str())) {
        while (dirent* e = ::readdir(d)) {
          if (e->d_name[0] != '.') ::rmdir((dir + "/data/" + e->d_name).c_str());
        }
        ::closedir(d);
      }
      for (const std::string sub : {"/workloads", "/logs", "/data", "/lock", ""}) {
        const std::string path = dir + sub;
        if (::rmdir(path.c_str()) != 0) ::unlink(path.c_str());
      }
    }
  } cleanup{options_state_dir, &ex};
  if (!ex.ok()) {
    std::cerr << "swarmlet exec: " << ex.status().message() << "\n";
    return 1;
  }
  for (const auto& e : {"PATH", "HOME", "TERM", "LANG"}) {
    if (const char* v = std::getenv(e)) spec.env.push_back(std::string(e) + "=" + v);
  }

  InterruptScope interrupts;
  auto id = (*ex)->Start(spec);
  if (!id.ok()) {
    if (id.status().code() == mesh::StatusCode::kInvalidArgument) return bad(id.status());
    std::cerr << "swarmlet exec: " << id.status().message() << "\n";
    return 1;
  }
  mesh::Result<WorkloadInfo> info = mesh::Status::Internal("wait", "not started");
  for (;;) {
    info = (*ex)->Wait(*id, std::chrono::milliseconds(100));
    if (info.ok() || info.status().code() != mesh::StatusCode::kTimeout) break;
    if (g_interrupted) {
      (void)(*ex)->Stop(*id);
      info = (*ex)->Get(*id);
      break;
    }
  }
  if (!info.ok()) {
    std::cerr << "swarmlet exec: " << info.status().message() << "\n";
    (void)(*ex)->Remove(*id);
    return 1;
  }
  CopyFileTo(info->log_path, out);
  const ExitStatus exit = info->last_exit.value_or(ExitStatus{});
  out << "swarmlet exec: " << exit.Describe();
  if (exit.oom_killed && spec.limits.memory_bytes) {
    out << " (memory limit " << FormatBytes(*spec.limits.memory_bytes) << ")";
  }
  out << "\n";
  out.flush();
  (void)(*ex)->Remove(*id);
  for (const std::string suffix : {"", ".1", ".2"}) ::unlink((info->log_path + suffix).c_str());
  return exit.ShellCode();
}

}  // namespace swarmlet::executor
