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
  // From shared/seeds/001. Without a running serve each one says how to
  // reach it: parsed, not a usage error.
  const std::vector<std::vector<const char*>> need_serve = {
      {"cluster", "create-join-token"},
      {"cluster", "nodes", "--format=table"},
      {"cluster", "mesh-status"},
      {"node", "ls"},
      {"ps", "--all-nodes"},
      {"run", "--cpu", "0.5", "--memory", "128M", "alpine", "sleep", "60"},
      {"run", "--gpu", "nvidia/cuda:11.0-base", "nvidia-smi"},
      {"run", "--constraint", "node.name==rpi-1", "busybox", "sleep", "3600"},
      {"logs", "wl-1"},
      {"stop", "wl-1"},
      {"migrate", "wl-1", "--to", "rpi-2"},
      {"node", "rm", "rpi-1"},
      {"node", "rm", "rpi-1", "--force", "--format", "json"},
      {"node", "revoked", "--format", "json"},
  };
  for (auto line : need_serve) {
    line.insert(line.begin(), {"--state-dir", "/nonexistent-stratoswarm"});
    INFO(line[2]);
    auto r = Run(line);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Catch::Contains("is 'stratoswarm serve' running?"));
  }
  auto r = Run({"deploy", "/nonexistent-stratoswarm/w.yaml", "--measure-scheduling-time", "--output", "r.json"});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot read /nonexistent-stratoswarm/w.yaml"));
}

TEST_CASE("stratoswarm CLI: a bad token lifetime is refused before asking serve", "[gpu_node][cli]") {
  auto r = Run({"--state-dir", "/nonexistent-stratoswarm", "cluster", "create-join-token", "--ttl", "soon"});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("'soon' is not a duration"));
}

TEST_CASE("stratoswarm CLI: the run command keeps the workload's own flags", "[gpu_node][cli]") {
  // Flags after IMAGE belong to the workload: parsed (exit 1 for the missing
  // serve), not a usage error (exit 2) about --color.
  auto r = Run({"--state-dir", "/nonexistent-stratoswarm", "run", "busybox", "ls", "-l", "--color"});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("is 'stratoswarm serve' running?"));
}

TEST_CASE("stratoswarm CLI: bad input is a usage error, exit 2", "[gpu_node][cli]") {
  CHECK(Run({"frobnicate"}).code == 2);
  CHECK_THAT(Run({"frobnicate"}).err, Catch::StartsWith("stratoswarm: unknown command 'frobnicate'"));
  CHECK(Run({"cluster"}).code == 2);
  CHECK(Run({"cluster", "nodes", "--format", "xml"}).code == 2);
  CHECK(Run({"run", "--cpu", "-1", "busybox"}).code == 2);
  CHECK(Run({"migrate", "wl-1"}).code == 2);
  CHECK_THAT(Run({"migrate", "wl-1"}).err, Catch::Contains("--to"));
  CHECK(Run({"node", "rm"}).code == 2);  // NAME is required
  CHECK_THAT(Run({"node", "rm"}).err, Catch::Contains("NAME"));
  CHECK(Run({"node", "rm", "rpi-1", "--forced"}).code == 2);
  auto ttl = Run({"--state-dir", "/nonexistent-stratoswarm", "serve", "--cert-ttl", "a month"});
  CHECK(ttl.code == 2);
  CHECK_THAT(ttl.err, Catch::StartsWith("stratoswarm: --cert-ttl: "));
  CHECK_THAT(ttl.err, Catch::Contains("'a month' is not a duration"));
}

TEST_CASE("stratoswarm CLI: program-wide options before or after the command", "[gpu_node][cli]") {
  // Each line reaches its command (exit 1: no serve behind the state dir),
  // whichever side of the subcommand --state-dir and --format stand on.
  const std::vector<std::vector<const char*>> lines = {
      {"--state-dir", "/nonexistent-stratoswarm", "--format", "json", "ps"},
      {"ps", "--state-dir", "/nonexistent-stratoswarm", "--format", "json"},
      {"node", "ls", "--state-dir=/nonexistent-stratoswarm"},
      {"--format=json", "cluster", "nodes", "--state-dir", "/nonexistent-stratoswarm"},
      {"cluster", "--state-dir", "/nonexistent-stratoswarm", "status", "--format", "json"},
      {"logs", "wl-1", "--state-dir", "/nonexistent-stratoswarm"},
      {"image", "ls", "--state-dir", "/nonexistent-stratoswarm", "--format", "json"},
      {"run", "--state-dir", "/nonexistent-stratoswarm", "busybox", "ls", "--state-dir", "x"},
  };
  for (const auto& line : lines) {
    INFO(line[0] << " " << line[1]);
    auto r = Run(line);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Catch::Contains("/nonexistent-stratoswarm"));
  }
  // serve takes it after the command too (was "unknown option '--state-dir'"):
  // the bad grace is the only complaint.
  auto serve = Run({"serve", "--state-dir", "/nonexistent-stratoswarm", "--restart-grace", "soon"});
  CHECK(serve.code == 2);
  CHECK_THAT(serve.err, Catch::StartsWith("stratoswarm: --restart-grace: "));
  // JSON where there is no listing is a usage error, not silently ignored.
  auto logs = Run({"logs", "wl-1", "--format", "json", "--state-dir", "/nonexistent-stratoswarm"});
  CHECK(logs.code == 2);
  CHECK_THAT(logs.err, Catch::StartsWith("stratoswarm: --format json: 'logs' prints no listing"));
  CHECK(Run({"--format", "yaml", "ps"}).code == 2);
  // Subcommand help names the program-wide options.
  auto help = Run({"serve", "--help"});
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Catch::Contains("--state-dir DIR"));
}

TEST_CASE("stratoswarm CLI: version and selftest run", "[gpu_node][cli]") {
  auto v = Run({"version"});
  CHECK(v.code == 0);
  CHECK_THAT(v.out, Catch::StartsWith("stratoswarm 0."));
  auto s = Run({"selftest"});
  CHECK(s.code == 0);
  CHECK_THAT(s.out, Catch::Contains("selftest: ok"));
}
