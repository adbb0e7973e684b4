#include "api/api.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;
using api::Json;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/api-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::map<std::string, api::Handler> Handlers() {
  return {
      {"echo", [](const Json& r) -> mesh::Result<Json> { return Json{{"said", r.at("text")}}; }},
      {"fail", [](const Json&) -> mesh::Result<Json> {
         return mesh::Status::NotFound("migrate", "no workload wl-9");
       }},
  };
}

}  // namespace

TEST_CASE("api: request and answer over the socket", "[gpu_node][api]") {
  TempDir dir;
  auto server = api::ApiServer::Start(dir.path, Handlers());
  REQUIRE(server.ok());
  struct stat st {};
  REQUIRE(stat((dir.path + "/api.sock").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto r = api::CallApi(dir.path, {{"cmd", "echo"}, {"text", "hello"}});
  REQUIRE(r.ok());
  CHECK((*r)["said"] == "hello");
  CHECK(api::CallApi(dir.path, {{"cmd", "ping"}}).ok());
}

TEST_CASE("api: errors keep their code and message", "[gpu_node][api]") {
  TempDir dir;
  auto server = api::ApiServer::Start(dir.path, Handlers());
  REQUIRE(server.ok());
  auto failed = api::CallApi(dir.path, {{"cmd", "fail"}});
  CHECK(failed.status().code() == mesh::StatusCode::kNotFound);
  CHECK(failed.status().message() == "migrate: no workload wl-9");
  auto unknown = api::CallApi(dir.path, {{"cmd", "frobnicate"}});
  CHECK(unknown.status().code() == mesh::StatusCode::kUnsupported);
  // A handler reading a missing field answers an error, it does not crash serve.
  auto missing = api::CallApi(dir.path, {{"cmd", "echo"}});
  CHECK(missing.status().code() == mesh::StatusCode::kInvalidArgument);
  CHECK(api::CallApi(dir.path, {{"cmd", "ping"}}).ok());
}

TEST_CASE("api: garbage on the socket gets an error answer", "[gpu_node][api]") {
  TempDir dir;
  auto server = api::ApiServer::Start(dir.path, Handlers());
  REQUIRE(server.ok());
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, (dir.path + "/api.sock").c_str());
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const char junk[] = "\x01\x02not json\n";
  REQUIRE(write(fd, junk, sizeof junk - 1) > 0);
  char buf[512] = {};
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  REQUIRE(n > 0);
  auto reply = Json::parse(buf);
  CHECK(reply["ok"] == false);
  CHECK(reply["code"] == "InvalidArgument");
}

TEST_CASE("api: no serve running is a clear Unavailable", "[gpu_node][api]") {
  TempDir dir;
  auto r = api::CallApi(dir.path, {{"cmd", "ping"}});
  CHECK(r.status().code() == mesh::StatusCode::kUnavailable);
  CHECK_THAT(r.status().message(), Catch::Contains("is 'stratoswarm serve' running?"));
}

TEST_CASE("api: a stale socket is replaced, a live one is not", "[gpu_node][api]") {
  TempDir dir;
  {
    // A socket file left behind with nobody listening (serve was killed).
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, (dir.path + "/api.sock").c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    close(fd);
  }
  auto first = api::ApiServer::Start(dir.path, Handlers());
  REQUIRE(first.ok());
  auto second = api::ApiServer::Start(dir.path, Handlers());
  CHECK(second.status().code() == mesh::StatusCode::kAlreadyExists);
  CHECK(api::CallApi(dir.path, {{"cmd", "ping"}}).ok());
  (*first)->Stop();
  CHECK_FALSE(fs::exists(dir.path + "/api.sock"));
}
