#include "swarmlet/bandwidth.h"

#include <arpa/inet.h>
#include <zmq.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string_view>
#include <vector>

#include "mesh/identity_store.h"
#include "mesh/timing_log.h"
#include "swarmlet/agent.h"
#include "swarmlet/cli.h"
#include "swarmlet/join_protocol.h"

namespace swarmlet {
namespace {

using mesh::Result;
using mesh::Status;
using SteadyClock = std::chrono::steady_clock;

Status ZmqFailure(std::string_view op) { return Status::Internal(op, zmq_strerror(zmq_errno())); }

// The sockets of one measurement, closed before their context ends.
class Connection {
 public:
  Connection() : ctx_(zmq_ctx_new()) {}
  ~Connection() {
    if (monitor_ != nullptr) zmq_close(monitor_);
    if (socket_ != nullptr) zmq_close(socket_);
    if (ctx_ != nullptr) zmq_ctx_term(ctx_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status Open(const BandwidthTarget& t, std::chrono::milliseconds timeout) {
    where_ = t.ip + ":" + std::to_string(t.port);
    if (ctx_ == nullptr) return ZmqFailure("zmq_ctx_new");
    socket_ = zmq_socket(ctx_, ZMQ_DEALER);
    if (socket_ == nullptr) return ZmqFailure("bandwidth DEALER");
    const int zero = 0, server = 0;
    const int send_timeout = static_cast<int>(timeout.count());
    const std::int64_t max_msg = kBandwidthMaxMessageBytes;
    zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(socket_, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout);
    zmq_setsockopt(socket_, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    zmq_setsockopt(socket_, ZMQ_CURVE_SERVER, &server, sizeof server);
    zmq_setsockopt(socket_, ZMQ_CURVE_SERVERKEY, t.server_key.data(), t.server_key.size());
    zmq_setsockopt(socket_, ZMQ_CURVE_PUBLICKEY, t.client_keys.public_key.data(), 32);
    zmq_setsockopt(socket_, ZMQ_CURVE_SECRETKEY, t.client_keys.secret_key.data(), 32);
    // A refused key shows only as a handshake event: watch for it, so a
    // refusal is reported as one rather than as silence.
    if (zmq_socket_monitor(socket_, "inproc://bandwidth-monitor",
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) !=
        0) {
      return ZmqFailure("monitor bandwidth DEALER");
    }
    monitor_ = zmq_socket(ctx_, ZMQ_PAIR);
    if (monitor_ == nullptr || zmq_connect(monitor_, "inproc://bandwidth-monitor") != 0) {
      return ZmqFailure("connect the bandwidth monitor");
    }
    zmq_setsockopt(monitor_, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(socket_, ("tcp://" + where_).c_str()) != 0) {
      return Status::InvalidArgument("bandwidth endpoint tcp://" + where_,
                                     zmq_strerror(zmq_errno()));
    }
    return Status::Ok();
  }

  Status Send(const void* data, std::size_t size) {
    if (zmq_send(socket_, data, size, 0) == static_cast<int>(size)) return Status::Ok();
    return Status::Unavailable(
        "the GPU peer's bandwidth endpoint at " + where_,
        "does not take data (" + std::string(zmq_strerror(zmq_errno())) + ")");
  }

  // Waits for one reply until `deadline` (then `on_timeout`); returns its
  // first byte (0 for an empty frame) and its size in `size`, and the whole
  // frame in `body` when asked.
  Result<char> Receive(SteadyClock::time_point deadline, std::size_t& size, std::string* body,
                       const Status& on_timeout) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return on_timeout;
      zmq_pollitem_t items[2] = {{socket_, 0, ZMQ_POLLIN, 0}, {monitor_, 0, ZMQ_POLLIN, 0}};
      if (zmq_poll(items, 2, static_cast<long>(left.count()) + 1) < 0) {
        if (zmq_errno() == EINTR) continue;
        return ZmqFailure("zmq_poll");
      }
      if (items[1].revents & ZMQ_POLLIN) MESH_RETURN_IF_ERROR(CheckMonitor());
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      if (zmq_msg_recv(&msg, socket_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        continue;
      }
      size = zmq_msg_size(&msg);
      const char* data = static_cast<const char*>(zmq_msg_data(&msg));
      const char op = size > 0 ? data[0] : '\0';
      if (body != nullptr) body->assign(data, size);
      zmq_msg_close(&msg);
      return op;
    }
  }

 private:
  Status CheckMonitor() {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    std::uint16_t event = 0;
    std::uint32_t value = 0;
    if (zmq_msg_recv(&msg, monitor_, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&msg) >= 6) {
      std::memcpy(&event, zmq_msg_data(&msg), sizeof event);
      std::memcpy(&value, static_cast<const char*>(zmq_msg_data(&msg)) + 2, sizeof value);
    }
    // The second frame (the endpoint) follows the first atomically.
    while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, monitor_, ZMQ_DONTWAIT) >= 0) {
    }
    zmq_msg_close(&msg);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      return Status::PermissionDenied(
          "the GPU peer at " + where_ + " refused this node's key",
          "it is not a node of that cluster (ZAP status " + std::to_string(value) + ")");
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
      return Status::PermissionDenied("the CURVE handshake with " + where_ + " failed",
                                      "is it this node's cluster?");
    }
    return Status::Ok();
  }

  void* ctx_;
  void* socket_ = nullptr;
  void* monitor_ = nullptr;
  std::string where_;
};

std::string Seconds(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

// Connects and exchanges hellos (the version) within `timeout`.
Status Hello(Connection& c, const BandwidthTarget& target, std::chrono::milliseconds timeout) {
  MESH_RETURN_IF_ERROR(c.Open(target, timeout));
  const char hello = kBandwidthHello;
  MESH_RETURN_IF_ERROR(c.Send(&hello, 1));
  std::size_t size = 0;
  std::string body;
  const std::string where = target.ip + ":" + std::to_string(target.port);
  auto op = c.Receive(SteadyClock::now() + timeout, size, &body,
                      Status::Unavailable("no answer from the GPU peer's bandwidth endpoint at " +
                                              where + " within " + Seconds(timeout),
                                          "is serve running there, on that port, for this node's "
                                          "cluster? (--cluster IP:PORT names it)"));
  if (!op.ok()) return op.status();
  if (body != std::string{kBandwidthHello, kBandwidthVersion}) {
    return Status::Unsupported("bandwidth endpoint", "unexpected hello reply (another version?)");
  }
  return Status::Ok();
}

// "tcp://IP:PORT" -> IP and PORT.
Result<HostPort> ParseEndpoint(const std::string& endpoint) {
  constexpr std::string_view kScheme = "tcp://";
  const auto colon = endpoint.rfind(':');
  if (!endpoint.starts_with(kScheme) || colon == std::string::npos || colon < kScheme.size()) {
    return Status::Corrupt("member list", "bad primary endpoint '" + endpoint + "'");
  }
  auto hp = ParseHostPort(std::string_view(endpoint).substr(kScheme.size()), 0);
  if (!hp.ok() || hp->port == 0) {
    return Status::Corrupt("member list", "bad primary endpoint '" + endpoint + "'");
  }
  return hp;
}

// Where the GPU peer's bandwidth endpoint is: --cluster, else the primary of
// the saved member list at its mesh port + kBandwidthPortOffset.
Result<HostPort> FindEndpoint(const BandwidthToolOptions& o, const mesh::NodeIdentity& identity) {
  HostPort given;
  if (!o.cluster.empty()) {
    auto hp = ParseHostPort(o.cluster, 0);
    if (!hp.ok()) return hp.status();
    if (hp->port != 0) return hp;
    given = *hp;
  }
  auto members = LoadSavedMembers(o.state_dir, identity.ca);
  if (!members.ok()) {
    if (!given.ip.empty()) return HostPort{given.ip, kDefaultMeshPort + kBandwidthPortOffset};
    return Status::Unavailable(members.status().message(),
                               "pass --cluster IP[:PORT] to name the GPU peer");
  }
  for (const mesh::Member& m : members->members) {
    if (m.role != mesh::NodeRole::kPrimary) continue;
    auto primary = ParseEndpoint(m.endpoint);
    if (!primary.ok()) return primary.status();
    return HostPort{given.ip.empty() ? primary->ip : given.ip,
                    primary->port + kBandwidthPortOffset};
  }
  return Status::Corrupt(o.state_dir + "/members.list", "no primary in the member list");
}

std::string HumanLine(const BandwidthResult& r, const std::string& node) {
  char line[256];
  const bool down = r.direction == BandwidthDirection::kDownload;
  std::snprintf(line, sizeof line, "%s -> %s: %.1f Mbit/s (%.1f MB/s) over %.1f s",
                down ? "GPU peer" : node.c_str(), down ? node.c_str() : "GPU peer", r.mbit_per_s(),
                r.seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.seconds : 0.0, r.seconds);
  return line;
}

std::string JsonLine(const BandwidthResult& r, const std::string& node) {
  char numbers[160];
  std::snprintf(numbers, sizeof numbers, "\"bytes\":%llu,\"seconds\":%.3f,\"mbit_per_s\":%.1f}",
                static_cast<unsigned long long>(r.bytes), r.seconds, r.mbit_per_s());
  return std::string("{\"direction\":\"") +
         (r.direction == BandwidthDirection::kDownload ? "download" : "upload") + "\",\"node\":\"" +
         mesh::JsonEscape(node) + "\"," + numbers;
}

int ToolFailure(const BandwidthToolOptions& o, const Status& st) {
  std::cerr << "stratoswarm-test: " << (o.messages > 0 ? "stress" : "bandwidth") << ": " << st.message() << "\n";
  return kExitFailure;
}

}  // namespace

Result<BandwidthResult> MeasureBandwidth(const BandwidthTarget& target,
                                         BandwidthDirection direction,
                                         std::chrono::milliseconds duration,
                                         std::chrono::milliseconds timeout) {
  Connection c;
  MESH_RETURN_IF_ERROR(Hello(c, target, timeout));
  std::size_t size = 0;
  const std::string where = target.ip + ":" + std::to_string(target.port);

  // Credit-based: kBandwidthWindow requests in flight, one more per reply
  // until the duration is over, then the rest drained.
  const bool down = direction == BandwidthDirection::kDownload;
  std::vector<char> put(down ? 0 : kBandwidthChunkBytes + 1, '\0');
  if (!down) put[0] = kBandwidthPut;
  const char get = kBandwidthGet;
  auto request = [&] { return down ? c.Send(&get, 1) : c.Send(put.data(), put.size()); };
  BandwidthResult result;
  result.direction = direction;
  const auto start = SteadyClock::now();
  const auto end = start + duration;
  auto last = start;
  int in_flight = 0;
  for (; in_flight < kBandwidthWindow; ++in_flight) MESH_RETURN_IF_ERROR(request());
  const Status stalled =
      Status::Unavailable("the GPU peer's bandwidth endpoint at " + where + " stopped answering",
                          "nothing for " + Seconds(timeout) + " in the middle of the test");
  while (in_flight > 0) {
    auto reply = c.Receive(SteadyClock::now() + timeout, size, nullptr, stalled);
    if (!reply.ok()) return reply.status();
    if (*reply != (down ? kBandwidthData : kBandwidthAck)) continue;  // a stray hello reply
    --in_flight;
    result.bytes += down ? size - 1 : kBandwidthChunkBytes;
    last = SteadyClock::now();
    if (last < end) {
      MESH_RETURN_IF_ERROR(request());
      ++in_flight;
    }
  }
  result.seconds = std::chrono::duration<double>(last - start).count();
  return result;
}

Result<StressResult> MeasureMessages(const BandwidthTarget& target, int messages, std::size_t bytes,
                                     std::chrono::milliseconds timeout) {
  if (messages < 1 || bytes < 1 || bytes > kBandwidthChunkBytes) {
    return Status::InvalidArgument("stress", "messages >= 1 and 1.." + std::to_string(kBandwidthChunkBytes) +
                                                 " bytes each");
  }
  Connection c;
  MESH_RETURN_IF_ERROR(Hello(c, target, timeout));
  std::vector<char> put(bytes + 1, 'x');
  put[0] = kBandwidthPut;
  StressResult result;
  result.messages = messages;
  result.bytes_each = bytes;
  const auto start = SteadyClock::now();
  auto last = start;
  int sent = 0, in_flight = 0;
  for (; in_flight < kBandwidthWindow && sent < messages; ++in_flight, ++sent) {
    MESH_RETURN_IF_ERROR(c.Send(put.data(), put.size()));
  }
  std::size_t size = 0;
  while (in_flight > 0) {
    // A stall ends the count: what was not acknowledged is lost.
    auto reply = c.Receive(SteadyClock::now() + timeout, size, nullptr, Status::Unavailable("stall", ""));
    if (!reply.ok()) break;
    if (*reply != kBandwidthAck) continue;
    --in_flight;
    ++result.acked;
    last = SteadyClock::now();
    if (sent < messages) {
      MESH_RETURN_IF_ERROR(c.Send(put.data(), put.size()));
      ++sent;
      ++in_flight;
    }
  }
  result.seconds = std::chrono::duration<double>(last - start).count();
  return result;
}

int RunBandwidthTool(const BandwidthToolOptions& o, std::ostream& out) {
  std::vector<BandwidthDirection> directions;
  if (o.direction == "download" || o.direction == "both")
    directions.push_back(BandwidthDirection::kDownload);
  if (o.direction == "upload" || o.direction == "both")
    directions.push_back(BandwidthDirection::kUpload);
  if (directions.empty()) {
    return ToolFailure(o, Status::InvalidArgument("--direction", "expected download, upload or both"));
  }
  auto identity = mesh::LoadNodeIdentity(o.state_dir);
  if (!identity.ok()) {
    if (identity.status().code() == mesh::StatusCode::kNotFound) {
      return ToolFailure(o, Status::NotFound("no node identity in " + o.state_dir,
                                          "join the cluster first (swarmlet join), or pass the "
                                          "swarmlet's --state-dir"));
    }
    return ToolFailure(o, identity.status());
  }
  auto where = FindEndpoint(o, *identity);
  if (!where.ok()) return ToolFailure(o, where.status());
  BandwidthTarget target;
  target.ip = where->ip;
  target.port = where->port;
  target.server_key = identity->ca.curve_key;
  target.client_keys.public_key = identity->keys.curve.public_key;
  std::memcpy(target.client_keys.secret_key.data(), identity->keys.curve.secret_key.data(), 32);
  const std::string& node = identity->certificate.name;
  if (o.messages > 0) {
    auto r = MeasureMessages(target, o.messages, o.message_bytes, o.timeout);
    if (!r.ok()) return ToolFailure(o, r.status());
    const double rate = r->seconds > 0 ? static_cast<double>(r->acked) / r->seconds : 0;
    char line[320];
    if (o.json) {
      std::snprintf(line, sizeof line,
                    "{\"test\":\"stress\",\"node\":\"%s\",\"messages\":%d,\"bytes_each\":%zu,\"acked\":%d,"
                    "\"lost\":%d,\"seconds\":%.3f,\"msg_per_s\":%.0f,\"mbyte_per_s\":%.2f}",
                    mesh::JsonEscape(node).c_str(), r->messages, r->bytes_each, r->acked, r->lost(), r->seconds,
                    rate, rate * static_cast<double>(r->bytes_each) / 1e6);
    } else {
      std::snprintf(line, sizeof line, "%s -> GPU peer: %d of %d messages of %zu B acknowledged (%d lost) in %.2f s: "
                    "%.0f msg/s, %.2f MB/s", node.c_str(), r->acked, r->messages, r->bytes_each, r->lost(),
                    r->seconds, rate, rate * static_cast<double>(r->bytes_each) / 1e6);
    }
    out << line << std::endl;
    return r->lost() == 0 ? kExitOk : kExitFailure;
  }
  for (const BandwidthDirection d : directions) {
    auto r = MeasureBandwidth(target, d, std::chrono::seconds(o.duration_s), o.timeout);
    if (!r.ok()) return ToolFailure(o, r.status());
    out << (o.json ? JsonLine(*r, node) : HumanLine(*r, node)) << std::endl;
  }
  return kExitOk;
}

}  // namespace swarmlet
