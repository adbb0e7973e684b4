// The confinement's pure parts and the default seccomp filter on this
// kernel (installed in a forked child, so no root needed).
#include "swarmlet/executor/security.h"

#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <catch2/catch.hpp>
#include <string>

#include "test_support.h"

using namespace swarmlet::executor;

TEST_CASE("default capabilities are Docker's without NET_RAW", "[executor][security]") {
  // Docker's default CapEff is 00000000a80425fb; CAP_NET_RAW is bit 13.
  CHECK(kDefaultCapabilities == (0xa80425fbull & ~CapBit(CAP_NET_RAW)));
  CHECK(kDefaultCapabilities == 0xa80405fbull);
  CHECK((kDefaultCapabilities & CapBit(CAP_SYS_ADMIN)) == 0);
  CHECK((kDefaultCapabilities & CapBit(CAP_SYS_BOOT)) == 0);
  CHECK((kDefaultCapabilities & CapBit(CAP_CHOWN)) != 0);
}

TEST_CASE("the deny-list covers what the issue names", "[executor][security]") {
  const auto denied = DeniedSyscalls();
  for (const char* name : {"mount", "umount2", "reboot", "kexec_load", "init_module", "finit_module",
                           "delete_module", "swapon", "swapoff", "pivot_root", "keyctl", "bpf",
                           "perf_event_open", "unshare", "setns", "open_by_handle_at", "acct",
                           "settimeofday", "clock_settime"}) {
    INFO(name);
    CHECK(std::any_of(denied.begin(), denied.end(), [&](const char* d) { return std::string(d) == name; }));
  }
  CHECK(std::none_of(denied.begin(), denied.end(), [](const char* d) {
    return std::string(d) == "execve" || std::string(d) == "ptrace" || std::string(d) == "clone";
  }));
}

TEST_CASE("user ids: --user parses UID[:GID] and refuses anything else", "[executor][security]") {
  auto a = ParseUser("1000");
  REQUIRE(a.ok());
  CHECK(a->uid == 1000);
  CHECK(a->gid == 0);
  auto b = ParseUser("1000:1001");
  REQUIRE(b.ok());
  CHECK(b->uid == 1000);
  CHECK(b->gid == 1001);
  auto root = ParseUser("0:0");
  REQUIRE(root.ok());
  CHECK(root->uid == 0);
  for (const char* bad : {"", "nobody", "1000:", ":1000", "-1", "1000:-1", "4294967295", "1:2:3", " 1", "1x"}) {
    INFO(bad);
    auto r = ParseUser(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);
    CHECK(r.status().message() == std::string("--user \"") + bad +
                                      "\": expected UID[:GID], numeric ids 0..4294967294 "
                                      "(names are not looked up)");
  }
}

namespace {

// Runs `checks` in a forked child under the default filter; returns its
// exit code (0: every check held; n: check n failed; 100+: setup failed).
int UnderFilter(const SeccompFilter& filter, int (*checks)()) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(100);
    if (!InstallSeccompFilter(filter).ok()) ::_exit(101);
    ::_exit(checks());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// Each call's unfiltered answer differs from the filtered one, root or not.
int FilteredChecks() {
  errno = 0;
  // Unfiltered: EFAULT (NULL attr).
  if (::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0) != -1 || errno != EPERM) return 1;
  // Unfiltered: the session keyring's id.
  if (::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) != -1 || errno != EPERM)
    return 2;
  // Unfiltered: EINVAL (no args); the filter sends libcs back to clone.
  if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) return 3;
  // Unfiltered as root (CI): success.
  if (::unshare(CLONE_NEWUTS) != -1 || errno != EPERM) return 4;
  if (::syscall(SYS_umount2, "/nonexistent-stratoswarm", 0) != -1 || errno != EPERM) return 5;
  // What a workload needs still works: fork (clone without namespace
  // flags), wait, getpid.
  const pid_t child = ::fork();
  if (child < 0) return 6;
  if (child == 0) ::_exit(7);
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 7) return 7;
  if (::getpid() <= 0) return 8;
  return 0;
}

}  // namespace

TEST_CASE("the default seccomp filter refuses with EPERM and lets ordinary calls through",
          "[executor][security]") {
  if (std::getenv("STRATOSWARM_TEST_EMULATOR") != nullptr) SKIP_TEST("qemu-user does not emulate seccomp");
  auto filter = DefaultSeccompFilter();
  if (!filter.ok() && filter.status().code() == mesh::StatusCode::kUnsupported) {
    SKIP_TEST(filter.status().ToString());
  }
  REQUIRE(filter.ok());
  CHECK((*filter)->program.size() > DeniedSyscalls().size() / 2);
  CHECK(DefaultSeccompFilter().value() == *filter);  // compiled once
  CHECK(UnderFilter(**filter, FilteredChecks) == 0);
}
