// Which member-list message the GPU peer sends each member (serve/member_delivery.h).
#include <catch2/catch.hpp>

#include "mesh/certificate_authority.h"
#include "mesh/member_list_delta.h"
#include "serve/member_delivery.h"

using gpu_node::MemberListDelivery;
using mesh::MsgType;

namespace {

struct Cluster {
  mesh::CertificateAuthority ca = *mesh::CertificateAuthority::Create();
  mesh::MemberList list;
  MemberListDelivery delivery;

  // Publishes the next epoch with `n` more members.
  void Grow(int n) {
    for (int k = 0; k < n; ++k) {
      const int i = static_cast<int>(list.members.size());
      mesh::Member m;
      m.node_id = "n-" + std::to_string(i);
      m.name = "rpi-" + std::to_string(i);
      m.signing_key.fill(static_cast<std::uint8_t>(i));
      m.curve_key.fill(static_cast<std::uint8_t>(i));
      m.endpoint = "tcp://10.0.0." + std::to_string(i + 1) + ":7946";
      list.members.push_back(m);
    }
    Publish();
  }
  void Publish() {
    ++list.epoch;
    REQUIRE(ca.SignMemberList(list).ok());
    REQUIRE(delivery.Publish(list).ok());
  }
  // Sends what `id` needs (as if queued) and says what it was.
  std::optional<MsgType> Deliver(const std::string& id) {
    auto m = delivery.Next(id);
    if (!m) return std::nullopt;
    delivery.Queued(id, *m);
    return m->type;
  }
};

}  // namespace

TEST_CASE("member delivery: full to new and silent members, deltas to those that asked",
          "[gpu_node][members]") {
  Cluster c;
  CHECK_FALSE(c.delivery.Next("n-1"));  // nothing published yet
  c.Grow(3);
  c.delivery.Joined("n-1");  // its join response carried the list
  c.delivery.Joined("n-2");
  CHECK_FALSE(c.delivery.Next("n-1"));
  c.delivery.Requested("n-1", {c.list.epoch});  // n-1's hello: it speaks deltas, holds the list
  CHECK_FALSE(c.delivery.Next("n-1"));

  c.Grow(1);
  auto delta = c.delivery.Next("n-1");
  REQUIRE(delta);
  CHECK(delta->type == MsgType::kMemberListDelta);
  // What n-1 receives rebuilds exactly the signed list.
  const mesh::MemberList before = [&] {
    mesh::MemberList l = c.list;
    l.members.pop_back();
    l.epoch -= 1;
    return l;
  }();
  auto decoded = mesh::DecodeMemberListDelta(*delta->payload);
  REQUIRE(decoded.ok());
  CHECK(decoded->upserts.size() == 1);
  auto rebuilt = mesh::ApplyMemberListDelta(c.ca.public_keys(), before, *decoded);
  REQUIRE(rebuilt.ok());
  CHECK(*mesh::EncodeMemberList(*rebuilt) == *mesh::EncodeMemberList(c.list));

  CHECK(c.Deliver("n-1") == MsgType::kMemberListDelta);
  CHECK(c.Deliver("n-2") == MsgType::kMemberList);  // never said it speaks deltas
  CHECK(c.Deliver("n-3") == MsgType::kMemberList);  // new, nothing delivered yet
  CHECK_FALSE(c.Deliver("n-1"));  // up to date
  CHECK(c.delivery.totals().delta == 1);
  CHECK(c.delivery.totals().full == 2);
  CHECK(c.delivery.totals().delta_bytes * 2 < c.delivery.totals().full_bytes);
}

TEST_CASE("member delivery: gaps, requests, restarts and removals", "[gpu_node][members]") {
  Cluster c;
  c.Grow(4);
  c.delivery.Joined("n-1");
  c.delivery.Requested("n-1", {c.list.epoch});
  c.Grow(1);
  c.Grow(1);
  // Two epochs behind (a send would block meanwhile): a delta from the kept list.
  CHECK(c.Deliver("n-1") == MsgType::kMemberListDelta);
  // More than kHistory epochs behind: the full list.
  for (std::size_t i = 0; i <= MemberListDelivery::kHistory; ++i) c.Grow(1);
  CHECK(c.Deliver("n-1") == MsgType::kMemberList);
  // A delta it could not apply: it asks, and gets the full list next.
  c.Grow(1);
  c.delivery.Requested("n-1", {c.list.epoch - 1, true});
  CHECK(c.Deliver("n-1") == MsgType::kMemberList);
  // Even when it claims the current list.
  c.delivery.Requested("n-1", {c.list.epoch, true});
  CHECK(c.Deliver("n-1") == MsgType::kMemberList);
  // A hello from a member that holds the current list sends nothing.
  c.delivery.Requested("n-1", {c.list.epoch});
  CHECK_FALSE(c.Deliver("n-1"));
  // A hello sent before the last list reached it (that list is on its way).
  c.Grow(1);
  CHECK(c.Deliver("n-1") == MsgType::kMemberListDelta);
  c.delivery.Requested("n-1", {c.list.epoch - 1});
  CHECK_FALSE(c.Deliver("n-1"));
  // A hello from a member behind (after its full list): a delta from there.
  c.delivery.Restarted("n-1");
  c.delivery.Requested("n-1", {c.list.epoch - 1});
  CHECK(c.Deliver("n-1") == MsgType::kMemberListDelta);
  // A hello claiming a future epoch: the full list.
  c.delivery.Requested("n-1", {c.list.epoch + 5});
  CHECK(c.Deliver("n-1") == MsgType::kMemberList);
  // A restart (join report): unknown list, unknown build: the full list.
  c.delivery.Restarted("n-1");
  c.Grow(1);
  CHECK(c.Deliver("n-1") == MsgType::kMemberList);
  c.Grow(1);
  CHECK(c.Deliver("n-1") == MsgType::kMemberList);
  // A request from a node that is not listed changes nothing.
  c.delivery.Requested("n-stranger", {c.list.epoch});
  auto stranger = c.delivery.Next("n-stranger");
  REQUIRE(stranger);
  CHECK(stranger->type == MsgType::kMemberList);
  // Removed members are forgotten: back later, they start from the full list.
  c.delivery.Requested("n-1", {c.list.epoch});
  const mesh::Member gone = c.list.members[1];
  c.list.members.erase(c.list.members.begin() + 1);
  c.Publish();
  c.list.members.push_back(gone);
  c.Publish();
  CHECK(c.Deliver("n-1") == MsgType::kMemberList);
}

TEST_CASE("member delivery: a removal reaches the others as a delta", "[gpu_node][members]") {
  Cluster c;
  c.Grow(5);
  for (const char* id : {"n-1", "n-2"}) {
    c.delivery.Joined(id);
    c.delivery.Requested(id, {c.list.epoch});
  }
  c.list.members.erase(c.list.members.begin() + 3);
  c.Publish();
  auto m = c.delivery.Next("n-1");
  REQUIRE(m);
  CHECK(m->type == MsgType::kMemberListDelta);
  auto d = mesh::DecodeMemberListDelta(*m->payload);
  REQUIRE(d.ok());
  CHECK(d->removed == std::vector<std::string>{"n-3"});
  CHECK(d->upserts.empty());
}
