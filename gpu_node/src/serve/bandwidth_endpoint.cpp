#include "serve/bandwidth_endpoint.h"

#include <zmq.h>

#include <cstdlib>
#include <cstring>

#include "swarmlet/bandwidth.h"

namespace gpu_node {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
// Requests answered per poll before ZAP and the stop flag get a turn.
constexpr int kBatch = 256;

// One multipart message, without waiting; false when none is there.
bool ReceiveFrames(void* socket, std::vector<std::string>& frames) {
  frames.clear();
  for (;;) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&msg);
      return false;
    }
    frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
    const bool more = zmq_msg_more(&msg) != 0;
    zmq_msg_close(&msg);
    if (!more) return true;
  }
}

mesh::Status ZmqFailure(const std::string& op) {
  return mesh::Status::Unavailable(op, zmq_strerror(zmq_errno()));
}

}  // namespace

mesh::Result<std::unique_ptr<BandwidthEndpoint>> BandwidthEndpoint::Start(
    const std::string& ip, int port, const mesh::CurveKeyPair& server_keys, Authorizer authorized) {
  void* ctx = zmq_ctx_new();
  if (ctx == nullptr) return ZmqFailure("bandwidth endpoint context");
  void* zap = zmq_socket(ctx, ZMQ_REP);
  void* router = zmq_socket(ctx, ZMQ_ROUTER);
  auto fail = [&](const std::string& op) {
    mesh::Status st = ZmqFailure(op);
    if (router != nullptr) zmq_close(router);
    if (zap != nullptr) zmq_close(zap);
    zmq_ctx_term(ctx);
    return st;
  };
  if (zap == nullptr || router == nullptr) return fail("bandwidth endpoint sockets");
  const int zero = 0, one = 1, hwm = kSendHwm;
  const std::int64_t max_msg = swarmlet::kBandwidthMaxMessageBytes;
  zmq_setsockopt(zap, ZMQ_LINGER, &zero, sizeof zero);
  // Bound before the ROUTER takes connections: every handshake asks it.
  if (zmq_bind(zap, kZapEndpoint) != 0) return fail("bind the bandwidth ZAP handler");
  zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(router, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(router, ZMQ_RCVHWM, &hwm, sizeof hwm);
  zmq_setsockopt(router, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
  zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one);
  zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, server_keys.secret_key.data(), 32);
  const std::string ep =
      "tcp://" + ip + ":" + (port == 0 ? std::string("*") : std::to_string(port));
  if (zmq_bind(router, ep.c_str()) != 0) return fail("bind bandwidth endpoint " + ep);
  char bound[256] = {};
  std::size_t len = sizeof bound;
  zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, bound, &len);
  const std::string last(bound);
  const int actual = std::atoi(last.substr(last.rfind(':') + 1).c_str());
  return std::unique_ptr<BandwidthEndpoint>(
      new BandwidthEndpoint(ctx, router, zap, actual, std::move(authorized)));
}

BandwidthEndpoint::BandwidthEndpoint(void* ctx, void* router, void* zap, int port,
                                     Authorizer authorized)
    : ctx_(ctx),
      router_(router),
      zap_(zap),
      port_(port),
      authorized_(std::move(authorized)),
      chunk_(swarmlet::kBandwidthChunkBytes + 1, '\0') {
  chunk_[0] = swarmlet::kBandwidthData;
  // The sockets move to the thread; its start is the barrier ZeroMQ asks for.
  thread_ = std::thread([this] { Serve(); });
}

BandwidthEndpoint::~BandwidthEndpoint() {
  stop_ = true;
  thread_.join();
  zmq_close(router_);
  zmq_close(zap_);
  zmq_ctx_term(ctx_);  // linger 0: queued chunks are dropped, then chunk_ may go
}

void BandwidthEndpoint::Serve() {
  while (!stop_.load()) {
    zmq_pollitem_t items[2] = {{zap_, 0, ZMQ_POLLIN, 0}, {router_, 0, ZMQ_POLLIN, 0}};
    if (zmq_poll(items, 2, 100) < 0) continue;  // EINTR
    if (items[0].revents & ZMQ_POLLIN) AnswerZap();
    if (items[1].revents & ZMQ_POLLIN) AnswerRequests();
  }
}

// ZAP (RFC 27): version, request id, domain, address, routing id, mechanism,
// credentials -> version, request id, status, text, user id, metadata.
void BandwidthEndpoint::AnswerZap() {
  std::vector<std::string> request;
  while (ReceiveFrames(zap_, request)) {
    std::vector<std::string> reply = {
        "1.0", request.size() > 1 ? request[1] : "", "400", "key not authorized", "", ""};
    mesh::CurvePublicKey key{};
    if (request.size() == 7 && request[0] == "1.0" && request[5] == "CURVE" &&
        request[6].size() == key.size()) {
      std::memcpy(key.data(), request[6].data(), key.size());
      if (authorized_(key)) {
        reply[2] = "200";
        reply[3] = "OK";
      }
    }
    if (reply[2] != "200") ++refused_;
    for (std::size_t i = 0; i < reply.size(); ++i) {
      zmq_send(zap_, reply[i].data(), reply[i].size(), i + 1 < reply.size() ? ZMQ_SNDMORE : 0);
    }
  }
}

void BandwidthEndpoint::AnswerRequests() {
  std::vector<std::string> frames;
  for (int i = 0; i < kBatch && ReceiveFrames(router_, frames); ++i) {
    if (frames.size() != 2 || frames[1].empty()) continue;
    const std::string& id = frames[0];
    zmq_msg_t reply;
    switch (frames[1][0]) {
      case swarmlet::kBandwidthHello: {
        const char hello[] = {swarmlet::kBandwidthHello, swarmlet::kBandwidthVersion};
        zmq_msg_init_size(&reply, sizeof hello);
        std::memcpy(zmq_msg_data(&reply), hello, sizeof hello);
        break;
      }
      case swarmlet::kBandwidthGet:
        zmq_msg_init_data(&reply, chunk_.data(), chunk_.size(), nullptr, nullptr);
        break;
      case swarmlet::kBandwidthPut:
        zmq_msg_init_size(&reply, 1);
        *static_cast<char*>(zmq_msg_data(&reply)) = swarmlet::kBandwidthAck;
        break;
      default:
        continue;  // unknown: no answer
    }
    // Never blocks: a ROUTER drops what exceeds the client's high-water mark.
    if (zmq_send(router_, id.data(), id.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(&reply, router_, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&reply);
    }
  }
}

}  // namespace gpu_node
