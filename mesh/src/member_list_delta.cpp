#include "mesh/member_list_delta.h"

#include <map>
#include <set>

#include "member_list_internal.h"
#include "mesh/msgpack_strict.h"
#include "name_rules.h"

namespace mesh {
namespace {

using internal::FieldReader;
using internal::Packer;
using internal::StringSink;

constexpr std::size_t kDeltaFields = 8;
constexpr std::size_t kRequestFields = 3;
constexpr std::string_view kDecodeOp = "decode member list delta";
constexpr std::string_view kApplyOp = "apply member list delta";

// Shape and limits both ends check: counts, ids, indices increasing, no id
// both removed and upserted or listed twice.
Status ValidateDelta(std::string_view op, const MemberListDelta& d) {
  if (d.version != kMemberListVersion) {
    return Status::Unsupported(op, "version " + std::to_string(d.version) + " (this build speaks " +
                                       std::to_string(kMemberListVersion) + ")");
  }
  if (d.epoch <= d.base_epoch) return Status::InvalidArgument(op, "epoch is not after base_epoch");
  if (d.upserts.size() > kMaxMembers || d.removed.size() > kMaxMembers) {
    return Status::InvalidArgument(op, "more than " + std::to_string(kMaxMembers) + " changes");
  }
  std::set<std::string_view> ids;
  for (std::size_t i = 0; i < d.upserts.size(); ++i) {
    const MemberListUpsert& u = d.upserts[i];
    const std::string which = "upsert " + std::to_string(i);
    if (u.index >= kMaxMembers || (i > 0 && u.index <= d.upserts[i - 1].index)) {
      return Status::InvalidArgument(op, which + ": index not increasing or out of range");
    }
    MESH_RETURN_IF_ERROR(internal::ValidateMember(u.member, which));
    if (!ids.insert(u.member.node_id).second) {
      return Status::InvalidArgument(op, "node id " + u.member.node_id + " changed twice");
    }
  }
  for (const std::string& id : d.removed) {
    if (!internal::IsValidName(id, kMaxNodeIdBytes)) {
      return Status::InvalidArgument(op, "a removed node id is not a valid id");
    }
    if (!ids.insert(id).second) {
      return Status::InvalidArgument(op, "node id " + id + " removed twice or also changed");
    }
  }
  return Status::Ok();
}

// The rebuild rule of the header, unverified. Corrupt when the delta does
// not fit `base`.
Result<MemberList> Rebuild(const MemberList& base, const MemberListDelta& d) {
  std::set<std::string_view> base_ids;
  for (const Member& m : base.members) base_ids.insert(m.node_id);
  for (const std::string& id : d.removed) {
    if (!base_ids.contains(id)) {
      return Status::Corrupt(kApplyOp, "removes " + id + ", which is not in epoch " +
                                           std::to_string(base.epoch));
    }
  }
  std::set<std::string_view> dropped(d.removed.begin(), d.removed.end());
  for (const MemberListUpsert& u : d.upserts) dropped.insert(u.member.node_id);
  MemberList out;
  out.version = d.version;
  out.epoch = d.epoch;
  out.issued_ns = d.issued_ns;
  out.issuer = d.issuer;
  out.signature = d.signature;
  out.members.reserve(base.members.size() + d.upserts.size());
  // One pass: upserts at their (increasing) indices, kept members between.
  auto kept = base.members.begin();
  const auto next_kept = [&]() -> const Member* {
    while (kept != base.members.end() && dropped.contains(kept->node_id)) ++kept;
    return kept != base.members.end() ? &*kept++ : nullptr;
  };
  for (const MemberListUpsert& u : d.upserts) {
    while (out.members.size() < u.index) {
      const Member* m = next_kept();
      if (m == nullptr) {
        return Status::Corrupt(kApplyOp,
                               "index " + std::to_string(u.index) + " is past the list's end");
      }
      out.members.push_back(*m);
    }
    out.members.push_back(u.member);
  }
  while (const Member* m = next_kept()) out.members.push_back(*m);
  if (out.members.size() > kMaxMembers) return Status::Corrupt(kApplyOp, "too many members");
  return out;
}

}  // namespace

Result<MemberListDelta> MakeMemberListDelta(const MemberList& from, const MemberList& to) {
  constexpr std::string_view op = "make member list delta";
  if (to.epoch <= from.epoch) return Status::InvalidArgument(op, "the new list is not newer");
  MemberListDelta d;
  d.version = to.version;
  d.base_epoch = from.epoch;
  d.epoch = to.epoch;
  d.issued_ns = to.issued_ns;
  d.issuer = to.issuer;
  d.signature = to.signature;
  // A member stays (is not sent) when unchanged and after the last one kept
  // in the old order too; anything else is upserted at its new index.
  std::map<std::string_view, std::size_t> old_index;
  for (std::size_t i = 0; i < from.members.size(); ++i) old_index.emplace(from.members[i].node_id, i);
  std::set<std::string_view> listed;
  std::size_t last_kept = 0;
  bool kept_any = false;
  for (std::size_t i = 0; i < to.members.size(); ++i) {
    const Member& m = to.members[i];
    listed.insert(m.node_id);
    const auto old = old_index.find(m.node_id);
    if (old != old_index.end() && from.members[old->second] == m &&
        (!kept_any || old->second > last_kept)) {
      last_kept = old->second;
      kept_any = true;
      continue;
    }
    d.upserts.push_back({static_cast<std::uint32_t>(i), m});
  }
  for (const Member& o : from.members) {
    if (!listed.contains(o.node_id)) d.removed.push_back(o.node_id);
  }
  MESH_RETURN_IF_ERROR(ValidateDelta(op, d));
  auto rebuilt = Rebuild(from, d);
  if (!rebuilt.ok() || !(*rebuilt == to)) {
    return Status::InvalidArgument(op, "the new list cannot be rebuilt from the old one");
  }
  return d;
}

Result<MemberList> ApplyMemberListDelta(const CaPublicKeys& ca, const MemberList& base,
                                        const MemberListDelta& delta) {
  if (base.epoch != delta.base_epoch) {
    return Status::Unavailable(kApplyOp, "applies to epoch " + std::to_string(delta.base_epoch) +
                                             ", this member has " + std::to_string(base.epoch));
  }
  if (Status s = ValidateDelta(kApplyOp, delta); !s.ok()) return Status::Corrupt(kApplyOp, s.message());
  auto list = Rebuild(base, delta);
  if (!list.ok()) return list.status();
  MESH_RETURN_IF_ERROR(VerifyMemberList(ca, *list));
  return list;
}

Result<std::string> EncodeMemberListDelta(const MemberListDelta& d) {
  MESH_RETURN_IF_ERROR(ValidateDelta("encode member list delta", d));
  std::string out;
  out.reserve(160 + d.upserts.size() * 170 + d.removed.size() * 40);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kDeltaFields);
  pk.pack_uint32(d.version);
  pk.pack_uint64(d.base_epoch);
  pk.pack_uint64(d.epoch);
  pk.pack_int64(d.issued_ns);
  pk.pack_array(static_cast<std::uint32_t>(d.upserts.size()));
  for (const MemberListUpsert& u : d.upserts) {
    pk.pack_array(2);
    pk.pack_uint32(u.index);
    internal::PackMember(pk, u.member);
  }
  pk.pack_array(static_cast<std::uint32_t>(d.removed.size()));
  for (const std::string& id : d.removed) internal::PackStr(pk, id);
  internal::PackBin(pk, d.issuer);
  internal::PackBin(pk, d.signature);
  return out;
}

Result<MemberListDelta> DecodeMemberListDelta(std::string_view bytes) {
  msgpack::object_handle handle;
  // Depth 4: root, upserts, one upsert, its member.
  const internal::Limits limits{kMaxMemberListDeltaBytes, kMaxMembers, 0,
                                kMaxEndpointBytes,        kEd25519SignatureBytes, 4};
  MESH_RETURN_IF_ERROR(internal::Unpack(bytes, limits, kDecodeOp, handle));
  const msgpack::object& root = handle.get();
  MESH_RETURN_IF_ERROR(internal::CheckListRoot(kDecodeOp, root));
  FieldReader r(kDecodeOp, root);
  MESH_RETURN_IF_ERROR(r.ExpectArray(kDeltaFields, "member list delta"));
  MemberListDelta d;
  MESH_RETURN_IF_ERROR(r.Uint(1, "base_epoch", d.base_epoch));
  MESH_RETURN_IF_ERROR(r.Uint(2, "epoch", d.epoch));
  MESH_RETURN_IF_ERROR(r.Int(3, "issued_ns", d.issued_ns));
  const msgpack::object& upserts = r.at(4);
  if (upserts.type != msgpack::type::ARRAY) return r.Bad("upserts", "is not an array");
  d.upserts.resize(upserts.via.array.size);  // bounded by the limits above
  for (std::uint32_t i = 0; i < upserts.via.array.size; ++i) {
    FieldReader u(kDecodeOp, upserts.via.array.ptr[i]);
    MESH_RETURN_IF_ERROR(u.ExpectArray(2, "upsert " + std::to_string(i)));
    std::uint64_t index = 0;
    MESH_RETURN_IF_ERROR(u.Uint(0, "upsert index", index));
    if (index >= kMaxMembers) return r.Bad("upsert index", "is out of range");
    d.upserts[i].index = static_cast<std::uint32_t>(index);
    MESH_RETURN_IF_ERROR(internal::DecodeMember(kDecodeOp, u.at(1), i, d.upserts[i].member));
  }
  const msgpack::object& removed = r.at(5);
  if (removed.type != msgpack::type::ARRAY) return r.Bad("removed", "is not an array");
  d.removed.resize(removed.via.array.size);
  for (std::uint32_t i = 0; i < removed.via.array.size; ++i) {
    MESH_RETURN_IF_ERROR(r.StrOf(removed.via.array.ptr[i], "removed id", kMaxNodeIdBytes, d.removed[i]));
  }
  MESH_RETURN_IF_ERROR(r.Bin(6, "issuer", d.issuer));
  MESH_RETURN_IF_ERROR(r.Bin(7, "signature", d.signature));
  if (Status s = ValidateDelta(kDecodeOp, d); !s.ok()) return Status::Corrupt(kDecodeOp, s.message());
  return d;
}

Result<std::string> EncodeMemberListRequest(const MemberListRequest& request) {
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kRequestFields);
  pk.pack_uint32(kMemberListVersion);
  pk.pack_uint64(request.have_epoch);
  if (request.need_full) {
    pk.pack_true();
  } else {
    pk.pack_false();
  }
  return out;
}

Result<MemberListRequest> DecodeMemberListRequest(std::string_view bytes) {
  constexpr std::string_view op = "decode member list request";
  msgpack::object_handle handle;
  const internal::Limits limits{kMaxMemberListRequestBytes, kRequestFields, 0, 0, 0, 1};
  MESH_RETURN_IF_ERROR(internal::Unpack(bytes, limits, op, handle));
  MESH_RETURN_IF_ERROR(internal::CheckListRoot(op, handle.get()));
  FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(kRequestFields, "member list request"));
  MemberListRequest request;
  MESH_RETURN_IF_ERROR(r.Uint(1, "have_epoch", request.have_epoch));
  if (r.at(2).type != msgpack::type::BOOLEAN) return r.Bad("need_full", "is not a bool");
  request.need_full = r.at(2).via.boolean;
  return request;
}

}  // namespace mesh
