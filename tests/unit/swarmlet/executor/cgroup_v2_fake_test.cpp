// The v2 backend on a fake cgroupfs: a plain directory tree in /tmp with the
// files the kernel would show. Runs without root.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "executor_test_support.h"
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

TEST_CASE("v2 on a fake tree: the hybrid machine's empty cgroup2 is refused clearly",
          "[executor][cgroup]") {
  TempDirGuard tmp{MakeTempDir("v2fake")};
  auto backend = FakeV2(tmp.path, "");
  auto cg = backend->Create("node-a", "w1", ResourceLimits{});
  REQUIRE_FALSE(cg.ok());
  CHECK(cg.status().message().find("controller memory: not available") != std::string::npos);
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
