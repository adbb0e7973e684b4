// Image workloads through the real executor (issue 17): confined by
// default, a private writable layer per run, --user, --privileged. Needs
// root and busybox-static; skips with the reason otherwise.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "executor_test_support.h"
#include "swarmlet/cgroup_mode.h"
#include "swarmlet/executor/executor.h"
#include "swarmlet/executor/security.h"
#include "test_support.h"

using namespace swarmlet::executor;
using namespace executor_test;
using std::chrono::milliseconds;

namespace {

constexpr std::initializer_list<const char*> kApplets = {"sh",   "cat",  "grep",  "mount", "reboot",
                                                         "ping", "id",   "echo",  "test",  "ls"};

// The /proc/self/status lines a test compares, as the workload prints them.
const char kStatusProbe[] =
    "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | "
    "while read k v; do echo \"$k$v\"; done; ";
const char kRefusalProbe[] =
    "mount -t tmpfs none /bin 2>/dev/null && echo mount=ok || echo mount=refused; "
    "reboot -f 2>/dev/null && echo reboot=ok || echo reboot=refused; "
    "ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1 && echo ping=ok || echo ping=refused; ";

std::string Hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// This process's line for `key` in /proc/self/status, "Key:value" without blanks.
std::string OwnStatus(const std::string& key) {
  std::istringstream in(ReadAll("/proc/self/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return key + ":" + v;
    }
  }
  return "";
}

struct Fixture {
  TempDirGuard tmp{MakeTempDir("contain")};
  NodeGuard guard{UniqueNode("contain")};
  std::unique_ptr<Executor> ex;
  std::string skip;

  Fixture() {
    if (!RunningAsRoot()) {
      skip = "needs root (namespaces, mounts, cgroups)";
      return;
    }
    if (std::getenv("STRATOSWARM_TEST_EMULATOR") != nullptr) {
      skip = "qemu-user emulates neither clone into namespaces nor seccomp";
      return;
    }
    if (!MakeBusyboxImage(tmp.path + "/images", kApplets)) {
      skip = "no /bin/busybox (busybox-static)";
      return;
    }
    auto backend = MakeHostCgroupBackend();
    if (!backend.ok()) {
      skip = "no writable cgroups: " + backend.status().ToString();
      return;
    }
    ExecutorOptions o;
    o.state_dir = tmp.path + "/state";
    o.node_name = guard.node;
    o.images_dir = tmp.path + "/images";
    o.cgroups = std::move(*backend);
    auto opened = Executor::Open(std::move(o));
    if (!opened.ok()) {
      skip = "executor: " + opened.status().ToString();
      return;
    }
    ex = std::move(*opened);
  }

  // Runs `script` in the busybox image to its end; returns its output.
  std::string Run(WorkloadSpec spec, const std::string& script) {
    spec.image = "busybox";
    spec.argv = {"sh", "-c", script};
    auto id = ex->Start(spec);
    INFO(id.status().ToString());
    REQUIRE(id.ok());
    // A shell as pid 1 ignores SIGTERM: the guard SIGKILLs what is left.
    guard.pids.push_back(ex->Get(*id)->pid);
    auto info = ex->Wait(*id, milliseconds(20000));
    REQUIRE(info.ok());
    const std::string log = ReadAll(info->log_path);
    INFO(log);
    CHECK(info->last_exit->success());
    CHECK(ex->Remove(*id).ok());
    return log;
  }
};

}  // namespace

TEST_CASE("root: an image workload runs with the default capabilities, no_new_privs and seccomp",
          "[executor][root][image][security]") {
  Fixture f;
  if (!f.skip.empty()) SKIP_TEST(f.skip);
  const std::string caps = Hex16(kDefaultCapabilities);
  const std::string log = f.Run(WorkloadSpec{}, std::string(kStatusProbe) + kRefusalProbe);
  CHECK(log == "CapInh:0000000000000000\nCapPrm:" + caps + "\nCapEff:" + caps + "\nCapBnd:" + caps +
                   "\nCapAmb:0000000000000000\nNoNewPrivs:1\nSeccomp:2\n"
                   "mount=refused\nreboot=refused\nping=refused\n");
  CHECK(caps == "00000000a80405fb");
  CHECK_FALSE(WorkloadCgroupsLeft(f.guard.node));
  CHECK(ReadAll("/proc/self/mountinfo").find(f.tmp.path) == std::string::npos);
}

TEST_CASE("root: writes to an image's root go to the run's own layer",
          "[executor][root][image][security]") {
  Fixture f;
  if (!f.skip.empty()) SKIP_TEST(f.skip);
  CHECK(f.Run(WorkloadSpec{}, "echo one > /probe && cat /probe && echo two > /bin/added && ls /bin/added") ==
        "one\n/bin/added\n");
  // Not in the image, and not seen by the next run of it.
  CHECK_FALSE(Exists(f.tmp.path + "/images/busybox/probe"));
  CHECK_FALSE(Exists(f.tmp.path + "/images/busybox/bin/added"));
  CHECK(f.Run(WorkloadSpec{}, "test -e /probe && echo seen || echo absent; test -e /bin/added || echo gone") ==
        "absent\ngone\n");
  // The layers died with their runs: nothing mounted or left on the host.
  CHECK(ReadAll("/proc/self/mountinfo").find(f.tmp.path) == std::string::npos);
  CHECK(std::filesystem::is_empty(f.tmp.path + "/state/scratch"));
}

TEST_CASE("root: --user 1000:1000 runs the workload as uid and gid 1000 without capabilities",
          "[executor][root][image][security]") {
  Fixture f;
  if (!f.skip.empty()) SKIP_TEST(f.skip);
  WorkloadSpec spec;
  spec.uid = 1000;
  spec.gid = 1000;
  CHECK(f.Run(spec, "id -u; id -g; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status | "
                    "while read k v; do echo \"$k$v\"; done") ==
        "1000\n1000\n1000\nCapEff:0000000000000000\nCapBnd:" + Hex16(kDefaultCapabilities) +
            "\nNoNewPrivs:1\n");
}

TEST_CASE("root: --privileged keeps every capability and no filter", "[executor][root][image][security]") {
  Fixture f;
  if (!f.skip.empty()) SKIP_TEST(f.skip);
  WorkloadSpec spec;
  spec.privileged = true;
  // As the swarmlet itself has them (root: every capability this kernel has).
  const std::string expected = OwnStatus("CapEff") + "\n" + OwnStatus("CapBnd") + "\nNoNewPrivs:0\nSeccomp:0\n";
  CHECK(f.Run(spec,
              "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | "
              "while read k v; do echo \"$k$v\"; done; "
              "ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1 && echo ping=ok || echo ping=refused; "
              "mount -t tmpfs none /bin 2>/dev/null && echo mount=ok || echo mount=refused") ==
        expected + "ping=ok\nmount=ok\n");
  CHECK(OwnStatus("NoNewPrivs") == "NoNewPrivs:0");
}
