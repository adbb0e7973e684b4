#include "swarmlet/workload_protocol.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

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

// The layouts and bounds below are documented in docs/wire_format.md
// ("Workload protocol"); change both together.
// 2: image fields in the spec, kPulling and its progress, cached images.
constexpr std::uint64_t kWorkloadProtocolVersion = 2;
constexpr std::size_t kCommandFields = 6;
// A spec has 17 fields since issue 17 (privileged); one with 16 is an older
// peer's, or an unprivileged spec (sent so, for nodes that know only 16).
constexpr std::size_t kSpecFields = 17;
constexpr std::size_t kSpecFieldsBeforePrivileged = 16;
constexpr std::size_t kStatusFields = 7;
constexpr std::size_t kReportFields = 13;

constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxNameBytes = 256;
constexpr std::size_t kMaxImageBytes = 4096;
constexpr std::size_t kMaxArgBytes = 16 * 1024;  // one argv or env entry (a `sh -c` script)
constexpr std::size_t kMaxRestartBytes = 64;
constexpr std::size_t kMaxReports = 1024;  // workloads in one status message
constexpr std::size_t kMaxDigestBytes = 7 + 64;  // "sha256:" + hex
constexpr std::size_t kMaxGroups = 64;
constexpr std::size_t kMaxImages = 1024;  // cached images in one full report

const mesh::internal::Limits kWorkloadLimits{mesh::kMaxPayloadBytes,
                                             std::max(kMaxWorkloadArgs, kMaxReports),
                                             0,
                                             kMaxArgBytes,
                                             kMaxLogReplyBytes,
                                             4};

bool KnownOp(std::uint64_t raw) {
  return raw >= static_cast<std::uint64_t>(WorkloadOp::kStart) &&
         raw <= static_cast<std::uint64_t>(WorkloadOp::kReport);
}

bool KnownState(std::uint64_t raw) {
  return raw <= static_cast<std::uint64_t>(WorkloadRunState::kPulling);
}

// What both directions refuse, so an encoder never writes what the decoder
// would reject. `op` names the operation in the message.
Status CheckText(std::string_view op, std::string_view field, std::string_view value,
                 std::size_t max) {
  if (value.size() > max) {
    return Status::InvalidArgument(
        op, std::string(field) + " is longer than " + std::to_string(max) + " bytes");
  }
  return Status::Ok();
}

Status CheckList(std::string_view op, std::string_view field,
                 const std::vector<std::string>& values) {
  if (values.size() > kMaxWorkloadArgs) {
    return Status::InvalidArgument(
        op, std::string(field) + " has more than " + std::to_string(kMaxWorkloadArgs) + " entries");
  }
  for (const auto& v : values) MESH_RETURN_IF_ERROR(CheckText(op, field, v, kMaxArgBytes));
  return Status::Ok();
}

Status CheckCommand(const WorkloadCommand& c) {
  constexpr std::string_view op = "encode workload command";
  if (c.request_id == 0) return Status::InvalidArgument(op, "request_id 0 is reserved");
  if (!KnownOp(static_cast<std::uint64_t>(c.op))) return Status::InvalidArgument(op, "unknown op");
  MESH_RETURN_IF_ERROR(CheckText(op, "workload_id", c.workload_id, kMaxIdBytes));
  MESH_RETURN_IF_ERROR(CheckText(op, "name", c.spec.name, kMaxNameBytes));
  MESH_RETURN_IF_ERROR(CheckText(op, "image", c.spec.image, kMaxImageBytes));
  MESH_RETURN_IF_ERROR(CheckList(op, "argv", c.spec.argv));
  MESH_RETURN_IF_ERROR(CheckList(op, "env", c.spec.env));
  MESH_RETURN_IF_ERROR(CheckText(op, "image_digest", c.spec.image_digest, kMaxDigestBytes));
  MESH_RETURN_IF_ERROR(CheckText(op, "cwd", c.spec.cwd, kMaxArgBytes));
  if (c.spec.groups.size() > kMaxGroups) return Status::InvalidArgument(op, "too many groups");
  if (c.spec.uid < -1 || c.spec.uid > 0xfffffffe || c.spec.gid < -1 || c.spec.gid > 0xfffffffe) {
    return Status::InvalidArgument(op, "uid and gid must be -1..4294967294");
  }
  if (c.spec.stop_signal < 0 || c.spec.stop_signal > 64) {
    return Status::InvalidArgument(op, "stop_signal must be 0..64");
  }
  return CheckText(op, "restart", c.spec.restart, kMaxRestartBytes);
}

Status CheckReport(const WorkloadReport& w) {
  constexpr std::string_view op = "encode workload status";
  if (!KnownState(static_cast<std::uint64_t>(w.state)))
    return Status::InvalidArgument(op, "unknown state");
  MESH_RETURN_IF_ERROR(CheckText(op, "workload_id", w.workload_id, kMaxIdBytes));
  MESH_RETURN_IF_ERROR(CheckText(op, "error", w.error, kMaxWorkloadErrorBytes));
  if (w.pid < 0 || w.restarts < 0 || w.memory_bytes < 0 || w.pulled_bytes < 0 || w.image_bytes < 0) {
    return Status::InvalidArgument(op, "pid, restarts, memory and image bytes must be >= 0");
  }
  if (!std::isfinite(w.cpu_percent) || w.cpu_percent < 0) {
    return Status::InvalidArgument(op, "cpu_percent must be finite and >= 0");
  }
  return Status::Ok();
}

Status CheckStatus(const WorkloadStatusMsg& s) {
  constexpr std::string_view op = "encode workload status";
  MESH_RETURN_IF_ERROR(CheckText(op, "error", s.error, kMaxWorkloadErrorBytes));
  MESH_RETURN_IF_ERROR(CheckText(op, "logs", s.logs, kMaxLogReplyBytes));
  if (s.workloads.size() > kMaxReports) {
    return Status::InvalidArgument(op, "more than " + std::to_string(kMaxReports) + " workloads");
  }
  for (const auto& w : s.workloads) MESH_RETURN_IF_ERROR(CheckReport(w));
  if (s.images.size() > kMaxImages) return Status::InvalidArgument(op, "too many images");
  for (const auto& d : s.images) MESH_RETURN_IF_ERROR(CheckText(op, "image", d, kMaxDigestBytes));
  return Status::Ok();
}

Status CheckSize(std::string_view op, const std::string& out) {
  if (out.size() > mesh::kMaxPayloadBytes) {
    return Status::InvalidArgument(op, std::to_string(out.size()) + " bytes exceeds the " +
                                           std::to_string(mesh::kMaxPayloadBytes) +
                                           "-byte payload limit");
  }
  return Status::Ok();
}

// Always float64 (0xcb): msgpack-c's pack_double writes an integral value
// as an integer, and a field whose type depends on its value is a trap for
// other decoders.
void AppendFloat64(std::string& out, double v) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  out.push_back(static_cast<char>(0xcb));
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(bits >> shift));
}

void PackList(Packer& pk, const std::vector<std::string>& values) {
  pk.pack_array(static_cast<std::uint32_t>(values.size()));
  for (const auto& v : values) PackStr(pk, v);
}

Status ReadBool(const FieldReader& r, std::size_t i, std::string_view name, bool& out) {
  if (r.at(i).type != msgpack::type::BOOLEAN) return r.Bad(name, "is not a boolean");
  out = r.at(i).via.boolean;
  return Status::Ok();
}

Status ReadInt32(const FieldReader& r, std::size_t i, std::string_view name, std::int32_t min,
                 std::int32_t& out) {
  std::int64_t v = 0;
  MESH_RETURN_IF_ERROR(r.Int(i, name, v));
  if (v < min || v > std::numeric_limits<std::int32_t>::max())
    return r.Bad(name, "is out of range");
  out = static_cast<std::int32_t>(v);
  return Status::Ok();
}

Status ReadList(const FieldReader& r, std::size_t i, std::string_view name,
                std::vector<std::string>& out) {
  const msgpack::object& o = r.at(i);
  if (o.type != msgpack::type::ARRAY) return r.Bad(name, "is not an array");
  if (o.via.array.size > kMaxWorkloadArgs) {
    return r.Bad(name, "has more than " + std::to_string(kMaxWorkloadArgs) + " entries");
  }
  out.resize(o.via.array.size);
  for (std::uint32_t j = 0; j < o.via.array.size; ++j) {
    MESH_RETURN_IF_ERROR(r.StrOf(o.via.array.ptr[j], name, kMaxArgBytes, out[j]));
  }
  return Status::Ok();
}

Status ReadVersion(std::string_view op, const FieldReader& r) {
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kWorkloadProtocolVersion) {
    return Status::Unsupported(op, "workload protocol version " + std::to_string(version));
  }
  return Status::Ok();
}

Status ReadSpec(std::string_view op, const msgpack::object& o, WorkloadStartSpec& s) {
  FieldReader r(op, o);
  const std::size_t fields = o.type == msgpack::type::ARRAY && o.via.array.size == kSpecFieldsBeforePrivileged
                                 ? kSpecFieldsBeforePrivileged
                                 : kSpecFields;
  MESH_RETURN_IF_ERROR(r.ExpectArray(fields, "spec"));
  MESH_RETURN_IF_ERROR(r.Str(0, "name", kMaxNameBytes, s.name));
  MESH_RETURN_IF_ERROR(r.Str(1, "image", kMaxImageBytes, s.image));
  MESH_RETURN_IF_ERROR(ReadList(r, 2, "argv", s.argv));
  MESH_RETURN_IF_ERROR(ReadList(r, 3, "env", s.env));
  MESH_RETURN_IF_ERROR(r.Int(4, "cpu_millis", s.cpu_millis));
  MESH_RETURN_IF_ERROR(r.Int(5, "memory_bytes", s.memory_bytes));
  MESH_RETURN_IF_ERROR(r.Int(6, "pids_max", s.pids_max));
  MESH_RETURN_IF_ERROR(ReadBool(r, 7, "gpu", s.gpu));
  MESH_RETURN_IF_ERROR(r.Str(8, "restart", kMaxRestartBytes, s.restart));
  MESH_RETURN_IF_ERROR(r.Str(9, "image_digest", kMaxDigestBytes, s.image_digest));
  MESH_RETURN_IF_ERROR(r.Uint(10, "image_bytes", s.image_bytes));
  MESH_RETURN_IF_ERROR(r.Str(11, "cwd", kMaxArgBytes, s.cwd));
  MESH_RETURN_IF_ERROR(r.Int(12, "uid", s.uid));
  MESH_RETURN_IF_ERROR(r.Int(13, "gid", s.gid));
  if (s.uid < -1 || s.uid > 0xfffffffe) return r.Bad("uid", "is out of range");
  if (s.gid < -1 || s.gid > 0xfffffffe) return r.Bad("gid", "is out of range");
  const msgpack::object& groups = r.at(14);
  if (groups.type != msgpack::type::ARRAY) return r.Bad("groups", "is not an array");
  if (groups.via.array.size > kMaxGroups) return r.Bad("groups", "has too many entries");
  s.groups.resize(groups.via.array.size);
  for (std::uint32_t j = 0; j < groups.via.array.size; ++j) {
    const msgpack::object& g = groups.via.array.ptr[j];
    if (g.type != msgpack::type::POSITIVE_INTEGER || g.via.u64 > 0xfffffffe) {
      return r.Bad("groups", "has an entry that is not a group id");
    }
    s.groups[j] = static_cast<std::uint32_t>(g.via.u64);
  }
  std::int32_t stop_signal = 0;
  MESH_RETURN_IF_ERROR(ReadInt32(r, 15, "stop_signal", 0, stop_signal));
  if (stop_signal > 64) return r.Bad("stop_signal", "is out of range");
  s.stop_signal = stop_signal;
  s.privileged = false;
  if (fields > kSpecFieldsBeforePrivileged) MESH_RETURN_IF_ERROR(ReadBool(r, 16, "privileged", s.privileged));
  return Status::Ok();
}

Status ReadReport(std::string_view op, const msgpack::object& o, WorkloadReport& w) {
  FieldReader r(op, o);
  MESH_RETURN_IF_ERROR(r.ExpectArray(kReportFields, "workload report"));
  MESH_RETURN_IF_ERROR(r.Str(0, "workload_id", kMaxIdBytes, w.workload_id));
  std::uint64_t state = 0;
  MESH_RETURN_IF_ERROR(r.Uint(1, "state", state));
  if (!KnownState(state)) return r.Bad("state", "is unknown (" + std::to_string(state) + ")");
  w.state = static_cast<WorkloadRunState>(state);
  MESH_RETURN_IF_ERROR(ReadInt32(r, 2, "pid", 0, w.pid));
  MESH_RETURN_IF_ERROR(
      ReadInt32(r, 3, "exit_code", std::numeric_limits<std::int32_t>::min(), w.exit_code));
  MESH_RETURN_IF_ERROR(ReadInt32(r, 4, "signal", 0, w.signal));
  MESH_RETURN_IF_ERROR(ReadBool(r, 5, "oom_killed", w.oom_killed));
  MESH_RETURN_IF_ERROR(ReadInt32(r, 6, "restarts", 0, w.restarts));
  MESH_RETURN_IF_ERROR(r.Int(7, "started_ns", w.started_ns));
  // A float; an unsigned integer is read too (what msgpack-c's pack_double
  // makes of an integral value).
  const msgpack::object& cpu = r.at(8);
  if (cpu.type == msgpack::type::POSITIVE_INTEGER) {
    w.cpu_percent = static_cast<double>(cpu.via.u64);
  } else if (cpu.type == msgpack::type::FLOAT64 || cpu.type == msgpack::type::FLOAT32) {
    w.cpu_percent = cpu.via.f64;
  } else {
    return r.Bad("cpu_percent", "is not a number");
  }
  if (!std::isfinite(w.cpu_percent) || w.cpu_percent < 0)
    return r.Bad("cpu_percent", "is out of range");
  MESH_RETURN_IF_ERROR(r.Int(9, "memory_bytes", w.memory_bytes));
  if (w.memory_bytes < 0) return r.Bad("memory_bytes", "is negative");
  MESH_RETURN_IF_ERROR(r.Str(10, "error", kMaxWorkloadErrorBytes, w.error));
  MESH_RETURN_IF_ERROR(r.Int(11, "pulled_bytes", w.pulled_bytes));
  MESH_RETURN_IF_ERROR(r.Int(12, "image_bytes", w.image_bytes));
  if (w.pulled_bytes < 0 || w.image_bytes < 0) return r.Bad("pulled_bytes", "is negative");
  return Status::Ok();
}

}  // namespace

std::string_view WorkloadOpName(WorkloadOp op) {
  switch (op) {
    case WorkloadOp::kStart:
      return "start";
    case WorkloadOp::kStop:
      return "stop";
    case WorkloadOp::kRemove:
      return "remove";
    case WorkloadOp::kLogs:
      return "logs";
    case WorkloadOp::kReport:
      return "report";
  }
  return "unknown";
}

std::string_view WorkloadRunStateName(WorkloadRunState state) {
  switch (state) {
    case WorkloadRunState::kRunning:
      return "running";
    case WorkloadRunState::kBackoff:
      return "backoff";
    case WorkloadRunState::kExited:
      return "exited";
    case WorkloadRunState::kFailed:
      return "failed";
    case WorkloadRunState::kStopped:
      return "stopped";
    case WorkloadRunState::kUnknown:
      return "unknown";
    case WorkloadRunState::kPulling:
      return "pulling";
  }
  return "invalid";
}

mesh::Result<std::string> EncodeWorkloadCommand(const WorkloadCommand& c) {
  MESH_RETURN_IF_ERROR(CheckCommand(c));
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kCommandFields);
  pk.pack_uint64(kWorkloadProtocolVersion);
  pk.pack_uint64(c.request_id);
  pk.pack_uint64(static_cast<std::uint64_t>(c.op));
  PackStr(pk, c.workload_id);
  pk.pack_array(c.spec.privileged ? kSpecFields : kSpecFieldsBeforePrivileged);
  PackStr(pk, c.spec.name);
  PackStr(pk, c.spec.image);
  PackList(pk, c.spec.argv);
  PackList(pk, c.spec.env);
  pk.pack_int64(c.spec.cpu_millis);
  pk.pack_int64(c.spec.memory_bytes);
  pk.pack_int64(c.spec.pids_max);
  pk.pack(c.spec.gpu);
  PackStr(pk, c.spec.restart);
  PackStr(pk, c.spec.image_digest);
  pk.pack_uint64(c.spec.image_bytes);
  PackStr(pk, c.spec.cwd);
  pk.pack_int64(c.spec.uid);
  pk.pack_int64(c.spec.gid);
  pk.pack_array(static_cast<std::uint32_t>(c.spec.groups.size()));
  for (std::uint32_t g : c.spec.groups) pk.pack_uint32(g);
  pk.pack_int64(c.spec.stop_signal);
  if (c.spec.privileged) pk.pack(true);
  pk.pack_uint32(c.log_bytes);
  MESH_RETURN_IF_ERROR(CheckSize("encode workload command", out));
  return out;
}

mesh::Result<WorkloadCommand> DecodeWorkloadCommand(std::string_view bytes) {
  constexpr std::string_view op = "decode workload command";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kWorkloadLimits, op, handle));
  FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(kCommandFields, "workload command"));
  MESH_RETURN_IF_ERROR(ReadVersion(op, r));
  WorkloadCommand c;
  MESH_RETURN_IF_ERROR(r.Uint(1, "request_id", c.request_id));
  if (c.request_id == 0) return r.Bad("request_id", "is 0 (reserved for unsolicited status)");
  std::uint64_t raw_op = 0;
  MESH_RETURN_IF_ERROR(r.Uint(2, "op", raw_op));
  if (!KnownOp(raw_op)) return r.Bad("op", "is unknown (" + std::to_string(raw_op) + ")");
  c.op = static_cast<WorkloadOp>(raw_op);
  MESH_RETURN_IF_ERROR(r.Str(3, "workload_id", kMaxIdBytes, c.workload_id));
  MESH_RETURN_IF_ERROR(ReadSpec(op, r.at(4), c.spec));
  std::uint64_t log_bytes = 0;
  MESH_RETURN_IF_ERROR(r.Uint(5, "log_bytes", log_bytes));
  if (log_bytes > std::numeric_limits<std::uint32_t>::max())
    return r.Bad("log_bytes", "is out of range");
  c.log_bytes = static_cast<std::uint32_t>(log_bytes);
  return c;
}

mesh::Result<std::string> EncodeWorkloadStatus(const WorkloadStatusMsg& s) {
  MESH_RETURN_IF_ERROR(CheckStatus(s));
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kStatusFields);
  pk.pack_uint64(kWorkloadProtocolVersion);
  pk.pack_uint64(s.request_id);
  pk.pack(s.full);
  PackStr(pk, s.error);
  pk.pack_array(static_cast<std::uint32_t>(s.workloads.size()));
  for (const WorkloadReport& w : s.workloads) {
    pk.pack_array(kReportFields);
    PackStr(pk, w.workload_id);
    pk.pack_uint64(static_cast<std::uint64_t>(w.state));
    pk.pack_int64(w.pid);
    pk.pack_int64(w.exit_code);
    pk.pack_int64(w.signal);
    pk.pack(w.oom_killed);
    pk.pack_int64(w.restarts);
    pk.pack_int64(w.started_ns);
    AppendFloat64(out, w.cpu_percent);  // the packer writes straight into `out`
    pk.pack_int64(w.memory_bytes);
    PackStr(pk, w.error);
    pk.pack_int64(w.pulled_bytes);
    pk.pack_int64(w.image_bytes);
  }
  // Log bytes need not be UTF-8: bin, not str.
  PackBin(pk, s.logs.data(), s.logs.size());
  PackList(pk, s.images);
  MESH_RETURN_IF_ERROR(CheckSize("encode workload status", out));
  return out;
}

mesh::Result<WorkloadStatusMsg> DecodeWorkloadStatus(std::string_view bytes) {
  constexpr std::string_view op = "decode workload status";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kWorkloadLimits, op, handle));
  FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(kStatusFields, "workload status"));
  MESH_RETURN_IF_ERROR(ReadVersion(op, r));
  WorkloadStatusMsg s;
  MESH_RETURN_IF_ERROR(r.Uint(1, "request_id", s.request_id));
  MESH_RETURN_IF_ERROR(ReadBool(r, 2, "full", s.full));
  MESH_RETURN_IF_ERROR(r.Str(3, "error", kMaxWorkloadErrorBytes, s.error));
  const msgpack::object& list = r.at(4);
  if (list.type != msgpack::type::ARRAY) return r.Bad("workloads", "is not an array");
  if (list.via.array.size > kMaxReports) {
    return r.Bad("workloads", "has more than " + std::to_string(kMaxReports) + " entries");
  }
  s.workloads.resize(list.via.array.size);
  for (std::uint32_t i = 0; i < list.via.array.size; ++i) {
    MESH_RETURN_IF_ERROR(ReadReport(op, list.via.array.ptr[i], s.workloads[i]));
  }
  const msgpack::object& logs = r.at(5);
  if (logs.type != msgpack::type::BIN) return r.Bad("logs", "is not binary");
  if (logs.via.bin.size > kMaxLogReplyBytes) return r.Bad("logs", "is too long");
  s.logs.assign(logs.via.bin.ptr, logs.via.bin.size);
  const msgpack::object& images = r.at(6);
  if (images.type != msgpack::type::ARRAY) return r.Bad("images", "is not an array");
  if (images.via.array.size > kMaxImages) return r.Bad("images", "has too many entries");
  s.images.resize(images.via.array.size);
  for (std::uint32_t i = 0; i < images.via.array.size; ++i) {
    MESH_RETURN_IF_ERROR(r.StrOf(images.via.array.ptr[i], "images", kMaxDigestBytes, s.images[i]));
  }
  return s;
}

}  // namespace swarmlet
