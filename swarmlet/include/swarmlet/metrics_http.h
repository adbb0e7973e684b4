// MetricsHttpServer: the smallest HTTP/1.x responder that Prometheus can
// scrape. It answers `GET /metrics` (and HEAD) with the text a provider
// returns, 404 for any other path, 405 for any other method, 431 for a
// request head larger than the bound, and closes every connection after one
// response. No keep-alive, no chunking, no request bodies.
//
// Single-threaded and poll(2)-based: the owner calls PollOnce() in its own
// loop (or a dedicated thread); each call accepts, reads and writes whatever
// is ready without blocking beyond its timeout. Connections are bounded in
// number and in idle time so a stuck client cannot hold the port.
//
// Thread safety: one thread drives a server (Listen, PollOnce, destruction);
// port() may be read from any thread. The provider runs on that thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mesh/status.h"

namespace swarmlet {

struct MetricsHttpOptions {
  std::string bind_address = "127.0.0.1";        // IPv4 literal; "0.0.0.0" for every interface
  std::uint16_t port = 0;                        // 0: the kernel picks one (see port())
  std::size_t max_request_bytes = 8192;          // request line + headers
  std::size_t max_connections = 16;              // more are accepted and closed at once
  std::chrono::milliseconds idle_timeout{5000};  // a connection idle this long is dropped
};

class MetricsHttpServer {
 public:
  // Returns the exposition body for one scrape (e.g. NodeMetricsText's).
  // An error becomes a 500 with its message.
  using Provider = std::function<mesh::Result<std::string>()>;

  // Binds and listens. InvalidArgument for a bad address, the errno
  // translation (e.g. AlreadyExists/IoError for EADDRINUSE) when bind fails.
  static mesh::Result<std::unique_ptr<MetricsHttpServer>> Listen(const MetricsHttpOptions& options,
                                                                 Provider provider);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the kernel's pick when options.port was 0).
  std::uint16_t port() const { return port_; }

  // Waits up to `timeout` for activity, then serves what is ready. Returns
  // the number of responses completed in this call, or an error when
  // poll(2) fails (EINTR is not an error: it returns 0).
  mesh::Result<int> PollOnce(std::chrono::milliseconds timeout);

  // Total responses sent, by any status (for tests and self-metrics).
  std::uint64_t responses() const { return responses_; }

 private:
  struct Connection;
  MetricsHttpServer(int fd, std::uint16_t port, MetricsHttpOptions options, Provider provider);
  void Accept();
  // Reads what is there; queues a response once the request head is complete.
  void OnReadable(Connection& c);
  void Respond(Connection& c, int status, const std::string& reason, const std::string& body,
               bool head_only, const std::string& extra_headers = "");
  // Writes what the socket takes; true when the response is fully sent.
  bool OnWritable(Connection& c);

  const int listen_fd_;
  const std::uint16_t port_;
  const MetricsHttpOptions options_;
  const Provider provider_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::uint64_t responses_ = 0;
};

// A MetricsHttpServer driven by its own thread, so that scrapes never delay
// the owner's loop (the swarmlet agent, the GPU peer's mesh loop). The
// provider therefore runs on that thread and must be thread-safe.
//
// Thread safety: Start and destruction from one thread; port() from any.
class MetricsHttpThread {
 public:
  // Binds in the caller's thread (so a port in use is the caller's error,
  // see MetricsHttpServer::Listen), then serves until destroyed.
  static mesh::Result<std::unique_ptr<MetricsHttpThread>> Start(const MetricsHttpOptions& options,
                                                                MetricsHttpServer::Provider provider);
  // Stops within one poll interval (100 ms) and joins the thread.
  ~MetricsHttpThread();
  MetricsHttpThread(const MetricsHttpThread&) = delete;
  MetricsHttpThread& operator=(const MetricsHttpThread&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  explicit MetricsHttpThread(std::unique_ptr<MetricsHttpServer> server);

  const std::uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Parses the request head ("GET /metrics HTTP/1.1\r\n..."). Exposed for
// tests: the status and body the server answers with. `head` ends at the
// blank line.
struct MetricsHttpRoute {
  int status = 0;  // 200, 400, 404, 405
  bool head_only = false;
};
MetricsHttpRoute RouteMetricsRequest(const std::string& head);

}  // namespace swarmlet
