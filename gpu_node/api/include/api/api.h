// The local API between the `stratoswarm` CLI and a running `serve`.
//
// A Unix stream socket, <state-dir>/api.sock, mode 0600: only root (or the
// state dir's owner) can drive the cluster. One request per connection: the
// client writes one JSON object and a newline, the server answers with one
// JSON object and a newline, then closes:
//
//   -> {"cmd":"create-join-token","ttl_s":86400,"role":"worker"}
//   <- {"ok":true,"result":{...}}   or   {"ok":false,"code":"NotFound","error":"..."}
//
// Thread safety: ApiServer runs handlers on its own thread, one request at a
// time; Stop() and the destructor may be called from any other thread.
// CallApi() is self-contained.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "mesh/status.h"

namespace api {

inline constexpr const char* kSocketName = "api.sock";
inline constexpr std::size_t kMaxRequestBytes = 1 << 20;

using Json = nlohmann::json;
using Handler = std::function<mesh::Result<Json>(const Json& request)>;

class ApiServer {
 public:
  // Binds <state_dir>/api.sock (replacing a stale socket from a crashed
  // serve; AlreadyExists when another serve answers on it) and starts serving.
  static mesh::Result<std::unique_ptr<ApiServer>> Start(const std::string& state_dir,
                                                        std::map<std::string, Handler> handlers);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  void Stop();
  const std::string& path() const { return path_; }

 private:
  ApiServer(int fd, int wake_fd, std::string path, std::map<std::string, Handler> handlers);
  void Serve();
  void Answer(int conn);

  const int fd_;
  const int wake_fd_;  // eventfd: wakes the accept loop for Stop()
  const std::string path_;
  const std::map<std::string, Handler> handlers_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Sends `request` to the serve behind <state_dir>/api.sock. Unavailable (with
// "is 'stratoswarm serve' running?") when nothing listens, PermissionDenied
// when the socket is not ours, the server's own Status when it answered an
// error, Timeout after `timeout`.
mesh::Result<Json> CallApi(const std::string& state_dir, const Json& request,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace api
