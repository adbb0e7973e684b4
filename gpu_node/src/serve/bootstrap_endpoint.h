// The bootstrap endpoint: a plain TCP port that hands out the cluster's
// PUBLIC keys (CA signing key, primary CURVE key) and the join and mesh ports,
// so `swarmlet join --cluster IP` works without mDNS. Nothing secret crosses
// it: the swarmlet trusts what it reads only if the keys hash to the
// fingerprint in its join token.
//
// Protocol: on connect the server writes one line and closes
// (swarmlet/join_protocol.h, BootstrapInfo).
//
// Thread safety: serves on its own thread; Stop()/destructor from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "mesh/status.h"

namespace gpu_node {

class BootstrapEndpoint {
 public:
  // Binds `ip`:`port` (port 0 picks one) and serves `line` to every client.
  static mesh::Result<std::unique_ptr<BootstrapEndpoint>> Start(const std::string& ip, int port,
                                                                std::string line);
  ~BootstrapEndpoint();
  BootstrapEndpoint(const BootstrapEndpoint&) = delete;
  BootstrapEndpoint& operator=(const BootstrapEndpoint&) = delete;

  int port() const { return port_; }

 private:
  BootstrapEndpoint(int fd, int wake_fd, int port, std::string line);
  void Serve();

  const int fd_;
  const int wake_fd_;
  const int port_;
  const std::string line_;
  std::thread thread_;
};

}  // namespace gpu_node
