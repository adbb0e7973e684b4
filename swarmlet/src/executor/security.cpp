#include "swarmlet/executor/security.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <memory>

#include "fd.h"

namespace swarmlet::executor {
namespace {

using mesh::Result;
using mesh::Status;

// Docker's default profile refuses these by leaving them off its allow-list
// (or allowing them only with a capability we drop anyway). ptrace stays
// allowed, as in Docker on kernels >= 4.8: without CAP_SYS_PTRACE it reaches
// only the workload's own processes.
constexpr const char* kDenied[] = {
    // mounts and the root
    "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr",
    // namespaces (clone's flags are checked separately)
    "unshare", "setns",
    // the machine
    "reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module", "swapon", "swapoff", "acct", "quotactl",
    "quotactl_fd", "nfsservctl", "syslog", "_sysctl", "sysfs", "uselib", "ustat", "iopl", "ioperm",
    "vm86", "vm86old", "lookup_dcookie",
    // the clock
    "settimeofday", "clock_settime", "clock_adjtime", "stime",
    // the kernel keyring, BPF, perf, file handles, NUMA policy, io_uring
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "open_by_handle_at", "name_to_handle_at", "kcmp", "move_pages", "mbind", "set_mempolicy",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
};

constexpr std::uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                             CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

// A call from an architecture the filter does not name is killed
// (libseccomp's bad-arch action): 32-bit programs in an image run only with
// their architecture listed, and then meet the same deny rules.
#if defined(__x86_64__)
constexpr std::array<std::uint32_t, 2> kCompatArches = {SCMP_ARCH_X86, SCMP_ARCH_X32};
#elif defined(__aarch64__)
constexpr std::array<std::uint32_t, 1> kCompatArches = {SCMP_ARCH_ARM};
#else
constexpr std::array<std::uint32_t, 0> kCompatArches = {};
#endif

// The libseccomp error translation point.
Status SeccompError(std::string_view what, int rc) {
  return Status::Internal("seccomp filter: " + std::string(what), std::strerror(-rc));
}

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

Result<SeccompFilter> Compile() {
  // The kernel must know filters and the ERRNO action (Linux 4.14+ answers
  // this query; older kernels with filters still load ours fine).
  std::uint32_t action = SECCOMP_RET_ERRNO;
  if (::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0 && errno != EINVAL) {
    const int err = errno;
    if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
      return Status::Unsupported("seccomp", "unavailable on this kernel (CONFIG_SECCOMP_FILTER); "
                                            "run the workload with --privileged to go without");
    }
    return Status::Unsupported("seccomp", std::string("unavailable on this kernel: ") + std::strerror(err));
  }
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Status::Internal("seccomp filter", "seccomp_init failed");
  // no_new_privs is the executor's own step (it reports its failure).
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc != 0) return SeccompError("nnp", rc);
  for (std::uint32_t arch : kCompatArches) {
    if (int rc = seccomp_arch_add(ctx.get(), arch); rc != 0 && rc != -EEXIST) return SeccompError("add arch", rc);
  }
  for (const char* name : kDenied) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp
    const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    // A pseudo number (negative) is a call none of our architectures has.
    if (rc != 0 && nr >= 0) return SeccompError(std::string("deny ") + name, rc);
  }
  for (std::uint64_t flag : kNamespaceFlags) {
    const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                    SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return SeccompError("deny clone flags", rc);
  }
  if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc != 0) {
    return SeccompError("clone3", rc);
  }
  // libseccomp 2.5 exports only to an fd.
  UniqueFd mem(static_cast<int>(::syscall(SYS_memfd_create, "seccomp", MFD_CLOEXEC)));
  if (!mem.valid()) return ErrnoStatus("memfd_create for", "seccomp filter", errno);
  if (int rc = seccomp_export_bpf(ctx.get(), mem.get()); rc != 0) return SeccompError("export", rc);
  const off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0 || size > 0xffff * static_cast<off_t>(sizeof(sock_filter))) {
    return Status::Internal("seccomp filter", "exported program has a bad size");
  }
  SeccompFilter out;
  out.program.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), out.program.data(), static_cast<std::size_t>(size), 0) != size) {
    return ErrnoStatus("read back", "seccomp filter", errno);
  }
  return out;
}

}  // namespace

std::span<const char* const> DeniedSyscalls() { return kDenied; }

Result<const SeccompFilter*> DefaultSeccompFilter() {
  static const Result<SeccompFilter> compiled = Compile();
  if (!compiled.ok()) return compiled.status();
  return &*compiled;
}

Status InstallSeccompFilter(const SeccompFilter& filter) {
  const sock_fprog prog = filter.fprog();
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    return ErrnoStatus("install", "seccomp filter", errno);
  }
  return Status::Ok();
}

Result<UserIds> ParseUser(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("--user \"" + std::string(text) + "\"", why);
  };
  const auto parse = [](std::string_view s, std::int64_t& out) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > 0xfffffffe) return false;
    out = static_cast<std::int64_t>(v);
    return true;
  };
  UserIds ids;
  const auto colon = text.find(':');
  if (!parse(text.substr(0, colon), ids.uid)) {
    return bad("expected UID[:GID], numeric ids 0..4294967294 (names are not looked up)");
  }
  ids.gid = 0;
  if (colon != std::string_view::npos && !parse(text.substr(colon + 1), ids.gid)) {
    return bad("expected UID[:GID], numeric ids 0..4294967294 (names are not looked up)");
  }
  return ids;
}

}  // namespace swarmlet::executor
