// One member entry's codec and checks, shared by the member list
// (member_list.cpp) and its delta (member_list_delta.cpp), so that both
// encode a member exactly alike: the delta's receiver rebuilds the list the
// CA signed from them (private to mesh/src).
//
// Thread safety: free functions on values.
#pragma once

#include <string>
#include <string_view>

#include "mesh/member_list.h"
#include "mesh/msgpack_strict.h"

namespace mesh::internal {

// [node_id, name, role, signing_key, curve_key, endpoint]
void PackMember(Packer& pk, const Member& m);

// Corrupt naming "member <index>" and the field on a wrong shape or length.
Status DecodeMember(std::string_view op, const msgpack::object& o, std::size_t index, Member& m);

// The root of a list, delta or request: a non-empty array whose field 0 is
// kMemberListVersion (else Corrupt, or Unsupported naming the version).
Status CheckListRoot(std::string_view op, const msgpack::object& root);

// Charsets, role and endpoint of one member (uniqueness is the list's
// check). InvalidArgument naming `which`.
Status ValidateMember(const Member& m, const std::string& which);

}  // namespace mesh::internal
