#include "swarmlet/join_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <charconv>
#include <sstream>

#include "mesh/crypto.h"
#include "mesh/envelope.h"
#include "mesh/msgpack_strict.h"

namespace swarmlet {
namespace {

using mesh::Status;
using mesh::internal::FieldReader;
using mesh::internal::PackBin;
using mesh::internal::Packer;
using mesh::internal::PackStr;
using mesh::internal::StringSink;

constexpr std::string_view kBootstrapMagic = "STRATOSWARM-BOOTSTRAP";
constexpr std::string_view kJoinRequestDomain = "stratoswarm/join-request/v1\n";
constexpr std::size_t kMaxJoinMessageBytes = 400 * 1024;  // a response carries the member list
constexpr std::size_t kMaxTextBytes = 256;

const mesh::internal::Limits kJoinLimits{kMaxJoinMessageBytes, 1100, 64, 64 * 1024,
                                         mesh::kMaxMemberListBytes, 6};

bool ParsePort(std::string_view s, int& port) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  return ec == std::errc() && end == s.data() + s.size() && port > 0 && port < 65536;
}

template <std::size_t N>
bool KeyFromHex(std::string_view hex, std::array<std::uint8_t, N>& out) {
  auto bytes = mesh::FromHex(hex);
  if (!bytes.ok() || bytes->size() != N) return false;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return true;
}

void PackStringMap(Packer& pk, const std::map<std::string, std::string>& m) {
  pk.pack_map(static_cast<std::uint32_t>(m.size()));
  for (const auto& [k, v] : m) {
    PackStr(pk, k);
    PackStr(pk, v);
  }
}

Status ReadStringMap(const FieldReader& r, std::size_t i, std::string_view name,
                     std::map<std::string, std::string>& out) {
  const auto& o = r.at(i);
  if (o.type != msgpack::type::MAP) return r.Bad(name, "is not a map");
  for (std::uint32_t j = 0; j < o.via.map.size; ++j) {
    std::string k, v;
    MESH_RETURN_IF_ERROR(r.StrOf(o.via.map.ptr[j].key, name, kMaxTextBytes, k));
    MESH_RETURN_IF_ERROR(r.StrOf(o.via.map.ptr[j].val, name, kMaxTextBytes, v));
    out[k] = v;
  }
  return Status::Ok();
}

void PackProfile(Packer& pk, const HardwareProfile& p) {
  pk.pack_array(10);
  PackStr(pk, p.arch);
  PackStr(pk, p.model);
  pk.pack_int64(p.cores);
  pk.pack_int64(p.memory_mb);
  pk.pack(p.gpu);
  PackStr(pk, p.gpu_model);
  pk.pack_int64(p.disk_total_mb);
  pk.pack_int64(p.disk_free_mb);
  pk.pack_int64(static_cast<int>(p.cgroup_mode));
  pk.pack(p.memory_controller);
}

Status ReadBool(const FieldReader& r, std::size_t i, std::string_view name, bool& out) {
  if (r.at(i).type != msgpack::type::BOOLEAN) return r.Bad(name, "is not a boolean");
  out = r.at(i).via.boolean;
  return Status::Ok();
}

Status ReadProfile(std::string_view op, const msgpack::object& o, HardwareProfile& p) {
  FieldReader r(op, o);
  MESH_RETURN_IF_ERROR(r.ExpectArray(10, "hardware profile"));
  std::int64_t cores = 0, mode = 0;
  MESH_RETURN_IF_ERROR(r.Str(0, "arch", kMaxTextBytes, p.arch));
  MESH_RETURN_IF_ERROR(r.Str(1, "model", kMaxTextBytes, p.model));
  MESH_RETURN_IF_ERROR(r.Int(2, "cores", cores));
  MESH_RETURN_IF_ERROR(r.Int(3, "memory_mb", p.memory_mb));
  MESH_RETURN_IF_ERROR(ReadBool(r, 4, "gpu", p.gpu));
  MESH_RETURN_IF_ERROR(r.Str(5, "gpu_model", kMaxTextBytes, p.gpu_model));
  MESH_RETURN_IF_ERROR(r.Int(6, "disk_total_mb", p.disk_total_mb));
  MESH_RETURN_IF_ERROR(r.Int(7, "disk_free_mb", p.disk_free_mb));
  MESH_RETURN_IF_ERROR(r.Int(8, "cgroup_mode", mode));
  MESH_RETURN_IF_ERROR(ReadBool(r, 9, "memory_controller", p.memory_controller));
  if (cores < 0 || cores > 4096) return r.Bad("cores", "is out of range");
  if (mode < 0 || mode > static_cast<int>(CgroupMode::kNone)) return r.Bad("cgroup_mode", "is unknown");
  p.cores = static_cast<int>(cores);
  p.cgroup_mode = static_cast<CgroupMode>(mode);
  return Status::Ok();
}

// Fields 0..9 of a request: what the signature covers.
void PackRequestBody(Packer& pk, const JoinRequest& q) {
  pk.pack_uint32(kJoinProtocolVersion);
  PackStr(pk, q.token_secret);
  PackBin(pk, q.nonce);
  pk.pack_int64(q.sent_ns);
  PackStr(pk, q.name);
  PackStringMap(pk, q.labels);
  PackBin(pk, q.signing_key);
  PackBin(pk, q.curve_key);
  PackStr(pk, q.mesh_endpoint);
  PackProfile(pk, q.profile);
}

}  // namespace

std::string EncodeBootstrapLine(const BootstrapInfo& info) {
  return std::string(kBootstrapMagic) + " 1 " + mesh::ToHex(info.keys.signing_key) + " " +
         mesh::ToHex(info.keys.curve_key) + " " + std::to_string(info.join_port) + " " +
         std::to_string(info.mesh_port) + "\n";
}

mesh::Result<BootstrapInfo> ParseBootstrapLine(std::string_view line) {
  std::istringstream in{std::string(line)};
  std::string magic, version, ed, curve, join, mesh_port;
  BootstrapInfo info;
  if (!(in >> magic >> version >> ed >> curve >> join >> mesh_port) || magic != kBootstrapMagic) {
    return Status::Corrupt("bootstrap", "the peer did not answer like a StratoSwarm GPU peer");
  }
  if (version != "1") return Status::Unsupported("bootstrap", "protocol version " + version);
  if (!KeyFromHex(ed, info.keys.signing_key) || !KeyFromHex(curve, info.keys.curve_key) ||
      !ParsePort(join, info.join_port) || !ParsePort(mesh_port, info.mesh_port)) {
    return Status::Corrupt("bootstrap", "malformed keys or ports");
  }
  return info;
}

mesh::Result<BootstrapInfo> FetchBootstrap(const std::string& ip, int port,
                                           std::chrono::milliseconds timeout) {
  const std::string where = ip + ":" + std::to_string(port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    return Status::InvalidArgument("--cluster", "'" + ip + "' is not an IPv4 address");
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left_ms = [&] {
    return static_cast<int>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
               .count()));
  };
  auto unreachable = [&](std::string_view why) {
    close(fd);
    return Status::Unavailable("cannot reach the GPU peer at " + where, why);
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    return unreachable(strerror(errno));
  }
  std::string data;
  char buf[512];
  while (data.find('\n') == std::string::npos && data.size() < 1024) {
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, left_ms());
    if (rc == 0) return unreachable("no answer within " + std::to_string(timeout.count()) + " ms");
    if (rc < 0 && errno == EINTR) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return unreachable(strerror(errno));
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return ParseBootstrapLine(data);
}

std::map<std::string, std::string> BootstrapTxt(const BootstrapInfo& info) {
  const auto fp = info.keys.ComputeFingerprint();
  return {{"v", "1"},
          {"fp", fp.ok() ? mesh::ToHex(*fp).substr(0, 16) : ""},
          {"ca", mesh::ToHex(info.keys.signing_key)},
          {"curve", mesh::ToHex(info.keys.curve_key)},
          {"join", std::to_string(info.join_port)},
          {"mesh", std::to_string(info.mesh_port)}};
}

mesh::Result<BootstrapInfo> BootstrapFromTxt(const std::map<std::string, std::string>& txt) {
  auto get = [&](const char* k) {
    auto it = txt.find(k);
    return it == txt.end() ? std::string() : it->second;
  };
  if (get("v") != "1") return Status::Unsupported("mDNS records", "protocol version '" + get("v") + "'");
  BootstrapInfo info;
  if (!KeyFromHex(get("ca"), info.keys.signing_key) || !KeyFromHex(get("curve"), info.keys.curve_key) ||
      !ParsePort(get("join"), info.join_port) || !ParsePort(get("mesh"), info.mesh_port)) {
    return Status::Corrupt("mDNS records", "malformed keys or ports");
  }
  return info;
}

Status CheckFingerprint(const mesh::CaPublicKeys& keys, std::string_view fingerprint_hex) {
  auto fp = keys.ComputeFingerprint();
  if (!fp.ok()) return fp.status();
  const std::string got = mesh::ToHex(*fp);
  if (got != fingerprint_hex) {
    return Status::PermissionDenied(
        "refusing to join", "the GPU peer's keys (fingerprint " + got.substr(0, 12) +
                                "...) are not those of the cluster in the token (" +
                                std::string(fingerprint_hex.substr(0, 12)) + "...)");
  }
  return Status::Ok();
}

mesh::Result<std::string> JoinRequestSignedBytes(const JoinRequest& q) {
  std::string out(kJoinRequestDomain);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(10);
  PackRequestBody(pk, q);
  return out;
}

mesh::Result<std::string> EncodeJoinRequest(const JoinRequest& q) {
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(11);
  PackRequestBody(pk, q);
  PackBin(pk, q.signature);
  if (out.size() > kMaxJoinMessageBytes) return Status::InvalidArgument("encode join request", "too large");
  return out;
}

mesh::Result<JoinRequest> DecodeJoinRequest(std::string_view bytes) {
  constexpr std::string_view op = "decode join request";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kJoinLimits, op, handle));
  FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(11, "join request"));
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kJoinProtocolVersion) {
    return Status::Unsupported(op, "join protocol version " + std::to_string(version));
  }
  JoinRequest q;
  MESH_RETURN_IF_ERROR(r.Str(1, "token secret", 64, q.token_secret));
  MESH_RETURN_IF_ERROR(r.Bin(2, "nonce", q.nonce));
  MESH_RETURN_IF_ERROR(r.Int(3, "sent_ns", q.sent_ns));
  MESH_RETURN_IF_ERROR(r.Str(4, "name", mesh::kMaxNodeNameBytes, q.name));
  MESH_RETURN_IF_ERROR(ReadStringMap(r, 5, "labels", q.labels));
  MESH_RETURN_IF_ERROR(r.Bin(6, "signing key", q.signing_key));
  MESH_RETURN_IF_ERROR(r.Bin(7, "curve key", q.curve_key));
  MESH_RETURN_IF_ERROR(r.Str(8, "mesh endpoint", mesh::kMaxEndpointBytes, q.mesh_endpoint));
  MESH_RETURN_IF_ERROR(ReadProfile(op, r.at(9), q.profile));
  MESH_RETURN_IF_ERROR(r.Bin(10, "signature", q.signature));
  return q;
}

mesh::Result<std::string> EncodeJoinResponse(const JoinResponse& a) {
  std::string cert, members;
  if (a.accepted) {
    auto c = mesh::EncodeCertificate(a.certificate);
    if (!c.ok()) return c.status();
    auto m = mesh::EncodeMemberList(a.members);
    if (!m.ok()) return m.status();
    cert = std::move(*c);
    members = std::move(*m);
  }
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(6);
  pk.pack_uint32(kJoinProtocolVersion);
  pk.pack(a.accepted);
  PackStr(pk, a.error);
  PackStr(pk, a.cluster_id);
  PackBin(pk, cert.data(), cert.size());
  PackBin(pk, members.data(), members.size());
  return out;
}

mesh::Result<JoinResponse> DecodeJoinResponse(std::string_view bytes) {
  constexpr std::string_view op = "decode join response";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kJoinLimits, op, handle));
  FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(6, "join response"));
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kJoinProtocolVersion) {
    return Status::Unsupported(op, "join protocol version " + std::to_string(version));
  }
  JoinResponse a;
  MESH_RETURN_IF_ERROR(ReadBool(r, 1, "accepted", a.accepted));
  MESH_RETURN_IF_ERROR(r.Str(2, "error", 1024, a.error));
  MESH_RETURN_IF_ERROR(r.Str(3, "cluster id", 128, a.cluster_id));
  if (r.at(4).type != msgpack::type::BIN || r.at(5).type != msgpack::type::BIN) {
    return r.Bad("certificate/members", "are not binary");
  }
  if (a.accepted) {
    auto cert = mesh::DecodeCertificate({r.at(4).via.bin.ptr, r.at(4).via.bin.size});
    if (!cert.ok()) return cert.status();
    auto members = mesh::DecodeMemberList({r.at(5).via.bin.ptr, r.at(5).via.bin.size});
    if (!members.ok()) return members.status();
    a.certificate = std::move(*cert);
    a.members = std::move(*members);
  }
  return a;
}

mesh::Result<std::string> NodeIdFor(const mesh::Ed25519PublicKey& signing_key) {
  auto hash = mesh::Hash({signing_key});
  if (!hash.ok()) return hash.status();
  return "node-" + mesh::ToHex(*hash).substr(0, 12);
}

mesh::Result<std::map<std::string, std::string>> ParseLabels(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view pair = text.substr(0, comma);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument("--labels", "'" + std::string(pair) + "' is not key=value");
    }
    out[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

mesh::Result<JoinResponse> ExchangeJoin(const std::string& primary_ip, const BootstrapInfo& info,
                                        const mesh::NodeKeys& keys, const JoinRequest& request,
                                        std::chrono::milliseconds timeout) {
  auto payload = EncodeJoinRequest(request);
  if (!payload.ok()) return payload.status();
  mesh::Envelope env;
  env.type = mesh::MsgType::kJoinRequest;
  env.sender = request.name;
  env.seq = 1;
  env.sent_ns = request.sent_ns;
  env.payload = std::move(*payload);
  auto bytes = mesh::Encode(env);
  if (!bytes.ok()) return bytes.status();

  const std::string where = primary_ip + ":" + std::to_string(info.join_port);
  void* ctx = zmq_ctx_new();
  void* sock = zmq_socket(ctx, ZMQ_DEALER);
  const int zero = 0;
  const int server = 0;
  zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &server, sizeof server);
  zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, info.keys.curve_key.data(), 32);
  zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, keys.curve.public_key.data(), 32);
  zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys.curve.secret_key.data(), 32);
  mesh::Result<JoinResponse> result = Status::Unavailable(
      "no answer from the GPU peer's join endpoint at " + where,
      "within " + std::to_string(timeout.count()) + " ms");
  if (zmq_connect(sock, ("tcp://" + where).c_str()) == 0 &&
      zmq_send(sock, bytes->data(), bytes->size(), 0) == static_cast<int>(bytes->size())) {
    zmq_pollitem_t item{sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) == 1) {
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      if (zmq_msg_recv(&msg, sock, 0) >= 0) {
        auto reply = mesh::Decode({static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg)});
        if (!reply.ok()) {
          result = reply.status();
        } else if (reply->type != mesh::MsgType::kJoinResponse) {
          result = Status::Corrupt("join", "the GPU peer answered with an unexpected message");
        } else {
          result = DecodeJoinResponse(reply->payload);
          if (result.ok()) result->peer_wall_ns = reply->sent_ns;
        }
      }
      zmq_msg_close(&msg);
    }
  }
  zmq_close(sock);
  zmq_ctx_term(ctx);
  return result;
}

}  // namespace swarmlet
