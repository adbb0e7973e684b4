// `swarmlet exec` driven in-process through the multi-call entry point.
#include <catch2/catch.hpp>
#include <iostream>
#include <sstream>

#include "executor_test_support.h"
#include "swarmlet/commands.h"
#include "test_support.h"

using namespace executor_test;

namespace {

CliOutcome Run(std::vector<const char*> argv) { return RunCli(swarmlet::RunMultiCall, std::move(argv)); }

}  // namespace

TEST_CASE("swarmlet exec: impossible limits are one error line, exit 2", "[executor][cli]") {
  TempDirGuard tmp{MakeTempDir("cli")};
  const struct {
    std::vector<const char*> flags;
    std::string error;
  } cases[] = {
      {{"--memory", "0"}, "swarmlet: --memory 0: must be at least 1M\n"},
      {{"--cpu", "-1"}, "swarmlet: --cpu \"-1\": must be positive (0.5 = half a core)\n"},
      {{"--cpu", "4096"}, "swarmlet: --cpu 4096: more than the "},
      {{"--memory", "12X"}, "swarmlet: --memory \"12X\": unknown unit \"X\""},
      {{"--pids", "0"}, "swarmlet: --pids \"0\": expected a positive integer\n"},
      {{"--restart", "sometimes"}, "swarmlet: --restart \"sometimes\": expected never"},
      {{"--user", "bob", "--image", "busybox"},
       "swarmlet: --user \"bob\": expected UID[:GID], numeric ids 0..4294967294 (names are not looked up)\n"},
      {{"--user", "1000:"}, "swarmlet: --user \"1000:\": expected UID[:GID]"},
      {{"--user", "1000"}, "swarmlet: --user needs --image (host workloads run as root on the host)\n"},
  };
  for (const auto& c : cases) {
    std::vector<const char*> argv = {"swarmlet", "exec", "--state-dir", tmp.path.c_str()};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    argv.insert(argv.end(), {"--", "/bin/true"});
    auto r = Run(argv);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::StartsWith(c.error));
    CHECK_THAT(r.err, Catch::Contains("usage: swarmlet exec"));
  }
  auto none = Run({"swarmlet", "exec", "--state-dir", tmp.path.c_str()});
  CHECK(none.code == 2);
  CHECK_THAT(none.err, Catch::StartsWith("swarmlet: missing command"));
  // Nothing was created for any of them.
  CHECK_FALSE(Exists(tmp.path + "/exec-" + std::to_string(::getpid())));
}

TEST_CASE("swarmlet exec: output, result line and the workload's exit code", "[executor][cli]") {
  TempDirGuard tmp{MakeTempDir("cli")};
  auto r = Run({"swarmlet", "exec", "--state-dir", tmp.path.c_str(), "--", "/bin/sh", "-c",
                "echo hello; echo warn >&2; exit 3"});
  CHECK(r.code == 3);
  CHECK(r.out == "hello\nwarn\nswarmlet exec: exited 3\n");
  auto sig = Run({"swarmlet", "exec", "--state-dir", tmp.path.c_str(), "--", "/bin/sh", "-c",
                  "kill -KILL $$"});
  CHECK(sig.code == 137);
  CHECK(sig.out == "swarmlet exec: killed by SIGKILL\n");
  auto missing = Run({"swarmlet", "exec", "--state-dir", tmp.path.c_str(), "--", "/bin/nonexistent"});
  CHECK(missing.code == 1);
  CHECK(missing.err == "swarmlet exec: exec /bin/nonexistent: No such file or directory\n");
}

TEST_CASE("root: swarmlet exec reports an OOM kill", "[executor][cli][root]") {
  if (!RunningAsRoot()) SKIP_TEST("needs root to create cgroups");
  if (std::string(EXECUTOR_TEST_HELPER).empty()) SKIP_TEST("test helper not runnable (cross build)");
  TempDirGuard tmp{MakeTempDir("cli")};
  NodeGuard guard("exec-" + std::to_string(::getpid()));  // exec's own node name
  auto r = Run({"swarmlet", "exec", "--memory", "32M", "--state-dir", tmp.path.c_str(), "--",
                EXECUTOR_TEST_HELPER, "alloc", "200"});
  CHECK(r.code == 137);
  CHECK(r.out == "swarmlet exec: OOM killed (memory limit 32M)\n");
  CHECK_FALSE(NodeCgroupsLeft(guard.node));
  CHECK_FALSE(Exists(tmp.path + "/exec-" + std::to_string(::getpid())));
}
