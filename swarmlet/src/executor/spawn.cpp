#include "swarmlet/executor/spawn.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>
#include <tuple>

#include "fd.h"
#include "swarmlet/executor/security.h"

namespace swarmlet::executor {
namespace {

using mesh::Result;
using mesh::Status;

// The steps the child reports a failure from.
// CLOSE_RANGE_CLOEXEC from linux/close_range.h (not in every libc's headers).
constexpr unsigned kCloseRangeCloexec = 1u << 2;

enum ChildStep : int {
  kJoinCgroup = 1,
  kStdio,
  kSession,
  kChdir,
  kExec,
  kScheduler,
  kMountPrivate,
  kBindRootfs,
  kMountProc,
  kBind,
  kPivotRoot,
  kHostname,
  kIdentity,
  kScratch,
  kOverlay,
  kCapabilities,
  kNoNewPrivs,
  kSeccomp,
};

struct ChildError {
  int step;
  int err;
  int index;  // which bind mount, for kBind
};

// One bind mount into the image, paths prepared by the parent.
struct BindPlan {
  const char* source;
  const char* target;  // inside <rootfs>, as seen before pivot_root
  bool file_target;    // a device node or file: the target is created as a file
};

// Everything the vfork child touches, prepared by the parent so that the
// child allocates nothing and changes no shared memory but its own stack.
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const int* procs_fds;
  std::size_t procs_count;
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  const char* cwd;  // nullptr: inherit
  bool new_session;
  bool reset_scheduler;
  int error_pipe;
  // Image runs only (rootfs != nullptr): paths prepared by the parent.
  const char* rootfs;        // the image, or with a scratch dir the overlay's lower
  const char* root;          // the root pivoted into: rootfs, or the overlay
  const char* rootfs_proc;  // <root>/proc
  // A per-run writable layer (SpawnRequest::scratch_dir): nullptr for none.
  const char* scratch;
  const char* scratch_upper;
  const char* scratch_work;
  const char* overlay_options;
  const BindPlan* binds;  // /data, volumes
  std::size_t bind_count;
  const char* hostname;
  std::size_t hostname_len;
  // -1: unchanged. Raw system calls: glibc's setuid() family signals every
  // thread of the process, and this child borrows the parent's memory.
  long uid;
  long gid;
  const gid_t* groups;
  std::size_t group_count;
  // Confinement (security.h): bounding set and, for root, effective =
  // permitted = keep_caps; no_new_privs; then `seccomp` just before exec.
  bool confine;
  std::uint64_t keep_caps;
  int cap_last;  // /proc/sys/kernel/cap_last_cap
  const sock_fprog* seccomp;
};


[[noreturn]] void ChildFail(const ChildPlan& plan, int step, int index = 0) {
  const ChildError e{step, errno, index};
  // Nothing sensible to do if the parent cannot hear us.
  [[maybe_unused]] ssize_t n = ::write(plan.error_pipe, &e, sizeof e);
  ::_exit(127);
}

// Inside fresh mount/pid/uts/ipc namespaces: make <rootfs> the root.
void EnterRootfs(const ChildPlan& plan) {
  // Nothing we mount may leak back into the host's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    ChildFail(plan, kMountPrivate);
  }
  if (plan.scratch != nullptr) {
    // The run's writable layer: gone with the mount namespace, so with the run.
    if (::mount("tmpfs", plan.scratch, "tmpfs", MS_NOSUID, "mode=0755") != 0 ||
        ::mkdir(plan.scratch_upper, 0755) != 0 || ::mkdir(plan.scratch_work, 0700) != 0 ||
        ::mkdir(plan.root, 0755) != 0) {
      ChildFail(plan, kScratch);
    }
    if (::mount("overlay", plan.root, "overlay", 0, plan.overlay_options) != 0) ChildFail(plan, kOverlay);
  } else if (::mount(plan.root, plan.root, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    // pivot_root needs the new root to be a mount point.
    ChildFail(plan, kBindRootfs);
  }
  // The new pid namespace's own /proc (ps, /proc/self).
  if (::mount("proc", plan.rootfs_proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    ChildFail(plan, kMountProc);
  }
  for (std::size_t i = 0; i < plan.bind_count; ++i) {
    const BindPlan& b = plan.binds[i];
    if (b.file_target) {
      const int fd = ::open(b.target, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
      if (fd < 0) ChildFail(plan, kBind, static_cast<int>(i));
      ::close(fd);
    }
    if (::mount(b.source, b.target, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      ChildFail(plan, kBind, static_cast<int>(i));
    }
  }
  // pivot_root(".", "."): the old root ends up on top of the new one and is
  // detached at once; no directory for it needed inside the image.
  if (::chdir(plan.root) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 ||
      ::umount2(".", MNT_DETACH) != 0 || ::chdir("/") != 0) {
    ChildFail(plan, kPivotRoot);
  }
  if (::sethostname(plan.hostname, plan.hostname_len) != 0) ChildFail(plan, kHostname);
}

// Runs in the vfork child: system calls only.
[[noreturn]] void ChildMain(const ChildPlan& plan) {
  // The parent's handlers must not run in the child (they would touch the
  // parent's memory); the workload starts with default dispositions.
  // The raw system call: glibc's sigaction() refuses the signals it keeps
  // for itself (32, 33), and an ignored one of those would reach the
  // workload through exec. The kernel's struct (handler, flags, restorer,
  // mask) is the same on x86_64 and aarch64; all zero is SIG_DFL.
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } dfl{};
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask);
  }
  // A swarmlet running real-time (to keep heartbeats on time) must not
  // pass that on; v1 also refuses an RT task into a cpu cgroup without RT
  // bandwidth (EINVAL on cgroup.procs).
  if (plan.reset_scheduler) {
    const sched_param normal{};
    if (::sched_setscheduler(0, SCHED_OTHER, &normal) != 0) ChildFail(plan, kScheduler);
  }
  for (std::size_t i = 0; i < plan.procs_count; ++i) {
    if (::write(plan.procs_fds[i], "0", 1) != 1) ChildFail(plan, kJoinCgroup);
  }
  if (plan.rootfs != nullptr) EnterRootfs(plan);
  if (plan.new_session && ::setsid() < 0) ChildFail(plan, kSession);
  if (::dup2(plan.stdin_fd, 0) < 0 || ::dup2(plan.stdout_fd, 1) < 0 ||
      ::dup2(plan.stderr_fd, 2) < 0) {
    ChildFail(plan, kStdio);
  }
  if (plan.confine) {
    // Needs CAP_SETPCAP, so before the identity changes.
    for (int cap = 0; cap <= plan.cap_last; ++cap) {
      if ((plan.keep_caps & CapBit(cap)) == 0 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
          errno != EINVAL) {
        ChildFail(plan, kCapabilities);
      }
    }
    // Kernels before 4.3 have no ambient set (EINVAL): nothing to clear.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
      ChildFail(plan, kCapabilities);
    }
  }
  if (plan.gid >= 0) {
    if (::syscall(SYS_setgroups, plan.group_count, plan.groups) != 0 ||
        ::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) {
      ChildFail(plan, kIdentity);
    }
  }
  if (plan.uid >= 0 && ::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
    ChildFail(plan, kIdentity);
  }
  if (plan.confine) {
    // A uid other than 0 has lost every capability already (the kernel's
    // rule for setresuid); root keeps the default set. Inheritable stays
    // empty, as Docker's since CVE-2022-24769.
    const std::uint64_t caps = plan.uid > 0 ? 0 : plan.keep_caps;
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {
        {static_cast<std::uint32_t>(caps), static_cast<std::uint32_t>(caps), 0},
        {static_cast<std::uint32_t>(caps >> 32), static_cast<std::uint32_t>(caps >> 32), 0}};
    if (::syscall(SYS_capset, &header, data) != 0) ChildFail(plan, kCapabilities);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(plan, kNoNewPrivs);
  }
  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0) ChildFail(plan, kChdir);
  // Whatever the swarmlet inherited without O_CLOEXEC (a shell's stray
  // fds) must not reach the workload. Marking them close-on-exec keeps the
  // error pipe working until the exec itself. Kernels before 5.11 (and
  // qemu-user) lack the flag; there only our own O_CLOEXEC fds are safe.
  ::syscall(SYS_close_range, 3u, ~0u, kCloseRangeCloexec);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Last: from here on the filter judges every call, execve's included.
  if (plan.seccomp != nullptr &&
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, plan.seccomp) != 0) {
    ChildFail(plan, kSeccomp);
  }
  ::execve(plan.path, plan.argv, plan.envp);
  ChildFail(plan, kExec);
}

// vfork in its own frame: nothing of the caller's is live across it.
pid_t VforkAndRun(const ChildPlan& plan) {
  const pid_t pid = ::vfork();
  if (pid == 0) ChildMain(plan);
  return pid;
}

int CloneEntry(void* plan) { ChildMain(*static_cast<const ChildPlan*>(plan)); }

// An image run: like vfork (CLONE_VM | CLONE_VFORK), plus new namespaces.
// The child must be created inside the pid namespace to be its pid 1, which
// vfork + unshare cannot do; it runs on a stack of its own.
pid_t CloneIntoNamespaces(const ChildPlan& plan) {
  constexpr std::size_t kStack = 256 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  const int flags = CLONE_VM | CLONE_VFORK | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
                    CLONE_NEWIPC | SIGCHLD;
  const pid_t pid = ::clone(CloneEntry, static_cast<char*>(stack) + kStack, flags,
                            const_cast<ChildPlan*>(&plan));
  const int err = errno;
  ::munmap(stack, kStack);  // CLONE_VFORK: the child has exec'd or exited
  errno = err;
  return pid;
}

// The highest capability this kernel knows; 63 (each drop of an unknown one
// answers EINVAL, which the child skips) when /proc does not say.
int CapLastCap() {
  auto text = ReadFileAt(AT_FDCWD, "/proc/sys/kernel/cap_last_cap");
  int last = 63;
  if (text.ok()) std::from_chars(text->data(), text->data() + text->size(), last);
  return last >= 0 && last < 64 ? last : 63;
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string ResolveCommand(const std::string& name, const std::string& path_env,
                           const std::string& root) {
  if (name.empty() || name.find('/') != std::string::npos) return name;
  std::size_t pos = 0;
  while (pos <= path_env.size()) {
    std::size_t end = path_env.find(':', pos);
    if (end == std::string::npos) end = path_env.size();
    std::string dir = path_env.substr(pos, end - pos);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    // Inside an image: "<root>/bin/sh" is checked, "/bin/sh" exec'd. A
    // symlink (busybox applets) is resolved by access() against the host
    // root, so a lexical check on the link itself is used there.
    if (root.empty()) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    } else {
      struct stat st {};
      if (::lstat((root + candidate).c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return candidate;
    }
    pos = end + 1;
  }
  return name;
}

Result<pid_t> Spawn(const SpawnRequest& request) {
  if (request.argv.empty() || request.argv[0].empty()) {
    return Status::InvalidArgument("spawn", "missing command");
  }
  std::string path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : request.env) {
    if (e.rfind("PATH=", 0) == 0) path_env = e.substr(5);
  }
  // Inside an image the command is looked up in the image, and exec'd by
  // its path there (after pivot_root).
  std::string path = ResolveCommand(request.argv[0], path_env, request.rootfs);
  const std::string rootfs_proc = request.rootfs + "/proc";
  const std::string rootfs_dev = request.rootfs + "/dev";
  // With a scratch dir the run pivots into an overlay of the image; mount
  // points are still made in the image itself (they show through).
  const bool overlay = !request.rootfs.empty() && !request.scratch_dir.empty();
  const std::string root = overlay ? request.scratch_dir + "/root" : request.rootfs;
  const std::string root_proc = root + "/proc";
  const std::string scratch_upper = request.scratch_dir + "/upper";
  const std::string scratch_work = request.scratch_dir + "/work";
  const std::string overlay_options =
      "lowerdir=" + request.rootfs + ",upperdir=" + scratch_upper + ",workdir=" + scratch_work;
  if (overlay && (request.rootfs.find_first_of(",:\\") != std::string::npos ||
                  request.scratch_dir.find_first_of(",:\\") != std::string::npos)) {
    return Status::InvalidArgument("overlay of " + request.rootfs + " in " + request.scratch_dir,
                                   "path contains ',', ':' or '\\'");
  }
  const SeccompFilter* filter = nullptr;
  if (request.confine) {
    auto compiled = DefaultSeccompFilter();
    if (!compiled.ok()) return compiled.status();
    filter = *compiled;
  }
  const sock_fprog seccomp_prog = filter != nullptr ? filter->fprog() : sock_fprog{};
  // (source, target, file_target): the strings live here, the plan points at them.
  std::vector<std::tuple<std::string, std::string, bool>> binds;
  std::vector<BindPlan> bind_plans;
  if (!request.rootfs.empty()) {
    for (const std::string& dir : {rootfs_proc, rootfs_dev}) {
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", dir, errno);
    }
    // The image's /dev gets the basic device nodes once (mknod, same
    // numbers as the host's), not the host's /dev, which would expose every
    // disk. A tmpfs /dev with bind-mounted nodes per run measured ~3 ms
    // per spawn (mount and namespace teardown); nodes in the image cost
    // nothing after the first run. Needs an image filesystem without nodev.
    for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
      const std::string inside = rootfs_dev + "/" + node;
      struct stat host {}, existing {};
      if (::lstat(inside.c_str(), &existing) == 0 || ::stat((std::string("/dev/") + node).c_str(), &host) != 0) {
        continue;
      }
      if (::mknod(inside.c_str(), S_IFCHR | 0666, host.st_rdev) != 0 ||
          ::chmod(inside.c_str(), 0666) != 0) {
        return ErrnoStatus("mknod", inside, errno);
      }
    }
    auto mounts = request.volumes;
    if (!request.data_dir.empty()) mounts.emplace_back(request.data_dir, "/data");
    for (const auto& [host, inside] : mounts) {
      struct stat st {};
      if (::stat(host.c_str(), &st) != 0) return ErrnoStatus("volume", host, errno);
      if (inside.empty() || inside[0] != '/' || inside.find("..") != std::string::npos ||
          inside == "/") {
        return Status::InvalidArgument("volume " + host + ":" + inside,
                                       "the path inside must be absolute, without '..'");
      }
      const std::string target = request.rootfs + inside;
      const bool is_file = !S_ISDIR(st.st_mode);
      // mkdir -p of the mount point inside the image (the file itself, for
      // a file, is created by the child).
      const std::string dir = is_file ? target.substr(0, target.rfind('/')) : target;
      for (std::size_t slash = request.rootfs.size() + 1; slash != std::string::npos;) {
        slash = dir.find('/', slash + 1);
        const std::string prefix = dir.substr(0, slash);
        if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
          return ErrnoStatus("mkdir", prefix, errno);
        }
      }
      binds.emplace_back(host, root + inside, is_file);
    }
    for (const auto& [source, target, file] : binds) {
      bind_plans.push_back({source.c_str(), target.c_str(), file});
    }
  }
  std::vector<char*> argv = CStrings(request.argv);
  std::vector<char*> envp = CStrings(request.env);

  // stdin is always /dev/null: a workload reads no terminal.
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoStatus("open", "/dev/null", errno);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", "", errno);
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  ChildPlan plan{};
  plan.path = path.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.procs_fds = request.cgroup_procs_fds.data();
  plan.procs_count = request.cgroup_procs_fds.size();
  plan.stdin_fd = devnull.get();
  plan.stdout_fd = request.stdout_fd >= 0 ? request.stdout_fd : devnull.get();
  plan.stderr_fd = request.stderr_fd >= 0 ? request.stderr_fd : devnull.get();
  plan.cwd = request.cwd.empty() ? nullptr : request.cwd.c_str();
  plan.new_session = request.new_session;
  plan.reset_scheduler = ::sched_getscheduler(0) != SCHED_OTHER;
  plan.error_pipe = write_end.get();
  if (!request.rootfs.empty()) {
    plan.rootfs = request.rootfs.c_str();
    plan.root = root.c_str();
    plan.rootfs_proc = root_proc.c_str();
    if (overlay) {
      plan.scratch = request.scratch_dir.c_str();
      plan.scratch_upper = scratch_upper.c_str();
      plan.scratch_work = scratch_work.c_str();
      plan.overlay_options = overlay_options.c_str();
    }
    plan.binds = bind_plans.data();
    plan.bind_count = bind_plans.size();
    plan.hostname = request.hostname.c_str();
    plan.hostname_len = request.hostname.size();
  }
  plan.uid = request.uid;
  plan.gid = request.gid;
  plan.groups = request.groups.data();
  plan.group_count = request.groups.size();
  plan.confine = request.confine;
  plan.keep_caps = kDefaultCapabilities;
  plan.cap_last = request.confine ? CapLastCap() : 0;
  plan.seccomp = filter != nullptr ? &seccomp_prog : nullptr;

  // Signals stay blocked while the child borrows our memory.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = request.rootfs.empty() ? VforkAndRun(plan) : CloneIntoNamespaces(plan);
  const int vfork_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    return ErrnoStatus(request.rootfs.empty() ? "vfork for" : "clone into namespaces for",
                       request.argv[0], vfork_err);
  }

  write_end.reset();
  ChildError e{};
  ssize_t n;
  do {
    n = ::read(read_end.get(), &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return pid;  // EOF: the exec closed the pipe

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof e)) {
    return Status::Internal("spawn " + request.argv[0], "garbled report from the child");
  }
  switch (e.step) {
    case kJoinCgroup: return ErrnoStatus("join cgroup for", request.argv[0], e.err);
    case kStdio: return ErrnoStatus("set up stdio for", request.argv[0], e.err);
    case kSession: return ErrnoStatus("setsid for", request.argv[0], e.err);
    case kChdir: return ErrnoStatus("chdir", request.cwd, e.err);
    case kScheduler: return ErrnoStatus("reset scheduler for", request.argv[0], e.err);
    case kMountPrivate: return ErrnoStatus("make / private for", request.argv[0], e.err);
    case kBindRootfs: return ErrnoStatus("bind-mount image", request.rootfs, e.err);
    case kMountProc: return ErrnoStatus("mount /proc in", request.rootfs, e.err);
    case kBind:
      if (e.index >= 0 && static_cast<std::size_t>(e.index) < binds.size()) {
        return ErrnoStatus("bind-mount " + std::get<0>(binds[e.index]) + " on",
                           std::get<1>(binds[e.index]), e.err);
      }
      return ErrnoStatus("bind-mount into", request.rootfs, e.err);
    case kPivotRoot: return ErrnoStatus("pivot_root into", request.rootfs, e.err);
    case kHostname: return ErrnoStatus("sethostname", request.hostname, e.err);
    case kScratch: return ErrnoStatus("mount a tmpfs for the writable layer on", request.scratch_dir, e.err);
    case kOverlay:
      if (e.err == ENODEV) {
        return Status::Unsupported("mount overlay of " + request.rootfs,
                                   "the kernel lacks overlayfs (modprobe overlay, or run --privileged)");
      }
      return ErrnoStatus("mount overlay of " + request.rootfs + " on", root, e.err);
    case kCapabilities: return ErrnoStatus("drop capabilities for", request.argv[0], e.err);
    case kNoNewPrivs: return ErrnoStatus("set no_new_privs for", request.argv[0], e.err);
    case kSeccomp: return ErrnoStatus("install seccomp filter for", request.argv[0], e.err);
    case kIdentity:
      return ErrnoStatus("switch to uid " + std::to_string(request.uid) + " gid " +
                             std::to_string(request.gid) + " for",
                         request.argv[0], e.err);
    default: return ErrnoStatus("exec", path, e.err);
  }
}

std::string ExitStatus::Describe() const {
  if (oom_killed) return "OOM killed";
  if (!code_known) return "exited (code unknown)";
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return std::string("killed by ") + (name ? std::string("SIG") + name : "signal " + std::to_string(signal));
  }
  return "exited " + std::to_string(exit_code);
}

int ExitStatus::ShellCode() const {
  if (oom_killed) return 128 + SIGKILL;
  if (signal != 0) return 128 + signal;
  return code_known ? exit_code : 1;
}

namespace {

ExitStatus FromWaitStatus(int status) {
  ExitStatus out;
  if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  } else {
    out.exit_code = WEXITSTATUS(status);
  }
  return out;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

Result<std::optional<ExitStatus>> WaitProcess(pid_t pid,
                                              std::optional<std::chrono::milliseconds> timeout) {
  int status = 0;
  if (!timeout) {
    pid_t r;
    while ((r = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (r == pid) return std::optional<ExitStatus>(FromWaitStatus(status));
    if (errno != ECHILD) return ErrnoStatus("waitpid", std::to_string(pid), errno);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::hours(24 * 365));
  // A pidfd turns "has it ended" into poll(); kernels and emulators without
  // pidfd_open fall back to checking every 10 ms.
  UniqueFd pidfd;
  bool pidfd_tried = false;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return std::optional<ExitStatus>(FromWaitStatus(status));
    if (r < 0 && errno == ECHILD) {
      // Not our child: a re-adopted workload. It has ended when kill(0)
      // fails, or when it is a zombie its new parent has not reaped yet.
      if ((::kill(pid, 0) != 0 && errno == ESRCH) || !ProcessStartTime(pid).ok()) {
        ExitStatus unknown;
        unknown.code_known = false;
        return std::optional<ExitStatus>(unknown);
      }
    } else if (r < 0 && errno != EINTR) {
      return ErrnoStatus("waitpid", std::to_string(pid), errno);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::optional<ExitStatus>();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    if (!pidfd_tried) {
      pidfd.reset(PidfdOpen(pid));
      pidfd_tried = true;
    }
    if (pidfd.valid()) {
      pollfd p{pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left + 1, 1000)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<long long>(left + 1, 10)));
    }
  }
}

Result<std::uint64_t> ProcessStartTime(pid_t pid) {
  auto text = ReadFileAt(AT_FDCWD, "/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return text.status();
  // The command name (field 2) may hold spaces and parentheses: count from
  // the last ')'.
  const std::size_t close = text->rfind(')');
  if (close == std::string::npos) return Status::Corrupt("parse /proc/pid/stat", "no ')'");
  std::size_t pos = close + 2;
  // Field 3, the state: a zombie (or a dead task) has ended; only its
  // reaping is left, which is its parent's (init's, for a re-adopted one).
  if (pos < text->size() && ((*text)[pos] == 'Z' || (*text)[pos] == 'X')) {
    return Status::NotFound("process " + std::to_string(pid), "has ended (a zombie)");
  }
  for (int field = 3; field < 22; ++field) {
    pos = text->find(' ', pos);
    if (pos == std::string::npos) return Status::Corrupt("parse /proc/pid/stat", "too few fields");
    ++pos;
  }
  std::uint64_t start = 0;
  std::from_chars(text->data() + pos, text->data() + text->size(), start);
  return start;
}

}  // namespace swarmlet::executor
