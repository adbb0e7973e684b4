// Failure detection across whole simulated clusters: seeded loss, latency,
// killed members and partitions, in deterministic simulated time.
#include "mesh/testing/fd_simulation.h"
#include "fd_sim_helpers.h"

#include <catch2/catch.hpp>

using namespace mesh;
using mesh::testing::FdSimulation;
using mesh::testing::SimEvent;
using mesh::testing::SimNetworkConfig;
using mesh::testing::Count;
using mesh::testing::Ids;
using mesh::testing::Lan;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

}  // namespace

TEST_CASE("FdSimulation: steady state costs 2·N·(N−1) messages per interval", "[mesh][fd][sim]") {
  // The number failure_detector_config.h states for probe_interval: 60 per 100 ms for 6 members.
  FdSimulation sim(Ids(6), FailureDetectorConfig::Lan(), Lan(1));
  sim.RunFor(seconds(2));
  const auto before = sim.sent();
  sim.RunFor(seconds(1));
  const auto per_interval = static_cast<double>(sim.sent() - before) / 10.0;
  CHECK(per_interval == Approx(60).margin(1));
  CHECK(Count(sim, FdEventKind::kSuspect) == 0);
}

TEST_CASE("FdSimulation: every member reports formation once, when all are up", "[mesh][fd][sim]") {
  auto net = Lan(3);
  net.start_spread = milliseconds(500);
  FdSimulation sim(Ids(5), FailureDetectorConfig::Lan(), net);
  sim.RunFor(seconds(2));
  MonoTime last_start{};
  for (const auto& id : sim.ids()) last_start = std::max(last_start, sim.StartTime(id));
  for (const auto& id : sim.ids()) {
    CAPTURE(id);
    std::vector<SimEvent> formed;
    for (const SimEvent& e : sim.events()) {
      if (e.observer == id && e.event.kind == FdEventKind::kFormed) formed.push_back(e);
    }
    REQUIRE(formed.size() == 1);
    const FdEvent& f = formed[0].event;
    CHECK(f.since_start == f.at - sim.StartTime(id));
    // Heard from everyone only once everyone runs; at the latest one ping-pong
    // after the last start (everyone pings at start and answers at once).
    CHECK(f.at >= last_start);
    CHECK(f.at <= last_start + 2 * net.max_latency);
    CHECK(sim.Detector(id)->formed());
  }
  CHECK(Count(sim, FdEventKind::kSuspect) == 0);
}

TEST_CASE("FdSimulation: a killed member is suspected by all others, then declared",
          "[mesh][fd][sim]") {
  const auto cfg = FailureDetectorConfig::Lan();
  for (std::uint64_t seed : {1, 2, 3, 4, 5}) {
    CAPTURE(seed);
    auto net = Lan(seed);
    FdSimulation sim(Ids(6), cfg, net);
    sim.RunFor(milliseconds(1000) + milliseconds(17 * seed));
    const MonoTime killed_at = sim.Now();
    sim.Kill("n3");
    sim.RunFor(seconds(5));
    std::set<std::string> suspected_by, declared_by;
    for (const SimEvent& e : sim.EventsAbout(FdEventKind::kSuspect, "n3")) {
      CHECK(suspected_by.insert(e.observer).second);  // once per observer
      // Protocol bound: the last message from n3 lands at most max_latency after
      // the kill; suspicion follows within probe_timeout + indirect_timeout.
      CHECK(e.event.at <= killed_at + net.max_latency + cfg.DetectionBound());
      CHECK(e.event.at > killed_at);
      REQUIRE(e.event.last_heard);
      CHECK(*e.event.last_heard <= killed_at + net.max_latency);
    }
    for (const SimEvent& e : sim.EventsAbout(FdEventKind::kDeclared, "n3")) {
      CHECK(declared_by.insert(e.observer).second);
      REQUIRE(e.event.suspected_at);
      // Five members suspect at once, so confirmations drive the timeout to min.
      CHECK(e.event.at - *e.event.suspected_at <= cfg.SuspicionMin(6) + milliseconds(50));
    }
    const std::set<std::string> others = {"n0", "n1", "n2", "n4", "n5"};
    CHECK(suspected_by == others);
    CHECK(declared_by == others);
    for (const auto& id : others) {
      CHECK(sim.Detector(id)->Member("n3")->state == MemberState::kDeclared);
    }
    // Nobody else was ever suspected.
    CHECK(Count(sim, FdEventKind::kSuspect) == 5);
  }
}

TEST_CASE("FdSimulation: no false suspicion with 5% loss over 10 simulated minutes",
          "[mesh][fd][sim][slow]") {
  FdSimulation sim(Ids(6), FailureDetectorConfig::Lan(), Lan(42, 0.05));
  sim.RunFor(minutes(10));
  CHECK(Count(sim, FdEventKind::kSuspect) == 0);
  CHECK(Count(sim, FdEventKind::kDeclared) == 0);
  // The loss was real: about 5% of ~360k messages dropped, and it did make
  // members probe indirectly now and then.
  CHECK(sim.sent() > 350000);
  CHECK(static_cast<double>(sim.dropped()) / static_cast<double>(sim.sent()) ==
        Approx(0.05).margin(0.005));
  std::uint64_t rounds = 0;
  for (const auto& id : sim.ids()) rounds += sim.Detector(id)->stats().indirect_rounds;
  CHECK(rounds > 0);
}

TEST_CASE("FdSimulation: A cannot reach B but C reaches both: nobody fails B, then heal",
          "[mesh][fd][sim]") {
  for (int n : {3, 6}) {
    CAPTURE(n);
    FdSimulation sim(Ids(n), FailureDetectorConfig::Lan(), Lan(7));
    sim.RunFor(seconds(1));
    sim.BlockLink("n0", "n1");  // A = n0, B = n1, C = n2 (and more when n = 6)
    sim.RunFor(seconds(60));
    CHECK(Count(sim, FdEventKind::kSuspect) == 0);
    CHECK(Count(sim, FdEventKind::kDeclared) == 0);
    const FailureDetector* a = sim.Detector("n0");
    CHECK(a->Member("n1")->state == MemberState::kAlive);
    CHECK(*a->Member("n1")->last_heard < MonoTime(seconds(2)));  // no direct word since
    CHECK(a->stats().indirect_rescues > 100);                    // kept alive through helpers

    sim.Heal();
    sim.RunFor(seconds(5));
    CHECK(Count(sim, FdEventKind::kSuspect) == 0);
    CHECK(*a->Member("n1")->last_heard > sim.Now() - milliseconds(200));  // direct again
    const auto rescues = a->stats().indirect_rescues;
    sim.RunFor(seconds(5));
    CHECK(a->stats().indirect_rescues == rescues);  // no more indirect rounds needed
  }
}

TEST_CASE("FdSimulation: a briefly isolated member refutes with a higher incarnation",
          "[mesh][fd][sim]") {
  const auto cfg = FailureDetectorConfig::Lan();
  FdSimulation sim(Ids(6), cfg, Lan(11));
  sim.RunFor(seconds(1));
  sim.Isolate("n2");
  // Long enough to be suspected (300 ms bound), shorter than the 400 ms min suspicion.
  sim.RunFor(cfg.DetectionBound() + milliseconds(60));
  CHECK(sim.EventsAbout(FdEventKind::kSuspect, "n2").size() == 5);
  sim.Heal();
  sim.RunFor(seconds(3));
  CHECK(sim.EventsAbout(FdEventKind::kDeclared, "n2").empty());
  auto refuted = sim.EventsAbout(FdEventKind::kRefuted, "n2");
  REQUIRE(!refuted.empty());
  CHECK(refuted[0].observer == "n2");
  CHECK(refuted[0].event.incarnation == 1);
  CHECK(sim.Detector("n2")->incarnation() == 1);
  auto alive = sim.EventsAbout(FdEventKind::kAliveAgain, "n2");
  CHECK(alive.size() == 5);
  for (const auto& e : alive) CHECK(e.event.incarnation == 1);
  for (const auto& id : sim.ids()) {
    if (id == "n2") continue;
    CHECK(sim.Detector(id)->Member("n2")->state == MemberState::kAlive);
    CHECK(sim.Detector(id)->Member("n2")->incarnation == 1);
  }
}

TEST_CASE("FdSimulation: an isolated member is declared, and rejoins after the partition heals",
          "[mesh][fd][sim]") {
  FdSimulation sim(Ids(6), FailureDetectorConfig::Lan(), Lan(5));
  sim.RunFor(seconds(1));
  sim.Isolate("n4");
  sim.RunFor(seconds(5));
  CHECK(sim.EventsAbout(FdEventKind::kDeclared, "n4").size() >= 5);
  sim.Heal();
  sim.RunFor(seconds(5));
  for (const auto& id : sim.ids()) {
    for (const auto& m : sim.Detector(id)->Members()) {
      CAPTURE(id, m.id);
      CHECK(m.state == MemberState::kAlive);
    }
  }
  CHECK(sim.Detector("n4")->incarnation() >= 1);
}

TEST_CASE("FdSimulation: same seed, same run", "[mesh][fd][sim]") {
  auto run = [](std::uint64_t seed) {
    FdSimulation sim(Ids(5), FailureDetectorConfig::Lan(), Lan(seed, 0.2));
    sim.RunFor(seconds(2));
    sim.Kill("n1");
    sim.RunFor(seconds(3));
    std::vector<std::pair<std::string, MonoTime>> trace;
    for (const auto& e : sim.events()) trace.emplace_back(e.observer, e.event.at);
    return std::make_pair(trace, sim.sent());
  };
  CHECK(run(9) == run(9));
  CHECK(run(9) != run(10));
}

TEST_CASE("FdSimulation: a member that never comes up is suspected after the join grace",
          "[mesh][fd][sim]") {
  const auto cfg = FailureDetectorConfig::Lan();
  auto net = Lan(8);
  net.start_spread = Nanos(0);
  FdSimulation sim(Ids(4), cfg, net);
  sim.Kill("n3");  // in the list, never started
  sim.RunFor(seconds(3));
  auto suspects = sim.EventsAbout(FdEventKind::kSuspect, "n3");
  REQUIRE(suspects.size() == 3);
  for (const auto& e : suspects) {
    CHECK_FALSE(e.event.last_heard);
    CHECK(e.event.at >= MonoTime(cfg.join_grace));
    CHECK(e.event.at <= MonoTime(cfg.join_grace + cfg.DetectionBound()));
  }
  // Each formed once it had declared the dead member, not before.
  for (const std::string id : {"n0", "n1", "n2"}) {
    CHECK(sim.Detector(id)->formed());
    std::optional<MonoTime> declared, formed;
    for (const auto& e : sim.events()) {
      if (e.observer != id) continue;
      if (e.event.kind == FdEventKind::kDeclared && e.event.member == "n3" && !declared) declared = e.event.at;
      if (e.event.kind == FdEventKind::kFormed) formed = e.event.at;
    }
    REQUIRE(declared);
    REQUIRE(formed);
    CHECK(*formed == *declared);
  }
}
