// What the GPU peer sends each member so that it ends up holding the latest
// signed member list (issue 20): a delta (mesh/member_list_delta.h) when the
// member surely holds one of the last few lists and has shown it speaks
// deltas, else the full list. The full list still goes to a new member, after
// a gap, to a member that asks for it (its delta did not apply), and to any
// member that never sent a kMemberListRequest (a swarmlet built before
// deltas, whose transport would refuse the unknown message type).
//
// "Surely holds": the transport queued a list for it on a completed
// connection, or its join response carried the list; the caller keeps
// retrying members whose send would block (GpuPeer::DeliverMembers).
//
// Thread safety: none; the GPU peer's mesh thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "mesh/envelope.h"
#include "mesh/member_list.h"
#include "mesh/member_list_delta.h"
#include "mesh/status.h"

namespace gpu_node {

class MemberListDelivery {
 public:
  // Lists kept to make deltas from: a member up to this many epochs behind
  // (a joiner still handshaking while others join) gets a delta.
  static constexpr std::size_t kHistory = 8;

  struct Message {
    mesh::MsgType type;           // kMemberList or kMemberListDelta
    const std::string* payload;   // valid until the next Publish
  };
  struct Totals {                 // payload bytes queued since start
    std::uint64_t full = 0, full_bytes = 0, delta = 0, delta_bytes = 0;
    bool operator==(const Totals&) const = default;
  };

  // The new CA-signed list (a higher epoch than the last). Members no longer
  // listed are forgotten.
  mesh::Status Publish(const mesh::MemberList& list);

  // What `id` needs now; nothing when it holds the current list.
  std::optional<Message> Next(const std::string& id);
  // `message` (from Next) was queued to `id`.
  void Queued(const std::string& id, const Message& message);

  // `id` was (re)admitted with the current list in its join response: a new
  // process, not yet known to speak deltas.
  void Joined(const std::string& id);
  // `id` (re)started (kJoinReport): what it holds is unknown.
  void Restarted(const std::string& id);
  // kMemberListRequest from `id`: it speaks deltas. A hello says it holds
  // `have_epoch` (deltas from there on); `need_full` sends the full list.
  void Requested(const std::string& id, const mesh::MemberListRequest& request);

  std::uint64_t epoch() const { return current_ ? current_->epoch : 0; }
  const Totals& totals() const { return totals_; }

 private:
  std::optional<mesh::MemberList> current_;
  std::string full_;
  std::deque<mesh::MemberList> history_;  // older lists, oldest first
  // Encoded deltas to the current list by base epoch; empty when none fits.
  std::map<std::uint64_t, std::string> deltas_;
  std::map<std::string, std::uint64_t> delivered_;  // epoch each member surely holds
  std::set<std::string> speaks_deltas_;
  Totals totals_;
};

}  // namespace gpu_node
