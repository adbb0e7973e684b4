// FailureDetector driven by hand: envelopes in, envelopes and events out, time
// passed explicitly (no clock, no sleeps).
#include "mesh/failure_detector.h"

#include <catch2/catch.hpp>

#include "fd_messages.h"

using namespace mesh;
using mesh::testing::Gossip;
using mesh::testing::Heartbeat;
using mesh::testing::Msg;
using std::chrono::milliseconds;

namespace {

MonoTime T(int ms) { return MonoTime(milliseconds(ms)); }

std::vector<OutgoingEnvelope> OfType(const std::vector<OutgoingEnvelope>& out, MsgType type) {
  std::vector<OutgoingEnvelope> r;
  for (const auto& o : out) {
    if (o.envelope.type == type) r.push_back(o);
  }
  return r;
}

std::vector<FdEvent> OfKind(const std::vector<FdEvent>& events, FdEventKind kind) {
  std::vector<FdEvent> r;
  for (const auto& e : events) {
    if (e.kind == kind) r.push_back(e);
  }
  return r;
}

FailureDetector Make(const std::vector<std::string>& ids,
                     FailureDetectorConfig config = FailureDetectorConfig::ForTests()) {
  auto fd = FailureDetector::Create("a", config, T(0), 7);
  REQUIRE(fd.ok());
  std::vector<MemberInfo> members;
  for (const auto& id : ids) members.push_back({id});
  fd->SetMembers(members, T(0));
  return std::move(*fd);
}

// Feeds a heartbeat from each of `ids` at `now` (keeps them alive).
void HeardFrom(FailureDetector& fd, const std::vector<std::string>& ids, MonoTime now) {
  for (const auto& id : ids) REQUIRE(fd.OnMessage(Heartbeat(id), now).ok());
}

}  // namespace

TEST_CASE("FailureDetector: Create validates its inputs", "[mesh][fd]") {
  CHECK(FailureDetector::Create("", FailureDetectorConfig::Lan(), T(0), 1).status().code() ==
        StatusCode::kInvalidArgument);
  auto bad = FailureDetectorConfig::Lan();
  bad.indirect_probes = -1;
  CHECK_FALSE(FailureDetector::Create("a", bad, T(0), 1).ok());
}

TEST_CASE("FailureDetector: heartbeats are ping-pong and time the round trip", "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c"});
  CHECK(fd.NextWakeup() == T(0));
  fd.Tick(T(0));
  auto out = fd.TakeOutgoing();
  auto hbs = OfType(out, MsgType::kHeartbeat);
  REQUIRE(hbs.size() == 2);  // everyone but ourselves
  CHECK(hbs[0].to == "b");
  CHECK(hbs[1].to == "c");
  CHECK(hbs[0].envelope.sender == "a");
  const auto probe = DecodeHeartbeat(hbs[0].envelope.payload);
  REQUIRE(probe.ok());

  // b answers 3 ms later: heard, round trip measured.
  REQUIRE(
      fd.OnMessage(Msg("b", MsgType::kHeartbeatAck, *EncodeHeartbeatAck({probe->probe_id})), T(3))
          .ok());
  auto b = fd.Member("b");
  REQUIRE(b);
  CHECK(b->last_heard == T(3));
  REQUIRE(b->rtt);
  CHECK(*b->rtt == milliseconds(3));

  // c pings us: we answer with its probe id.
  REQUIRE(fd.OnMessage(Heartbeat("c", 99), T(4)).ok());
  auto acks = OfType(fd.TakeOutgoing(), MsgType::kHeartbeatAck);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].to == "c");
  CHECK(DecodeHeartbeatAck(acks[0].envelope.payload)->probe_id == 99);

  // Next heartbeat round one interval later.
  CHECK(fd.NextWakeup() == T(10));
}

TEST_CASE("FailureDetector: formed once every member was heard, with time since start",
          "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c"});
  HeardFrom(fd, {"b"}, T(2));
  CHECK_FALSE(fd.formed());
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kFormed).empty());
  HeardFrom(fd, {"c"}, T(5));
  CHECK(fd.formed());
  auto formed = OfKind(fd.TakeEvents(), FdEventKind::kFormed);
  REQUIRE(formed.size() == 1);
  CHECK(formed[0].since_start == milliseconds(5));
  CHECK(formed[0].member == "a");
  HeardFrom(fd, {"b", "c"}, T(6));
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kFormed).empty());  // once

  // A new member: formed again only after it is heard.
  fd.SetMembers({{"a"}, {"b"}, {"c"}, {"d"}}, T(7));
  CHECK_FALSE(fd.formed());
  HeardFrom(fd, {"d"}, T(9));
  formed = OfKind(fd.TakeEvents(), FdEventKind::kFormed);
  REQUIRE(formed.size() == 1);
  CHECK(formed[0].since_start == milliseconds(9));
}

TEST_CASE("FailureDetector: a member declared failed does not hold formation back",
          "[mesh][fd]") {
  // A node joining a cluster that lists a dead member forms once the dead one
  // is declared (by its own probes or, here, a confirm rumor).
  FailureDetector fd = Make({"a", "b", "c", "d"});
  HeardFrom(fd, {"b", "c"}, T(2));
  CHECK_FALSE(fd.formed());
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kConfirm, "d", 0, "c"}}), T(3)).ok());
  CHECK(fd.formed());
  auto formed = OfKind(fd.TakeEvents(), FdEventKind::kFormed);
  REQUIRE(formed.size() == 1);
  CHECK(formed[0].since_start == milliseconds(3));
}

TEST_CASE("FailureDetector: silence leads to k indirect probes, then suspicion", "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c", "d", "e"});
  const auto cfg = FailureDetectorConfig::ForTests();
  // c, d, e keep talking; b is silent from the start.
  for (int t = 0; t < 20; t += 5) {
    HeardFrom(fd, {"c", "d", "e"}, T(t));
    fd.Tick(T(t));
  }
  fd.TakeOutgoing();
  CHECK(fd.NextWakeup() <= T(20));
  HeardFrom(fd, {"c", "d", "e"}, T(20));
  fd.Tick(T(20));  // 20 ms = probe_timeout of silence
  auto probes = OfType(fd.TakeOutgoing(), MsgType::kIndirectProbe);
  REQUIRE(probes.size() == static_cast<std::size_t>(cfg.indirect_probes));
  std::set<std::string> helpers;
  for (const auto& p : probes) {
    helpers.insert(p.to);
    CHECK(DecodeIndirectProbe(p.envelope.payload)->target == "b");
  }
  CHECK(helpers == std::set<std::string>{"c", "d", "e"});
  CHECK(fd.stats().indirect_rounds == 1);
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kSuspect).empty());

  // All helpers nack: b is suspected when indirect_timeout runs out.
  const auto id = DecodeIndirectProbe(probes[0].envelope.payload)->probe_id;
  for (const auto& h : helpers) {
    REQUIRE(
        fd.OnMessage(Msg(h, MsgType::kIndirectProbeAck, *EncodeIndirectProbeAck({id, "b", false})),
                     T(28))
            .ok());
  }
  fd.Tick(T(29));
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kSuspect).empty());
  CHECK(fd.NextWakeup() <= T(30));
  fd.Tick(T(30));
  auto suspects = OfKind(fd.TakeEvents(), FdEventKind::kSuspect);
  REQUIRE(suspects.size() == 1);
  CHECK(suspects[0].member == "b");
  CHECK(suspects[0].at == T(30));
  CHECK(suspects[0].source == "a");
  CHECK_FALSE(suspects[0].last_heard);  // never heard from b
  CHECK(fd.Member("b")->state == MemberState::kSuspect);
  // The suspicion is gossiped to everyone (b too, so it can refute).
  auto gossip = OfType(fd.TakeOutgoing(), MsgType::kMembershipGossip);
  REQUIRE(gossip.size() == 4);
  auto body = DecodeGossip(gossip[0].envelope.payload);
  REQUIRE(body.ok());
  REQUIRE(body->rumors.size() == 1);
  CHECK(body->rumors[0] == Rumor{RumorKind::kSuspect, "b", 0, "a"});
}

TEST_CASE("FailureDetector: a helper's alive answer or any direct message ends the round",
          "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c", "d"});
  HeardFrom(fd, {"b", "c", "d"}, T(0));
  HeardFrom(fd, {"c", "d"}, T(15));
  fd.Tick(T(20));
  auto probes = OfType(fd.TakeOutgoing(), MsgType::kIndirectProbe);
  REQUIRE(probes.size() == 2);  // only c and d can help
  const auto id = DecodeIndirectProbe(probes[0].envelope.payload)->probe_id;
  REQUIRE(
      fd.OnMessage(Msg("c", MsgType::kIndirectProbeAck, *EncodeIndirectProbeAck({id, "b", true})),
                   T(24))
          .ok());
  CHECK(fd.stats().indirect_rescues == 1);
  HeardFrom(fd, {"c", "d"}, T(30));
  fd.Tick(T(40));
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kSuspect).empty());
  // Silence counts again from the rescue (24 ms): a new round at 44 ms.
  CHECK(fd.NextWakeup() == T(44));
  HeardFrom(fd, {"c", "d"}, T(44));
  fd.Tick(T(44));
  REQUIRE(OfType(fd.TakeOutgoing(), MsgType::kIndirectProbe).size() == 2);
  HeardFrom(fd, {"b"}, T(46));  // b itself speaks up
  HeardFrom(fd, {"c", "d"}, T(54));
  fd.Tick(T(55));
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kSuspect).empty());
  CHECK(fd.Member("b")->state == MemberState::kAlive);
}

TEST_CASE("FailureDetector: as a helper it probes the target and answers alive or nack",
          "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c", "d"});
  const auto cfg = FailureDetectorConfig::ForTests();
  REQUIRE(
      fd.OnMessage(Msg("c", MsgType::kIndirectProbe, *EncodeIndirectProbe({50, "b"})), T(1)).ok());
  auto pings = OfType(fd.TakeOutgoing(), MsgType::kHeartbeat);
  REQUIRE(pings.size() == 1);
  CHECK(pings[0].to == "b");
  HeardFrom(fd, {"b"}, T(2));
  auto acks = OfType(fd.TakeOutgoing(), MsgType::kIndirectProbeAck);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].to == "c");
  CHECK(*DecodeIndirectProbeAck(acks[0].envelope.payload) == IndirectProbeAckBody{50, "b", true});

  // d's target stays silent: nack after indirect_nack_timeout.
  REQUIRE(
      fd.OnMessage(Msg("d", MsgType::kIndirectProbe, *EncodeIndirectProbe({51, "c"})), T(3)).ok());
  fd.TakeOutgoing();
  const MonoTime nack_at = T(3) + cfg.indirect_nack_timeout;
  CHECK(fd.NextWakeup() <= nack_at);
  fd.Tick(nack_at);
  acks = OfType(fd.TakeOutgoing(), MsgType::kIndirectProbeAck);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].to == "d");
  CHECK(*DecodeIndirectProbeAck(acks[0].envelope.payload) == IndirectProbeAckBody{51, "c", false});

  // Asked about ourselves: alive at once. About a stranger: nack at once.
  REQUIRE(
      fd.OnMessage(Msg("d", MsgType::kIndirectProbe, *EncodeIndirectProbe({52, "a"})), T(12)).ok());
  REQUIRE(fd.OnMessage(Msg("d", MsgType::kIndirectProbe, *EncodeIndirectProbe({53, "zz"})), T(12))
              .ok());
  acks = OfType(fd.TakeOutgoing(), MsgType::kIndirectProbeAck);
  REQUIRE(acks.size() == 2);
  CHECK(DecodeIndirectProbeAck(acks[0].envelope.payload)->alive);
  CHECK_FALSE(DecodeIndirectProbeAck(acks[1].envelope.payload)->alive);
}

TEST_CASE("FailureDetector: refutes its own suspicion with a higher incarnation", "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c"});
  REQUIRE(fd.OnMessage(Gossip("b", {Rumor{RumorKind::kSuspect, "a", 0, "b"}}), T(5)).ok());
  CHECK(fd.incarnation() == 1);
  auto refuted = OfKind(fd.TakeEvents(), FdEventKind::kRefuted);
  REQUIRE(refuted.size() == 1);
  CHECK(refuted[0].incarnation == 1);
  fd.Tick(T(5));
  auto gossip = OfType(fd.TakeOutgoing(), MsgType::kMembershipGossip);
  REQUIRE(gossip.size() == 2);
  CHECK(DecodeGossip(gossip[0].envelope.payload)->rumors[0] ==
        Rumor{RumorKind::kAlive, "a", 1, "a"});
  // The same old suspicion arriving late keeps the incarnation but says
  // again that we are alive (its holder missed the refutation); a newer one
  // is refuted again.
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kSuspect, "a", 0, "c"}}), T(6)).ok());
  CHECK(fd.incarnation() == 1);
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kRefuted).empty());
  fd.Tick(T(6));
  gossip = OfType(fd.TakeOutgoing(), MsgType::kMembershipGossip);
  REQUIRE(gossip.size() == 2);
  CHECK(DecodeGossip(gossip[0].envelope.payload)->rumors[0] == Rumor{RumorKind::kAlive, "a", 1, "a"});
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kConfirm, "a", 1, "c"}}), T(7)).ok());
  CHECK(fd.incarnation() == 2);
}

TEST_CASE("FailureDetector: rumors about old incarnations are ignored", "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c", "d"});
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kAlive, "b", 3, "b"}}), T(1)).ok());
  CHECK(fd.Member("b")->incarnation == 3);
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kSuspect, "b", 2, "c"}}), T(2)).ok());
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kConfirm, "b", 1, "c"}}), T(2)).ok());
  CHECK(fd.Member("b")->state == MemberState::kAlive);
  CHECK(fd.stats().stale_rumors == 2);
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kSuspect).empty());

  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kSuspect, "b", 3, "c"}}), T(3)).ok());
  auto suspects = OfKind(fd.TakeEvents(), FdEventKind::kSuspect);
  REQUIRE(suspects.size() == 1);
  CHECK(suspects[0].source == "c");
  CHECK(suspects[0].incarnation == 3);
  // An alive rumor at the same incarnation does not clear it; a newer one does.
  REQUIRE(fd.OnMessage(Gossip("d", {Rumor{RumorKind::kAlive, "b", 3, "b"}}), T(4)).ok());
  CHECK(fd.Member("b")->state == MemberState::kSuspect);
  REQUIRE(fd.OnMessage(Gossip("d", {Rumor{RumorKind::kAlive, "b", 4, "b"}}), T(5)).ok());
  CHECK(fd.Member("b")->state == MemberState::kAlive);
  auto alive = OfKind(fd.TakeEvents(), FdEventKind::kAliveAgain);
  REQUIRE(alive.size() == 1);
  CHECK(alive[0].incarnation == 4);
  CHECK(alive[0].suspected_at == T(3));
}

TEST_CASE("FailureDetector: suspicion timeout shrinks with independent confirmations",
          "[mesh][fd]") {
  // 6 members: min 40 ms, max 240 ms, k = 2 (ForTests: 10 ms interval).
  FailureDetector fd = Make({"a", "b", "c", "d", "e", "f"});
  const auto cfg = FailureDetectorConfig::ForTests();
  REQUIRE(cfg.SuspicionMax(6) == milliseconds(240));
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kSuspect, "b", 0, "c"}}), T(100)).ok());
  // Keep everyone but b audible so nothing else happens.
  // Everyone, b included, keeps talking: only the rumors drive the suspicion here.
  auto keep = [&](int t) { HeardFrom(fd, {"b", "c", "d", "e", "f"}, T(t)); };
  keep(100);
  CHECK(fd.NextWakeup() <= T(100));
  fd.Tick(T(100));
  // Our own echo does not count; c's second copy neither.
  REQUIRE(fd.OnMessage(Gossip("d", {Rumor{RumorKind::kSuspect, "b", 0, "c"}}), T(101)).ok());
  fd.TakeOutgoing();
  // max − (max − min)·log 1/log 3 = 240 ms: declared at 340 ms unless confirmed.
  keep(150);
  fd.Tick(T(150));
  REQUIRE(fd.OnMessage(Gossip("d", {Rumor{RumorKind::kSuspect, "b", 0, "d"}}), T(150)).ok());
  // One confirmation: 240 − 200·0.6309 ≈ 113.8 ms after the start.
  keep(213);
  fd.Tick(T(213));
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kDeclared).empty());
  keep(214);
  fd.Tick(T(214));
  auto declared = OfKind(fd.TakeEvents(), FdEventKind::kDeclared);
  REQUIRE(declared.size() == 1);
  CHECK(declared[0].member == "b");
  CHECK(declared[0].suspected_at == T(100));
  CHECK(declared[0].source == "a");
  CHECK(fd.Member("b")->state == MemberState::kDeclared);
  // And the confirm rumor goes out.
  fd.Tick(T(214));
  bool confirm_sent = false;
  for (const auto& o : OfType(fd.TakeOutgoing(), MsgType::kMembershipGossip)) {
    auto body = DecodeGossip(o.envelope.payload);  // named: a temporary would dangle
    REQUIRE(body.ok());
    for (const Rumor& r : body->rumors) {
      confirm_sent |= r == Rumor{RumorKind::kConfirm, "b", 0, "a"};
    }
  }
  CHECK(confirm_sent);
}

TEST_CASE("FailureDetector: two confirmations reach the minimum", "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c", "d", "e", "f"});
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kSuspect, "b", 0, "c"},
                                    Rumor{RumorKind::kSuspect, "b", 0, "d"},
                                    Rumor{RumorKind::kSuspect, "b", 0, "e"}}),
                       T(100))
              .ok());
  HeardFrom(fd, {"c", "d", "e", "f"}, T(139));
  fd.Tick(T(139));
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kDeclared).empty());
  HeardFrom(fd, {"c", "d", "e", "f"}, T(140));
  fd.Tick(T(140));  // min = 40 ms
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kDeclared).size() == 1);
}

TEST_CASE("FailureDetector: confirm rumor declares, and a suspect member that talks is told",
          "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c"});
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kConfirm, "b", 0, "c"}}), T(1)).ok());
  auto declared = OfKind(fd.TakeEvents(), FdEventKind::kDeclared);
  REQUIRE(declared.size() == 1);
  CHECK(declared[0].source == "c");
  CHECK_FALSE(declared[0].suspected_at);
  fd.TakeOutgoing();
  // b is still talking to us: it hears what we think so it can refute.
  HeardFrom(fd, {"b"}, T(2));
  auto told = OfType(fd.TakeOutgoing(), MsgType::kMembershipGossip);
  REQUIRE(told.size() == 1);
  CHECK(told[0].to == "b");
  CHECK(DecodeGossip(told[0].envelope.payload)->rumors[0] ==
        Rumor{RumorKind::kConfirm, "b", 0, "c"});
  HeardFrom(fd, {"b"}, T(3));  // rate limited: once per interval
  CHECK(OfType(fd.TakeOutgoing(), MsgType::kMembershipGossip).empty());
  // Its refutation revives it.
  REQUIRE(fd.OnMessage(Gossip("b", {Rumor{RumorKind::kAlive, "b", 1, "b"}}), T(4)).ok());
  CHECK(fd.Member("b")->state == MemberState::kAlive);
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kAliveAgain).size() == 1);
}

// A peer that (re)started after our refutation went round learns the old
// declaration from a third member and tells us; we must reach it again, or it
// keeps us declared while it hears our heartbeats (seen: a restarted GPU peer
// isolated itself that way and decided nothing).
TEST_CASE("FailureDetector: an old declaration from a peer that missed the refutation is answered",
          "[mesh][fd]") {
  FailureDetector a = Make({"a", "b", "c"});
  auto b = FailureDetector::Create("b", FailureDetectorConfig::ForTests(), T(0), 9);
  REQUIRE(b.ok());
  b->SetMembers({{"a"}, {"b"}, {"c"}}, T(0));
  // a was accused and refuted long ago (incarnation 1); b never heard the refutation.
  REQUIRE(a.OnMessage(Gossip("c", {Rumor{RumorKind::kConfirm, "a", 0, "c"}}), T(1)).ok());
  REQUIRE(a.incarnation() == 1);
  REQUIRE(b->OnMessage(Gossip("c", {Rumor{RumorKind::kConfirm, "a", 0, "c"}}), T(2)).ok());
  REQUIRE(b->Member("a")->state == MemberState::kDeclared);
  // b hears a directly and tells it what it thinks; a answers with its alive rumor.
  int hops = 0;
  for (int t = 3; t < 400 && b->Member("a")->state != MemberState::kAlive; ++t) {
    REQUIRE(b->OnMessage(Heartbeat("a", static_cast<std::uint64_t>(t)), T(t)).ok());
    for (auto& out : b->TakeOutgoing()) {
      if (out.to == "a" && out.envelope.type == MsgType::kMembershipGossip) {
        REQUIRE(a.OnMessage(out.envelope, T(t)).ok());
        ++hops;
      }
    }
    a.Tick(T(t));
    for (auto& out : a.TakeOutgoing()) {
      if (out.to == "b") REQUIRE(b->OnMessage(out.envelope, T(t)).ok());
    }
  }
  CHECK(hops >= 1);
  CHECK(b->Member("a")->state == MemberState::kAlive);
  CHECK(b->Member("a")->incarnation == 1);
  CHECK(a.incarnation() == 1);
}

TEST_CASE("FailureDetector: awareness stretches timeouts after missing nacks", "[mesh][fd]") {
  auto cfg = FailureDetectorConfig::ForTests();
  cfg.awareness_max_multiplier = 8;
  FailureDetector fd = Make({"a", "b", "c", "d", "e"}, cfg);
  HeardFrom(fd, {"b", "c", "d", "e"}, T(0));
  HeardFrom(fd, {"c", "d", "e"}, T(19));
  fd.Tick(T(20));
  REQUIRE(OfType(fd.TakeOutgoing(), MsgType::kIndirectProbe).size() == 3);
  HeardFrom(fd, {"c", "d", "e"}, T(29));
  fd.Tick(T(30));  // no nack from any of the 3 helpers
  CHECK(fd.awareness_score() == 3);
  CHECK(OfKind(fd.TakeEvents(), FdEventKind::kSuspect).size() == 1);
  // c now goes silent: with score 3 its probe waits 4 × 20 ms instead of 20 ms.
  fd.Tick(T(48));
  fd.Tick(T(50));
  CHECK(OfType(fd.TakeOutgoing(), MsgType::kIndirectProbe).empty());
  CHECK(fd.NextWakeup() <= T(29 + 80));
  // A heartbeat round after acks lowers the score again.
  REQUIRE(fd.OnMessage(Msg("d", MsgType::kHeartbeatAck, *EncodeHeartbeatAck({1})), T(55)).ok());
  fd.Tick(T(60));
  CHECK(fd.awareness_score() == 2);
}

TEST_CASE("FailureDetector: membership changes add and forget members", "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c"});
  CHECK(fd.Members().size() == 2);
  REQUIRE(fd.OnMessage(Gossip("c", {Rumor{RumorKind::kSuspect, "b", 0, "c"}}), T(1)).ok());
  fd.SetMembers({{"a"}, {"c"}, {"d"}}, T(2));
  CHECK_FALSE(fd.Member("b"));
  REQUIRE(fd.Member("d"));
  CHECK(fd.Member("d")->state == MemberState::kAlive);
  CHECK(fd.OnMessage(Heartbeat("b"), T(3)).code() == StatusCode::kNotFound);
  CHECK(fd.OnMessage(Heartbeat("a"), T(3)).code() == StatusCode::kInvalidArgument);
  fd.TakeEvents();
  fd.TakeOutgoing();
  for (int t = 3; t < 500; ++t) {
    HeardFrom(fd, {"c", "d"}, T(t));
    fd.Tick(T(t));
  }
  for (const auto& e : fd.TakeEvents()) CHECK(e.member != "b");  // nothing more about b
  for (const auto& o : fd.TakeOutgoing()) CHECK(o.to != "b");
}

TEST_CASE("FailureDetector: garbage payloads are rejected and not taken as liveness",
          "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b"});
  for (MsgType t : {MsgType::kHeartbeat, MsgType::kHeartbeatAck, MsgType::kIndirectProbe,
                    MsgType::kIndirectProbeAck, MsgType::kMembershipGossip}) {
    CHECK(fd.OnMessage(Msg("b", t, "\xc1garbage"), T(1)).code() == StatusCode::kCorrupt);
  }
  CHECK(fd.stats().rejected == 5);
  CHECK_FALSE(fd.Member("b")->last_heard);
  // Other message types are not ours to decode but do prove liveness.
  CHECK(fd.OnMessage(Msg("b", MsgType::kVote, "opaque"), T(2)).ok());
  CHECK(fd.Member("b")->last_heard == T(2));
}

TEST_CASE("FailureDetector: a flood of indirect probe requests is bounded", "[mesh][fd]") {
  FailureDetector fd = Make({"a", "b", "c"});
  for (std::uint64_t i = 0; i < 1000; ++i) {
    REQUIRE(
        fd.OnMessage(Msg("c", MsgType::kIndirectProbe, *EncodeIndirectProbe({i, "b"})), T(1)).ok());
  }
  auto out = fd.TakeOutgoing();
  const auto pings = OfType(out, MsgType::kHeartbeat).size();
  const auto nacks = OfType(out, MsgType::kIndirectProbeAck).size();
  CHECK(pings == 256);
  CHECK(nacks == 1000 - 256);
  // b answers once: every pending request is answered alive.
  HeardFrom(fd, {"b"}, T(2));
  CHECK(OfType(fd.TakeOutgoing(), MsgType::kIndirectProbeAck).size() == 256);
}

TEST_CASE("FailureDetector: driven by a FakeClock the way a transport loop drives it",
          "[mesh][fd]") {
  // The owner's loop: wait until NextWakeup() (here: advance the fake clock),
  // Tick, hand outgoing envelopes to the transport. b never answers.
  FakeClock clock;
  auto created = FailureDetector::Create("a", FailureDetectorConfig::Lan(), clock.Now(), 3);
  REQUIRE(created.ok());
  FailureDetector& fd = *created;
  fd.SetMembers({{"a"}, {"b"}}, clock.Now());
  int heartbeats = 0;
  std::optional<FdEvent> suspect;
  while (!suspect && clock.Now() < MonoTime(std::chrono::seconds(5))) {
    clock.Advance(std::max(Nanos(0), fd.NextWakeup() - clock.Now()));
    fd.Tick(clock.Now());
    heartbeats += static_cast<int>(OfType(fd.TakeOutgoing(), MsgType::kHeartbeat).size());
    for (const auto& e : fd.TakeEvents()) {
      if (e.kind == FdEventKind::kSuspect) suspect = e;
    }
  }
  REQUIRE(suspect);
  const auto cfg = FailureDetectorConfig::Lan();
  // Never heard: join grace, then the detection bound; k = 0 helpers with 2 members.
  CHECK(suspect->at == MonoTime(cfg.join_grace + cfg.DetectionBound()));
  CHECK(heartbeats == 14);  // at 0, 100, ..., 1300 ms (the last in the suspecting tick)
}
