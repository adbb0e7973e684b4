// The dashboard's assets (dashboard/assets.h) and its HTTP endpoints
// (dashboard/dashboard.h) on 127.0.0.1, with fake sources.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "dashboard/assets.h"
#include "dashboard/dashboard.h"

namespace {

using gpu_node::dashboard::ContentTypeFor;
using gpu_node::dashboard::Dashboard;
using gpu_node::dashboard::DashboardOptions;
using gpu_node::dashboard::DashboardSources;
using gpu_node::dashboard::FindAsset;
using nlohmann::json;
using namespace std::chrono_literals;

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// One HTTP/1.0 GET; the whole response (head and body).
std::string Get(int port, const std::string& path) {
  const int fd = Connect(port);
  const std::string req =
      "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  REQUIRE(write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[8192];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  close(fd);
  return out;
}

std::string Body(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// Reads an open stream until `want` has appeared (or 5 s passed).
bool ReadUntil(int fd, std::string& got, const std::string& want) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  char buf[4096];
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < until) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got.find(want) != std::string::npos;
}

struct ScratchDir {
  ScratchDir() {
    char tmpl[] = "/tmp/dashboard-http-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  std::string path;
};

}  // namespace

TEST_CASE("FindAsset: the page, its script, styles and uPlot, nothing else", "[dashboard]") {
  const auto* index = FindAsset("/");
  REQUIRE(index != nullptr);
  CHECK(index == FindAsset("/index.html"));
  CHECK(ContentTypeFor(index->path) == "text/html; charset=utf-8");
  // Every script and stylesheet the page names is embedded, none from elsewhere.
  const std::string html(index->body);
  std::regex ref(R"((?:src|href)="([^"]+)\")");
  int refs = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator();
       ++it, ++refs) {
    const std::string target = (*it)[1];
    INFO(target);
    CHECK(target.find("//") == std::string::npos);
    REQUIRE(FindAsset("/" + target) != nullptr);
    CHECK_FALSE(FindAsset("/" + target)->body.empty());
  }
  CHECK(refs >= 4);
  const auto* uplot = FindAsset("/uPlot.iife.min.js");
  REQUIRE(uplot != nullptr);
  CHECK(uplot->body.find("uPlot") != std::string_view::npos);
  CHECK(ContentTypeFor("/dashboard.js") == "text/javascript; charset=utf-8");
  CHECK(ContentTypeFor("/uPlot.min.css") == "text/css; charset=utf-8");
  CHECK(ContentTypeFor("/x.bin") == "application/octet-stream");
  CHECK(FindAsset("/nope.js") == nullptr);
  CHECK(FindAsset("/../index.html") == nullptr);
  CHECK(FindAsset("") == nullptr);
}

TEST_CASE("Dashboard: serves the page, the lists and the event stream on 127.0.0.1",
          "[dashboard]") {
  ScratchDir dir;
  const std::string log = dir.path + "/timing.jsonl";
  std::ofstream(log)
      << R"({"ts_ns":1000000000,"node":"primary-gpu","event":"join","phase":"admit","ms":3.5})"
      << "\n";
  std::atomic<int> node_count{1};
  DashboardSources sources;
  sources.nodes = [&]() -> mesh::Result<std::string> {
    json nodes = json::array();
    for (int i = 1; i <= node_count; ++i) nodes.push_back({{"name", "rpi-" + std::to_string(i)}});
    return nodes.dump();
  };
  sources.workloads = []() -> mesh::Result<std::string> { return std::string(R"([{"id":"w1"}])"); };
  DashboardOptions options;
  options.timing_log = log;
  options.refresh = 50ms;
  auto started = Dashboard::Start(options, sources);
  REQUIRE(started.ok());
  auto dashboard = *started;
  const int port = dashboard->port();
  REQUIRE(port > 0);

  const std::string page = Get(port, "/");
  CHECK(page.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(page.find("text/html") != std::string::npos);
  CHECK(Body(page) == std::string(FindAsset("/")->body));
  CHECK(Get(port, "/missing.js").rfind("HTTP/1.1 404", 0) == 0);
  CHECK(json::parse(Body(Get(port, "/api/nodes"))) == json::parse(R"([{"name":"rpi-1"}])"));
  CHECK(json::parse(Body(Get(port, "/api/workloads")))[0]["id"] == "w1");
  const json timings = json::parse(Body(Get(port, "/api/timings")));
  REQUIRE(timings.size() == 1);
  CHECK(timings[0]["key"] == "join.admit");

  const int fd = Connect(port);
  const std::string req =
      "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  REQUIRE(write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string stream;
  REQUIRE(ReadUntil(fd, stream, "join.admit"));
  CHECK(stream.find("text/event-stream") != std::string::npos);
  CHECK(stream.find("event: hello") != std::string::npos);
  CHECK(stream.find("rpi-1") != std::string::npos);
  // News reaches the open stream: a node and a record, at once after a poke.
  node_count = 2;
  std::ofstream(log, std::ios::app)
      << R"({"ts_ns":2000000000,"node":"primary-gpu","event":"failure_detection","phase":"decided","ms":600,"name":"rpi-2"})"
      << "\n";
  dashboard->Poke();
  CHECK(ReadUntil(fd, stream, "failure_detection.decided"));
  CHECK(ReadUntil(fd, stream, "rpi-2"));

  // Stop ends the open stream and returns.
  const auto stopping = std::chrono::steady_clock::now();
  dashboard->Stop();
  CHECK(std::chrono::steady_clock::now() - stopping < 3s);
  char buf[4096];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  close(fd);
}

TEST_CASE("Dashboard: a port in use or a bad address is an error, nothing served", "[dashboard]") {
  auto first = Dashboard::Start({}, {});
  REQUIRE(first.ok());
  DashboardOptions same;
  same.port = (*first)->port();
  auto second = Dashboard::Start(same, {});
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("127.0.0.1:" + std::to_string(same.port)) !=
        std::string::npos);
  CHECK(second.status().message().find("in use") != std::string::npos);

  DashboardOptions bad;
  bad.address = "localhost";
  auto third = Dashboard::Start(bad, {});
  REQUIRE_FALSE(third.ok());
  CHECK(third.status().message().find("not an IPv4 address") != std::string::npos);
}
