#include "zap_handler.h"

#include <zmq.h>

#include <cstring>
#include <vector>

#include "transport_internal.h"
#include "zmq_error.h"

namespace mesh::internal {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

// Reads one multipart message; false when the context is shutting down.
bool ReceiveFrames(void* socket, std::vector<std::string>& frames) {
  frames.clear();
  for (;;) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, 0) < 0) {
      const int err = zmq_errno();
      zmq_msg_close(&msg);
      if (err == EINTR) continue;
      return false;  // ETERM (shutdown); nothing else can happen on inproc REP
    }
    frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
    const bool more = zmq_msg_more(&msg) != 0;
    zmq_msg_close(&msg);
    if (!more) return true;
  }
}

bool SendFrames(void* socket, const std::vector<std::string>& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const int flags = i + 1 < frames.size() ? ZMQ_SNDMORE : 0;
    while (zmq_send(socket, frames[i].data(), frames[i].size(), flags) < 0) {
      if (zmq_errno() != EINTR) return false;
    }
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(void* zmq_context,
                                                      std::shared_ptr<const AllowList> keys,
                                                      std::atomic<std::uint64_t>* denied) {
  void* socket = zmq_socket(zmq_context, ZMQ_REP);
  if (socket == nullptr) return ZmqError("create ZAP socket");
  const int linger = 0;
  zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(socket, kZapEndpoint) != 0) {
    Status status = ZmqError("bind ZAP handler");
    zmq_close(socket);
    return status;
  }
  std::unique_ptr<ZapHandler> handler(new ZapHandler(socket, std::move(keys), denied));
  // The socket moves to the thread; std::thread's start is the memory barrier ZeroMQ asks for.
  handler->thread_ = std::thread([h = handler.get()] { h->Serve(); });
  return handler;
}

ZapHandler::~ZapHandler() {
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::SetKeys(std::shared_ptr<const AllowList> keys) {
  std::lock_guard lock(mu_);
  keys_ = std::move(keys);
}

std::string ZapHandler::Lookup(const std::string& mechanism, const std::string& credentials) {
  if (mechanism != "CURVE" || credentials.size() != TransportKey().size()) return {};
  TransportKey key;
  std::memcpy(key.data(), credentials.data(), key.size());
  std::shared_ptr<const AllowList> keys;
  {
    std::lock_guard lock(mu_);
    keys = keys_;
  }
  const auto id = keys->IdForKey(key);
  return id ? std::string(*id) : std::string();
}

void ZapHandler::Serve() {
  std::vector<std::string> request;
  // Request: version, request id, domain, address, routing id, mechanism, credentials...
  while (ReceiveFrames(socket_, request)) {
    std::vector<std::string> reply = {"1.0", request.size() > 1 ? request[1] : "", "", "", "", ""};
    if (request.size() < 6 || request[0] != "1.0") {
      reply[2] = "500";
      reply[3] = "malformed ZAP request";
    } else {
      std::string id = Lookup(request[5], request.size() == 7 ? request[6] : std::string());
      if (id.empty()) {
        reply[2] = "400";
        reply[3] = "key not authorized";
        Bump(*denied_);
      } else {
        reply[2] = "200";
        reply[3] = "OK";
        reply[4] = std::move(id);
      }
    }
    if (!SendFrames(socket_, reply)) break;
  }
  zmq_close(socket_);
}

}  // namespace mesh::internal
