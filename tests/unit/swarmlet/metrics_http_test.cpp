#include "swarmlet/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "swarmlet/metrics.h"

namespace {

using namespace std::chrono_literals;

// Runs a server on 127.0.0.1 in a thread of its own for the test's length.
class ServerThread {
 public:
  explicit ServerThread(swarmlet::MetricsHttpServer::Provider provider,
                        swarmlet::MetricsHttpOptions options = {}) {
    options.bind_address = "127.0.0.1";  // tests stay on loopback
    auto server = swarmlet::MetricsHttpServer::Listen(options, std::move(provider));
    REQUIRE(server.ok());
    server_ = std::move(*server);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        auto r = server_->PollOnce(20ms);
        if (!r.ok()) break;
      }
    });
  }
  ~ServerThread() {
    stop_.store(true);
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }

 private:
  std::unique_ptr<swarmlet::MetricsHttpServer> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Sends `request` raw and returns everything the server sends until it closes.
std::string Exchange(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  timeval tv{10, 0};  // a hung server fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  std::size_t off = 0;
  while (off < request.size()) {
    const ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer 431 and close before it all goes
    off += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

std::string Body(const std::string& reply) {
  const auto end = reply.find("\r\n\r\n");
  return end == std::string::npos ? "" : reply.substr(end + 4);
}

}  // namespace

TEST_CASE("metrics http: request routing", "[swarmlet][metrics_http]") {
  using swarmlet::RouteMetricsRequest;
  CHECK(RouteMetricsRequest("GET /metrics HTTP/1.1\r\nHost: x\r\n").status == 200);
  CHECK(RouteMetricsRequest("GET /metrics?name[]=up HTTP/1.0\r\n").status == 200);
  CHECK(RouteMetricsRequest("HEAD /metrics HTTP/1.1\r\n").head_only);
  CHECK(RouteMetricsRequest("GET / HTTP/1.1\r\n").status == 404);
  CHECK(RouteMetricsRequest("GET /metricsx HTTP/1.1\r\n").status == 404);
  CHECK(RouteMetricsRequest("POST /metrics HTTP/1.1\r\n").status == 405);
  CHECK(RouteMetricsRequest("DELETE / HTTP/1.1\r\n").status == 405);
  CHECK(RouteMetricsRequest("GET /metrics\r\n").status == 400);
  CHECK(RouteMetricsRequest("GET /metrics SPDY/3\r\n").status == 400);
  CHECK(RouteMetricsRequest("\r\n").status == 400);
  CHECK(RouteMetricsRequest(" /metrics HTTP/1.1\r\n").status == 400);
}

TEST_CASE("metrics http: GET /metrics over 127.0.0.1 returns the exposition",
          "[swarmlet][metrics_http]") {
  ServerThread server([] { return swarmlet::NodeMetricsText("/", "/tmp"); });
  REQUIRE(server.port() != 0);
  const auto reply = Exchange(server.port(), "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  INFO(reply);
  REQUIRE(reply.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(reply.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
        std::string::npos);
  const auto body = Body(reply);
  CHECK(reply.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n") !=
        std::string::npos);
  CHECK(body.find("# TYPE stratoswarm_node_cpu_seconds_total counter\n") != std::string::npos);
  CHECK(body.find("stratoswarm_swarmlet_resident_memory_bytes ") != std::string::npos);

  // Served one after another: each connection gets its own answer.
  for (int i = 0; i < 5; ++i) {
    CHECK(Exchange(server.port(), "GET /metrics HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200 OK", 0) ==
          0);
  }
}

TEST_CASE("metrics http: other paths, methods and oversized requests", "[swarmlet][metrics_http]") {
  swarmlet::MetricsHttpOptions options;
  options.max_request_bytes = 512;
  ServerThread server([] { return mesh::Result<std::string>(std::string("x 1\n")); }, options);

  const auto not_found = Exchange(server.port(), "GET / HTTP/1.1\r\n\r\n");
  CHECK(not_found.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);

  const auto post = Exchange(server.port(), "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  CHECK(post.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
  CHECK(post.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);

  const auto head = Exchange(server.port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(head.find("\r\nContent-Length: 4\r\n") != std::string::npos);
  CHECK(Body(head).empty());

  const auto garbage = Exchange(server.port(), std::string("\x16\x03\x01\x02\x00\r\n\r\n", 9));
  CHECK(garbage.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);

  // A head without its blank line that outgrows the bound: 431, then closed.
  const auto huge =
      Exchange(server.port(), "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(4000, 'a'));
  CHECK(huge.rfind("HTTP/1.1 431 ", 0) == 0);

  // Still serving after all that.
  CHECK(Body(Exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n")) == "x 1\n");
}

TEST_CASE("metrics http: a failing provider answers 500", "[swarmlet][metrics_http]") {
  ServerThread server(
      [] { return mesh::Result<std::string>(mesh::Status::Internal("collect", "boom")); });
  const auto reply = Exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0) == 0);
  CHECK(Body(reply).find("boom") != std::string::npos);
}

TEST_CASE("metrics http: a client that connects and leaves does not stop the server",
          "[swarmlet][metrics_http]") {
  ServerThread server([] { return mesh::Result<std::string>(std::string("x 1\n")); });
  for (int i = 0; i < 3; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::send(fd, "GET /met", 8, MSG_NOSIGNAL);
    ::close(fd);
  }
  CHECK(Body(Exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n")) == "x 1\n");
}

TEST_CASE("metrics http: connections beyond the limit are closed unanswered",
          "[swarmlet][metrics_http]") {
  // Driven from this thread, so each step happens exactly when the test says.
  swarmlet::MetricsHttpOptions options;
  options.max_connections = 4;
  auto server = swarmlet::MetricsHttpServer::Listen(
      options, [] { return mesh::Result<std::string>(std::string("x 1\n")); });
  REQUIRE(server.ok());
  auto& srv = **server;
  auto connect = [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(srv.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
  };
  auto read_all = [](int fd) {
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
    return reply;
  };
  const std::string kRequest = "GET /metrics HTTP/1.1\r\n\r\n";
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(connect());
    REQUIRE(::send(idle.back(), "GET /", 5, MSG_NOSIGNAL) == 5);  // never finished
  }
  REQUIRE(srv.PollOnce(1000ms).ok());  // accepts all four from the backlog
  REQUIRE(srv.PollOnce(0ms).ok());     // reads their partial requests

  const int fifth = connect();
  REQUIRE(::send(fifth, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(kRequest.size()));
  REQUIRE(srv.PollOnce(1000ms).ok());  // accepted and closed at once
  CHECK(read_all(fifth).empty());
  ::close(fifth);

  for (int fd : idle) ::close(fd);
  REQUIRE(srv.PollOnce(1000ms).ok());  // sees their EOFs, frees the slots
  const int sixth = connect();
  REQUIRE(::send(sixth, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(kRequest.size()));
  int served = 0;
  for (int i = 0; i < 10 && served == 0; ++i) {
    auto r = srv.PollOnce(1000ms);
    REQUIRE(r.ok());
    served += *r;
  }
  CHECK(served == 1);
  CHECK(Body(read_all(sixth)) == "x 1\n");
  ::close(sixth);
}

TEST_CASE("metrics http: bad bind addresses are refused", "[swarmlet][metrics_http]") {
  swarmlet::MetricsHttpOptions options;
  options.bind_address = "localhost";  // names are not resolved
  auto provider = [] { return mesh::Result<std::string>(std::string()); };
  auto r = swarmlet::MetricsHttpServer::Listen(options, provider);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);

  // The same port twice: the second bind fails with a Status, not a crash.
  options.bind_address = "127.0.0.1";
  auto first = swarmlet::MetricsHttpServer::Listen(options, provider);
  REQUIRE(first.ok());
  options.port = (*first)->port();
  auto second = swarmlet::MetricsHttpServer::Listen(options, provider);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("bind 127.0.0.1:") != std::string::npos);
}

TEST_CASE("metrics http: MetricsHttpThread serves on its own thread and stops promptly",
          "[swarmlet][metrics_http]") {
  std::atomic<int> calls{0};
  swarmlet::MetricsHttpOptions options;
  options.bind_address = "127.0.0.1";
  auto served = swarmlet::MetricsHttpThread::Start(options, [&] {
    ++calls;
    return mesh::Result<std::string>(std::string("up 1\n"));
  });
  REQUIRE(served.ok());
  const std::uint16_t port = (*served)->port();
  CHECK(port != 0);
  CHECK(Body(Exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == "up 1\n");
  CHECK(Body(Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n")) == "up 1\n");
  CHECK(calls == 2);

  // A port in use is the caller's error, at Start.
  options.port = port;
  auto second = swarmlet::MetricsHttpThread::Start(options, [] {
    return mesh::Result<std::string>(std::string());
  });
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("bind 127.0.0.1:" + std::to_string(port)) !=
        std::string::npos);

  const auto t0 = std::chrono::steady_clock::now();
  served->reset();
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}
