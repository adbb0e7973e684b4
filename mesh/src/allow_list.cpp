#include "allow_list.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "mesh/envelope.h"

namespace mesh::internal {
namespace {

constexpr char kOp[] = "set authorized keys";

// The position in `keys` of the second entry of the first run of equal
// elements under `less` (input order), or keys.size() when all differ.
template <typename Less>
std::size_t FirstRepeat(const std::vector<AuthorizedKey>& keys, Less less) {
  std::vector<std::uint32_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return less(keys[a], keys[b]); });
  std::size_t first = keys.size();
  for (std::size_t i = 1; i < order.size(); ++i) {
    // Equal neighbours: the later one in input order repeats the earlier
    // (stable_sort keeps equal entries in input order).
    if (!less(keys[order[i - 1]], keys[order[i]])) first = std::min<std::size_t>(first, order[i]);
  }
  return first;
}

}  // namespace

Result<std::shared_ptr<const AllowList>> AllowList::Build(const std::vector<AuthorizedKey>& keys) {
  if (keys.size() > std::numeric_limits<std::uint32_t>::max() / kMaxSenderBytes) {
    return Status::InvalidArgument(kOp, "too many keys");
  }
  // The same verdict as checking entry by entry in order (id size, then id
  // repeated, then key repeated): the earliest entry that breaks a rule.
  std::size_t bad_size = keys.size();
  for (std::size_t i = 0; i < keys.size() && bad_size == keys.size(); ++i) {
    if (keys[i].id.empty() || keys[i].id.size() > kMaxSenderBytes) bad_size = i;
  }
  const std::size_t repeated_id =
      FirstRepeat(keys, [](const AuthorizedKey& a, const AuthorizedKey& b) { return a.id < b.id; });
  const std::size_t repeated_key = FirstRepeat(
      keys, [](const AuthorizedKey& a, const AuthorizedKey& b) { return a.key < b.key; });
  const std::size_t first_bad = std::min({bad_size, repeated_id, repeated_key});
  if (first_bad < keys.size()) {
    const std::string& id = keys[first_bad].id;
    if (first_bad == bad_size) {
      return Status::InvalidArgument(
          kOp, "member id must be 1.." + std::to_string(kMaxSenderBytes) + " bytes");
    }
    if (first_bad == repeated_id) {
      return Status::InvalidArgument(kOp, "member id '" + id + "' appears twice");
    }
    return Status::InvalidArgument(kOp, "the key of '" + id + "' is also another member's");
  }

  auto list = std::make_shared<AllowList>();
  std::size_t id_bytes = 0;
  for (const AuthorizedKey& k : keys) id_bytes += k.id.size();
  list->ids_.reserve(id_bytes);
  list->by_key_.reserve(keys.size());
  for (const AuthorizedKey& k : keys) {
    list->by_key_.push_back({k.key, static_cast<std::uint32_t>(list->ids_.size()),
                             static_cast<std::uint8_t>(k.id.size())});
    list->ids_.append(k.id);
  }
  std::sort(list->by_key_.begin(), list->by_key_.end(),
            [](const Entry& a, const Entry& b) { return a.key < b.key; });
  list->by_id_.resize(keys.size());
  std::iota(list->by_id_.begin(), list->by_id_.end(), 0u);
  std::sort(list->by_id_.begin(), list->by_id_.end(), [&](std::uint32_t a, std::uint32_t b) {
    return list->IdOf(list->by_key_[a]) < list->IdOf(list->by_key_[b]);
  });
  return std::shared_ptr<const AllowList>(std::move(list));
}

std::shared_ptr<const AllowList> AllowList::Empty() {
  static const std::shared_ptr<const AllowList> empty = std::make_shared<AllowList>();
  return empty;
}

std::optional<std::string_view> AllowList::IdForKey(const TransportKey& key) const {
  auto it = std::lower_bound(by_key_.begin(), by_key_.end(), key,
                             [](const Entry& e, const TransportKey& k) { return e.key < k; });
  if (it == by_key_.end() || it->key != key) return std::nullopt;
  return IdOf(*it);
}

const TransportKey* AllowList::KeyForId(std::string_view id) const {
  auto it =
      std::lower_bound(by_id_.begin(), by_id_.end(), id,
                       [&](std::uint32_t i, std::string_view v) { return IdOf(by_key_[i]) < v; });
  if (it == by_id_.end() || IdOf(by_key_[*it]) != id) return nullptr;
  return &by_key_[*it].key;
}

}  // namespace mesh::internal
