#include "serve/member_delivery.h"

#include <algorithm>


namespace gpu_node {

mesh::Status MemberListDelivery::Publish(const mesh::MemberList& list) {
  auto bytes = mesh::EncodeMemberList(list);
  if (!bytes.ok()) return bytes.status();
  if (current_) {
    history_.push_back(std::move(*current_));
    if (history_.size() > kHistory) history_.pop_front();
  }
  current_ = list;
  full_ = std::move(*bytes);
  deltas_.clear();
  std::erase_if(delivered_, [&](const auto& kv) { return list.FindById(kv.first) == nullptr; });
  std::erase_if(speaks_deltas_, [&](const std::string& id) { return list.FindById(id) == nullptr; });
  return mesh::Status::Ok();
}

std::optional<MemberListDelivery::Message> MemberListDelivery::Next(const std::string& id) {
  if (!current_) return std::nullopt;
  const auto found = delivered_.find(id);
  const std::uint64_t has = found == delivered_.end() ? 0 : found->second;
  if (has >= current_->epoch) return std::nullopt;
  const Message full{mesh::MsgType::kMemberList, &full_};
  if (has == 0 || !speaks_deltas_.contains(id)) return full;
  auto cached = deltas_.find(has);
  if (cached == deltas_.end()) {
    std::string bytes;  // stays empty (full list) when no kept list has that epoch
    const auto base = std::find_if(history_.begin(), history_.end(),
                                   [&](const mesh::MemberList& l) { return l.epoch == has; });
    if (base != history_.end()) {
      if (auto delta = mesh::MakeMemberListDelta(*base, *current_); delta.ok()) {
        if (auto encoded = mesh::EncodeMemberListDelta(*delta); encoded.ok()) bytes = std::move(*encoded);
      }
    }
    cached = deltas_.emplace(has, std::move(bytes)).first;
  }
  // A delta no smaller than the list (most members changed) is not worth it.
  if (cached->second.empty() || cached->second.size() >= full_.size()) return full;
  return Message{mesh::MsgType::kMemberListDelta, &cached->second};
}

void MemberListDelivery::Queued(const std::string& id, const Message& message) {
  delivered_[id] = epoch();
  if (message.type == mesh::MsgType::kMemberListDelta) {
    ++totals_.delta;
    totals_.delta_bytes += message.payload->size();
  } else {
    ++totals_.full;
    totals_.full_bytes += message.payload->size();
  }
}

void MemberListDelivery::Joined(const std::string& id) {
  delivered_[id] = epoch();
  speaks_deltas_.erase(id);
}

void MemberListDelivery::Restarted(const std::string& id) {
  delivered_[id] = 0;
  speaks_deltas_.erase(id);
}

void MemberListDelivery::Requested(const std::string& id, const mesh::MemberListRequest& request) {
  if (!current_ || current_->FindById(id) == nullptr) return;
  speaks_deltas_.insert(id);
  std::uint64_t& delivered = delivered_[id];
  if (request.need_full || request.have_epoch > epoch()) {
    delivered = 0;
  } else {
    // A hello sent before a list queued since arrived: that list is on its way.
    delivered = std::max(delivered, request.have_epoch);
  }
}

}  // namespace gpu_node
