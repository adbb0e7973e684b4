// spawn_bench: the cost of one full cycle of a minimal limited workload
// (create cgroup + write limits, spawn into it, wait, remove the cgroup),
// next to bare fork+exec and vfork+exec of the same binary, in the same run.
//
//   spawn_bench [--iterations N] [--binary PATH] [--state-root DIR] [--output FILE.json]
//
// Needs root and writable cgroups for the cgroup rows (skipped otherwise).
//
// In the same run (same rounds), `crun run` and `runc run` of an OCI bundle
// holding the same busybox image (scripts/make_busybox_image.sh; config.json
// from `<runtime> spec`, process ["/bin/true"], terminal false), one unique
// container id per sample, --root under --state-root. crun 1.8 refuses a
// hybrid cgroup layout (v1 controllers + a v2 mount), so each runtime runs in
// a private mount namespace where /sys/fs/cgroup/unified is unmounted; the
// bench itself and the executor rows stay in the host's namespace, hybrid as
// it is. A runtime that is missing or fails its first run is skipped, with
// the reason printed.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "swarmlet/executor/executor.h"
#include "swarmlet/image_mount.h"

extern char** environ;

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

std::string JsonEscape(const std::string& in) {
  std::string out;
  for (const char c : in) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A mount namespace like the host's but with the cgroup v2 mount of a hybrid
// layout detached, for the OCI runtimes (crun 1.8.1: "cgroups in hybrid mode
// not supported"). A short-lived child makes it; the returned fd keeps it
// alive, and the runtimes' children setns() into it. The bench never leaves
// the host's namespace. Returns -1 and sets *why on failure; *note says what
// was hidden.
int MakeHiddenV2Namespace(std::string* why, std::string* note) {
  int ready[2], done[2];
  if (::pipe2(ready, O_CLOEXEC) < 0 || ::pipe2(done, O_CLOEXEC) < 0) {
    *why = Errno("pipe2");
    return -1;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    *why = Errno("fork");
    return -1;
  }
  if (pid == 0) {
    ::close(ready[0]);
    ::close(done[1]);  // else the read below never sees EOF
    // Result: {stage, errno}; stage 0 = namespace ready, 3 = ready, nothing to hide.
    int result[2] = {0, 0};
    if (::unshare(CLONE_NEWNS) < 0) {
      result[0] = 1;
    } else if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
      result[0] = 2;
    } else if (::umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0) {
      result[0] = (errno == EINVAL || errno == ENOENT) ? 3 : 4;
    }
    result[1] = errno;
    if (::write(ready[1], result, sizeof result) != sizeof result) ::_exit(1);
    char c;
    while (::read(done[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(done[0]);
  int result[2] = {-1, 0};
  ssize_t n;
  while ((n = ::read(ready[0], result, sizeof result)) < 0 && errno == EINTR) {
  }
  ::close(ready[0]);
  int fd = -1;
  if (n != sizeof result) {
    *why = "namespace helper died";
  } else if (result[0] == 1 || result[0] == 2 || result[0] == 4) {
    static const char* const kStage[] = {"", "unshare(CLONE_NEWNS)", "mount(MS_REC|MS_PRIVATE, /)",
                                         "", "umount2(/sys/fs/cgroup/unified)"};
    *why = std::string(kStage[result[0]]) + ": " + std::strerror(result[1]);
  } else {
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/mnt";
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) *why = Errno(path.c_str());
    *note = result[0] == 3 ? "private mount ns (no v2 mount to hide)"
                           : "private mount ns without /sys/fs/cgroup/unified";
  }
  ::close(done[1]);
  Reap(pid);
  return fd;
}

std::string FindInPath(const std::string& name) {
  const char* env = std::getenv("PATH");
  std::string path = std::string(env ? env : "") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find(':', start), path.size());
    const std::string dir = path.substr(start, end - start);
    start = end + 1;
    if (dir.empty()) continue;
    const std::string full = dir + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

// scripts/make_busybox_image.sh, next to this source file or under the
// current directory.
std::string FindImageScript() {
  std::string src = __FILE__;
  const std::size_t slash = src.rfind("/bench/");
  const std::string candidates[] = {
      slash == std::string::npos ? "" : src.substr(0, slash) + "/scripts/make_busybox_image.sh",
      "scripts/make_busybox_image.sh"};
  for (const auto& c : candidates) {
    if (!c.empty() && ::access(c.c_str(), R_OK) == 0) return c;
  }
  return "";
}

// Sets process.args to ["/bin/true"] and process.terminal to false in the
// config.json that `<runtime> spec` wrote (crun's and runc's layouts).
bool EditSpec(const std::string& file, std::string* why) {
  std::ifstream in(file);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t term = s.find("\"terminal\":");
  const std::size_t t = term == std::string::npos ? term : s.find("true", term);
  const std::size_t args = s.find("\"args\":");
  const std::size_t open = args == std::string::npos ? args : s.find('[', args);
  const std::size_t close = open == std::string::npos ? open : s.find(']', open);
  if (t == std::string::npos || close == std::string::npos || t > s.find(',', term)) {
    *why = file + ": no \"terminal\": true or \"args\": [...] to edit";
    return false;
  }
  // args comes after terminal in both layouts; edit the later one first.
  if (open > t) {
    s.replace(open, close - open + 1, "[\"/bin/true\"]");
    s.replace(t, 4, "false");
  } else {
    s.replace(t, 4, "false");
    s.replace(open, close - open + 1, "[\"/bin/true\"]");
  }
  std::ofstream out(file, std::ios::trunc);
  out << s;
  if (!out.flush()) {
    *why = file + ": write failed";
    return false;
  }
  return true;
}

// fork, (setns into the hidden-v2 namespace), exec `<runtime> --root R run
// --bundle B ID`, wait. With capture >= 0 the runtime's stdout and stderr
// go there. Returns the wait status, or -1 if fork failed.
int RunRuntime(const std::string& runtime, const std::string& root, const std::string& bundle,
               const std::string& id, int ns_fd, int capture = -1) {
  std::string a[] = {runtime, "--root", root, "run", "--bundle", bundle, id};
  char* argv[] = {a[0].data(), a[1].data(), a[2].data(), a[3].data(),
                  a[4].data(), a[5].data(), a[6].data(), nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (capture >= 0) {
      ::dup2(capture, 1);
      ::dup2(capture, 2);
    }
    if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNS) < 0) ::_exit(126);
    ::execve(argv[0], argv, environ);
    ::_exit(127);
  }
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string DescribeStatus(int status) {
  if (status < 0) return "fork failed";
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  const int code = WEXITSTATUS(status);
  if (code == 126) return "exit 126 (setns into the private mount ns failed?)";
  if (code == 127) return "exit 127 (exec failed)";
  return "exit " + std::to_string(code);
}

// One OCI runtime's case: its bundle, state root and ids.
struct Runtime {
  std::string name;  // "crun", "runc"
  std::string path;
  std::string bundle;
  std::string root;
  int next = 0;
  std::string version;
  std::string skipped;  // why it is not measured; empty when it is
};

// First line of `<runtime> --version` ("crun version 1.8.1").
std::string Version(const std::string& path) {
  std::string line;
  if (FILE* p = ::popen(("'" + path + "' --version 2>/dev/null").c_str(), "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, p)) line = buf;
    ::pclose(p);
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line;
}

// Builds the runtime's bundle under `base` and checks one untimed run.
void PrepareRuntime(Runtime* rt, const std::string& base, const std::string& state_base,
                    const std::string& image_script, int ns_fd) {
  rt->path = FindInPath(rt->name);
  if (rt->path.empty()) {
    rt->skipped = "not installed (not in PATH, /usr/sbin, /sbin)";
    return;
  }
  rt->version = Version(rt->path);
  if (image_script.empty()) {
    rt->skipped = "scripts/make_busybox_image.sh not found";
    return;
  }
  if (::access("/bin/busybox", X_OK) != 0) {
    rt->skipped = "/bin/busybox missing (apt-get install busybox-static)";
    return;
  }
  rt->bundle = base + "/" + rt->name;
  rt->root = state_base + "/" + rt->name + "-state";
  const std::string cmd = "mkdir -p '" + rt->bundle + "' '" + rt->root + "' && sh '" +
                          image_script + "' '" + rt->bundle +
                          "/rootfs' /bin/busybox >/dev/null && cd '" + rt->bundle + "' && '" +
                          rt->path + "' spec >/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    rt->skipped = "making the bundle failed: " + cmd;
    return;
  }
  std::string why;
  if (!EditSpec(rt->bundle + "/config.json", &why)) {
    rt->skipped = why;
    return;
  }
  FILE* log = std::tmpfile();
  const std::string id = "spawn-bench-" + std::to_string(::getpid()) + "-probe";
  const int status =
      RunRuntime(rt->path, rt->root, rt->bundle, id, ns_fd, log ? ::fileno(log) : -1);
  if (status != 0) {
    std::string out;
    if (log) {
      std::rewind(log);
      char buf[512];
      while (std::fgets(buf, sizeof buf, log)) out += buf;
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    rt->skipped = "first run failed: " + DescribeStatus(status) + (out.empty() ? "" : ": " + out);
    const std::string del =
        "'" + rt->path + "' --root '" + rt->root + "' delete -f " + id + " >/dev/null 2>&1";
    [[maybe_unused]] int rc = std::system(del.c_str());
  }
  if (log) std::fclose(log);
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
  const std::string load_start = LoadAvg();

  // OCI runtimes: bundles (read-only busybox rootfs) next to the image row's
  // rootfs in /tmp, runtime state (--root) under --state-root like the
  // executor's records.
  std::string ns_why, ns_note;
  const int ns_fd = MakeHiddenV2Namespace(&ns_why, &ns_note);
  const std::string oci_base = "/tmp/spawn_bench-oci-" + std::to_string(::getpid());
  const std::string oci_state = state_root + "/spawn_bench-oci-" + std::to_string(::getpid());
  std::vector<Runtime> runtimes(2);
  runtimes[0].name = "crun";
  runtimes[1].name = "runc";
  {
    const std::string script = FindImageScript();
    // Without the private namespace (not root?) the runtimes run in the
    // host's; crun then fails on a hybrid layout, and the reason says so.
    for (auto& rt : runtimes) {
      PrepareRuntime(&rt, oci_base, oci_state, script, ns_fd);
      if (rt.skipped.rfind("first run failed", 0) == 0 && ns_fd < 0)
        rt.skipped += " (no private mount ns: " + ns_why + ")";
    }
  }
  const auto add_runtimes = [&] {
    for (auto& rt : runtimes) {
      if (!rt.skipped.empty()) continue;
      Add(
          rt.name + " run --bundle (busybox /bin/true)", iterations,
          [&rt, ns_fd] {
            const std::string id =
                "spawn-bench-" + std::to_string(::getpid()) + "-" + std::to_string(rt.next++);
            return RunRuntime(rt.path, rt.root, rt.bundle, id, ns_fd) == 0;
          },
          rt.version + "; fork+exec+wait of the runtime; " +
              (ns_fd >= 0 ? ns_note : "host mount ns") +
              "; spec default namespaces (pid, net, ipc, uts, mnt), no limits");
    }
  };

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
    add_runtimes();
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
    std::function<void()> cleanup_image_mount;
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
    // The full cycle of /bin/true inside the root filesystem `root`.
    auto cycle_in = [&](const std::string& root) {
      ex::SpawnRequest saved = plain;
      plain.argv = {"/bin/true"};
      plain.rootfs = root;
      plain.hostname = "bench";
      const bool ok = cycle(false);
      plain = saved;
      return ok;
    };
    if (have_image) {
      Add("full cycle, host, static busybox true", iterations, [&] {
        plain.argv.swap(static_req.argv);
        const bool ok = cycle(false);
        plain.argv.swap(static_req.argv);
        return ok;
      }, "same binary as the image row");
      Add("full cycle in image: +mnt/pid/uts/ipc ns, pivot_root", iterations,
          [&] { return cycle_in(image); }, "busybox rootfs, own /proc");
      // Issue 17's defaults for an image workload, one step at a time.
      Add("full cycle in image, confined (caps, no_new_privs, seccomp)", iterations, [&] {
        plain.confine = true;
        const bool ok = cycle_in(image);
        plain.confine = false;
        return ok;
      }, "the default seccomp filter compiled once, installed per spawn");
      const std::string scratch = image + ".scratch";
      ::mkdir(scratch.c_str(), 0700);
      // scratch is the lambda's own: the rows run after this block.
      Add("full cycle in image, confined + per-run writable layer", iterations, [&, scratch] {
        plain.confine = true;
        plain.scratch_dir = scratch;
        const bool ok = cycle_in(image);
        plain.confine = false;
        plain.scratch_dir.clear();
        return ok;
      }, "what `swarmlet exec --image` and a local image run: tmpfs + overlay in the child");
      // A cached cluster image (issue 15) as WorkloadHost starts one: the
      // image's squashfs is mounted already (once per image), each start
      // mounts the workload's own overlay on it, runs the same full cycle
      // there and removes the overlay.
      const std::string sqfs = image + ".sqfs";
      const std::string lower = image + ".lower";
      // With the runtime skeleton the GPU peer adds to every image
      // (images::MergeOptions): /proc, /data, /dev and its basic nodes.
      const std::string cmd = "cd '" + image + "' && mkdir -p proc data dev && for n in 'null 1 3' 'zero 1 5' "
                              "'full 1 7' 'random 1 8' 'urandom 1 9' 'tty 5 0'; do set -- $n; "
                              "[ -e dev/$1 ] || mknod -m 666 dev/$1 c $2 $3; done && mksquashfs '" + image + "' '" + sqfs +
                              "' -noappend -quiet -comp gzip >/dev/null 2>&1 && mkdir -p '" + lower + "'";
      if (std::system(cmd.c_str()) == 0 && swarmlet::MountSquashfs(sqfs, lower).ok()) {
        // lower and the counter are the lambda's own: it runs after this block.
        Add("cached image start: overlay on squashfs, full cycle, overlay removed", iterations,
            [&, lower, n = 0]() mutable {
          const std::string dir = image + ".w" + std::to_string(n++);
          if (!swarmlet::MountOverlay(lower, dir).ok()) return false;
          const bool ok = cycle_in(dir + "/rootfs");
          return swarmlet::UnmountAndRemove(dir).ok() && ok;
        }, "the busybox rootfs as a gzip squashfs (mksquashfs), loop-mounted once");
        // The start alone (the target's measure): the previous overlay is
        // removed before each iteration, untimed (a removal's cost, not a start's).
        // (a list: the warm-up runs `once` without `before`)
        auto previous = std::make_shared<std::vector<std::string>>();
        Add("cached image start, overlay removal untimed", iterations, [&, lower, previous, n = 0]() mutable {
          const std::string dir = image + ".s" + std::to_string(n++);
          if (!swarmlet::MountOverlay(lower, dir).ok()) return false;
          previous->push_back(dir);
          return cycle_in(dir + "/rootfs");
        }, "mount overlay + the full cycle in it", [previous] {
          for (const auto& dir : *previous) (void)swarmlet::UnmountAndRemove(dir);
          previous->clear();
        });
        Add("  of which: overlay mount + UnmountAndRemove alone", iterations, [&, lower, n = 0]() mutable {
          const std::string dir = image + ".o" + std::to_string(n++);
          return swarmlet::MountOverlay(lower, dir).ok() && swarmlet::UnmountAndRemove(dir).ok();
        }, "no workload: what the overlay adds to a start and a removal");
        cleanup_image_mount = [lower, sqfs, previous] {
          for (const auto& dir : *previous) (void)swarmlet::UnmountAndRemove(dir);
          (void)swarmlet::Unmount(lower);
          ::rmdir(lower.c_str());
          ::unlink(sqfs.c_str());
        };
      } else {
        std::printf("cached image row skipped: no mksquashfs or no squashfs/loop support\n");
      }
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
    add_runtimes();
    RunAll(&rows);
    if (cleanup_image_mount) cleanup_image_mount();
    if (have_image) {
      std::string cmd = "rm -rf '" + image + "' '" + image + ".scratch'";
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

  {
    std::string cmd = "rm -rf '" + oci_base + "' '" + oci_state + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
    if (ns_fd >= 0) ::close(ns_fd);
  }
  const std::string load_end = LoadAvg();

  std::printf("spawn_bench: %d iterations of %s; load average %s at the start, %s at the end\n\n",
              iterations, binary.c_str(), load_start.c_str(), load_end.c_str());
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
  for (const auto& rt : runtimes) {
    if (rt.skipped.empty()) {
      std::printf("\n%s: %s (%s), bundle state in %s", rt.name.c_str(), rt.path.c_str(),
                  rt.version.c_str(), state_root.c_str());
    } else {
      std::printf("\n%s: not measured: %s", rt.name.c_str(), rt.skipped.c_str());
    }
  }
  std::printf("\n");

  if (!output.empty()) {
    std::ofstream out(output);
    out << "{\n  \"benchmark\": \"spawn_bench\",\n  \"binary\": \"" << JsonEscape(binary)
        << "\",\n  \"iterations\": " << iterations << ",\n  \"load_average_start\": \""
        << load_start << "\",\n  \"load_average_end\": \"" << load_end << "\",\n  \"cases\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      out << "    {\"name\": \"" << JsonEscape(r.name)
          << "\", \"p50_us\": " << Percentile(r.us, 0.5)
          << ", \"p99_us\": " << Percentile(r.us, 0.99) << ", \"n\": " << r.us.size()
          << ", \"note\": \"" << JsonEscape(r.note) << "\"}" << (i + 1 < rows.size() ? "," : "")
          << "\n";
    }
    out << "  ],\n  \"runtimes\": [\n";
    for (std::size_t i = 0; i < runtimes.size(); ++i) {
      const auto& rt = runtimes[i];
      out << "    {\"name\": \"" << rt.name << "\", \"path\": \"" << JsonEscape(rt.path)
          << "\", \"version\": \"" << JsonEscape(rt.version)
          << "\", \"measured\": " << (rt.skipped.empty() ? "true" : "false") << ", \"skipped\": \""
          << JsonEscape(rt.skipped) << "\"}" << (i + 1 < runtimes.size() ? "," : "") << "\n";
    }
    out << "  ],\n  \"idle_rss_bytes_per_workload\": " << idle_bytes_per_workload
        << ",\n  \"idle_workloads\": " << idle_workloads << ",\n  \"skipped\": \""
        << JsonEscape(skipped) << "\"\n}\n";
  }
  return 0;
}
