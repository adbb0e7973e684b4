#include "dashboard/dashboard.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "dashboard/assets.h"

namespace gpu_node::dashboard {
namespace {

// How long an event stream waits for news before a keep-alive comment; a
// browser that went away is noticed by the failed write.
constexpr std::chrono::seconds kStreamKeepAlive{5};
// Worker threads besides the event streams: the page, its assets and the
// JSON endpoints never wait behind open streams.
constexpr int kSpareWorkers = 4;

void NoStore(httplib::Response& res) { res.set_header("Cache-Control", "no-store"); }

}  // namespace

Dashboard::Dashboard(DashboardOptions options, DashboardSources sources)
    : options_(std::move(options)),
      sources_(std::move(sources)),
      server_(std::make_unique<httplib::Server>()) {
  if (!options_.timing_log.empty()) tail_ = std::make_unique<TimingTail>(options_.timing_log);
}

mesh::Result<std::shared_ptr<Dashboard>> Dashboard::Start(DashboardOptions options,
                                                          DashboardSources sources) {
  in_addr parsed{};
  if (inet_pton(AF_INET, options.address.c_str(), &parsed) != 1) {
    return mesh::Status::InvalidArgument("dashboard address",
                                         "not an IPv4 address: '" + options.address + "'");
  }
  if (options.port < 0 || options.port > 65535) {
    return mesh::Status::InvalidArgument("dashboard port",
                                         std::to_string(options.port) + " is not 0..65535");
  }
  std::shared_ptr<Dashboard> d(new Dashboard(std::move(options), std::move(sources)));
  const std::string where = d->options_.address + ":" + std::to_string(d->options_.port);
  // Idle keep-alive connections hold a worker until this runs out, Stop() too.
  d->server_->set_keep_alive_timeout(1);
  // httplib's default adds SO_REUSEPORT: a second serve could then bind the
  // same port and take half the browsers. SO_REUSEADDR alone still lets a
  // restarted serve bind while old connections linger in TIME_WAIT.
  d->server_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    (void)setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const int workers = d->options_.max_streams + kSpareWorkers;
  d->server_->new_task_queue = [workers] {
    return new httplib::ThreadPool(static_cast<std::size_t>(workers));
  };
  d->Routes();
  errno = 0;
  if (d->options_.port == 0) {
    d->port_ = d->server_->bind_to_any_port(d->options_.address);
    if (d->port_ < 0)
      return mesh::Status::FromErrno("dashboard bind " + where, errno != 0 ? errno : EADDRNOTAVAIL);
  } else if (d->server_->bind_to_port(d->options_.address, d->options_.port)) {
    d->port_ = d->options_.port;
  } else {
    return mesh::Status::FromErrno("dashboard bind " + where, errno != 0 ? errno : EADDRINUSE);
  }
  d->Refresh();
  Dashboard* self = d.get();
  d->http_thread_ = std::thread([self] { self->server_->listen_after_bind(); });
  // stop() before listen has begun would be lost (httplib checks is_running).
  while (!d->server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d->refresh_thread_ = std::thread([self] { self->RefreshLoop(); });
  return d;
}

Dashboard::~Dashboard() { Stop(); }

void Dashboard::Routes() {
  httplib::Server& s = *server_;
  s.Get("/api/nodes", [this](const httplib::Request&, httplib::Response& res) {
    NoStore(res);
    res.set_content(feed_.Nodes(), "application/json");
  });
  s.Get("/api/workloads", [this](const httplib::Request&, httplib::Response& res) {
    NoStore(res);
    res.set_content(feed_.Workloads(), "application/json");
  });
  s.Get("/api/timings", [this](const httplib::Request&, httplib::Response& res) {
    NoStore(res);
    res.set_content(feed_.Events(), "application/json");
  });
  s.Get("/api/events", [this](const httplib::Request&, httplib::Response& res) {
    if (streams_.fetch_add(1) >= options_.max_streams) {
      streams_.fetch_sub(1);
      res.status = 503;
      res.set_header("Retry-After", "5");
      res.set_content("too many open event streams\n", "text/plain");
      return;
    }
    NoStore(res);
    auto cursor = std::make_shared<DashboardFeed::Cursor>();
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, cursor](std::size_t, httplib::DataSink& sink) {
          std::string frames = feed_.Next(*cursor, kStreamKeepAlive);
          if (feed_.closed()) return false;
          if (frames.empty()) frames = SseComment("keep-alive");
          return sink.write(frames.data(), frames.size());
        },
        [this](bool) { streams_.fetch_sub(1); });
  });
  s.Get(R"(/[A-Za-z0-9._-]*)", [](const httplib::Request& req, httplib::Response& res) {
    const DashboardAsset* asset = FindAsset(req.path);
    if (asset == nullptr) {
      res.status = 404;
      res.set_content("not found\n", "text/plain");
      return;
    }
    res.set_content(asset->body.data(), asset->body.size(),
                    std::string(ContentTypeFor(asset->path)));
  });
}

void Dashboard::Refresh() {
  if (tail_ != nullptr) {
    for (const std::string& line : tail_->ReadNew()) (void)feed_.AddTimingLine(line);
  }
  // A source that fails keeps the last good list on show.
  if (sources_.nodes) {
    if (auto nodes = sources_.nodes(); nodes.ok()) feed_.SetNodes(std::move(*nodes));
  }
  if (sources_.workloads) {
    if (auto workloads = sources_.workloads(); workloads.ok())
      feed_.SetWorkloads(std::move(*workloads));
  }
}

void Dashboard::RefreshLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.refresh, [this] { return poked_ || stopping_; });
    if (stopping_) break;
    poked_ = false;
    lock.unlock();
    Refresh();
    lock.lock();
  }
}

void Dashboard::Poke() {
  std::lock_guard lock(mu_);
  poked_ = true;
  wake_.notify_one();
}

void Dashboard::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    wake_.notify_one();
  }
  if (refresh_thread_.joinable()) refresh_thread_.join();
  feed_.Close();  // event streams end with their next write
  if (server_->is_running()) server_->stop();
  if (http_thread_.joinable()) http_thread_.join();
}

}  // namespace gpu_node::dashboard
