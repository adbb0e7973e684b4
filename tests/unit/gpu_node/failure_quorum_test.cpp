// Who votes on a node's failure, and when the GPU peer is isolated
// (serve/failure_quorum.h).
#include <catch2/catch.hpp>

#include "serve/failure_quorum.h"

namespace {

mesh::MemberList List(int n) {  // "gpu" and pi-1 .. pi-(n-1)
  mesh::MemberList l;
  for (int i = 0; i < n; ++i) {
    mesh::Member m;
    m.node_id = i == 0 ? "gpu" : "pi-" + std::to_string(i);
    m.signing_key[0] = static_cast<std::uint8_t>(i);
    l.members.push_back(m);
  }
  return l;
}

mesh::MemberView View(const std::string& id, mesh::MemberState state, std::optional<mesh::MonoTime> heard) {
  mesh::MemberView v;
  v.id = id;
  v.state = state;
  v.last_heard = heard;
  return v;
}

const mesh::MonoTime kNow = mesh::MonoTime(std::chrono::seconds(100));
const mesh::Nanos kFresh = std::chrono::seconds(1);

}  // namespace

TEST_CASE("failure voters: everyone but the subject and those decided Down", "[gpu_node][quorum]") {
  const auto list = List(5);
  auto v = gpu_node::VotersFor(list, "pi-2", {});
  CHECK(v.ids == std::vector<std::string>{"gpu", "pi-1", "pi-3", "pi-4"});
  CHECK(v.members.size() == 4);
  CHECK(v.can_decide());
  v = gpu_node::VotersFor(list, "pi-2", {"pi-3", "pi-4"});
  CHECK(v.ids == std::vector<std::string>{"gpu", "pi-1"});
  CHECK(v.can_decide());
  // The two-member case: the GPU peer alone decides nothing.
  CHECK_FALSE(gpu_node::VotersFor(List(2), "pi-1", {}).can_decide());
  CHECK_FALSE(gpu_node::VotersFor(list, "pi-2", {"pi-1", "pi-3", "pi-4"}).can_decide());
}

TEST_CASE("hearing: isolated when this peer and those it hears are no strict majority", "[gpu_node][quorum]") {
  const auto list = List(5);  // gpu + 4 Pis
  const auto recent = kNow - std::chrono::milliseconds(100);
  std::vector<mesh::MemberView> views;
  for (int i = 1; i <= 4; ++i) views.push_back(View("pi-" + std::to_string(i), mesh::MemberState::kAlive, recent));
  auto h = gpu_node::HearingOf(list, "gpu", {}, views, kNow, kFresh);
  CHECK(h.heard == 4);
  CHECK(h.members == 4);
  CHECK_FALSE(h.isolated());
  CHECK(h.Describe() == "hears 4 of 4 members");
  // Cut from every Pi: suspected, or silent past `fresh` though not yet suspected.
  views[0].state = views[1].state = mesh::MemberState::kSuspect;
  views[2].last_heard = kNow - std::chrono::seconds(2);
  views[3].last_heard = std::nullopt;  // never heard, and suspected since
  views[3].state = mesh::MemberState::kDeclared;
  h = gpu_node::HearingOf(list, "gpu", {}, views, kNow, kFresh);
  CHECK(h.heard == 0);
  CHECK(h.isolated());
  CHECK(h.Describe() == "hears 0 of 4 members");
  // Two of four: 3 of 5 with itself, a majority.
  views[0].state = views[1].state = mesh::MemberState::kAlive;
  CHECK_FALSE(gpu_node::HearingOf(list, "gpu", {}, views, kNow, kFresh).isolated());
  // One of four: 2 of 5.
  views[1].state = mesh::MemberState::kDeclared;
  CHECK(gpu_node::HearingOf(list, "gpu", {}, views, kNow, kFresh).isolated());
  // Members decided Down do not count.
  h = gpu_node::HearingOf(list, "gpu", {"pi-2", "pi-3", "pi-4"}, views, kNow, kFresh);
  CHECK(h.members == 1);
  CHECK(h.heard == 1);
  CHECK_FALSE(h.isolated());
  // Members not heard yet but within their join grace count neither way.
  views[0].last_heard = views[1].last_heard = views[2].last_heard = views[3].last_heard = std::nullopt;
  views[0].state = views[1].state = mesh::MemberState::kAlive;
  views[2].state = views[3].state = mesh::MemberState::kAlive;
  h = gpu_node::HearingOf(list, "gpu", {}, views, kNow, kFresh);
  CHECK(h.members == 0);
  CHECK_FALSE(h.isolated());
  views[2].state = views[3].state = mesh::MemberState::kSuspect;  // their grace ran out
  views[0].last_heard = recent;
  h = gpu_node::HearingOf(list, "gpu", {}, views, kNow, kFresh);
  CHECK(h.members == 3);
  CHECK(h.heard == 1);
  CHECK(h.isolated());
  // The two-member case is Unreachable, not isolation.
  CHECK_FALSE(gpu_node::HearingOf(List(2), "gpu", {}, {}, kNow, kFresh).isolated());
}

TEST_CASE("first-hand: only a direct message after the decision brings a node back", "[gpu_node][quorum]") {
  const auto down_at = kNow - std::chrono::seconds(5);
  // An alive rumor leaves last_heard where it was (before the decision).
  CHECK_FALSE(gpu_node::HeardFirstHand(View("pi-1", mesh::MemberState::kAlive, down_at - std::chrono::seconds(1)),
                                       down_at, kNow, kFresh));
  CHECK_FALSE(gpu_node::HeardFirstHand(View("pi-1", mesh::MemberState::kAlive, std::nullopt), down_at, kNow, kFresh));
  CHECK_FALSE(gpu_node::HeardFirstHand(std::nullopt, down_at, kNow, kFresh));
  // Heard after the decision, but long ago.
  CHECK_FALSE(gpu_node::HeardFirstHand(View("pi-1", mesh::MemberState::kDeclared, down_at + std::chrono::seconds(1)),
                                       down_at, kNow, kFresh));
  // Its own message, just now (whatever the detector's state says).
  CHECK(gpu_node::HeardFirstHand(View("pi-1", mesh::MemberState::kDeclared, kNow - std::chrono::milliseconds(50)),
                                 down_at, kNow, kFresh));
}

TEST_CASE("rumors: a suspicion from another member about a member heard just now is not proposed",
          "[gpu_node][quorum]") {
  const mesh::Nanos limit = std::chrono::milliseconds(200);
  mesh::FdEvent e;
  e.kind = mesh::FdEventKind::kSuspect;
  e.member = "pi-1";
  e.at = kNow;
  e.source = "pi-2";  // a rumor
  e.last_heard = kNow - std::chrono::milliseconds(80);
  CHECK(gpu_node::RumorContradictedFirstHand(e, "gpu", limit));
  e.kind = mesh::FdEventKind::kDeclared;  // a confirm rumor alike
  CHECK(gpu_node::RumorContradictedFirstHand(e, "gpu", limit));
  // Silent here for the whole bound: the rumor may be right.
  e.last_heard = kNow - limit;
  CHECK_FALSE(gpu_node::RumorContradictedFirstHand(e, "gpu", limit));
  // Never heard here: no evidence either way.
  e.last_heard = std::nullopt;
  CHECK_FALSE(gpu_node::RumorContradictedFirstHand(e, "gpu", limit));
  // Our own suspicion is always proposed.
  e.last_heard = kNow - std::chrono::milliseconds(80);
  e.source = "gpu";
  CHECK_FALSE(gpu_node::RumorContradictedFirstHand(e, "gpu", limit));
}
