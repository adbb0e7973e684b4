// WorkloadManager in-process: nodes and workloads in a real state store, the
// nodes' reports fed in as the mesh thread would, the commands it sends
// captured instead of going over the mesh.
#include "serve/workloads.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "mesh/clock.h"
#include "mesh/timing_log.h"
#include "state/store.h"

namespace {

using swarmlet::WorkloadOp;
using swarmlet::WorkloadRunState;

struct Cluster {
  std::string dir;
  mesh::FakeClock clock;
  std::unique_ptr<state::StateStore> store;
  std::unique_ptr<mesh::TimingLog> log;
  std::ostringstream out;
  std::unique_ptr<gpu_node::WorkloadManager> manager;
  std::vector<std::pair<std::string, swarmlet::WorkloadCommand>> sent;

  // The GPU peer (no local host) and `pis` Raspberry Pis, all Ready.
  explicit Cluster(int pis) {
    char tmpl[] = "/tmp/stratoswarm-wm-XXXXXX";
    dir = mkdtemp(tmpl);
    auto opened = state::OpenSqliteStore(dir + "/state.db");
    REQUIRE(opened.ok());
    store = std::move(*opened);
    auto logged = mesh::TimingLog::Open(dir + "/timing.jsonl", "primary", clock);
    REQUIRE(logged.ok());
    log = std::move(*logged);
    AddNode("primary", "gpu");
    for (int i = 1; i <= pis; ++i) AddNode("n" + std::to_string(i), "rpi");
    manager = std::make_unique<gpu_node::WorkloadManager>(*store, *log, clock, "primary", nullptr, out);
  }
  ~Cluster() { std::filesystem::remove_all(dir); }

  void AddNode(const std::string& id, const std::string& type) {
    state::NodeRecord n;
    n.id = id;
    n.name = id;
    n.role = id == "primary" ? "primary" : "worker";
    n.type = type;
    n.arch = type == "rpi" ? "aarch64" : "x86_64";
    n.cores = 4;
    n.memory_mb = 1024;
    REQUIRE(store->PutNode(n).ok());
  }

  // What the manager sends on its next pump.
  std::vector<std::pair<std::string, swarmlet::WorkloadCommand>> Pump() {
    sent.clear();
    manager->Pump([this](const std::string& node, const swarmlet::WorkloadCommand& c) {
      sent.emplace_back(node, c);
      return true;
    });
    return sent;
  }

  void Report(const std::string& node, const std::string& id, WorkloadRunState state,
              const std::string& error = "", int exit_code = -1) {
    swarmlet::WorkloadStatusMsg msg;
    swarmlet::WorkloadReport r;
    r.workload_id = id;
    r.state = state;
    r.error = error;
    r.exit_code = exit_code;
    r.pid = state == WorkloadRunState::kRunning ? 4242 : 0;
    msg.workloads.push_back(r);
    manager->OnStatus(node, msg);
  }

  // The node the manager sends a start of `id` to, if any.
  std::optional<std::string> StartedOn(const std::string& id) {
    std::optional<std::string> to;
    for (const auto& [node, c] : Pump()) {
      if (c.op == WorkloadOp::kStart && c.workload_id == id) to = node;
    }
    return to;
  }

  state::WorkloadRecord Get(const std::string& id) {
    auto w = store->GetWorkload(id);
    REQUIRE(w.ok());
    return *w;
  }
};

state::WorkloadRecord PiWorkload(const std::string& id, const std::string& node) {
  state::WorkloadRecord w;
  w.id = id;
  w.name = "picky";
  w.group = "picky";
  w.command = {"true"};
  w.constraints = {"node.type==rpi"};
  w.node_id = node;
  w.phase = state::WorkloadPhase::kStarting;
  return w;
}

}  // namespace

TEST_CASE("workload manager: a replica that cannot start is started on another node, three nodes at most",
          "[gpu_node][workloads]") {
  Cluster c(4);
  REQUIRE(c.store->PutWorkload(PiWorkload("00000000000a", "n1")).ok());
  (void)c.Pump();  // the first pump asks every node for a full report

  std::set<std::string> tried{"n1"};
  std::string on = "n1";
  for (int i = 0; i < 2; ++i) {
    c.Report(on, "00000000000a", WorkloadRunState::kFailed, "image 'x' not found on this node");
    auto next = c.StartedOn("00000000000a");
    REQUIRE(next);
    CHECK_FALSE(tried.contains(*next));
    CHECK(*next != "primary");  // node.type == rpi
    CHECK(c.Get("00000000000a").node_id == *next);
    tried.insert(*next);
    on = *next;
  }
  // The third node failed too: it stays Failed there, with the node's error.
  c.Report(on, "00000000000a", WorkloadRunState::kFailed, "image 'x' not found on this node");
  CHECK_FALSE(c.StartedOn("00000000000a"));
  const auto w = c.Get("00000000000a");
  CHECK(w.phase == state::WorkloadPhase::kFailed);
  CHECK(w.node_id == on);
  CHECK(w.detail == "image 'x' not found on this node");
}

TEST_CASE("workload manager: once a replica runs, the nodes it failed on before are forgotten",
          "[gpu_node][workloads]") {
  // A replica that ran for a while and then fails to start again (its node
  // lost the image) gets a fresh set of nodes to try, however often that happens.
  Cluster c(4);
  REQUIRE(c.store->PutWorkload(PiWorkload("00000000000b", "n1")).ok());
  (void)c.Pump();
  std::string on = "n1";
  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    c.Report(on, "00000000000b", WorkloadRunState::kFailed, "image 'x' not found on this node");
    auto next = c.StartedOn("00000000000b");
    REQUIRE(next);
    CHECK(*next != on);
    c.Report(*next, "00000000000b", WorkloadRunState::kRunning);
    CHECK(c.Get("00000000000b").phase == state::WorkloadPhase::kRunning);
    on = *next;
  }
}

TEST_CASE("workload manager: a rescheduled replica goes to a node without one of its group when there is one",
          "[gpu_node][workloads]") {
  const int pis = GENERATE(3, 4);
  INFO(pis << " Pis");
  Cluster c(pis);
  // critical-service: three replicas on n1, n2, n3, all running, no requests
  // (so free capacity does not tell the nodes apart).
  for (int r = 1; r <= 3; ++r) {
    auto w = PiWorkload("00000000000" + std::to_string(r), "n" + std::to_string(r));
    w.group = "critical-service";
    w.name = "critical-service." + std::to_string(r);
    w.replica = r;
    w.phase = state::WorkloadPhase::kRunning;
    REQUIRE(c.store->PutWorkload(w).ok());
  }
  (void)c.Pump();
  REQUIRE(c.store->SetNodeStatus("n1", state::NodeStatus::kDown, c.clock.WallNs()).ok());
  c.manager->OnNodeDown("n1", c.clock.Now());
  auto to = c.StartedOn("000000000001");
  REQUIRE(to);
  if (pis == 4) {
    CHECK(*to == "n4");  // n2 and n3 already run a replica
  } else {
    CHECK((*to == "n2" || *to == "n3"));  // nowhere free of one: placed anyway, not Pending
  }
  CHECK(c.Get("000000000001").phase == state::WorkloadPhase::kStarting);
}

TEST_CASE("workload manager: a restarting replica says why it restarts", "[gpu_node][workloads]") {
  Cluster c(1);
  REQUIRE(c.store->PutWorkload(PiWorkload("00000000000d", "n1")).ok());
  (void)c.Pump();
  // A start that waits for the node to remove the old copy: no exit to name.
  c.Report("n1", "00000000000d", WorkloadRunState::kBackoff);
  CHECK(c.Get("00000000000d").detail == "restarting once the previous copy is removed");
  c.Report("n1", "00000000000d", WorkloadRunState::kBackoff, "", 3);
  CHECK(c.Get("00000000000d").detail == "restarting after exit code 3");
  c.Report("n1", "00000000000d", WorkloadRunState::kRunning);
  CHECK(c.Get("00000000000d").detail.empty());
}

TEST_CASE("workload manager: --user and --privileged reach the node's start command",
          "[gpu_node][workloads][security]") {
  Cluster c(1);
  auto w = PiWorkload("00000000000b", "n1");
  w.image = "busybox";
  w.user = "1000:1001";
  w.privileged = true;
  REQUIRE(c.store->PutWorkload(w).ok());
  (void)c.Pump();
  swarmlet::WorkloadStatusMsg full;  // n1 runs nothing: the manager starts it there
  full.full = true;
  c.manager->OnStatus("n1", full);
  std::optional<swarmlet::WorkloadCommand> start;
  for (const auto& [node, cmd] : c.Pump()) {
    if (node == "n1" && cmd.op == WorkloadOp::kStart && cmd.workload_id == "00000000000b") start = cmd;
  }
  REQUIRE(start);
  CHECK(start->spec.uid == 1000);
  CHECK(start->spec.gid == 1001);
  CHECK(start->spec.privileged);
  // Without them: root (or the image's User, filled in later) and confined.
  w.id = "00000000000c";
  w.user.clear();
  w.privileged = false;
  REQUIRE(c.store->PutWorkload(w).ok());
  c.manager->OnStatus("n1", full);
  start.reset();
  for (const auto& [node, cmd] : c.Pump()) {
    if (cmd.op == WorkloadOp::kStart && cmd.workload_id == "00000000000c") start = cmd;
  }
  REQUIRE(start);
  CHECK(start->spec.uid == -1);
  CHECK_FALSE(start->spec.privileged);
}
