// FailureDetector with Probing::kSwim (issue 20): one probe per interval in a
// shuffled round-robin order, anchors pinged every interval, and the same
// indirect probes, suspicion and gossip as all-to-all. Hand-driven cases first,
// then whole simulated clusters.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "mesh/failure_detector.h"
#include "mesh/testing/fd_simulation.h"
#include "fd_messages.h"
#include "fd_sim_helpers.h"

using namespace mesh;
using mesh::testing::FdSimulation;
using mesh::testing::SimEvent;
using mesh::testing::SimNetworkConfig;
using mesh::testing::Count;
using mesh::testing::Gossip;
using mesh::testing::Heartbeat;
using mesh::testing::Ids;
using mesh::testing::Lan;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

MonoTime T(int ms) { return MonoTime(milliseconds(ms)); }

FailureDetectorConfig SwimForTests() {
  FailureDetectorConfig c = FailureDetectorConfig::ForTests();  // 10 ms interval, timeout 20 ms
  c.probing = Probing::kSwim;
  return c;
}

FailureDetector Make(const std::vector<MemberInfo>& members, FailureDetectorConfig config = SwimForTests()) {
  auto fd = FailureDetector::Create("a", config, T(0), 7);
  REQUIRE(fd.ok());
  fd->SetMembers(members, T(0));
  return std::move(*fd);
}

std::vector<std::string> PingsTo(const std::vector<OutgoingEnvelope>& out) {
  std::vector<std::string> to;
  for (const auto& o : out) {
    if (o.envelope.type == MsgType::kHeartbeat) to.push_back(o.to);
  }
  return to;
}

Envelope Ack(const std::string& from) {
  Envelope e;
  e.type = MsgType::kHeartbeatAck;
  e.sender = from;
  e.payload = *EncodeHeartbeatAck({0});
  return e;
}

}  // namespace

TEST_CASE("SWIM: one ping per interval, every member once per pass, a silent anchor every interval",
          "[mesh][fd][swim]") {
  FailureDetector fd = Make({{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"gpu", true}});
  std::map<std::string, int> pinged;
  for (int i = 0; i < 8; ++i) {  // two passes over the 4 probed members
    const MonoTime now = T(10 * i);
    fd.Tick(now);
    const auto to = PingsTo(fd.TakeOutgoing());
    REQUIRE(to.size() == 2);  // the anchor (it never answers) and one member
    CHECK(std::count(to.begin(), to.end(), "gpu") == 1);
    for (const auto& id : to) {
      ++pinged[id];
      if (id != "gpu") (void)fd.OnMessage(Ack(id), now + milliseconds(1));
    }
    if (i == 3) {  // the first pass probed each non-anchor member exactly once
      CHECK(pinged == std::map<std::string, int>{{"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"gpu", 4}});
    }
  }
  CHECK(pinged == std::map<std::string, int>{{"b", 2}, {"c", 2}, {"d", 2}, {"e", 2}, {"gpu", 8}});
}

TEST_CASE("SWIM: an anchor that pings us each interval is not pinged back", "[mesh][fd][swim]") {
  FailureDetector fd = Make({{"b"}, {"gpu", true}});
  // Pinged until a first round trip is timed (the swarmlet's join waits for one).
  fd.Tick(T(0));
  CHECK(PingsTo(fd.TakeOutgoing()) == std::vector<std::string>{"gpu", "b"});
  REQUIRE(fd.OnMessage(Ack("b"), T(1)).ok());
  CHECK_FALSE(fd.Member("gpu")->rtt);
  Envelope ack;
  ack.type = MsgType::kHeartbeatAck;
  ack.sender = "gpu";
  ack.payload = *EncodeHeartbeatAck({1});  // the id of our first ping
  REQUIRE(fd.OnMessage(ack, T(2)).ok());
  REQUIRE(fd.Member("gpu")->rtt);
  int anchor_pings = 0;
  for (int i = 1; i < 10; ++i) {
    const MonoTime now = T(10 * i);
    Envelope ping;
    ping.type = MsgType::kHeartbeat;
    ping.sender = "gpu";
    ping.payload = *EncodeHeartbeat({static_cast<std::uint64_t>(i + 1)});
    REQUIRE(fd.OnMessage(ping, now).ok());  // the GPU peer's own heartbeat, just before our tick
    fd.Tick(now);
    for (const auto& id : PingsTo(fd.TakeOutgoing())) anchor_pings += id == "gpu";
    (void)fd.OnMessage(Ack("b"), now + milliseconds(1));
  }
  CHECK(anchor_pings == 0);
  CHECK(fd.Member("gpu")->state == MemberState::kAlive);
}

TEST_CASE("SWIM: an unanswered probe asks k helpers, then suspects", "[mesh][fd][swim]") {
  FailureDetector fd = Make({{"b"}, {"c"}, {"d"}, {"e"}, {"f"}});
  fd.Tick(T(0));
  const auto first = PingsTo(fd.TakeOutgoing());
  REQUIRE(first.size() == 1);
  const std::string target = first[0];
  // Everyone else talks; the target stays silent.
  for (const auto& id : {"b", "c", "d", "e", "f"}) {
    if (id != target) REQUIRE(fd.OnMessage(Ack(id), T(1)).ok());
  }
  CHECK(fd.NextWakeup() <= T(10));
  for (int t = 10; t < 20; t += 10) {
    fd.Tick(T(t));
    (void)fd.TakeOutgoing();
  }
  fd.Tick(T(20));  // probe_timeout after the ping
  std::set<std::string> helpers;
  for (const auto& o : fd.TakeOutgoing()) {
    if (o.envelope.type == MsgType::kIndirectProbe) helpers.insert(o.to);
  }
  CHECK(helpers.size() == 3);
  CHECK_FALSE(helpers.contains(target));
  fd.Tick(T(30));  // indirect_timeout later, no helper answered
  const auto events = fd.TakeEvents();
  bool suspected = false;
  for (const auto& e : events) suspected |= e.kind == FdEventKind::kSuspect && e.member == target;
  CHECK(suspected);
  CHECK(fd.Member(target)->state == MemberState::kSuspect);
}

TEST_CASE("SWIM: members in their join grace are not probed", "[mesh][fd][swim]") {
  auto cfg = SwimForTests();
  cfg.join_grace = milliseconds(100);
  FailureDetector fd = Make({{"b"}, {"c"}}, cfg);
  fd.Tick(T(0));
  CHECK(PingsTo(fd.TakeOutgoing()).empty());
  REQUIRE(fd.OnMessage(Ack("b"), T(5)).ok());  // b has spoken: it can be probed, c cannot yet
  for (int t = 10; t < 100; t += 10) {
    fd.Tick(T(t));
    CHECK(PingsTo(fd.TakeOutgoing()) == std::vector<std::string>{"b"});
    REQUIRE(fd.OnMessage(Ack("b"), T(t + 1)).ok());
  }
  std::vector<std::string> after_grace;
  for (int t = 100; t <= 110; t += 10) {  // c's grace is over: its turn comes within a pass
    fd.Tick(T(t));
    for (const auto& id : PingsTo(fd.TakeOutgoing())) after_grace.push_back(id);
    REQUIRE(fd.OnMessage(Ack("b"), T(t + 1)).ok());
  }
  CHECK(std::count(after_grace.begin(), after_grace.end(), "c") == 1);
}

TEST_CASE("SWIM: messages per member and interval do not grow with the member count",
          "[mesh][fd][swim][sim]") {
  const auto cfg = FailureDetectorConfig::Swim(milliseconds(100));
  for (int n : {6, 60}) {
    CAPTURE(n);
    FdSimulation sim(Ids(n), cfg, Lan(3));
    sim.RunFor(seconds(3));
    const auto before = sim.sent();
    sim.RunFor(seconds(2));
    const double per_member_interval = static_cast<double>(sim.sent() - before) / 20.0 / n;
    CHECK(per_member_interval == Approx(2.0).margin(0.05));  // one ping, one ack
    CHECK(Count(sim, FdEventKind::kSuspect) == 0);
  }
}

TEST_CASE("SWIM: a killed member is suspected and declared by every other member",
          "[mesh][fd][swim][sim]") {
  const auto cfg = FailureDetectorConfig::Swim(milliseconds(100));
  for (std::uint64_t seed : {1, 2, 3}) {
    CAPTURE(seed);
    FdSimulation sim(Ids(20), cfg, Lan(seed));
    sim.RunFor(seconds(2) + milliseconds(13 * seed));
    sim.Kill("n7");
    sim.RunFor(seconds(10));
    std::set<std::string> declared_by;
    for (const SimEvent& e : sim.EventsAbout(FdEventKind::kDeclared, "n7")) declared_by.insert(e.observer);
    CHECK(declared_by.size() == 19);
    // Nobody else was suspected.
    for (const SimEvent& e : sim.events()) {
      if (e.event.kind == FdEventKind::kSuspect) CHECK(e.event.member == "n7");
    }
  }
}

TEST_CASE("SWIM: no false declaration with 1% loss, 50 members, 2 simulated minutes",
          "[mesh][fd][swim][sim]") {
  FdSimulation sim(Ids(50), FailureDetectorConfig::Swim(milliseconds(100)), Lan(11, 0.01));
  sim.RunFor(std::chrono::minutes(2));
  CHECK(Count(sim, FdEventKind::kDeclared) == 0);
  CHECK(sim.dropped() > 0);
}

TEST_CASE("SWIM: ProbeNow pings at once and a silent member is then probed indirectly",
          "[mesh][fd][swim]") {
  FailureDetector fd = Make({{"b"}, {"c"}, {"d"}, {"e"}});
  const std::string target = "c";
  REQUIRE(fd.ProbeNow(target, T(3)).ok());
  CHECK(PingsTo(fd.TakeOutgoing()) == std::vector<std::string>{target});
  CHECK(fd.ProbeNow("nobody", T(3)).code() == StatusCode::kNotFound);
  CHECK(fd.NextWakeup() <= T(23));
  fd.Tick(T(23));
  bool asked_helpers = false;
  for (const auto& o : fd.TakeOutgoing()) {
    if (o.envelope.type == MsgType::kIndirectProbe) {
      asked_helpers = true;
      CHECK(o.to != target);
    }
  }
  CHECK(asked_helpers);
}

TEST_CASE("SWIM: a member that hears no one pings every member until someone answers",
          "[mesh][fd][swim]") {
  FailureDetector fd = Make({{"b"}, {"c"}, {"d"}, {"gpu", true}});
  for (const auto& id : {"b", "c", "d", "gpu"}) REQUIRE(fd.OnMessage(Ack(id), T(1)).ok());
  fd.Tick(T(10));
  CHECK(PingsTo(fd.TakeOutgoing()).size() <= 2);  // hearing fine: the anchor and one member
  fd.Tick(T(20));
  (void)fd.TakeOutgoing();
  fd.Tick(T(30));  // nothing heard since T(1): probe_timeout (20 ms) of total silence
  auto to = PingsTo(fd.TakeOutgoing());
  std::sort(to.begin(), to.end());
  CHECK(to == std::vector<std::string>{"b", "c", "d", "gpu"});
  REQUIRE(fd.OnMessage(Ack("c"), T(31)).ok());  // someone answers: back to one probe
  fd.Tick(T(40));
  CHECK(PingsTo(fd.TakeOutgoing()).size() <= 2);
}

TEST_CASE("SWIM: swim_probe_interval spaces the round-robin probes, the anchor stays per interval",
          "[mesh][fd][swim]") {
  auto cfg = SwimForTests();
  cfg.swim_probe_interval = milliseconds(30);  // every third 10 ms interval
  REQUIRE(cfg.Validate().ok());
  FailureDetector fd = Make({{"b"}, {"c"}, {"d"}, {"gpu", true}}, cfg);
  int anchor_pings = 0;
  std::vector<int> member_ping_intervals;
  for (int i = 0; i < 9; ++i) {
    const MonoTime now = T(10 * i);
    fd.Tick(now);
    for (const auto& id : PingsTo(fd.TakeOutgoing())) {
      if (id == "gpu") {
        ++anchor_pings;  // never answers: pinged every interval
      } else {
        member_ping_intervals.push_back(i);
        (void)fd.OnMessage(Ack(id), now + milliseconds(1));
      }
    }
  }
  CHECK(anchor_pings == 9);
  CHECK(member_ping_intervals == std::vector<int>{0, 3, 6});

  cfg.swim_probe_interval = milliseconds(5);  // shorter than the interval: refused
  CHECK(cfg.Validate().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("SWIM: with spaced probes, deaf means silent for probe_timeout plus the gap",
          "[mesh][fd][swim]") {
  auto cfg = SwimForTests();
  cfg.swim_probe_interval = milliseconds(50);  // the gap: 40 ms more than the interval
  FailureDetector fd = Make({{"b"}, {"c"}, {"d"}}, cfg);
  for (const auto& id : {"b", "c", "d"}) REQUIRE(fd.OnMessage(Ack(id), T(1)).ok());
  for (int t = 10; t <= 60; t += 10) {  // silent 59 ms < 20 + 40: at most the scheduled probe
    fd.Tick(T(t));
    CHECK(PingsTo(fd.TakeOutgoing()).size() <= 1);
  }
  fd.Tick(T(70));  // 69 ms of total silence >= 60 ms: deaf, everyone pinged
  CHECK(PingsTo(fd.TakeOutgoing()).size() == 3);
}

TEST_CASE("SWIM: greeting until formed: members never heard are pinged every interval, then one probe per period",
          "[mesh][fd][swim]") {
  auto cfg = SwimForTests();
  cfg.swim_probe_interval = milliseconds(50);
  cfg.greet_new_members = true;  // as MeshMember sets it
  FailureDetector fd = Make({{"b"}, {"c"}, {"d"}}, cfg);
  fd.Tick(T(0));
  auto to = PingsTo(fd.TakeOutgoing());
  CHECK(std::count(to.begin(), to.end(), "b") >= 1);
  CHECK(std::count(to.begin(), to.end(), "c") >= 1);
  CHECK(std::count(to.begin(), to.end(), "d") >= 1);
  REQUIRE(fd.OnMessage(Ack("b"), T(1)).ok());
  REQUIRE(fd.OnMessage(Ack("c"), T(1)).ok());
  fd.Tick(T(10));  // d still never heard: pinged again, b and c not
  CHECK(PingsTo(fd.TakeOutgoing()) == std::vector<std::string>{"d"});
  REQUIRE(fd.OnMessage(Ack("d"), T(11)).ok());
  bool formed = false;
  for (const FdEvent& e : fd.TakeEvents()) formed = formed || e.kind == FdEventKind::kFormed;
  CHECK(formed);
  for (int t = 20; t < 50; t += 10) {  // formed: nothing until the next scheduled probe at T(50)
    fd.Tick(T(t));
    CHECK(PingsTo(fd.TakeOutgoing()).empty());
  }
}

namespace {

FailureDetectorConfig Piggybacking() {
  FailureDetectorConfig c = SwimForTests();
  c.piggyback_rumors = true;
  return c;
}

}  // namespace

TEST_CASE("SWIM: queued rumors ride on probe messages, each carried once counts as a transmit",
          "[mesh][fd][swim][piggyback]") {
  CHECK(FailureDetectorConfig::Swim(milliseconds(100)).piggyback_rumors);
  CHECK_FALSE(FailureDetectorConfig::Lan().piggyback_rumors);
  FailureDetector fd = Make({{"b"}, {"c"}, {"d"}, {"e"}}, Piggybacking());
  const Rumor rumor{RumorKind::kSuspect, "c", 0, "b"};
  REQUIRE(fd.OnMessage(Gossip("b", {rumor}), T(1)).ok());  // queued here too (we repeat it)
  const int transmits = fd.config().RumorTransmits(5);
  REQUIRE(transmits == 4);
  for (int i = 0; i < transmits; ++i) {
    CAPTURE(i);
    REQUIRE(fd.OnMessage(Heartbeat("d", 10 + i), T(2 + i)).ok());
    const auto out = fd.TakeOutgoing();
    REQUIRE(out.size() == 2);
    CHECK(out[0].envelope.type == MsgType::kHeartbeatAck);
    CHECK_FALSE(out[0].piggyback);
    CHECK(out[1].to == "d");
    CHECK(out[1].piggyback);
    REQUIRE(out[1].envelope.type == MsgType::kMembershipGossip);
    auto body = DecodeGossip(out[1].envelope.payload);
    REQUIRE(body.ok());
    CHECK(body->rumors == std::vector<Rumor>{rumor});
  }
  CHECK(fd.stats().rumors_piggybacked == static_cast<std::uint64_t>(transmits));
  // Its transmits are spent: the next ack goes alone and no gossip round is due.
  REQUIRE(fd.OnMessage(Heartbeat("d", 20), T(9)).ok());
  const auto out = fd.TakeOutgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].envelope.type == MsgType::kHeartbeatAck);
  fd.Tick(T(9));
  for (const auto& o : fd.TakeOutgoing()) CHECK(o.envelope.type != MsgType::kMembershipGossip);
}

TEST_CASE("SWIM: piggybacked rumors keep to their byte budget, newest first, and none ride when off",
          "[mesh][fd][swim][piggyback]") {
  std::vector<MemberInfo> members{{"b"}};
  std::vector<Rumor> rumors;
  for (int i = 0; i < 12; ++i) {  // 62-byte ids: 78 bytes per rumor
    const std::string id = std::string(60, 'm') + (i < 10 ? "0" : "") + std::to_string(i);
    members.push_back({id});
    rumors.push_back(Rumor{RumorKind::kSuspect, id, 0, "b"});
  }
  FailureDetector fd = Make(members, Piggybacking());
  REQUIRE(fd.OnMessage(Gossip("b", rumors), T(1)).ok());
  REQUIRE(fd.OnMessage(Heartbeat("b", 1), T(2)).ok());
  const auto out = fd.TakeOutgoing();
  REQUIRE(out.size() == 2);
  REQUIRE(out[1].piggyback);
  auto body = DecodeGossip(out[1].envelope.payload);
  REQUIRE(body.ok());
  std::size_t bytes = 0;
  for (const Rumor& r : body->rumors) bytes += RumorWireBytes(r);
  CHECK(bytes <= kMaxPiggybackRumorBytes);
  CHECK(out[1].envelope.payload.size() <= kMaxPiggybackRumorBytes);
  REQUIRE(body->rumors.size() == kMaxPiggybackRumorBytes / RumorWireBytes(rumors[0]));
  CHECK(body->rumors.front().member == rumors.back().member);  // the newest first

  FailureDetector off = Make(members);  // SwimForTests(): piggybacking off
  REQUIRE(off.OnMessage(Gossip("b", rumors), T(1)).ok());
  REQUIRE(off.OnMessage(Heartbeat("b", 1), T(2)).ok());
  const auto alone = off.TakeOutgoing();
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].envelope.type == MsgType::kHeartbeatAck);
  CHECK(off.stats().rumors_piggybacked == 0);
}

TEST_CASE("SWIM: piggybacking spreads a failure in fewer packets, declared by all the same",
          "[mesh][fd][swim][piggyback][sim]") {
  std::uint64_t packets[2] = {0, 0};  // sent after the kill, without and with
  for (bool piggyback : {false, true}) {
    CAPTURE(piggyback);
    auto cfg = FailureDetectorConfig::Swim(milliseconds(100));
    cfg.piggyback_rumors = piggyback;
    FdSimulation sim(Ids(30), cfg, Lan(5));
    sim.RunFor(seconds(3));
    const auto before = sim.sent();
    sim.Kill("n7");
    sim.RunFor(seconds(10));
    packets[piggyback] = sim.sent() - before;
    std::set<std::string> declared_by;
    for (const SimEvent& e : sim.EventsAbout(FdEventKind::kDeclared, "n7")) declared_by.insert(e.observer);
    CHECK(declared_by.size() == 29);
    for (const SimEvent& e : sim.events()) {
      if (e.event.kind == FdEventKind::kSuspect) CHECK(e.event.member == "n7");
    }
  }
  // 30 members x 10 s x (ping + ack) x 10/s = 6,000 probe packets either way;
  // the gossip on top was 884 packets without piggybacking, 210 with.
  CHECK(packets[1] + 300 < packets[0]);
}
