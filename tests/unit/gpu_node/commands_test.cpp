#include "cli/commands.h"
#include "test_support.h"

#include <catch2/catch.hpp>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

CliOutcome Run(std::vector<const char*> argv) {
  argv.insert(argv.begin(), "stratoswarm");
  return RunCli(gpu_node::RunStratoswarm, std::move(argv));
}

}  // namespace

TEST_CASE("stratoswarm CLI: every seed command line parses", "[gpu_node][cli]") {
  // From shared/seeds/001. Commands that talk to serve say how to reach it
  // when none runs; the ones not built yet say so. Neither is a usage error.
  const std::vector<std::vector<const char*>> need_serve = {
      {"--state-dir", "/nonexistent-stratoswarm", "cluster", "create-join-token"},
      {"--state-dir", "/nonexistent-stratoswarm", "cluster", "nodes", "--format=table"},
      {"--state-dir", "/nonexistent-stratoswarm", "cluster", "mesh-status"},
      {"--state-dir", "/nonexistent-stratoswarm", "node", "ls"},
  };
  for (const auto& line : need_serve) {
    INFO(line[2]);
    auto r = Run(line);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Catch::Contains("is 'stratoswarm serve' running?"));
  }
  const std::vector<std::vector<const char*>> not_yet = {
      {"ps", "--all-nodes"},
      {"run", "--cpu", "0.5", "--memory", "128M", "alpine", "sleep", "60"},
      {"run", "--gpu", "nvidia/cuda:11.0-base", "nvidia-smi"},
      {"run", "--constraint", "node.name==rpi-1", "busybox", "sleep", "3600"},
      {"migrate", "wl-1", "--to", "rpi-2"},
      {"deploy", "-"},
      {"deploy", "w.yaml", "--measure-scheduling-time", "--output", "r.json"},
  };
  for (const auto& line : not_yet) {
    INFO(line[0]);
    auto r = Run(line);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Catch::EndsWith("not implemented yet\n"));
  }
}

TEST_CASE("stratoswarm CLI: a bad token lifetime is refused before asking serve", "[gpu_node][cli]") {
  auto r = Run({"--state-dir", "/nonexistent-stratoswarm", "cluster", "create-join-token", "--ttl", "soon"});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("'soon' is not a duration"));
}

TEST_CASE("stratoswarm CLI: the run command keeps the workload's own flags", "[gpu_node][cli]") {
  auto r = Run({"run", "busybox", "ls", "-l", "--color"});
  CHECK(r.code == 1);  // parsed (not a usage error); the handler is not there yet
  CHECK_THAT(r.err, Catch::Contains("run: not implemented yet"));
}

TEST_CASE("stratoswarm CLI: bad input is a usage error, exit 2", "[gpu_node][cli]") {
  CHECK(Run({"frobnicate"}).code == 2);
  CHECK_THAT(Run({"frobnicate"}).err, Catch::StartsWith("stratoswarm: unknown command 'frobnicate'"));
  CHECK(Run({"cluster"}).code == 2);
  CHECK(Run({"cluster", "nodes", "--format", "xml"}).code == 2);
  CHECK(Run({"run", "--cpu", "-1", "busybox"}).code == 2);
  CHECK(Run({"migrate", "wl-1"}).code == 2);
  CHECK_THAT(Run({"migrate", "wl-1"}).err, Catch::Contains("--to"));
}

TEST_CASE("stratoswarm CLI: version and selftest run", "[gpu_node][cli]") {
  auto v = Run({"version"});
  CHECK(v.code == 0);
  CHECK_THAT(v.out, Catch::StartsWith("stratoswarm 0."));
  auto s = Run({"selftest"});
  CHECK(s.code == 0);
  CHECK_THAT(s.out, Catch::Contains("selftest: ok"));
}
