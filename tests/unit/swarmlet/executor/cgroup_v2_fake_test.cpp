// The v2 backend on a fake cgroupfs: a plain directory tree in /tmp with the
// files the kernel would show. Runs without root.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "executor_test_support.h"
#include "test_support.h"
#include "swarmlet/executor/cgroup.h"

using namespace swarmlet::executor;
using namespace executor_test;

namespace {

std::unique_ptr<CgroupBackend> FakeV2(const std::string& root, const std::string& controllers) {
  std::ofstream(root + "/cgroup.controllers") << controllers << "\n";
  std::ofstream(root + "/cgroup.subtree_control") << "";
  CgroupFsOptions options;
  options.mode = swarmlet::CgroupMode::kUnified;
  options.root = root;
  options.create_files = true;
  auto backend = MakeCgroupFsBackend(options);
  REQUIRE(backend.ok());
  return std::move(*backend);
}

std::string Trimmed(const std::string& path) {
  std::string s = ReadAll(path);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("v2 on a fake tree: limits land in memory.max, cpu.max, pids.max", "[executor][cgroup]") {
  TempDirGuard tmp{MakeTempDir("v2fake")};
  auto backend = FakeV2(tmp.path, "cpuset cpu io memory pids");
  CHECK(backend->name() == "cgroupfs v2");

  ResourceLimits l;
  l.cpu_cores = 0.5;
  l.memory_bytes = 128ull << 20;
  l.pids_max = 32;
  auto cg = backend->Create("node-a", "w1", l);
  REQUIRE(cg.ok());
  const std::string dir = tmp.path + "/stratoswarm/node-a/w1";
  CHECK((*cg)->Describe() == dir);
  CHECK(Trimmed(dir + "/cpu.max") == "50000 100000");
  CHECK(Trimmed(dir + "/memory.max") == "134217728");
  CHECK(Trimmed(dir + "/memory.swap.max") == "0");
  CHECK(Trimmed(dir + "/pids.max") == "32");
  // Each parent enables the controllers for its children.
  for (const std::string& parent :
       {tmp.path, tmp.path + "/stratoswarm", tmp.path + "/stratoswarm/node-a"}) {
    INFO(parent);
    CHECK(Trimmed(parent + "/cgroup.subtree_control") == "+cpu +memory +pids");
  }
  REQUIRE((*cg)->procs_fds().size() == 1);
  CHECK(fcntl((*cg)->procs_fds()[0], F_GETFD) & FD_CLOEXEC);
  CHECK(backend->List("node-a") == std::vector<std::string>{"w1"});

  // A second workload of the same name is refused, and leaves the first alone.
  auto dup = backend->Create("node-a", "w1", l);
  CHECK(dup.status().code() == mesh::StatusCode::kAlreadyExists);
  CHECK(Exists(dir + "/memory.max"));

  // Stats come from memory.events / cpu.stat / memory.current.
  std::ofstream(dir + "/memory.events") << "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n";
  std::ofstream(dir + "/cpu.stat") << "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n";
  std::ofstream(dir + "/memory.current") << "4096\n";
  std::ofstream(dir + "/memory.peak") << "8192\n";
  auto stats = (*cg)->ReadStats();
  REQUIRE(stats.ok());
  CHECK(stats->oom_kills == 1);
  CHECK(stats->cpu_usage_ns == 1'500'000);
  CHECK(stats->memory_current == 4096);
  CHECK(stats->memory_peak == 8192);

  // Re-adoption opens the same directory.
  auto reopened = backend->Open("node-a", "w1", l);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->Describe() == dir);

  REQUIRE((*cg)->Remove(std::chrono::milliseconds(100)).ok());
  CHECK_FALSE(Exists(dir));
  CHECK(Exists(tmp.path + "/stratoswarm/node-a"));  // parents stay for the next workload
  auto second = backend->Create("node-a", "w2", l);  // fast path: parents exist
  REQUIRE(second.ok());
  backend->RemoveNodeIfUnused("node-a");
  CHECK(Exists(tmp.path + "/stratoswarm/node-a"));  // still used by w2
  REQUIRE((*second)->Remove(std::chrono::milliseconds(100)).ok());
  backend->RemoveNodeIfUnused("node-a");
  CHECK_FALSE(Exists(tmp.path + "/stratoswarm"));
  CHECK((*cg)->Remove(std::chrono::milliseconds(100)).ok());  // idempotent
  CHECK(backend->Open("node-a", "w1", l).status().code() == mesh::StatusCode::kNotFound);
}

TEST_CASE("v2 on a fake tree: a missing controller is named", "[executor][cgroup]") {
  TempDirGuard tmp{MakeTempDir("v2fake")};
  auto backend = FakeV2(tmp.path, "memory pids");
  ResourceLimits l;
  l.cpu_cores = 1;
  auto cg = backend->Create("node-a", "w1", l);
  REQUIRE_FALSE(cg.ok());
  CHECK(cg.status().code() == mesh::StatusCode::kUnavailable);
  CHECK(cg.status().message() ==
        "cgroup v2 controller cpu: not available at " + tmp.path +
            " (cgroup.controllers lists: \"memory pids\")");
  CHECK_FALSE(Exists(tmp.path + "/stratoswarm/node-a/w1"));
}

TEST_CASE("v2 on a fake tree: without the memory controller, a memory limit is refused with the fix "
          "and other workloads run",
          "[executor][cgroup]") {
  TempDirGuard tmp{MakeTempDir("v2fake")};
  auto backend = FakeV2(tmp.path, "cpuset cpu io pids");  // cgroup_disable=memory
  ResourceLimits memory;
  memory.memory_bytes = 64ull << 20;
  auto refused = backend->Create("node-a", "w1", memory);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == mesh::StatusCode::kUnavailable);
  CHECK(refused.status().message().find("memory limit 64M") != std::string::npos);
  CHECK(refused.status().message().find("cgroup_enable=memory cgroup_memory=1") != std::string::npos);
  CHECK_FALSE(Exists(tmp.path + "/stratoswarm"));

  ResourceLimits cpu;
  cpu.cpu_cores = 0.5;
  auto cg = backend->Create("node-a", "w2", cpu);
  REQUIRE(cg.ok());
  CHECK(Trimmed(tmp.path + "/stratoswarm/node-a/w2/cpu.max") == "50000 100000");
  CHECK(Trimmed(tmp.path + "/cgroup.subtree_control") == "+cpu");
  auto none = backend->Create("node-a", "w3", ResourceLimits{});
  REQUIRE(none.ok());  // no controller at all: the cgroup still groups its processes
  CHECK(Exists(tmp.path + "/stratoswarm/node-a/w3"));
  auto stats = (*none)->ReadStats();
  REQUIRE(stats.ok());
  CHECK(stats->oom_kills == 0);
  CHECK((*cg)->Remove(std::chrono::milliseconds(100)).ok());
  CHECK((*none)->Remove(std::chrono::milliseconds(100)).ok());
}

TEST_CASE("v2 on a fake tree: workloads go under the home a service manager delegated",
          "[executor][cgroup]") {
  TempDirGuard tmp{MakeTempDir("v2fake")};
  const std::string home = "/system.slice/swarmlet.service";
  REQUIRE(::mkdir((tmp.path + "/system.slice").c_str(), 0755) == 0);
  REQUIRE(::mkdir((tmp.path + home).c_str(), 0755) == 0);
  std::ofstream(tmp.path + "/cgroup.controllers") << "cpu memory pids\n";
  std::ofstream(tmp.path + home + "/cgroup.controllers") << "cpu memory pids\n";
  std::ofstream(tmp.path + home + "/cgroup.subtree_control") << "";
  CgroupFsOptions options;
  options.mode = swarmlet::CgroupMode::kUnified;
  options.root = tmp.path;
  options.create_files = true;
  options.home = home;
  auto backend = MakeCgroupFsBackend(options);
  REQUIRE(backend.ok());
  CHECK((*backend)->name() == "cgroupfs v2 under " + home);
  ResourceLimits l;
  l.memory_bytes = 32ull << 20;
  auto cg = (*backend)->Create("node-a", "w1", l);
  REQUIRE(cg.ok());
  CHECK((*cg)->Describe() == tmp.path + home + "/stratoswarm/node-a/w1");
  CHECK(Trimmed(tmp.path + home + "/stratoswarm/node-a/w1/memory.max") == "33554432");
  CHECK(Trimmed(tmp.path + home + "/cgroup.subtree_control") == "+memory");
  CHECK_FALSE(Exists(tmp.path + "/cgroup.subtree_control"));  // nothing written above the home
  CHECK((*backend)->List("node-a") == std::vector<std::string>{"w1"});
  CHECK((*cg)->Remove(std::chrono::milliseconds(100)).ok());
  (*backend)->RemoveNodeIfUnused("node-a");
  CHECK_FALSE(Exists(tmp.path + home + "/stratoswarm"));
  CHECK(Exists(tmp.path + home));
}

namespace {
// Marks `dir` as systemd marks a delegated cgroup; false where the file
// system refuses user xattrs.
bool MarkDelegated(const std::string& dir) {
  return ::setxattr(dir.c_str(), "user.delegate", "1", 1, 0) == 0;
}
}  // namespace

TEST_CASE("cgroup home: delegated supervisor, namespace root, old systemd, elsewhere", "[executor][cgroup]") {
  TempDirGuard tmp{MakeTempDir("v2home")};
  const std::string unit = tmp.path + "/system.slice/swarmlet.service";
  REQUIRE(::mkdir((tmp.path + "/system.slice").c_str(), 0755) == 0);
  REQUIRE(::mkdir(unit.c_str(), 0755) == 0);
  if (!MarkDelegated(unit)) SKIP_TEST("user xattrs unsupported on " + tmp.path);

  // systemd >= 254, DelegateSubgroup=supervisor: the unit's cgroup is ours.
  auto h = ClaimCgroupHome(tmp.path, "0::/system.slice/swarmlet.service/supervisor\n");
  REQUIRE(h.ok());
  CHECK(h->path == "/system.slice/swarmlet.service");
  CHECK(h->warning.empty());

  // systemd < 254 starts the agent in the delegated cgroup itself: the old
  // place, and a warning saying why.
  h = ClaimCgroupHome(tmp.path, "0::/system.slice/swarmlet.service\n");
  REQUIRE(h.ok());
  CHECK(h->path.empty());
  CHECK(h->warning.find("DelegateSubgroup=supervisor") != std::string::npos);

  // Not delegated (a login shell's scope): the old place, quietly.
  h = ClaimCgroupHome(tmp.path, "0::/user.slice/session-1.scope\n");
  REQUIRE(h.ok());
  CHECK(h->path.empty());
  CHECK(h->warning.empty());
  // cgroup v1 only: nothing to claim.
  h = ClaimCgroupHome(tmp.path, "4:memory:/\n");
  REQUIRE(h.ok());
  CHECK(h->path.empty());

  // The real root (the VM's initramfs runs there): no cgroup.type, no move.
  h = ClaimCgroupHome(tmp.path, "0::/\n", true);
  REQUIRE(h.ok());
  CHECK(h->path.empty());
  CHECK_FALSE(Exists(tmp.path + "/supervisor"));

  // The root of a cgroup namespace (a container): its processes move to a leaf.
  std::ofstream(tmp.path + "/cgroup.type") << "domain\n";
  std::ofstream(tmp.path + "/cgroup.procs") << "1\n42\n";
  h = ClaimCgroupHome(tmp.path, "0::/\n", true);
  REQUIRE(h.ok());
  CHECK(h->path.empty());
  CHECK(h->reason.find("namespace") != std::string::npos);
  CHECK(Trimmed(tmp.path + "/supervisor/cgroup.procs") == "1\n42");
  CHECK(Trimmed(tmp.path + "/cgroup.procs").empty());
  // A restarted agent already in the leaf stays there.
  h = ClaimCgroupHome(tmp.path, "0::/supervisor\n", true);
  REQUIRE(h.ok());
  CHECK(h->path.empty());
  CHECK(h->reason.find("namespace") != std::string::npos);
}

TEST_CASE("cgroup names are checked before touching the filesystem", "[executor][cgroup]") {
  CHECK(ValidateCgroupName("node name", "pi-1.local_2").ok());
  for (const char* bad : {"", ".", "..", "a/b", "a b", "x\n"}) {
    INFO(bad);
    CHECK(ValidateCgroupName("node name", bad).code() == mesh::StatusCode::kInvalidArgument);
  }
  TempDirGuard tmp{MakeTempDir("v2fake")};
  auto backend = FakeV2(tmp.path, "memory");
  CHECK(backend->Create("../etc", "w", ResourceLimits{}).status().code() ==
        mesh::StatusCode::kInvalidArgument);
}

TEST_CASE("the null backend runs unlimited workloads and refuses limits", "[executor][cgroup]") {
  auto backend = MakeNullBackend();
  CHECK(backend->Create("n", "w", ResourceLimits{}).ok());
  ResourceLimits l;
  l.memory_bytes = 1 << 30;
  auto refused = backend->Create("n", "w", l);
  CHECK(refused.status().code() == mesh::StatusCode::kUnsupported);
  CHECK(refused.status().message() ==
        "apply limits memory=1G: this node runs without cgroups");
}
