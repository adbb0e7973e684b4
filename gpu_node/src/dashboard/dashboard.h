// Dashboard: `stratoswarm serve --dashboard-port` (docs/dashboard.md). One
// page over HTTP (cpp-httplib) with the nodes, the workloads and the timing
// events as they happen, pushed to the browser as server-sent events:
//
//   GET /                 the page (assets.h; nothing loaded from elsewhere)
//   GET /api/nodes        JSON, as `stratoswarm node ls --format json`
//   GET /api/workloads    JSON, as `stratoswarm ps -a --format json`
//   GET /api/timings      JSON, the buffered timing events (feed.h)
//   GET /api/events       text/event-stream (feed.h lists the events)
//
// Two threads of its own: the HTTP server's (with its worker pool) and a
// refresher that reads the sources and tails timing.jsonl into a
// DashboardFeed, every `refresh` or at once after Poke(). HTTP clients only
// ever read the feed, so serve's loop never waits for a browser; the sources
// are called only from the refresher. Unauthenticated: bound to 127.0.0.1
// unless told otherwise.
//
// Thread safety: Poke() from any thread (it only signals, so it may be
// called under other locks, e.g. from a TimingLog observer). Stop() and
// destruction from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dashboard/feed.h"
#include "dashboard/timing_tail.h"
#include "mesh/status.h"

namespace httplib {
class Server;
}

namespace gpu_node::dashboard {

struct DashboardOptions {
  std::string address = "127.0.0.1";  // IPv4 literal; 0.0.0.0 for every interface
  int port = 0;                       // 0: the kernel picks one (see port())
  std::string timing_log;             // timing.jsonl to follow; empty: none
  std::chrono::milliseconds refresh{500};
  // Event streams open at once; more get 503 so the pages and the JSON
  // endpoints keep worker threads. A stream whose browser went away is
  // noticed at its next write (at most the 5 s keep-alive).
  int max_streams = 8;
};

// A JSON array as text, or why it could not be read.
using JsonSource = std::function<mesh::Result<std::string>()>;

struct DashboardSources {
  JsonSource nodes;
  JsonSource workloads;
};

class Dashboard {
 public:
  // Binds (a port in use or a bad address is an error here, nothing
  // started), reads the sources once, then serves.
  static mesh::Result<std::shared_ptr<Dashboard>> Start(DashboardOptions options,
                                                        DashboardSources sources);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Something changed (a timing record was written): refresh now.
  void Poke();
  // Ends every event stream, stops both threads. Idempotent; the sources
  // are not called after it returns.
  void Stop();

  int port() const { return port_; }
  const std::string& address() const { return options_.address; }

 private:
  Dashboard(DashboardOptions options, DashboardSources sources);
  void Routes();
  void Refresh();
  void RefreshLoop();

  const DashboardOptions options_;
  const DashboardSources sources_;
  DashboardFeed feed_;
  std::unique_ptr<TimingTail> tail_;  // the refresher's
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread http_thread_;
  std::thread refresh_thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool poked_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::atomic<int> streams_{0};
};

}  // namespace gpu_node::dashboard
