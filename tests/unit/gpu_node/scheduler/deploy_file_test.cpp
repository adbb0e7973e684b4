#include "scheduler/deploy_file.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "cluster_fixture.h"
#include "scheduler/deploy_report.h"

using scheduler::ParseDeployFile;
using namespace scheduler_test;

namespace {

std::string Fixture(const char* name) {
  std::ifstream in(std::string(STRATOSWARM_FIXTURES_DIR) + "/" + name);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ErrorOf(const char* yaml) {
  auto r = ParseDeployFile(yaml);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);
  return r.status().message();
}

}  // namespace

TEST_CASE("deploy file: the seed's heterogeneous workloads parse", "[scheduler][deploy]") {
  auto r = ParseDeployFile(Fixture("heterogeneous_workload.yaml"));
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  const auto& gpu = (*r)[0];
  CHECK(gpu.name == "gpu-inference");
  CHECK(gpu.type == "gpu-compute");
  CHECK(gpu.requests == scheduler::Resources{0, 4 * kGiB, 1});
  CHECK(gpu.replicas == 1);
  CHECK(gpu.expected_nodes == std::vector<std::string>{"primary-gpu"});
  const auto& edge = (*r)[1];
  CHECK(edge.requests == scheduler::Resources{1000, 256 * kMiB, 0});
  CHECK(edge.replicas == 5);
  CHECK(edge.expected_nodes.size() == 5);
  const auto& agg = (*r)[2];
  CHECK(agg.requests == scheduler::Resources{2000, kGiB, 0});
  CHECK(agg.expected_nodes == std::vector<std::string>{"any-capable"});
}

TEST_CASE("deploy file: the seed's cascading-failure service parses", "[scheduler][deploy]") {
  auto r = ParseDeployFile(Fixture("critical_service.yaml"));
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  const auto& w = (*r)[0];
  CHECK(w.name == "critical-service");
  CHECK(w.replicas == 3);
  REQUIRE(w.constraints.size() == 1);
  CHECK(w.constraints[0].text == "node.type == rpi");
  CHECK(w.image == "alpine");
  CHECK(w.command ==
        std::vector<std::string>{"sh", "-c", "while true; do echo alive; sleep 1; done"});
}

TEST_CASE("deploy file: several documents, a list, string commands", "[scheduler][deploy]") {
  auto docs = ParseDeployFile(
      "name: a\nspec: {image: alpine, command: echo hi}\n---\nname: b\nreplicas: 0\n---\n");
  REQUIRE(docs.ok());
  REQUIRE(docs->size() == 2);
  CHECK((*docs)[0].command == std::vector<std::string>{"sh", "-c", "echo hi"});
  CHECK((*docs)[1].replicas == 0);
  auto list = ParseDeployFile(
      "- name: a\n  requirements: {cpu: 500m, arch: aarch64}\n- name: b\n  placement:\n"
      "    constraints: [\"node.name==rpi-1\", \"node.labels.zone != east\"]\n");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].requests.cpu_millis == 500);
  CHECK((*list)[0].constraints[0].text == "node.arch == aarch64");
  CHECK((*list)[1].constraints.size() == 2);
}

TEST_CASE("deploy file: bad input is a clear error with line and column", "[scheduler][deploy]") {
  CHECK(ErrorOf("workloads:\n  - name: a\n    replicas: [1\n").find("line ") != std::string::npos);
  CHECK(ErrorOf("name: a\nreplica: 3\n") ==
        "parse deploy file: line 2, column 1: unknown field 'replica' in workload 'a' (expected "
        "name, type, replicas, requirements, placement, spec, expected_node, expected_nodes)");
  CHECK(ErrorOf("name: a\nreplicas: -1\n") ==
        "parse deploy file: line 2, column 11: workload 'a': replicas must not be negative "
        "(got -1)");
  CHECK(ErrorOf("name: a\nreplicas: two\n").find("replicas 'two' is not an integer") !=
        std::string::npos);
  CHECK(ErrorOf("name: a\nrequirements:\n  memory: 4XB\n") ==
        "parse deploy file: line 3, column 11: memory '4XB': unknown unit 'XB' (use B, K, M, G "
        "or T, optionally with B or iB)");
  CHECK(ErrorOf("name: a\nrequirements: {gpu: maybe}\n").find("requirements.gpu 'maybe'") !=
        std::string::npos);
  CHECK(ErrorOf("name: a\nplacement:\n  constraints: [\"node.kind == rpi\"]\n")
            .find("line 3, column 17: constraint 'node.kind == rpi'") != std::string::npos);
  CHECK(ErrorOf("workloads:\n  - name: a\nextra: 1\n").find("unknown field 'extra'") !=
        std::string::npos);
  CHECK(ErrorOf("replicas: 2\n").find("workload without a name") != std::string::npos);
  CHECK(ErrorOf("- name: a\n- name: a\n") == "parse deploy file: workload 'a' appears twice");
  CHECK(ErrorOf("") == "parse deploy file: no workloads in the file");
  CHECK(ErrorOf("name: a\nspec: {image: x, cmd: y}\n").find("unknown field 'cmd' in spec") !=
        std::string::npos);
}

TEST_CASE("deploy report: seed heterogeneous deploy on the seed cluster meets every expectation",
          "[scheduler][deploy]") {
  auto workloads = ParseDeployFile(Fixture("heterogeneous_workload.yaml"));
  REQUIRE(workloads.ok());
  scheduler::CpuScheduler cpu;
  auto nodes = SeedCluster(5);
  mesh::FakeClock clock;
  auto report = scheduler::ScheduleDeployment(cpu, nodes, *workloads, clock);
  REQUIRE(report.ok());
  REQUIRE(report->workloads.size() == 3);
  CHECK(report->all_matched);
  CHECK(report->placed == 7);
  CHECK(report->pending == 0);
  CHECK(report->workloads[0].nodes == std::vector<std::string>{"primary-gpu"});
  // One sensor replica per Pi; the 8 GiB Pis (more free memory) come first.
  CHECK(report->workloads[1].nodes ==
        std::vector<std::string>{"rpi-2", "rpi-4", "rpi-1", "rpi-3", "rpi-5"});
  CHECK(report->workloads[2].node_types == std::vector<std::string>{"rpi"});
  for (const auto& w : report->workloads) CHECK(w.matched == true);
  // The placements were applied to the cluster.
  CHECK(nodes[0].allocated.gpus == 1);

  const std::string table = scheduler::RenderTable(*report);
  CHECK(table.find("gpu-inference") != std::string::npos);
  CHECK(table.find("expectations all met") != std::string::npos);
  const std::string json = scheduler::RenderJson(*report);
  CHECK(json.find("\"all_expectations_met\": true") != std::string::npos);
  CHECK(json.find("\"scheduling_time_us\"") != std::string::npos);
}

TEST_CASE("deploy report: a missing node shows as an unmet expectation", "[scheduler][deploy]") {
  auto workloads = ParseDeployFile(Fixture("heterogeneous_workload.yaml"));
  REQUIRE(workloads.ok());
  scheduler::CpuScheduler cpu;
  auto nodes = SeedCluster(4);  // no rpi-5: the fifth sensor replica lands elsewhere
  auto report = scheduler::ScheduleDeployment(cpu, nodes, *workloads, mesh::SystemClock::Get());
  REQUIRE(report.ok());
  CHECK_FALSE(report->all_matched);
  CHECK(report->workloads[0].matched == true);
  CHECK(report->workloads[1].matched == false);
  CHECK(report->workloads[1].placed == 5);
  CHECK(scheduler::RenderTable(*report).find("NOT all met") != std::string::npos);
}

TEST_CASE("deploy report: Pending replicas carry their reason", "[scheduler][deploy]") {
  auto workloads = ParseDeployFile(Fixture("critical_service.yaml"));
  REQUIRE(workloads.ok());
  scheduler::CpuScheduler cpu;
  std::vector<scheduler::NodeInfo> nodes = {
      Node("primary-gpu", scheduler::NodeType::kGpu, "x86_64", 8000, 16 * kGiB, 1)};
  auto report = scheduler::ScheduleDeployment(cpu, nodes, *workloads, mesh::SystemClock::Get());
  REQUIRE(report.ok());
  CHECK(report->pending == 3);
  CHECK(report->workloads[0].pending_reasons ==
        std::vector<std::string>{"no node matches node.type == rpi: 0 of 1 node is rpi"});
  CHECK_FALSE(report->workloads[0].matched.has_value());
}

TEST_CASE("deploy file: spec.user and spec.privileged (issue 17)", "[scheduler][deploy]") {
  auto docs = ParseDeployFile(
      "name: a\nspec: {image: alpine, user: \"1000:1000\", privileged: true}\n---\n"
      "name: b\nspec: {image: alpine}\n");
  REQUIRE(docs.ok());
  REQUIRE(docs->size() == 2);
  CHECK((*docs)[0].user == "1000:1000");
  CHECK((*docs)[0].privileged);
  CHECK((*docs)[1].user.empty());
  CHECK_FALSE((*docs)[1].privileged);
  CHECK(ErrorOf("name: a\nspec: {image: x, privileged: yes}\n") ==
        "parse deploy file: line 2, column 30: workload 'a': spec.privileged must be true or false");
}
