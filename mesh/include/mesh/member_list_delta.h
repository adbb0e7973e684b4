// MemberListDelta: a member-list change sent as what changed (issue 20),
// MsgType kMemberListDelta; and the small request for the full list
// (kMemberListRequest) a member sends when it cannot apply one.
//
// The delta carries no trust of its own. It names the epoch it applies to
// (`base_epoch`), the new list's header fields, the members added or changed
// (each with its index in the new list), the node ids removed, and the CA's
// signature over the resulting full list. ApplyMemberListDelta rebuilds that
// list from the receiver's own list of epoch `base_epoch` and verifies it
// with VerifyMemberList: the same signature, over the same bytes, as the full
// list of that epoch (docs/wire_format.md, "Member list delta").
//
// Rebuilding: the base's members, less those removed and those upserted (an
// upserted member replaces its old entry wherever it was), in their order;
// then each upserted member inserted at its index, in ascending index order.
// MakeMemberListDelta checks that this gives back exactly the new list (else
// InvalidArgument: send the full list).
//
// Decoders never throw; garbage or limit violations are Corrupt, another
// version is Unsupported.
//
// Thread safety: values and free functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/member_list.h"
#include "mesh/status.h"

namespace mesh {

// Encoded deltas and requests are refused above these sizes.
inline constexpr std::size_t kMaxMemberListDeltaBytes = kMaxMemberListBytes + 32 * 1024;
inline constexpr std::size_t kMaxMemberListRequestBytes = 32;

struct MemberListUpsert {
  std::uint32_t index = 0;  // position in the new list
  Member member;
  bool operator==(const MemberListUpsert&) const = default;
};

struct MemberListDelta {
  std::uint32_t version = kMemberListVersion;
  std::uint64_t base_epoch = 0;  // applies to the list of this epoch only
  std::uint64_t epoch = 0;       // the new list's header fields
  std::int64_t issued_ns = 0;
  std::vector<MemberListUpsert> upserts;  // indices strictly increasing
  std::vector<std::string> removed;       // node ids, unique, none upserted
  Fingerprint issuer{};
  Ed25519Signature signature{};  // the CA's, over the new full list

  bool operator==(const MemberListDelta&) const = default;
};

// The delta that turns `from` into `to` (both signed by the CA: `to`'s
// issuer and signature are carried). InvalidArgument when `to` is not newer,
// or cannot be rebuilt from `from` by the rule above.
Result<MemberListDelta> MakeMemberListDelta(const MemberList& from, const MemberList& to);

// The list `delta` makes of `base`, verified against `ca` (VerifyMemberList).
// Unavailable when `base.epoch` is not the delta's base; Corrupt when the
// delta does not fit the base (an id removed that is not there, an index
// past the end) or the result's signature does not verify; PermissionDenied
// for another CA. On any of them the receiver asks for the full list.
Result<MemberList> ApplyMemberListDelta(const CaPublicKeys& ca, const MemberList& base,
                                        const MemberListDelta& delta);

Result<std::string> EncodeMemberListDelta(const MemberListDelta& delta);
Result<MemberListDelta> DecodeMemberListDelta(std::string_view bytes);

// kMemberListRequest, node -> primary. `need_full`: a delta did not apply,
// send the full list. Otherwise a hello (after connecting, and after taking a
// full list): "I take deltas, and hold `have_epoch`" (0 for none).
struct MemberListRequest {
  std::uint64_t have_epoch = 0;
  bool need_full = false;
  bool operator==(const MemberListRequest&) const = default;
};

Result<std::string> EncodeMemberListRequest(const MemberListRequest& request);
Result<MemberListRequest> DecodeMemberListRequest(std::string_view bytes);

}  // namespace mesh
