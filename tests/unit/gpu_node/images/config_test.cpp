#include "images/config.h"

#include <catch2/catch.hpp>

using images::ParseImageConfig;
using images::ResolvedUser;
using images::ResolveUser;

TEST_CASE("image config: the fields a run needs", "[images]") {
  auto c = ParseImageConfig(R"({
    "architecture": "arm64", "os": "linux", "variant": "v8",
    "config": {"Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "Env": ["PATH=/bin", "A=b"],
               "WorkingDir": "/srv", "User": "app:app", "StopSignal": "SIGINT",
               "ExposedPorts": {"80/tcp": {}}},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:aa", "sha256:bb"]},
    "history": [{"created_by": "x"}]})");
  REQUIRE(c.ok());
  CHECK(c->architecture == "arm64");
  CHECK(c->os == "linux");
  CHECK(c->variant == "v8");
  CHECK(c->entrypoint == std::vector<std::string>{"/bin/app"});
  CHECK(c->cmd == std::vector<std::string>{"--serve"});
  CHECK(c->env == std::vector<std::string>{"PATH=/bin", "A=b"});
  CHECK(c->working_dir == "/srv");
  CHECK(c->user == "app:app");
  CHECK(c->stop_signal == "SIGINT");
  CHECK(c->diff_ids == std::vector<std::string>{"sha256:aa", "sha256:bb"});

  // Null and absent optional fields are empty.
  c = ParseImageConfig(R"({"architecture":"amd64","os":"linux","config":{"Entrypoint":null},
                           "rootfs":{"type":"layers","diff_ids":[]}})");
  REQUIRE(c.ok());
  CHECK(c->entrypoint.empty());
  CHECK(c->user.empty());
}

TEST_CASE("image config: wrong types and missing fields are Corrupt, never exceptions",
          "[images]") {
  const char* bad[] = {
      "not json",
      "[]",
      R"({"os":"linux","rootfs":{"type":"layers","diff_ids":[]}})",
      R"({"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}})",
      R"({"architecture":7,"os":"linux","rootfs":{"type":"layers","diff_ids":[]}})",
      R"({"architecture":"amd64","os":"linux"})",
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})",
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"other","diff_ids":[]}})",
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[1]}})",
      R"({"architecture":"amd64","os":"linux","config":{"Cmd":"sh"},"rootfs":{"type":"layers","diff_ids":[]}})",
      R"({"architecture":"amd64","os":"linux","config":{"Env":[1]},"rootfs":{"type":"layers","diff_ids":[]}})",
      R"({"architecture":"amd64","os":"linux","config":{"User":0},"rootfs":{"type":"layers","diff_ids":[]}})",
      R"({"architecture":"amd64","os":"linux","config":[],"rootfs":{"type":"layers","diff_ids":[]}})",
  };
  for (const char* text : bad) {
    INFO(text);
    auto c = ParseImageConfig(text);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == mesh::StatusCode::kCorrupt);
  }
}

namespace {
const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "# a comment\n"
    "app:x:1000:1000::/home/app:/bin/sh\n"
    "broken:x:notanumber:1\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const char* kGroup =
    "root:x:0:\n"
    "wheel:x:10:root,app\n"
    "app:x:1000:\n"
    "video:x:44:app\n"
    "audio:x:29:daemon,app\n"
    "nogroup:x:65534:\n";
}  // namespace

TEST_CASE("users: names, numbers, groups and supplementary groups", "[images]") {
  auto u = ResolveUser("", kPasswd, kGroup);
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{0, 0, {10}});

  u = ResolveUser("app", kPasswd, kGroup);
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{1000, 1000, {10, 29, 44}});

  u = ResolveUser("1000", kPasswd, kGroup);  // uid in passwd: its gid and groups
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{1000, 1000, {10, 29, 44}});

  u = ResolveUser("4242", kPasswd, kGroup);  // uid not in passwd: fine, gid 0
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{4242, 0, {}});

  u = ResolveUser("app:video", kPasswd, kGroup);  // explicit group: that group alone
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{1000, 44, {}});

  u = ResolveUser("1000:5000", kPasswd, kGroup);
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{1000, 5000, {}});

  u = ResolveUser("nobody:44", kPasswd, kGroup);
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{65534, 44, {}});

  u = ResolveUser("77:nogroup", kPasswd, kGroup);
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{77, 65534, {}});

  u = ResolveUser("", "", "");  // an image without /etc/passwd runs as 0:0
  REQUIRE(u.ok());
  CHECK(*u == ResolvedUser{0, 0, {}});
}

TEST_CASE("users: unknown names are NotFound with a clear message", "[images]") {
  auto u = ResolveUser("nobody2", kPasswd, kGroup);
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().code() == mesh::StatusCode::kNotFound);
  CHECK(u.status().message().find("user 'nobody2' not in the image's /etc/passwd") !=
        std::string::npos);

  u = ResolveUser("app:staff", kPasswd, kGroup);
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().message().find("group 'staff' not in the image's /etc/group") !=
        std::string::npos);

  u = ResolveUser("app", "", "");
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().code() == mesh::StatusCode::kNotFound);

  CHECK(ResolveUser("app:", kPasswd, kGroup).status().code() == mesh::StatusCode::kInvalidArgument);
  CHECK(ResolveUser("99999999999", kPasswd, kGroup).status().code() == mesh::StatusCode::kNotFound);
}

TEST_CASE("stop signals by name, short name and number", "[images]") {
  CHECK(images::StopSignalNumber("SIGTERM") == 15);
  CHECK(images::StopSignalNumber("TERM") == 15);
  CHECK(images::StopSignalNumber("sigint") == 2);
  CHECK(images::StopSignalNumber("15") == 15);
  CHECK(images::StopSignalNumber("SIGKILL") == 9);
  CHECK(images::StopSignalNumber("SIGWINCH") == 28);
  CHECK(images::StopSignalNumber("") == 0);
  CHECK(images::StopSignalNumber("SIGFOO") == 0);
  CHECK(images::StopSignalNumber("0") == 0);
  CHECK(images::StopSignalNumber("65") == 0);
  CHECK(images::StopSignalNumber("15x") == 0);
}
