#include "api/api.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace api {
namespace {

using mesh::Status;

mesh::Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument("api socket", path + " is longer than a Unix socket path may be");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// Reads until a newline, EOF, the size limit or the deadline.
mesh::Result<std::string> ReadLine(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string data;
  char buf[4096];
  while (data.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::Timeout("api", "no answer in time");
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return Status::FromErrno("api poll", errno);
    if (rc == 0) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("api read", errno);
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxRequestBytes) return Status::InvalidArgument("api", "message too large");
  }
  if (auto nl = data.find('\n'); nl != std::string::npos) data.resize(nl);
  return data;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("api write", errno);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

mesh::StatusCode CodeFromName(const std::string& name) {
  using C = mesh::StatusCode;
  for (C c : {C::kInvalidArgument, C::kNotFound, C::kAlreadyExists, C::kPermissionDenied,
              C::kCorrupt, C::kUnsupported, C::kUnavailable, C::kTimeout, C::kIoError}) {
    if (mesh::StatusCodeName(c) == name) return c;
  }
  return C::kInternal;
}

Status StatusFrom(mesh::StatusCode code, const std::string& message) {
  using C = mesh::StatusCode;
  switch (code) {
    case C::kInvalidArgument: return Status::InvalidArgument("", message);
    case C::kNotFound: return Status::NotFound("", message);
    case C::kAlreadyExists: return Status::AlreadyExists("", message);
    case C::kPermissionDenied: return Status::PermissionDenied("", message);
    case C::kCorrupt: return Status::Corrupt("", message);
    case C::kUnsupported: return Status::Unsupported("", message);
    case C::kUnavailable: return Status::Unavailable("", message);
    case C::kTimeout: return Status::Timeout("", message);
    case C::kIoError: return Status::IoError("", message);
    default: return Status::Internal("", message);
  }
}

}  // namespace

ApiServer::ApiServer(int fd, int wake_fd, std::string path, std::map<std::string, Handler> handlers)
    : fd_(fd), wake_fd_(wake_fd), path_(std::move(path)), handlers_(std::move(handlers)) {
  thread_ = std::thread([this] { Serve(); });
}

ApiServer::~ApiServer() {
  Stop();
  close(fd_);
  close(wake_fd_);
}

void ApiServer::Stop() {
  if (stopping_.exchange(true)) return;
  const std::uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  unlink(path_.c_str());
}

mesh::Result<std::unique_ptr<ApiServer>> ApiServer::Start(const std::string& state_dir,
                                                          std::map<std::string, Handler> handlers) {
  const std::string path = state_dir + "/" + kSocketName;
  auto addr = Address(path);
  if (!addr.ok()) return addr.status();
  // A socket file that nobody answers on is left over from a crash.
  if (access(path.c_str(), F_OK) == 0) {
    auto probe = CallApi(state_dir, Json{{"cmd", "ping"}}, std::chrono::milliseconds(500));
    if (probe.ok() || probe.status().code() != mesh::StatusCode::kUnavailable) {
      return Status::AlreadyExists("start api", "another 'stratoswarm serve' answers on " + path);
    }
    unlink(path.c_str());
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("api socket", errno);
  // Created 0600 from the start: no window where others may connect.
  const mode_t old_mask = umask(0177);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  umask(old_mask);
  if (bound != 0 || listen(fd, 64) != 0) {
    Status st = Status::FromErrno("bind " + path, errno);
    close(fd);
    return st;
  }
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(fd);
    return Status::FromErrno("api eventfd", errno);
  }
  handlers.emplace("ping", [](const Json&) -> mesh::Result<Json> { return Json{{"pong", true}}; });
  return std::unique_ptr<ApiServer>(new ApiServer(fd, wake, path, std::move(handlers)));
}

void ApiServer::Serve() {
  while (!stopping_) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) break;
    const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    Answer(conn);
    close(conn);
  }
}

void ApiServer::Answer(int conn) {
  Json reply;
  auto line = ReadLine(conn, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  mesh::Result<Json> result = Status::Internal("api", "unanswered");
  if (!line.ok()) {
    result = line.status();
  } else {
    Json request = Json::parse(*line, nullptr, false);
    if (request.is_discarded() || !request.is_object() || !request.contains("cmd") ||
        !request["cmd"].is_string()) {
      result = Status::InvalidArgument("api", "request is not a JSON object with a \"cmd\"");
    } else if (auto h = handlers_.find(request["cmd"].get<std::string>()); h == handlers_.end()) {
      result = Status::Unsupported("api", "unknown command '" + request["cmd"].get<std::string>() +
                                              "' (CLI and serve versions differ?)");
    } else {
      try {
        result = h->second(request);
      } catch (const std::exception& e) {  // a malformed field, caught at the boundary
        result = Status::InvalidArgument("api", e.what());
      }
    }
  }
  if (result.ok()) {
    reply = {{"ok", true}, {"result", *result}};
  } else {
    reply = {{"ok", false},
             {"code", std::string(mesh::StatusCodeName(result.status().code()))},
             {"error", result.status().message()}};
  }
  (void)WriteAll(conn, reply.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
}

mesh::Result<Json> CallApi(const std::string& state_dir, const Json& request,
                           std::chrono::milliseconds timeout) {
  const std::string path = state_dir + "/" + kSocketName;
  auto addr = Address(path);
  if (!addr.ok()) return addr.status();
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("api socket", errno);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int err = errno;
    close(fd);
    if (err == ENOENT || err == ECONNREFUSED) {
      return Status::Unavailable("cannot reach the GPU peer at " + path,
                                 "is 'stratoswarm serve' running? (--state-dir or "
                                 "STRATOSWARM_STATE_DIR picks another)");
    }
    if (err == EACCES || err == EPERM) {
      return Status::PermissionDenied(path, "only root (or the state dir's owner) may drive the cluster");
    }
    return Status::FromErrno("connect " + path, err);
  }
  Status sent = WriteAll(fd, request.dump() + "\n");
  if (!sent.ok()) {
    close(fd);
    return sent;
  }
  auto line = ReadLine(fd, deadline);
  close(fd);
  if (!line.ok()) return line.status();
  Json reply = Json::parse(*line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok")) {
    return Status::Corrupt("api", "the GPU peer sent an unreadable answer");
  }
  if (reply["ok"].get<bool>()) return reply.value("result", Json::object());
  return StatusFrom(CodeFromName(reply.value("code", "Internal")), reply.value("error", "unknown error"));
}

}  // namespace api
