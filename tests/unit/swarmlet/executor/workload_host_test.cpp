// WorkloadHost (the node's side of the workload protocol) over an executor
// on the null backend (no root needed), plus caller-chosen executor ids.
// One case runs on the host's real cgroups and skips without root.
#include "swarmlet/workload_host.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <thread>

#include "executor_test_support.h"
#include "swarmlet/executor/executor.h"
#include "test_support.h"

using namespace swarmlet;
using namespace executor_test;
using std::chrono::milliseconds;

namespace {

std::unique_ptr<executor::Executor> NullExecutor(const std::string& dir) {
  executor::ExecutorOptions o;
  o.state_dir = dir + "/executor";
  o.node_name = "local";
  o.images_dir = dir + "/images";
  o.cgroups = executor::MakeNullBackend();
  auto ex = executor::Executor::Open(std::move(o));
  REQUIRE(ex.ok());
  return std::move(*ex);
}

// `clock`: a FakeClock that never moves proves an exit is seen by the cheap
// check between full polls (those are due only when time passes).
std::unique_ptr<WorkloadHost> NullHost(const std::string& dir, const mesh::Clock* clock = nullptr) {
  WorkloadHostOptions o;
  o.state_dir = dir;
  o.clock = clock;
  o.node_name = "local";
  o.executor = NullExecutor(dir);
  auto host = WorkloadHost::Open(std::move(o));
  REQUIRE(host.ok());
  REQUIRE((*host)->available());
  return std::move(*host);
}

WorkloadCommand Command(WorkloadOp op, const std::string& id) {
  static std::uint64_t next = 1;
  WorkloadCommand c;
  c.request_id = next++;
  c.op = op;
  c.workload_id = id;
  return c;
}

WorkloadCommand StartShell(const std::string& id, const std::string& script) {
  WorkloadCommand c = Command(WorkloadOp::kStart, id);
  c.spec.argv = {"/bin/sh", "-c", script};
  return c;
}

// The one report an answer carries.
const WorkloadReport& Only(const WorkloadStatusMsg& msg) {
  REQUIRE(msg.workloads.size() == 1);
  return msg.workloads[0];
}

// Polls until a change report for `id` arrives, up to 5 s (real processes).
std::optional<WorkloadReport> PollFor(WorkloadHost& host, const std::string& id) {
  for (int i = 0; i < 500; ++i) {
    if (auto msg = host.Poll()) {
      CHECK(msg->request_id == 0);
      CHECK_FALSE(msg->full);
      for (const auto& r : msg->workloads) {
        if (r.workload_id == id) return r;
      }
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("workload host: an exit is reported by Poll with its code", "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  mesh::FakeClock still;
  auto host = NullHost(tmp.path, &still);
  CHECK_FALSE(host->Poll());  // the first, full poll: nothing there
  const WorkloadCommand start = StartShell("0123456789ab", "exit 3");
  const WorkloadStatusMsg answer = host->Handle(start);
  CHECK(answer.request_id == start.request_id);
  CHECK(answer.error.empty());
  const WorkloadReport& started = Only(answer);
  CHECK(started.workload_id == "0123456789ab");
  CHECK(started.state == WorkloadRunState::kRunning);
  CHECK(started.pid > 0);
  CHECK(started.exit_code == -1);
  CHECK(started.started_ns > 0);

  CHECK(host->watching());
  auto ended = PollFor(*host, "0123456789ab");
  REQUIRE(ended);
  CHECK_FALSE(host->watching());  // nothing left to reap
  CHECK(ended->state == WorkloadRunState::kExited);
  CHECK(ended->exit_code == 3);
  CHECK(ended->signal == 0);
  CHECK_FALSE(ended->oom_killed);
  CHECK(ended->pid == 0);
  // Reported once: nothing changes afterwards.
  CHECK_FALSE(host->Poll());
}

TEST_CASE("workload host: a resent start answers the current status, no second process",
          "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  auto host = NullHost(tmp.path);
  const WorkloadReport first = Only(host->Handle(StartShell("00000000beef", "exec sleep 30")));
  REQUIRE(first.state == WorkloadRunState::kRunning);
  const WorkloadReport again = Only(host->Handle(StartShell("00000000beef", "exec sleep 30")));
  CHECK(again.state == WorkloadRunState::kRunning);
  CHECK(again.pid == first.pid);
  CHECK(again.restarts == 0);
  const WorkloadStatusMsg all = host->FullReport();
  CHECK(all.full);
  CHECK(all.request_id == 0);
  REQUIRE(all.workloads.size() == 1);
  CHECK(all.workloads[0].pid == first.pid);
  // A running workload that did not change is not reported by Poll.
  CHECK_FALSE(host->Poll());

  // A stop never blocks: the answer says kStopped at once, the exit (by
  // SIGTERM) follows as a Poll change.
  const WorkloadStatusMsg stopped = host->Handle(Command(WorkloadOp::kStop, "00000000beef"));
  CHECK(stopped.error.empty());
  CHECK(Only(stopped).state == WorkloadRunState::kStopped);
  std::optional<WorkloadStatusMsg> ended;
  for (int i = 0; i < 300 && !ended; ++i) {
    ended = host->Poll();
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(ended);
  CHECK(Only(*ended).state == WorkloadRunState::kStopped);
  CHECK(Only(*ended).signal == SIGTERM);
  CHECK(Only(*ended).pid == 0);
  CHECK(::kill(first.pid, 0) != 0);
  CHECK_FALSE(host->watching());
  CHECK_FALSE(host->Poll());
  // A stopped workload stays stopped; a start of its id reports that.
  CHECK(Only(host->Handle(StartShell("00000000beef", "exit 0"))).state ==
        WorkloadRunState::kStopped);
}

TEST_CASE("workload host: a start that comes while its id is being removed runs once the old copy is gone",
          "[executor][workload]") {
  // The GPU peer removed a copy it thought stale and placed the workload back
  // here right after: the start must not be swallowed by the dying record.
  TempDirGuard tmp{MakeTempDir("whost")};
  auto host = NullHost(tmp.path);
  const WorkloadReport first = Only(host->Handle(StartShell("0000000000c1", "exec sleep 30")));
  REQUIRE(first.state == WorkloadRunState::kRunning);
  CHECK(Only(host->Handle(Command(WorkloadOp::kRemove, "0000000000c1"))).state == WorkloadRunState::kStopped);
  const WorkloadReport waiting = Only(host->Handle(StartShell("0000000000c1", "exec sleep 30")));
  CHECK(waiting.state == WorkloadRunState::kBackoff);
  // The old copy is removed and the new one started within the same Poll.
  const std::optional<WorkloadReport> again = PollFor(*host, "0000000000c1");
  REQUIRE(again);
  CHECK(again->state == WorkloadRunState::kRunning);
  CHECK(again->pid > 0);
  CHECK(again->pid != first.pid);
  CHECK(::kill(first.pid, 0) != 0);
  CHECK(host->FullReport().workloads.size() == 1);

  // A remove after such a start wins: nothing runs afterwards.
  (void)host->Handle(Command(WorkloadOp::kRemove, "0000000000c1"));
  CHECK(Only(host->Handle(StartShell("0000000000c1", "exec sleep 30"))).state == WorkloadRunState::kBackoff);
  (void)host->Handle(Command(WorkloadOp::kRemove, "0000000000c1"));
  for (int i = 0; i < 300 && !host->FullReport().workloads.empty(); ++i) {
    (void)host->Poll();
    std::this_thread::sleep_for(milliseconds(10));
  }
  CHECK(host->FullReport().workloads.empty());
}

TEST_CASE("workload host: logs are the tail of the workload's output", "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  auto host = NullHost(tmp.path);
  REQUIRE(Only(host->Handle(StartShell("aaaaaaaaaaaa", "echo hello"))).state ==
          WorkloadRunState::kRunning);
  REQUIRE(PollFor(*host, "aaaaaaaaaaaa")->exit_code == 0);
  WorkloadCommand logs = Command(WorkloadOp::kLogs, "aaaaaaaaaaaa");
  WorkloadStatusMsg answer = host->Handle(logs);
  CHECK(answer.request_id == logs.request_id);
  CHECK(answer.logs == "hello\n");
  CHECK(Only(answer).state == WorkloadRunState::kExited);
  logs.log_bytes = 3;
  CHECK(host->Handle(logs).logs == "lo\n");
}

TEST_CASE("workload host: unknown ids are kUnknown", "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  auto host = NullHost(tmp.path);
  for (WorkloadOp op : {WorkloadOp::kStop, WorkloadOp::kRemove, WorkloadOp::kLogs}) {
    const WorkloadStatusMsg answer = host->Handle(Command(op, "ffffffffffff"));
    CHECK(Only(answer).workload_id == "ffffffffffff");
    CHECK(Only(answer).state == WorkloadRunState::kUnknown);
    CHECK(Only(answer).error == "workload ffffffffffff: no such workload on this node");
    CHECK(answer.logs.empty());
  }
  const WorkloadStatusMsg report = host->Handle(Command(WorkloadOp::kReport, ""));
  CHECK(report.full);
  CHECK(report.request_id != 0);
  CHECK(report.workloads.empty());
}

TEST_CASE("workload host: bad starts fail with the executor's reason", "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  auto host = NullHost(tmp.path);
  auto failed = [&](WorkloadCommand c) {
    const WorkloadReport r = Only(host->Handle(c));
    CHECK(r.state == WorkloadRunState::kFailed);
    CHECK(r.workload_id == c.workload_id);
    return r.error;
  };
  CHECK(failed(Command(WorkloadOp::kStart, "000000000001")) == "start workload: missing command");
  WorkloadCommand c = StartShell("000000000002", "true");
  c.spec.cpu_millis = -5;
  CHECK(failed(c) == "--cpu -0.005: must be at least 0.01 cores");
  c = StartShell("000000000003", "true");
  c.spec.memory_bytes = 1000;
  CHECK(failed(c) == "--memory 1000: must be at least 1M");
  c = StartShell("000000000004", "true");
  c.spec.image = "no-such-image";
  CHECK(failed(c).find("no-such-image") != std::string::npos);
  c = StartShell("000000000005", "true");
  c.spec.restart = "sometimes";
  CHECK(failed(c).find("expected never, on-failure, on-failure:N, always or unless-stopped") != std::string::npos);
  c = StartShell("NOT-HEX", "true");
  CHECK(failed(c) == "workload id \"NOT-HEX\": expected 12 lowercase hex digits");
  c = StartShell("", "true");
  CHECK(failed(c) == "start workload: no workload id");
  c = Command(WorkloadOp::kStart, "000000000006");
  c.spec.argv = {"/bin/nonexistent"};
  CHECK(failed(c) == "exec /bin/nonexistent: No such file or directory");
  // Nothing was left behind by the failures.
  CHECK(host->FullReport().workloads.empty());
  CHECK_FALSE(host->Poll());
}

TEST_CASE("workload host: gpu workloads get the NVIDIA devices or a clear refusal",
          "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  auto host = NullHost(tmp.path);
  WorkloadCommand c = StartShell("00000000000a", "echo \"gpu=$NVIDIA_VISIBLE_DEVICES path=$PATH\"");
  c.spec.gpu = true;
  const WorkloadReport r = Only(host->Handle(c));
  struct stat st {};
  if (::stat("/dev/nvidiactl", &st) != 0 && ::stat("/dev/nvidia0", &st) != 0) {
    CHECK(r.state == WorkloadRunState::kFailed);
    CHECK(r.error == "start a GPU workload: this node has no NVIDIA device nodes (/dev/nvidia*)");
    return;
  }
  REQUIRE(r.state == WorkloadRunState::kRunning);
  REQUIRE(PollFor(*host, "00000000000a"));
  const std::string logs = host->Handle(Command(WorkloadOp::kLogs, "00000000000a")).logs;
  CHECK(logs.find("gpu=all path=/usr/local/sbin:") != std::string::npos);
}

TEST_CASE("workload host: a host that cannot run workloads says why", "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  // A state dir under a regular file cannot be created, root or not.
  const std::string file = tmp.path + "/file";
  std::ofstream(file) << "x";
  WorkloadHostOptions o;
  o.state_dir = file + "/state";
  o.node_name = "local";
  auto host = WorkloadHost::Open(std::move(o));
  REQUIRE(host.ok());
  REQUIRE_FALSE((*host)->available());
  CHECK_FALSE((*host)->watching());
  const std::string reason = (*host)->unavailable_reason();
  CHECK_FALSE(reason.empty());
  CHECK(reason.find('\n') == std::string::npos);
  const WorkloadCommand start = StartShell("0123456789ab", "true");
  const WorkloadStatusMsg answer = (*host)->Handle(start);
  CHECK(answer.request_id == start.request_id);
  CHECK(Only(answer).state == WorkloadRunState::kFailed);
  CHECK(Only(answer).error == reason);
  CHECK(Only((*host)->Handle(Command(WorkloadOp::kStop, "0123456789ab"))).state ==
        WorkloadRunState::kUnknown);
  const WorkloadStatusMsg full = (*host)->FullReport();
  CHECK(full.full);
  CHECK(full.workloads.empty());
  CHECK(full.error == "this node cannot run workloads: " + reason);
  CHECK_FALSE((*host)->Poll());

  WorkloadHostOptions none;
  CHECK(WorkloadHost::Open(std::move(none)).status().code() == mesh::StatusCode::kInvalidArgument);
}

TEST_CASE("workload host: a reopened host finds its workloads again", "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  pid_t pid = 0;
  {
    auto host = NullHost(tmp.path);
    pid = Only(host->Handle(StartShell("123412341234", "exec sleep 30"))).pid;
    REQUIRE(pid > 0);
    REQUIRE(Only(host->Handle(StartShell("567856785678", "exec sleep 30"))).pid > 0);
    REQUIRE(Only(host->Handle(Command(WorkloadOp::kStop, "567856785678"))).state ==
            WorkloadRunState::kStopped);
    // The stop does not block; its end comes with a later Poll.
    auto stopped = PollFor(*host, "567856785678");
    REQUIRE(stopped);
    CHECK(stopped->pid == 0);
  }  // the swarmlet restarts; its workloads keep running
  REQUIRE(::kill(pid, 0) == 0);
  mesh::FakeClock still;
  auto host = NullHost(tmp.path, &still);
  CHECK(host->watching());  // the re-adopted workload
  const WorkloadStatusMsg full = host->FullReport();
  REQUIRE(full.workloads.size() == 2);
  for (const WorkloadReport& r : full.workloads) {
    if (r.workload_id == "123412341234") {
      CHECK(r.state == WorkloadRunState::kRunning);
      CHECK(r.pid == pid);
    } else {
      CHECK(r.workload_id == "567856785678");
      CHECK(r.state == WorkloadRunState::kStopped);  // the stop is in the record
    }
  }
  CHECK_FALSE(host->Poll());  // the full report was the baseline
  // Re-adopted (not our child): its end is still seen.
  ::kill(pid, SIGKILL);
  auto ended = PollFor(*host, "123412341234");
  REQUIRE(ended);
  CHECK(ended->state == WorkloadRunState::kExited);
  CHECK(ended->exit_code == -1);  // code unknown for a re-adopted process

  const WorkloadStatusMsg removed = host->Handle(Command(WorkloadOp::kRemove, "567856785678"));
  CHECK(removed.error.empty());
  CHECK(Only(removed).state == WorkloadRunState::kStopped);
  CHECK(host->FullReport().workloads.size() == 1);
  CHECK(Only(host->Handle(Command(WorkloadOp::kLogs, "567856785678"))).state ==
        WorkloadRunState::kUnknown);
  CHECK_FALSE(host->Poll());
}

TEST_CASE("executor: a caller-chosen id is used, checked and unique", "[executor][workload]") {
  TempDirGuard tmp{MakeTempDir("whost")};
  auto ex = NullExecutor(tmp.path);
  executor::WorkloadSpec spec;
  spec.argv = {"/bin/sh", "-c", "exit 0"};
  spec.id = "0123456789ab";
  auto id = ex->Start(spec);
  REQUIRE(id.ok());
  CHECK(*id == "0123456789ab");
  CHECK(ex->Get(*id)->spec.id == "0123456789ab");
  CHECK(ex->Get(*id)->log_path == tmp.path + "/executor/logs/0123456789ab.log");
  CHECK(ex->Start(spec).status().code() == mesh::StatusCode::kAlreadyExists);
  for (const char* bad : {"0123456789AB", "0123456789a", "0123456789abc", "../../etc/xx"}) {
    spec.id = bad;
    CHECK(ex->Start(spec).status().code() == mesh::StatusCode::kInvalidArgument);
  }
  spec.id.clear();
  auto random = ex->Start(spec);
  REQUIRE(random.ok());
  CHECK(random->size() == 12);
  CHECK(*random != "0123456789ab");
  REQUIRE(ex->Wait("0123456789ab", milliseconds(5000)).ok());
  ex.reset();
  auto again = NullExecutor(tmp.path);
  CHECK(again->Get("0123456789ab")->spec.id == "0123456789ab");
}

TEST_CASE("root: workload host reports CPU and memory from the cgroup",
          "[executor][workload][root]") {
  if (!RunningAsRoot()) SKIP_TEST("needs root to create cgroups");
  if (auto backend = executor::MakeHostCgroupBackend(); !backend.ok()) {
    SKIP_TEST("no writable cgroups: " + backend.status().ToString());
  }
  TempDirGuard tmp{MakeTempDir("whost")};
  NodeGuard guard{UniqueNode("whost")};
  WorkloadHostOptions o;
  o.state_dir = tmp.path;
  o.node_name = guard.node;
  auto host = WorkloadHost::Open(std::move(o));
  REQUIRE(host.ok());
  REQUIRE((*host)->available());
  WorkloadCommand c = StartShell("0000000000c0", "while :; do :; done");
  c.spec.cpu_millis = 500;
  c.spec.memory_bytes = 64 << 20;
  const WorkloadReport started = Only((*host)->Handle(c));
  REQUIRE(started.state == WorkloadRunState::kRunning);
  guard.pids.push_back(started.pid);
  for (int i = 0; i < 50; ++i) {
    CHECK_FALSE((*host)->Poll());
    std::this_thread::sleep_for(milliseconds(20));
  }
  const WorkloadReport r = (*host)->FullReport().workloads.at(0);
  // Since the start answer: a busy loop held to half a core.
  CHECK(r.cpu_percent > 30);
  CHECK(r.cpu_percent < 70);
  CHECK(r.memory_bytes > 0);
  const WorkloadStatusMsg removed = (*host)->Handle(Command(WorkloadOp::kRemove, "0000000000c0"));
  CHECK(removed.error.empty());
  CHECK(Only(removed).state == WorkloadRunState::kStopped);
  // Removed (cgroup and all) once the process has ended, without blocking.
  for (int i = 0; i < 300 && (*host)->watching(); ++i) {
    (void)(*host)->Poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK_FALSE((*host)->watching());
  CHECK_FALSE(WorkloadCgroupsLeft(guard.node));
  CHECK(Only((*host)->Handle(Command(WorkloadOp::kLogs, "0000000000c0"))).state == WorkloadRunState::kUnknown);
}
