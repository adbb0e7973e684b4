// spawn_bench: the cost of one full cycle of a minimal limited workload
// (create cgroup + write limits, spawn into it, wait, remove the cgroup),
// next to bare fork+exec and vfork+exec of the same binary, in the same run.
//
//   spawn_bench [--iterations N] [--binary PATH] [--state-root DIR] [--output FILE.json]
//
// Needs root and writable cgroups for the cgroup rows (skipped otherwise).
// crun and runc are not installed on the build machine, so they are not
// measured here (issue 6 quotes crun 6.7 ms, runc 17 ms from an earlier run).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "swarmlet/executor/executor.h"

namespace ex = swarmlet::executor;
using Clock = std::chrono::steady_clock;

namespace {

struct Row {
  std::string name;
  std::vector<double> us;  // one sample per iteration, microseconds
  std::string note;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = 0;
      in >> kb;
      return kb;
    }
    std::getline(in, key);
  }
  return 0;
}

void Reap(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// One measured case. Cases run round-robin (one sample of each per round)
// so that all of them see the same background load: on a shared machine
// load comes in phases of seconds, which would otherwise favour whichever
// case ran in a quiet phase.
struct Case {
  std::string name;
  int iterations;
  std::function<bool()> once;
  std::string note;
  std::function<void()> before;  // untimed, before each sample
  int every = 1;                 // take a sample every `every` rounds
};

std::vector<Case> g_cases;

void Add(const std::string& name, int iterations, std::function<bool()> once,
         const std::string& note = "", std::function<void()> before = {}, int every = 1) {
  g_cases.push_back({name, iterations, std::move(once), note, std::move(before), every});
}

// Runs the registered cases and appends their rows.
void RunAll(std::vector<Row>* rows) {
  std::vector<Row> out;
  std::vector<bool> failed(g_cases.size(), false);
  for (std::size_t c = 0; c < g_cases.size(); ++c) {
    out.push_back({g_cases[c].name, {}, g_cases[c].note});
    for (int i = 0; i < 10 && !failed[c]; ++i) failed[c] = !g_cases[c].once();  // warm-up
  }
  for (int round = 0;; ++round) {
    bool any = false;
    for (std::size_t c = 0; c < g_cases.size(); ++c) {
      Case& k = g_cases[c];
      if (failed[c] || round % k.every != 0 || static_cast<int>(out[c].us.size()) >= k.iterations) {
        continue;
      }
      any = true;
      if (k.before) k.before();
      const auto t0 = Clock::now();
      if (!k.once()) {
        failed[c] = true;
        continue;
      }
      out[c].us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    if (!any) break;
  }
  rows->insert(rows->end(), out.begin(), out.end());
  g_cases.clear();
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 500;
  std::string binary = "/bin/true";
  std::string output;
  std::string state_root = "/dev/shm";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--binary" && i + 1 < argc) {
      binary = argv[++i];
    } else if (a == "--state-root" && i + 1 < argc) {
      state_root = argv[++i];
    } else if (a == "--output" && i + 1 < argc) {
      output = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: spawn_bench [--iterations N] [--binary PATH] [--state-root DIR] "
                   "[--output FILE]\n");
      return 2;
    }
  }
  char* const child_argv[] = {binary.data(), nullptr};
  char* const child_env[] = {nullptr};
  std::vector<Row> rows;

  Add("fork+exec+wait (bare)", iterations, [&] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execve(child_argv[0], child_argv, child_env);
      ::_exit(127);
    }
    if (pid < 0) return false;
    Reap(pid);
    return true;
  });
  Add("vfork+exec+wait (bare)", iterations, [&] {
    const pid_t pid = ::vfork();
    if (pid == 0) {
      ::execve(child_argv[0], child_argv, child_env);
      ::_exit(127);
    }
    if (pid < 0) return false;
    Reap(pid);
    return true;
  });
  ex::SpawnRequest plain;
  plain.argv = {binary};
  Add("executor Spawn+wait, no cgroup", iterations, [&] {
    auto pid = ex::Spawn(plain);
    if (!pid.ok()) return false;
    return ex::WaitProcess(*pid, std::nullopt).ok();
  }, "exec-error pipe, signal reset, setsid, fd hygiene");

  double idle_bytes_per_workload = 0;
  int idle_workloads = 0;
  ex::ResourceLimits limits;
  limits.cpu_cores = 0.5;
  limits.memory_bytes = 64ull << 20;
  limits.pids_max = 64;
  auto backend = ex::MakeHostCgroupBackend();
  std::string skipped;
  if (!backend.ok()) {
    RunAll(&rows);
    skipped = backend.status().ToString();
  } else {
    const std::string node = "bench-" + std::to_string(::getpid());
    int n = 0;
    const auto cycle = [&](bool with_parents) {
      auto cg = (*backend)->Create(node, "w" + std::to_string(n++), limits);
      if (!cg.ok()) {
        std::fprintf(stderr, "create: %s\n", cg.status().ToString().c_str());
        return false;
      }
      ex::SpawnRequest req = plain;
      req.cgroup_procs_fds = (*cg)->procs_fds();
      auto pid = ex::Spawn(req);
      if (!pid.ok()) {
        std::fprintf(stderr, "spawn: %s\n", pid.status().ToString().c_str());
        return false;
      }
      if (!ex::WaitProcess(*pid, std::nullopt).ok()) return false;
      (void)(*cg)->ReadStats();  // what the executor reads for OOM reporting
      if (!(*cg)->Remove(std::chrono::milliseconds(1000)).ok()) return false;
      if (with_parents) (*backend)->RemoveNodeIfUnused(node);
      return true;
    };
    const std::string what = (*backend)->name() + ": cpu=0.5 memory=64M pids=64";
    // The image rows: busybox (static) in a throwaway rootfs.
    const std::string image = "/tmp/spawn_bench-image-" + std::to_string(::getpid());
    bool have_image = ::access("/bin/busybox", X_OK) == 0;
    if (have_image) {
      std::string cmd = "mkdir -p '" + image + "/bin' && cp /bin/busybox '" + image +
                        "/bin/' && ln -sf busybox '" + image + "/bin/true'";
      have_image = std::system(cmd.c_str()) == 0;
    }
    Add("full cycle: cgroup+limits, spawn, wait, rmdir", iterations,
        [&] { return cycle(false); }, what + ", node parent exists");
    // v1 cgroup.procs (not our `tasks` join) takes a global rwsem whose RCU
    // grace period a spawn that comes alone would pay; 50 ms apart shows
    // the lone-spawn case.
    Add("full cycle, sporadic (50 ms apart)", std::max(1, iterations / 10),
        [&] { return cycle(false); }, "the pause is not timed",
        [] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }, 10);
    Add("full cycle, first workload of the node", iterations, [&] { return cycle(true); },
        "plus stratoswarm/<node> mkdir+rmdir");
    ex::SpawnRequest static_req;
    static_req.argv = {"/bin/busybox", "true"};
    if (have_image) {
      Add("full cycle, host, static busybox true", iterations, [&] {
        plain.argv.swap(static_req.argv);
        const bool ok = cycle(false);
        plain.argv.swap(static_req.argv);
        return ok;
      }, "same binary as the image row");
      Add("full cycle in image: +mnt/pid/uts/ipc ns, pivot_root", iterations, [&] {
        ex::SpawnRequest saved = plain;
        plain.argv = {"/bin/true"};
        plain.rootfs = image;
        plain.hostname = "bench";
        const bool ok = cycle(false);
        plain = saved;
        return ok;
      }, "busybox rootfs, own /proc");
    }

    // The same through the Executor: adds the state record (temp + rename
    // per transition) and the log file.
    // tmpfs by default: on the build VM's ext4 (mounted with `discard`)
    // every unlink/rename-over of a record costs 0.5-6 ms of discard.
    const std::string state = state_root + "/spawn_bench-" + std::to_string(::getpid());
    ex::ExecutorOptions options;
    options.state_dir = state;
    options.node_name = node;
    options.cgroups = std::move(ex::MakeHostCgroupBackend().value());
    auto executor = ex::Executor::Open(std::move(options));
    ex::WorkloadSpec spec;
    spec.argv = {binary};
    spec.limits = limits;
    if (executor.ok()) {
      Add("executor Start+Wait+Remove", iterations, [&] {
        auto id = (*executor)->Start(spec);
        if (!id.ok()) return false;
        if (!(*executor)->Wait(*id).ok()) return false;
        return (*executor)->Remove(*id).ok();
      }, "plus state record (3 writes) and log file, state in " + state_root);
    }
    RunAll(&rows);
    if (have_image) {
      std::string cmd = "rm -rf '" + image + "'";
      [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
    if (executor.ok()) {
      // Idle overhead: RSS of this process per running (sleeping) workload.
      const int idle = 100;
      std::vector<std::string> ids;
      const long rss0 = RssKb();
      ex::WorkloadSpec sleeper = spec;
      sleeper.argv = {"/bin/sleep", "600"};
      for (int i = 0; i < idle; ++i) {
        auto id = (*executor)->Start(sleeper);
        if (id.ok()) ids.push_back(*id);
      }
      (void)(*executor)->Poll();
      const long rss1 = RssKb();
      for (const auto& id : ids) (void)(*executor)->Remove(id);
      idle_bytes_per_workload =
          ids.empty() ? 0 : static_cast<double>(rss1 - rss0) * 1024 / static_cast<double>(ids.size());
      idle_workloads = static_cast<int>(ids.size());
      executor->reset();
    }
    (*backend)->RemoveNodeIfUnused(node);
    std::string cmd = "rm -rf '" + state + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }

  std::printf("spawn_bench: %d iterations of %s\n\n", iterations, binary.c_str());
  std::printf("%-48s %10s %10s %10s  %s\n", "case", "p50 us", "p99 us", "n", "note");
  for (const auto& r : rows) {
    std::printf("%-48s %10.1f %10.1f %10zu  %s\n", r.name.c_str(), Percentile(r.us, 0.5),
                Percentile(r.us, 0.99), r.us.size(), r.note.c_str());
  }
  if (idle_workloads > 0) {
    std::printf("\nexecutor RSS per idle workload: %.0f bytes (%d sleeping workloads)\n",
                idle_bytes_per_workload, idle_workloads);
  }
  if (!skipped.empty()) std::printf("\ncgroup rows skipped: %s\n", skipped.c_str());
  std::printf("\ncrun/runc: not installed on this machine, not measured\n");

  if (!output.empty()) {
    std::ofstream out(output);
    out << "{\n  \"benchmark\": \"spawn_bench\",\n  \"binary\": \"" << binary
        << "\",\n  \"iterations\": " << iterations << ",\n  \"cases\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      out << "    {\"name\": \"" << r.name << "\", \"p50_us\": " << Percentile(r.us, 0.5)
          << ", \"p99_us\": " << Percentile(r.us, 0.99) << ", \"n\": " << r.us.size()
          << ", \"note\": \"" << r.note << "\"}" << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    out << "  ],\n  \"idle_rss_bytes_per_workload\": " << idle_bytes_per_workload
        << ",\n  \"idle_workloads\": " << idle_workloads << ",\n  \"skipped\": \"" << skipped
        << "\"\n}\n";
  }
  return 0;
}
