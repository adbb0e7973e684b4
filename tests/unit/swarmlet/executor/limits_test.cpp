#include "swarmlet/executor/limits.h"

#include <catch2/catch.hpp>

#include "swarmlet/executor/executor.h"

using namespace swarmlet::executor;
using mesh::StatusCode;

TEST_CASE("memory sizes parse with binary units", "[executor]") {
  CHECK(ParseMemorySize("128M").value() == 128ull << 20);
  CHECK(ParseMemorySize("1G").value() == 1ull << 30);
  CHECK(ParseMemorySize("1g").value() == 1ull << 30);
  CHECK(ParseMemorySize("512Ki").value() == 512ull << 10);
  CHECK(ParseMemorySize("64KB").value() == 64ull << 10);
  CHECK(ParseMemorySize("2MiB").value() == 2ull << 20);
  CHECK(ParseMemorySize("1.5G").value() == 3ull << 29);
  CHECK(ParseMemorySize("4096").value() == 4096);
  CHECK(ParseMemorySize("4096b").value() == 4096);
  CHECK(ParseMemorySize("0").value() == 0);  // parses; ValidateLimits refuses it
}

TEST_CASE("bad memory sizes are InvalidArgument with the input quoted", "[executor]") {
  for (const char* bad : {"", "M", "12X", "-5M", "1.2.3G", "inf", "0x10", "10 M", "99999999T"}) {
    auto r = ParseMemorySize(bad);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message().find("--memory \"" + std::string(bad) + "\"") == 0);
  }
}

TEST_CASE("cpu limits parse as cores or millicores", "[executor]") {
  CHECK(ParseCpuCores("0.5").value() == Approx(0.5));
  CHECK(ParseCpuCores("2").value() == Approx(2.0));
  CHECK(ParseCpuCores("500m").value() == Approx(0.5));
  CHECK(ParseCpuCores("-1").status().code() == StatusCode::kInvalidArgument);
  CHECK(ParseCpuCores("-1").status().message() ==
        "--cpu \"-1\": must be positive (0.5 = half a core)");
  CHECK_FALSE(ParseCpuCores("half").ok());
  CHECK_FALSE(ParseCpuCores("1.5x").ok());
  CHECK(ParsePidsMax("64").value() == 64);
  CHECK_FALSE(ParsePidsMax("0").ok());
  CHECK_FALSE(ParsePidsMax("-3").ok());
  CHECK_FALSE(ParsePidsMax("12a").ok());
}

TEST_CASE("impossible limits are refused with a clear reason", "[executor]") {
  ResourceLimits l;
  l.memory_bytes = 0;
  CHECK(ValidateLimits(l, 2).message() == "--memory 0: must be at least 1M");
  l = {};
  l.cpu_cores = -1;
  CHECK(ValidateLimits(l, 2).message() == "--cpu -1: must be at least 0.01 cores");
  l.cpu_cores = 0;
  CHECK(ValidateLimits(l, 2).code() == StatusCode::kInvalidArgument);
  l.cpu_cores = 3;
  CHECK(ValidateLimits(l, 2).message() == "--cpu 3: more than the 2 CPUs this node has");
  l.cpu_cores = 2;
  CHECK(ValidateLimits(l, 2).ok());
  l = {};
  l.pids_max = 0;
  CHECK(ValidateLimits(l, 2).code() == StatusCode::kInvalidArgument);
  l = {};
  l.cpuset = "0-1";
  CHECK(ValidateLimits(l, 2).ok());
  l.cpuset = "0-2";
  CHECK(ValidateLimits(l, 2).message() == "--cpuset \"0-2\": CPU 2 does not exist (this node has 2)");
  l.cpuset = "1,0";
  CHECK_FALSE(ValidateLimits(l, 2).ok());
  l.cpuset = "0,,1";
  CHECK_FALSE(ValidateLimits(l, 2).ok());
  CHECK(ValidateLimits(ResourceLimits{}, 1).ok());
}

TEST_CASE("v1 translation: cfs quota, memory + memsw, pids, cpuset", "[executor]") {
  ResourceLimits l;
  l.cpu_cores = 0.5;
  l.memory_bytes = 128ull << 20;
  l.pids_max = 64;
  l.cpuset = "0-1";
  const std::vector<CgroupWrite> expected = {
      {"cpuset", "cpuset.cpus", "0-1"},
      {"cpuset", "cpuset.mems", "0"},
      {"cpu", "cpu.cfs_period_us", "100000"},
      {"cpu", "cpu.cfs_quota_us", "50000"},
      {"memory", "memory.limit_in_bytes", "134217728"},
      {"memory", "memory.memsw.limit_in_bytes", "134217728"},
      {"pids", "pids.max", "64"},
  };
  CHECK(TranslateV1(l, V1SwapControl::kMemsw, "0") == expected);

  ResourceLimits m;
  m.memory_bytes = 1 << 20;
  CHECK(TranslateV1(m, V1SwapControl::kSwappiness) ==
        std::vector<CgroupWrite>{{"memory", "memory.limit_in_bytes", "1048576"},
                                 {"memory", "memory.swappiness", "0"}});
  CHECK(TranslateV1(m, V1SwapControl::kNone) ==
        std::vector<CgroupWrite>{{"memory", "memory.limit_in_bytes", "1048576"}});
  CHECK(TranslateV1(ResourceLimits{}, V1SwapControl::kMemsw).empty());
  // The kernel's minimum quota is 1 ms.
  ResourceLimits tiny;
  tiny.cpu_cores = 0.001;
  CHECK(TranslateV1(tiny, V1SwapControl::kNone)[1].value == "1000");
  ResourceLimits two;
  two.cpu_cores = 2;
  CHECK(TranslateV1(two, V1SwapControl::kNone)[1].value == "200000");
}

TEST_CASE("v2 translation: cpu.max, memory.max, swap off, pids.max", "[executor]") {
  ResourceLimits l;
  l.cpu_cores = 0.5;
  l.memory_bytes = 128ull << 20;
  l.pids_max = 64;
  const std::vector<CgroupWrite> expected = {
      {"cpu", "cpu.max", "50000 100000"},
      {"memory", "memory.max", "134217728"},
      {"memory", "memory.swap.max", "0"},
      {"pids", "pids.max", "64"},
  };
  CHECK(TranslateV2(l) == expected);
  l.cpuset = "1";
  CHECK(TranslateV2(l).front() == CgroupWrite{"cpuset", "cpuset.cpus", "1"});
}

TEST_CASE("controllers needed per layout", "[executor]") {
  ResourceLimits none;
  CHECK(V1Controllers(none) == std::vector<std::string>{"cpuacct", "memory"});
  CHECK(V2Controllers(none) == std::vector<std::string>{"memory"});
  ResourceLimits all;
  all.cpu_cores = 1;
  all.pids_max = 3;
  all.cpuset = "0";
  CHECK(V1Controllers(all) ==
        std::vector<std::string>{"cpuset", "cpu", "cpuacct", "memory", "pids"});
  CHECK(V2Controllers(all) == std::vector<std::string>{"cpuset", "cpu", "memory", "pids"});
  // A node without the memory controller (Raspberry Pi OS without
  // cgroup_enable=memory): memory only where a limit asks for it.
  CHECK(V1Controllers(none, false) == std::vector<std::string>{"cpuacct"});
  CHECK(V2Controllers(none, false).empty());
  CHECK(V2Controllers(all, false) == std::vector<std::string>{"cpuset", "cpu", "pids"});
  ResourceLimits memory;
  memory.memory_bytes = 1 << 20;
  CHECK(V2Controllers(memory, false) == std::vector<std::string>{"memory"});
}

TEST_CASE("limits format for people", "[executor]") {
  ResourceLimits l;
  CHECK(FormatLimits(l) == "unlimited");
  l.cpu_cores = 0.5;
  l.memory_bytes = 128ull << 20;
  l.pids_max = 10;
  CHECK(FormatLimits(l) == "cpu=0.5 memory=128M pids=10");
  CHECK(FormatBytes(1536) == "1536");
  CHECK(FormatBytes(1ull << 30) == "1G");
}

TEST_CASE("restart backoff doubles from the initial delay up to the cap", "[executor]") {
  RestartPolicy p;
  p.mode = RestartMode::kOnFailure;
  p.initial_backoff = std::chrono::milliseconds(1000);
  p.max_backoff = std::chrono::milliseconds(60000);
  const std::pair<int, long> table[] = {{0, 1000},  {1, 2000},  {2, 4000},  {3, 8000},
                                        {5, 32000}, {6, 60000}, {7, 60000}, {1000, 60000}};
  for (const auto& [restarts, ms] : table) {
    INFO(restarts);
    CHECK(BackoffDelay(p, restarts).count() == ms);
  }
  CHECK(ParseRestartPolicy("never").value().mode == RestartMode::kNever);
  CHECK(ParseRestartPolicy("on-failure").value().mode == RestartMode::kOnFailure);
  CHECK(ParseRestartPolicy("on-failure").value().max_restarts == 0);
  CHECK(ParseRestartPolicy("on-failure:5").value().max_restarts == 5);
  CHECK(ParseRestartPolicy("always").value().mode == RestartMode::kAlways);
  CHECK(ParseRestartPolicy("unless-stopped").value().mode == RestartMode::kUnlessStopped);
  CHECK_FALSE(ParseRestartPolicy("always:3").ok());
  CHECK_FALSE(ParseRestartPolicy("unless").ok());
  CHECK_FALSE(ParseRestartPolicy("on-failure:").ok());
  CHECK_FALSE(ParseRestartPolicy("on-failure:x").ok());
}

TEST_CASE("exit status descriptions and shell codes", "[executor]") {
  ExitStatus e;
  CHECK(e.Describe() == "exited 0");
  CHECK(e.ShellCode() == 0);
  e.exit_code = 3;
  CHECK(e.Describe() == "exited 3");
  CHECK(e.ShellCode() == 3);
  e.exit_code = 0;
  e.signal = 15;
  CHECK(e.Describe() == "killed by SIGTERM");
  CHECK(e.ShellCode() == 143);
  e.signal = 9;
  e.oom_killed = true;
  CHECK(e.Describe() == "OOM killed");
  CHECK(e.ShellCode() == 137);
  ExitStatus unknown;
  unknown.code_known = false;
  CHECK(unknown.Describe() == "exited (code unknown)");
  CHECK_FALSE(unknown.success());
}
