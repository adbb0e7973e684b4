// AllowList: the inbound allow-list (member id <-> CURVE public key) as one
// immutable value that the ROUTER's and the datagrams' InboundFilters, the
// ZAP handler and the DatagramChannel all share (issue 20: each used to keep
// its own node-based maps of it, four copies per member).
//
// Two flat arrays: the entries sorted by key, and their positions sorted by
// id; the ids themselves lie end to end in one string. About 45 bytes and
// the id per member.
//
// Thread safety: immutable once built, so any thread may read it. A holder
// swaps in a new list as a whole (std::shared_ptr<const AllowList>): whoever
// still holds the old one reads it unchanged until it lets go.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"
#include "mesh/transport.h"

namespace mesh::internal {

class AllowList {
 public:
  // The list of `keys`, checked: ids 1..kMaxSenderBytes, no id or key twice
  // (InvalidArgument naming the first entry, in order, that breaks a rule).
  static Result<std::shared_ptr<const AllowList>> Build(const std::vector<AuthorizedKey>& keys);
  // Nobody.
  static std::shared_ptr<const AllowList> Empty();

  // The member id `key` speaks as; nullopt when it is not on the list. The
  // view lives as long as this list.
  std::optional<std::string_view> IdForKey(const TransportKey& key) const;
  // The key of member `id`, or nullptr when it is not on the list.
  const TransportKey* KeyForId(std::string_view id) const;
  bool ContainsId(std::string_view id) const { return KeyForId(id) != nullptr; }
  std::size_t size() const { return by_key_.size(); }

 private:
  struct Entry {
    TransportKey key;
    std::uint32_t id_offset;  // in ids_
    std::uint8_t id_size;
  };
  std::string_view IdOf(const Entry& e) const { return {ids_.data() + e.id_offset, e.id_size}; }

  std::vector<Entry> by_key_;         // sorted by key
  std::vector<std::uint32_t> by_id_;  // indices into by_key_, sorted by id
  std::string ids_;                   // every id, end to end
};

}  // namespace mesh::internal
