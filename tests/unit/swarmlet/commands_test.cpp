#include "swarmlet/commands.h"
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "swarmlet/token_source.h"
#include "test_support.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

CliOutcome Run(std::vector<const char*> argv) { return RunCli(swarmlet::RunMultiCall, std::move(argv)); }

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("swarmlet CLI: --version and --help exit 0", "[swarmlet][cli]") {
  auto v = Run({"swarmlet", "--version"});
  CHECK(v.code == 0);
  CHECK_THAT(v.out, Catch::StartsWith("swarmlet 0."));
  auto h = Run({"/usr/local/bin/swarmlet", "--help"});
  CHECK(h.code == 0);
  CHECK_THAT(h.out, Catch::Contains("selftest"));
  CHECK_THAT(h.out, Catch::Contains("join"));
}

TEST_CASE("swarmlet CLI: unknown command is one error line + usage, exit 2", "[swarmlet][cli]") {
  auto r = Run({"swarmlet", "frobnicate"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::StartsWith("swarmlet: unknown command 'frobnicate'\nusage: swarmlet"));
  CHECK(Lines(r.err) == 2);
}

TEST_CASE("swarmlet CLI: bad flags and missing values exit 2", "[swarmlet][cli]") {
  auto bad_flag = Run({"swarmlet", "--bogus"});
  CHECK(bad_flag.code == 2);
  CHECK_THAT(bad_flag.err, Catch::StartsWith("swarmlet: unknown option '--bogus'"));
  CHECK(Lines(bad_flag.err) == 2);
  auto no_cmd = Run({"swarmlet"});
  CHECK(no_cmd.code == 2);
  auto bad_membership = Run({"swarmlet", "join", "--membership", "gossip"});
  CHECK(bad_membership.code == 2);
  CHECK_THAT(bad_membership.err, Catch::Contains("--membership"));
  auto bad_port = Run({"swarmlet", "join", "--mesh-port", "70000"});
  CHECK(bad_port.code == 2);
  CHECK_THAT(bad_port.err, Catch::Contains("usage: swarmlet join"));
}

TEST_CASE("swarmlet CLI: --state-dir before or after the command", "[swarmlet][cli]") {
  for (const auto& line : std::vector<std::vector<const char*>>{
           {"swarmlet", "--state-dir", "/nonexistent-swarmlet", "leave"},
           {"swarmlet", "--state-dir=/nonexistent-swarmlet", "leave"},
           {"swarmlet", "leave", "--state-dir", "/nonexistent-swarmlet"}}) {
    auto r = Run(line);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Catch::StartsWith("swarmlet: leave: no swarmlet runs on /nonexistent-swarmlet"));
  }
  auto help = Run({"swarmlet", "join", "--help"});
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Catch::Contains("--state-dir DIR"));
}

TEST_CASE("swarmlet join: bad input fails before touching the state dir", "[swarmlet][cli]") {
  const std::string dir = "/tmp/swarmlet-cli-test-" + std::to_string(getpid());
  auto no_token = Run({"swarmlet", "join", "--state-dir", dir.c_str()});
  CHECK(no_token.code == 1);
  CHECK_THAT(no_token.err, Catch::StartsWith("swarmlet: a join token is required (--token-file"));
  CHECK(Lines(no_token.err) == 1);
  auto bad_token = Run({"swarmlet", "join", "--token", "hunter2", "--state-dir", dir.c_str()});
  CHECK(bad_token.code == 1);
  CHECK_THAT(bad_token.err, Catch::Contains("SWMTKN-1-"));
  auto bad_labels = Run({"swarmlet", "join", "--token", "x", "--labels", "novalue",
                         "--state-dir", dir.c_str()});
  CHECK(bad_labels.code == 1);
  CHECK(access(dir.c_str(), F_OK) != 0);  // nothing was created
}

TEST_CASE("swarmlet join: the token from a file or the environment, --token with a warning",
          "[swarmlet][cli]") {
  const std::string dir = "/tmp/swarmlet-token-test-" + std::to_string(getpid());
  const std::string file = dir + ".token";
  // A well-formed token whose secret must never be printed.
  const std::string secret = "abcdefghijklmnopqrstuvwxyz234567";
  const std::string token = "SWMTKN-1-" + std::string(64, 'a') + "-" + secret;
  {
    std::ofstream f(file);
    f << token << "\n";
  }
  auto from_file = swarmlet::ChooseJoinToken("", file, nullptr);
  REQUIRE(from_file.ok());
  CHECK(from_file->token == token);
  CHECK_FALSE(from_file->warn);
  auto from_env = swarmlet::ChooseJoinToken("", "", token.c_str());
  REQUIRE(from_env.ok());
  CHECK(from_env->token == token);
  CHECK(from_env->source == "STRATOSWARM_JOIN_TOKEN");
  auto flag_wins = swarmlet::ChooseJoinToken(token, "", "SWMTKN-1-other");
  REQUIRE(flag_wins.ok());
  CHECK(flag_wins->warn);
  CHECK(flag_wins->token == token);
  CHECK_FALSE(swarmlet::ChooseJoinToken(token, file, nullptr).ok());
  auto missing = swarmlet::ChooseJoinToken("", dir + ".nope", nullptr);
  REQUIRE(missing.ok());
  CHECK(missing->file_missing);
  CHECK(missing->token.empty());
  {
    std::ofstream f(file);
    f << " \n";
  }
  CHECK(swarmlet::ChooseJoinToken("", file, nullptr).status().message().find("empty") != std::string::npos);

  // The command line: --token warns (one line), a missing file with no
  // identity is one clear line; the secret is printed nowhere.
  auto on_cmdline = Run({"swarmlet", "join", "--token", token.c_str(), "--cluster", "300.1.1.1",
                         "--state-dir", dir.c_str()});
  CHECK(on_cmdline.code == 1);
  CHECK_THAT(on_cmdline.err, Catch::Contains("WARNING: --token is visible to every local user"));
  CHECK(on_cmdline.err.find(secret) == std::string::npos);
  auto no_file = Run({"swarmlet", "join", "--token-file", (dir + ".nope").c_str(), "--state-dir", dir.c_str()});
  CHECK(no_file.code == 1);
  CHECK_THAT(no_file.err, Catch::StartsWith("swarmlet: --token-file " + dir + ".nope does not exist"));
  CHECK(Lines(no_file.err) == 1);
  auto both = Run({"swarmlet", "join", "--token", token.c_str(), "--token-file", file.c_str()});
  CHECK(both.code == 1);
  CHECK(both.err.find(secret) == std::string::npos);
  std::remove(file.c_str());
  std::filesystem::remove_all(dir);
}

TEST_CASE("swarmlet CLI: multi-call dispatch on argv[0]", "[swarmlet][cli]") {
  auto metrics = Run({"/usr/bin/stratoswarm-metrics", "--help"});
  CHECK(metrics.code == 0);
  CHECK_THAT(metrics.out, Catch::Contains("--prometheus-format"));
  auto test_tool = Run({"stratoswarm-test", "bandwidth", "--duration", "0"});
  CHECK(test_tool.code == 2);  // out of range 1..3600
  CHECK_THAT(test_tool.err, Catch::StartsWith("stratoswarm-test: "));
  auto no_identity = Run({"stratoswarm-test", "bandwidth", "--duration", "1", "--state-dir",
                          "/nonexistent/stratoswarm-state"});
  CHECK(no_identity.code == 1);
  CHECK(no_identity.err ==
        "stratoswarm-test: bandwidth: no node identity in /nonexistent/stratoswarm-state: join the "
        "cluster first (swarmlet join), or pass the swarmlet's --state-dir\n");
  auto bad_format = Run({"stratoswarm-test", "bandwidth", "--format", "xml"});
  CHECK(bad_format.code == 2);
}

TEST_CASE("swarmlet CLI: selftest through the command line", "[swarmlet][cli]") {
  auto r = Run({"swarmlet", "selftest"});
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("has curve: yes"));
}
