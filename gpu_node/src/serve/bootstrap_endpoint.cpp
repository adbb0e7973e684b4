#include "serve/bootstrap_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace gpu_node {

mesh::Result<std::unique_ptr<BootstrapEndpoint>> BootstrapEndpoint::Start(const std::string& ip,
                                                                          int port,
                                                                          std::string line) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    return mesh::Status::InvalidArgument("bootstrap endpoint", "'" + ip + "' is not an IPv4 address");
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return mesh::Status::FromErrno("bootstrap socket", errno);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 128) != 0) {
    const int err = errno;
    close(fd);
    return mesh::Status::FromErrno("bind bootstrap endpoint " + ip + ":" + std::to_string(port), err);
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(fd);
    return mesh::Status::FromErrno("bootstrap eventfd", errno);
  }
  return std::unique_ptr<BootstrapEndpoint>(
      new BootstrapEndpoint(fd, wake, ntohs(addr.sin_port), std::move(line)));
}

BootstrapEndpoint::BootstrapEndpoint(int fd, int wake_fd, int port, std::string line)
    : fd_(fd), wake_fd_(wake_fd), port_(port), line_(std::move(line)) {
  thread_ = std::thread([this] { Serve(); });
}

BootstrapEndpoint::~BootstrapEndpoint() {
  const std::uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  thread_.join();
  close(fd_);
  close(wake_fd_);
}

void BootstrapEndpoint::Serve() {
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) continue;
    // One short line fits the socket buffer: a non-blocking send cannot stall us.
    (void)!send(conn, line_.data(), line_.size(), MSG_NOSIGNAL);
    close(conn);
  }
}

}  // namespace gpu_node
