// What an image workload may do as root inside its namespaces (issue 17).
//
// A confined workload (every image workload unless --privileged) gets, in
// this order, after its mounts and pivot_root and just before execve:
//   - a capability bounding set of kDefaultCapabilities, ambient set
//     cleared, and (when it stays root) effective = permitted =
//     kDefaultCapabilities, inheritable empty; a non-root --user has none,
//     by the kernel's rules for a uid change;
//   - PR_SET_NO_NEW_PRIVS: setuid binaries and file capabilities grant
//     nothing;
//   - the default seccomp filter: a deny-list in the spirit of Docker's
//     profile (DeniedSyscalls(), namespace-creating clone flags), each
//     refused with EPERM; clone3 answers ENOSYS so libcs fall back to clone,
//     whose flags a filter can see.
// Host workloads (no image) run as root on the host, unconfined.
//
// Thread safety: DefaultSeccompFilter() compiles once (thread-safe static)
// and returns the same immutable program afterwards; the rest is pure.
#pragma once

#include <linux/capability.h>
#include <linux/filter.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace swarmlet::executor {

constexpr std::uint64_t CapBit(int cap) { return std::uint64_t{1} << cap; }

// Docker's default set (moby oci/caps/defaults.go: CHOWN, DAC_OVERRIDE,
// FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
// NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE) without CAP_NET_RAW: a
// workload may not open raw sockets (no ping, no packet sniffing).
inline constexpr std::uint64_t kDefaultCapabilities =
    CapBit(CAP_CHOWN) | CapBit(CAP_DAC_OVERRIDE) | CapBit(CAP_FSETID) | CapBit(CAP_FOWNER) |
    CapBit(CAP_MKNOD) | CapBit(CAP_SETGID) | CapBit(CAP_SETUID) | CapBit(CAP_SETFCAP) |
    CapBit(CAP_SETPCAP) | CapBit(CAP_NET_BIND_SERVICE) | CapBit(CAP_SYS_CHROOT) |
    CapBit(CAP_KILL) | CapBit(CAP_AUDIT_WRITE);

// The system calls the default filter refuses with EPERM, by libseccomp
// name; those an architecture lacks are skipped there.
std::span<const char* const> DeniedSyscalls();

// A compiled classic-BPF seccomp program.
struct SeccompFilter {
  std::vector<sock_filter> program;
  sock_fprog fprog() const {
    return {static_cast<unsigned short>(program.size()), const_cast<sock_filter*>(program.data())};
  }
};

// The default filter for the native architecture plus its 32-bit
// compatibility ones (x86 and x32 on x86_64, arm on aarch64). Unsupported,
// with a one-line reason, when the kernel has no seccomp filter mode;
// Internal when libseccomp refuses a rule.
mesh::Result<const SeccompFilter*> DefaultSeccompFilter();

// Installs `filter` on the calling thread (needs no_new_privs or
// CAP_SYS_ADMIN). For tests; the executor's child uses the raw system call.
mesh::Status InstallSeccompFilter(const SeccompFilter& filter);

// `--user UID[:GID]`, numeric ids (the swarmlet reads no /etc/passwd of an
// image): "1000" is uid 1000 gid 0 (as Docker without a passwd entry),
// "1000:1000" both. InvalidArgument, naming the input, otherwise.
struct UserIds {
  std::int64_t uid = -1;
  std::int64_t gid = -1;
};
mesh::Result<UserIds> ParseUser(std::string_view text);

}  // namespace swarmlet::executor
