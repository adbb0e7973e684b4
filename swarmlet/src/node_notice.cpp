#include "swarmlet/node_notice.h"

#include "mesh/msgpack_strict.h"

namespace swarmlet {
namespace {

using mesh::Status;

// docs/wire_format.md ("Node notice"); change both together.
constexpr std::uint64_t kNodeNoticeVersion = 1;
const mesh::internal::Limits kNoticeLimits{64, 2, 0, 0, 0, 1};

}  // namespace

std::string_view NodeNoticeName(NodeNotice notice) {
  switch (notice) {
    case NodeNotice::kLeaving: return "leaving";
    case NodeNotice::kRemoved: return "removed";
    case NodeNotice::kRestarting: break;
  }
  return "restarting";
}

mesh::Result<std::string> EncodeNodeNotice(NodeNotice notice) {
  if (notice != NodeNotice::kRestarting && notice != NodeNotice::kLeaving && notice != NodeNotice::kRemoved) {
    return Status::InvalidArgument("encode node notice", "unknown kind");
  }
  std::string out;
  mesh::internal::StringSink sink{out};
  mesh::internal::Packer pk(sink);
  pk.pack_array(2);
  pk.pack_uint64(kNodeNoticeVersion);
  pk.pack_uint64(static_cast<std::uint64_t>(notice));
  return out;
}

mesh::Result<NodeNotice> DecodeNodeNotice(std::string_view bytes) {
  constexpr std::string_view op = "decode node notice";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kNoticeLimits, op, handle));
  mesh::internal::FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(2, "node notice"));
  std::uint64_t version = 0, kind = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kNodeNoticeVersion) return Status::Unsupported(op, "node notice version " + std::to_string(version));
  MESH_RETURN_IF_ERROR(r.Uint(1, "kind", kind));
  if (kind < 1 || kind > 3) return r.Bad("kind", "is not restarting (1), leaving (2) or removed (3)");
  return static_cast<NodeNotice>(kind);
}

}  // namespace swarmlet
