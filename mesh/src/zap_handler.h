// ZapHandler: answers ZAP (RFC 27) requests for one ZeroMQ context, admitting
// CURVE clients whose public key is in the allow-list and naming them (User-Id)
// with that key's member id. Refusals are counted.
//
// Lifetime: Start() binds inproc://zeromq.zap.01 and runs a thread that
// serves requests until the context is shut down (zmq_ctx_shutdown); destroy
// the handler only after that, then terminate the context.
//
// Thread safety: SetKeys() from any thread; it swaps the whole (shared,
// immutable) allow-list, so a request being answered reads one list.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "allow_list.h"
#include "mesh/status.h"

namespace mesh::internal {

class ZapHandler {
 public:
  static Result<std::unique_ptr<ZapHandler>> Start(void* zmq_context,
                                                   std::shared_ptr<const AllowList> keys,
                                                   std::atomic<std::uint64_t>* denied);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  void SetKeys(std::shared_ptr<const AllowList> keys);

 private:
  ZapHandler(void* socket, std::shared_ptr<const AllowList> keys,
             std::atomic<std::uint64_t>* denied)
      : socket_(socket), keys_(std::move(keys)), denied_(denied) {}
  void Serve();
  // The member id for a CURVE key, or empty when refused.
  std::string Lookup(const std::string& mechanism, const std::string& credentials);

  void* socket_;  // REP; used only by thread_ once it runs
  std::mutex mu_;
  std::shared_ptr<const AllowList> keys_;  // guarded by mu_ (the pointer, not the list)
  std::atomic<std::uint64_t>* denied_;
  std::thread thread_;
};

}  // namespace mesh::internal
