#include "swarmlet/image_protocol.h"

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

// The layouts are documented in docs/wire_format.md ("Image transfer");
// change both together.
constexpr std::uint64_t kImageProtocolVersion = 1;
constexpr std::size_t kFetchFields = 5;
constexpr std::size_t kChunkFields = 7;
constexpr std::size_t kDigestBytes = 7 + 64;
constexpr std::size_t kMaxErrorBytes = 1024;

const mesh::internal::Limits kImageLimits{mesh::kMaxPayloadBytes, kChunkFields, 0,
                                          kMaxErrorBytes, kMaxImageChunkBytes, 2};

Status ReadVersion(const FieldReader& r, std::string_view op) {
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kImageProtocolVersion) {
    return Status::Unsupported(op, "image protocol version " + std::to_string(version));
  }
  return Status::Ok();
}

// Both messages start [version, request_id, digest, ...]: what both
// encoders refuse and both decoders read.
Status CheckHead(std::string_view op, std::uint64_t request_id, std::string_view digest) {
  if (request_id == 0) return Status::InvalidArgument(op, "request_id 0 is reserved");
  if (!IsImageDigest(digest)) return Status::InvalidArgument(op, "digest is not sha256:<64 hex digits>");
  return Status::Ok();
}

void PackHead(Packer& pk, std::size_t fields, std::uint64_t request_id, std::string_view digest) {
  pk.pack_array(static_cast<std::uint32_t>(fields));
  pk.pack_uint64(kImageProtocolVersion);
  pk.pack_uint64(request_id);
  PackStr(pk, digest);
}

Status ReadHead(const FieldReader& r, std::string_view op, std::size_t fields, std::string_view what,
                std::uint64_t& request_id, std::string& digest) {
  MESH_RETURN_IF_ERROR(r.ExpectArray(fields, what));
  MESH_RETURN_IF_ERROR(ReadVersion(r, op));
  MESH_RETURN_IF_ERROR(r.Uint(1, "request_id", request_id));
  if (request_id == 0) return r.Bad("request_id", "is 0");
  MESH_RETURN_IF_ERROR(r.Str(2, "digest", kDigestBytes, digest));
  if (!IsImageDigest(digest)) return r.Bad("digest", "is not sha256:<64 hex digits>");
  return Status::Ok();
}

}  // namespace

bool IsImageDigest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kDigestBytes || digest.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : digest.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

mesh::Result<std::string> EncodeImageFetch(const ImageFetch& f) {
  constexpr std::string_view op = "encode image fetch";
  MESH_RETURN_IF_ERROR(CheckHead(op, f.request_id, f.digest));
  if (f.max_bytes == 0 || f.max_bytes > kMaxImageChunkBytes) {
    return Status::InvalidArgument(op, "max_bytes must be 1.." + std::to_string(kMaxImageChunkBytes));
  }
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  PackHead(pk, kFetchFields, f.request_id, f.digest);
  pk.pack_uint64(f.offset);
  pk.pack_uint32(f.max_bytes);
  return out;
}

mesh::Result<ImageFetch> DecodeImageFetch(std::string_view bytes) {
  constexpr std::string_view op = "decode image fetch";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kImageLimits, op, handle));
  FieldReader r(op, handle.get());
  ImageFetch f;
  MESH_RETURN_IF_ERROR(ReadHead(r, op, kFetchFields, "image fetch", f.request_id, f.digest));
  MESH_RETURN_IF_ERROR(r.Uint(3, "offset", f.offset));
  std::uint64_t max_bytes = 0;
  MESH_RETURN_IF_ERROR(r.Uint(4, "max_bytes", max_bytes));
  if (max_bytes == 0 || max_bytes > kMaxImageChunkBytes) return r.Bad("max_bytes", "is out of range");
  f.max_bytes = static_cast<std::uint32_t>(max_bytes);
  return f;
}

mesh::Result<std::string> EncodeImageChunk(const ImageChunk& c) {
  constexpr std::string_view op = "encode image chunk";
  MESH_RETURN_IF_ERROR(CheckHead(op, c.request_id, c.digest));
  if (c.data.size() > kMaxImageChunkBytes) {
    return Status::InvalidArgument(op, "data is longer than " + std::to_string(kMaxImageChunkBytes) + " bytes");
  }
  if (c.error.size() > kMaxErrorBytes) return Status::InvalidArgument(op, "error is too long");
  std::string out;
  out.reserve(c.data.size() + 128);
  StringSink sink{out};
  Packer pk(sink);
  PackHead(pk, kChunkFields, c.request_id, c.digest);
  pk.pack_uint64(c.offset);
  pk.pack_uint64(c.total_bytes);
  PackBin(pk, c.data.data(), c.data.size());
  PackStr(pk, c.error);
  return out;
}

mesh::Result<ImageChunk> DecodeImageChunk(std::string_view bytes) {
  constexpr std::string_view op = "decode image chunk";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kImageLimits, op, handle));
  FieldReader r(op, handle.get());
  ImageChunk c;
  MESH_RETURN_IF_ERROR(ReadHead(r, op, kChunkFields, "image chunk", c.request_id, c.digest));
  MESH_RETURN_IF_ERROR(r.Uint(3, "offset", c.offset));
  MESH_RETURN_IF_ERROR(r.Uint(4, "total_bytes", c.total_bytes));
  const msgpack::object& data = r.at(5);
  if (data.type != msgpack::type::BIN) return r.Bad("data", "is not binary");
  if (data.via.bin.size > kMaxImageChunkBytes) return r.Bad("data", "is too long");
  if (c.offset > c.total_bytes || data.via.bin.size > c.total_bytes - c.offset) {
    return r.Bad("data", "runs past total_bytes");
  }
  c.data.assign(data.via.bin.ptr, data.via.bin.size);
  MESH_RETURN_IF_ERROR(r.Str(6, "error", kMaxErrorBytes, c.error));
  return c;
}

}  // namespace swarmlet
