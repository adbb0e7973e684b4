#include "swarmlet/metrics_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace swarmlet {

struct MetricsHttpServer::Connection {
  int fd = -1;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  bool responding = false;  // a response is queued; reading stops
  std::chrono::steady_clock::time_point last_activity;
  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    default:
      return "Error";
  }
}

}  // namespace

MetricsHttpRoute RouteMetricsRequest(const std::string& head) {
  const auto eol = head.find("\r\n");
  const std::string line = head.substr(0, eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos || sp1 == 0) return {400, false};
  const std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string version = line.substr(sp2 + 1);
  if (version.rfind("HTTP/1.", 0) != 0 || target.empty()) return {400, false};
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) return {405, false};
  // Prometheus may add a query string; it selects nothing here.
  if (const auto q = target.find('?'); q != std::string::npos) target.resize(q);
  if (target != "/metrics") return {404, head_only};
  return {200, head_only};
}

mesh::Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Listen(
    const MetricsHttpOptions& options, Provider provider) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options.port);
  if (inet_pton(AF_INET, options.bind_address.c_str(), &addr.sin_addr) != 1) {
    return mesh::Status::InvalidArgument("metrics http listen",
                                         "not an IPv4 address: '" + options.bind_address + "'");
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return mesh::Status::FromErrno("metrics http socket", errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const std::string where = options.bind_address + ":" + std::to_string(options.port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return mesh::Status::FromErrno("metrics http bind " + where, err);
  }
  if (::listen(fd, 16) != 0) {
    const int err = errno;
    ::close(fd);
    return mesh::Status::FromErrno("metrics http listen " + where, err);
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(fd, ntohs(addr.sin_port), options, std::move(provider)));
}

MetricsHttpServer::MetricsHttpServer(int fd, std::uint16_t port, MetricsHttpOptions options,
                                     Provider provider)
    : listen_fd_(fd), port_(port), options_(std::move(options)), provider_(std::move(provider)) {}

MetricsHttpServer::~MetricsHttpServer() { ::close(listen_fd_); }

void MetricsHttpServer::Accept() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a transient error: the next poll retries
    if (connections_.size() >= options_.max_connections) {
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->last_activity = std::chrono::steady_clock::now();
    connections_.push_back(std::move(c));
  }
}

void MetricsHttpServer::Respond(Connection& c, int status, const std::string& reason,
                                const std::string& body, bool head_only,
                                const std::string& extra_headers) {
  std::string& out = c.out;
  out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  out += std::string("Content-Type: ") +
         (status == 200 ? kContentType : "text/plain; charset=utf-8") + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra_headers;
  out += "Connection: close\r\n\r\n";
  if (!head_only) out += body;
  c.responding = true;
}

void MetricsHttpServer::OnReadable(Connection& c) {
  char buf[4096];
  while (!c.responding) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      // The peer left (or broke) before a full request: drop it.
      ::close(c.fd);
      c.fd = -1;
      return;
    }
    if (n < 0) return;
    c.in.append(buf, static_cast<std::size_t>(n));
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > options_.max_request_bytes) {
        Respond(c, 431, ReasonPhrase(431), "request head too large\n", false);
      }
      continue;
    }
    if (end + 4 > options_.max_request_bytes) {
      Respond(c, 431, ReasonPhrase(431), "request head too large\n", false);
      return;
    }
    const auto route = RouteMetricsRequest(c.in.substr(0, end + 2));
    if (route.status == 200) {
      auto body = provider_();
      if (body.ok()) {
        Respond(c, 200, ReasonPhrase(200), *body, route.head_only);
      } else {
        Respond(c, 500, ReasonPhrase(500), body.status().ToString() + "\n", route.head_only);
      }
    } else if (route.status == 405) {
      Respond(c, 405, ReasonPhrase(405), "only GET /metrics\n", false, "Allow: GET, HEAD\r\n");
    } else {
      Respond(c, route.status, ReasonPhrase(route.status),
              route.status == 404 ? "not found; try /metrics\n" : "bad request\n", route.head_only);
    }
  }
}

bool MetricsHttpServer::OnWritable(Connection& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      ::close(c.fd);  // the peer went away mid-response
      c.fd = -1;
      return false;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  // All sent: half-close so the client sees EOF after the body, then drop.
  // Unread request bytes (an oversized head) would make close() send a RST
  // that can destroy the response in flight, so discard what has arrived.
  ::shutdown(c.fd, SHUT_WR);
  char sink[4096];
  for (int i = 0; i < 16 && ::recv(c.fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  ::close(c.fd);
  c.fd = -1;
  return true;
}

mesh::Result<int> MetricsHttpServer::PollOnce(std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  fds.push_back({listen_fd_, POLLIN, 0});
  for (const auto& c : connections_) {
    fds.push_back({c->fd, static_cast<short>(c->responding ? POLLOUT : POLLIN), 0});
  }
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (ready < 0) {
    if (errno == EINTR) return 0;
    return mesh::Status::FromErrno("metrics http poll", errno);
  }
  int completed = 0;
  const auto now = std::chrono::steady_clock::now();
  // Connections first (fds[i + 1] is connections_[i]); Accept() appends after.
  for (std::size_t i = 0; i < connections_.size() && i + 1 < fds.size(); ++i) {
    Connection& c = *connections_[i];
    const short ev = fds[i + 1].revents;
    if (ev == 0) continue;
    c.last_activity = now;
    if (!c.responding && (ev & (POLLIN | POLLHUP | POLLERR))) OnReadable(c);
    // A queued response usually fits the socket buffer at once.
    if (c.fd >= 0 && c.responding && OnWritable(c)) {
      ++completed;
      ++responses_;
    }
  }
  // Drop finished and idle connections before accepting, so their slots
  // count for the newcomers.
  std::erase_if(connections_, [&](const std::unique_ptr<Connection>& c) {
    return c->fd < 0 || now - c->last_activity > options_.idle_timeout;
  });
  if (fds[0].revents & POLLIN) Accept();
  return completed;
}

mesh::Result<std::unique_ptr<MetricsHttpThread>> MetricsHttpThread::Start(
    const MetricsHttpOptions& options, MetricsHttpServer::Provider provider) {
  auto server = MetricsHttpServer::Listen(options, std::move(provider));
  if (!server.ok()) return server.status();
  return std::unique_ptr<MetricsHttpThread>(new MetricsHttpThread(std::move(*server)));
}

MetricsHttpThread::MetricsHttpThread(std::unique_ptr<MetricsHttpServer> server)
    : port_(server->port()) {
  // The thread owns the server from here on: it alone polls and destroys it.
  thread_ = std::thread([this, server = std::move(server)]() mutable {
    while (!stop_.load(std::memory_order_relaxed)) {
      if (!server->PollOnce(std::chrono::milliseconds(100)).ok()) {
        // poll(2) itself failed (out of memory): retry later rather than spin.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    server.reset();
  });
}

MetricsHttpThread::~MetricsHttpThread() {
  stop_ = true;
  thread_.join();
}

}  // namespace swarmlet
