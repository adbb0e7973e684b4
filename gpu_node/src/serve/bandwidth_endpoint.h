// The bandwidth endpoint: `stratoswarm-test bandwidth` on a node measures
// throughput to the GPU peer against it (protocol: swarmlet/bandwidth.h and
// docs/wire_format.md).
//
// A ZeroMQ ROUTER, CURVE server with the cluster's CURVE key, and a ZAP
// handler that admits only the CURVE keys `authorized` accepts (the nodes in
// the state store): nothing but the cluster's own nodes can make it send.
// It answers each request with one reply, sent without blocking; replies
// beyond a client's high-water mark (kSendHwm, 4 MiB) are dropped rather than
// queued, so a client that stops reading costs bounded memory.
//
// Thread safety: serves on its own thread (ZAP included) with its own ZeroMQ
// context; `authorized` runs on that thread. Destruction from any one thread
// stops it within one poll interval (100 ms).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mesh/crypto.h"
#include "mesh/status.h"

namespace gpu_node {

class BandwidthEndpoint {
 public:
  using Authorizer = std::function<bool(const mesh::CurvePublicKey& client_key)>;
  static constexpr int kSendHwm = 64;  // replies queued per client, 64 KiB each

  // Binds tcp://ip:port (port 0 picks one). Unavailable when the port is in use.
  static mesh::Result<std::unique_ptr<BandwidthEndpoint>> Start(
      const std::string& ip, int port, const mesh::CurveKeyPair& server_keys,
      Authorizer authorized);
  ~BandwidthEndpoint();
  BandwidthEndpoint(const BandwidthEndpoint&) = delete;
  BandwidthEndpoint& operator=(const BandwidthEndpoint&) = delete;

  int port() const { return port_; }
  // Connections whose key ZAP refused.
  std::uint64_t refused() const { return refused_.load(); }

 private:
  BandwidthEndpoint(void* ctx, void* router, void* zap, int port, Authorizer authorized);
  void Serve();
  void AnswerZap();
  void AnswerRequests();

  void* const ctx_;
  void* const router_;
  void* const zap_;
  const int port_;
  const Authorizer authorized_;
  // 'D' + the chunk, sent zero-copy: lives until the context has ended.
  std::vector<char> chunk_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace gpu_node
