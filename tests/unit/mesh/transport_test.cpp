// The same behaviour, checked on every Transport: in memory, ZeroMQ with CURVE
// and (where authentication is not the point) ZeroMQ without it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <msgpack.hpp>
#include <set>

#include "transport_harness.h"

using mesh::Envelope;
using mesh::MsgType;
using mesh::SendOutcome;
using mesh::StatusCode;
using mesh::Transport;
using mesh_test::InMemoryHarness;
using mesh_test::kPatience;
using mesh_test::ZmqCurveHarness;
using mesh_test::ZmqPlainHarness;
using mesh_test::ZmqLeanHarness;
using mesh_test::ZmqLeanPlainHarness;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// Sends until the transport takes the message (a new connection may need a
// moment); fails the test after kPatience.
void SendEventually(Transport& from, const std::string& to, MsgType type,
                    std::string_view payload) {
  const auto deadline = Clock::now() + kPatience;
  for (;;) {
    auto outcome = from.Send(to, type, payload);
    REQUIRE(outcome.ok());
    if (outcome.value() == SendOutcome::kQueued) return;
    REQUIRE(Clock::now() < deadline);
    std::this_thread::sleep_for(5ms);
  }
}

// Pumps `t` until an envelope arrives; fails the test after kPatience.
Envelope ReceiveEventually(Transport& t) {
  const auto deadline = Clock::now() + kPatience;
  for (;;) {
    auto got = t.Receive(100ms);
    REQUIRE(got.ok());
    if (got.value()) return *std::move(got).value();
    REQUIRE(Clock::now() < deadline);
  }
}

// Pumps `t` (keeping what arrives) until `done()` holds; fails after kPatience.
template <typename Pred>
std::vector<Envelope> PumpUntil(Transport& t, Pred done) {
  std::vector<Envelope> got;
  const auto deadline = Clock::now() + kPatience;
  while (!done()) {
    REQUIRE(Clock::now() < deadline);
    auto r = t.Receive(20ms);
    REQUIRE(r.ok());
    if (r.value()) got.push_back(*std::move(r).value());
  }
  return got;
}

// The first `n` envelopes `to` receives, pumping `from` meanwhile (a lazy
// link's first handshake completes in its sender's Receive()).
std::vector<Envelope> ReceivePumping(Transport& from, Transport& to, std::size_t n) {
  std::vector<Envelope> got;
  PumpUntil(from, [&] {
    auto r = to.Receive(10ms);
    REQUIRE(r.ok());
    if (r.value()) got.push_back(*std::move(r).value());
    return got.size() == n;
  });
  return got;
}

std::string Wire(const std::string& sender, std::uint64_t seq, std::string payload = "x",
                 std::uint32_t version = mesh::kWireVersion, MsgType type = MsgType::kHeartbeat) {
  Envelope e;
  e.version = version;
  e.type = type;
  e.sender = sender;
  e.seq = seq;
  e.sent_ns = 1;
  e.payload = std::move(payload);
  auto bytes = mesh::Encode(e);
  REQUIRE(bytes.ok());
  return std::move(bytes).value();
}

// An envelope with a type number this build does not know.
std::string WireWithType(const std::string& sender, std::uint64_t type) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(6);
  pk.pack(mesh::kWireVersion);
  pk.pack(type);
  pk.pack(sender);
  pk.pack(std::uint64_t{7});
  pk.pack(std::int64_t{1});
  pk.pack_bin(0);
  return {buf.data(), buf.size()};
}

}  // namespace

TEMPLATE_TEST_CASE("Transport: messages go both ways with sender, type, payload, rising seq",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness, ZmqPlainHarness, ZmqLeanPlainHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();

  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "ping-1");
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "ping-2");
  const Envelope first = ReceiveEventually(h["bob"]);
  const Envelope second = ReceiveEventually(h["bob"]);
  CHECK(first.sender == "alice");
  CHECK(first.type == MsgType::kHeartbeat);
  CHECK(first.payload == "ping-1");
  CHECK(first.sent_ns > 0);
  CHECK(second.payload == "ping-2");
  CHECK(second.seq > first.seq);

  SendEventually(h["bob"], "alice", MsgType::kHeartbeatAck, std::string(1024, '\0'));
  const Envelope reply = ReceiveEventually(h["alice"]);
  CHECK(reply.sender == "bob");
  CHECK(reply.type == MsgType::kHeartbeatAck);
  CHECK(reply.payload == std::string(1024, '\0'));

  CHECK(h["alice"].stats().received == 1);
  CHECK(h["bob"].stats().received == 2);
  CHECK(h["alice"].stats().sent == 2);
}

TEMPLATE_TEST_CASE("Transport: every member hears every other in a mesh of six",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  const std::vector<std::string> ids = {"m0", "m1", "m2", "m3", "m4", "m5"};
  for (const auto& id : ids) h.Add(id);
  h.Mesh();
  for (const auto& from : ids) {
    for (const auto& to : ids) {
      if (from != to) SendEventually(h[from], to, MsgType::kMembershipGossip, from + "->" + to);
    }
  }
  for (const auto& to : ids) {
    std::set<std::string> senders;
    while (senders.size() < ids.size() - 1) {
      const Envelope e = ReceiveEventually(h[to]);
      CHECK(e.payload == e.sender + "->" + to);
      senders.insert(e.sender);
    }
    CHECK(senders.count(to) == 0);
  }
}

TEMPLATE_TEST_CASE("Transport: unknown peers, bad peers and oversized payloads are errors",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();

  auto unknown = h["alice"].Send("carol", MsgType::kHeartbeat, "");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == StatusCode::kNotFound);
  CHECK(h["alice"].RemovePeer("carol").code() == StatusCode::kNotFound);
  CHECK(h["alice"].AddPeer({"", "x", {}}).code() == StatusCode::kInvalidArgument);

  auto too_big =
      h["alice"].Send("bob", MsgType::kHeartbeat, std::string(mesh::kMaxPayloadBytes + 1, 'x'));
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().code() == StatusCode::kInvalidArgument);
  CHECK(h["alice"].stats().sent == 0);

  // The largest allowed payload goes through.
  SendEventually(h["alice"], "bob", MsgType::kMemberList, std::string(mesh::kMaxPayloadBytes, 'y'));
  CHECK(ReceiveEventually(h["bob"]).payload.size() == mesh::kMaxPayloadBytes);

  REQUIRE(h["alice"].RemovePeer("bob").ok());
  auto removed = h["alice"].Send("bob", MsgType::kHeartbeat, "");
  REQUIRE_FALSE(removed.ok());
  CHECK(removed.status().code() == StatusCode::kNotFound);

  std::vector<mesh::AuthorizedKey> twice = {{"x", h.KeysOf("alice").public_key},
                                            {"y", h.KeysOf("alice").public_key}};
  CHECK(h["bob"].SetAuthorizedKeys(twice).code() == StatusCode::kInvalidArgument);
}

TEMPLATE_TEST_CASE(
    "Transport: garbage, oversize, foreign versions and types are counted, not delivered",
    "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("bob");
  h.AddGhost("mallory");
  h.Mesh();

  const std::string good = Wire("mallory", 10);
  h.InjectRaw("mallory", "bob", "definitely not msgpack");
  h.InjectRaw("mallory", "bob", good.substr(0, good.size() - 3));  // truncated
  h.InjectRaw("mallory", "bob", std::string(mesh::kMaxEnvelopeBytes + 1, '\x93'));
  h.InjectRaw("mallory", "bob", Wire("mallory", 11, "x", mesh::kWireVersion + 1));
  h.InjectRaw("mallory", "bob", WireWithType("mallory", 999));
  h.InjectRaw("mallory", "bob", Wire("mallory", 12, "sentinel"));

  // Messages on one connection arrive in order: the sentinel comes last.
  const Envelope e = ReceiveEventually(h["bob"]);
  CHECK(e.payload == "sentinel");
  const mesh::TransportStats s = h["bob"].stats();
  CHECK(s.rejected_garbage == 2);
  CHECK(s.rejected_oversize == 1);
  CHECK(s.rejected_version == 1);
  CHECK(s.rejected_type == 1);
  CHECK(s.received == 1);
}

TEMPLATE_TEST_CASE("Transport: replayed and too old sequence numbers are rejected",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("bob");
  h.AddGhost("mallory");
  h.Mesh();

  for (std::uint64_t seq : {10, 200, 100, 10, 150, 150, 201}) {
    h.InjectRaw("mallory", "bob", Wire("mallory", seq, std::to_string(seq)));
  }
  // Accepted: 10 (first), 200 (newer), 150 (inside the 64 window, unseen), 201.
  // Rejected: 100 (older than the window), 10 and 150 again (seen).
  std::vector<std::string> got;
  while (got.size() < 4) got.push_back(ReceiveEventually(h["bob"]).payload);
  CHECK(got == std::vector<std::string>{"10", "200", "150", "201"});
  CHECK(h["bob"].stats().rejected_replay == 3);
}

TEMPLATE_TEST_CASE("Transport: a member cannot send with another member's id", "[mesh][transport]",
                   InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.AddGhost("mallory");
  h.Mesh();

  h.InjectRaw("mallory", "bob", Wire("alice", 1, "forged"));
  h.InjectRaw("mallory", "bob", Wire("mallory", 2, "honest"));
  const Envelope e = ReceiveEventually(h["bob"]);
  CHECK(e.sender == "mallory");
  CHECK(e.payload == "honest");
  CHECK(h["bob"].stats().rejected_spoofed == 1);
}

TEMPLATE_TEST_CASE("Transport: a key outside the allow-list gets nothing through",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  // eve has a valid key pair and knows bob's endpoint and key, but bob does
  // not authorize her key.
  Transport& eve = h.Add("eve");
  REQUIRE(eve.AddPeer(h.InfoOf("bob")).ok());

  // Eve's connection is refused (ZAP): nothing she sends is ever queued
  // (lean: what waited for the first handshake is dropped with it).
  auto got_from_eve = PumpUntil(h["bob"], [&] {
    auto outcome = eve.Send("bob", MsgType::kVote, "let me in");
    REQUIRE(outcome.ok());
    if (!TestType::kLean) CHECK(outcome.value() == SendOutcome::kWouldBlock);
    return h["bob"].stats().rejected_unauthorized > 0;
  });
  CHECK(got_from_eve.empty());
  if (!TestType::kLean) CHECK(eve.stats().sent == 0);

  // Revoking a member drops its messages even on a connection made before.
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "before");
  CHECK(ReceiveEventually(h["bob"]).payload == "before");
  std::vector<mesh::AuthorizedKey> without_alice;
  for (const auto& k : h.AllKeys()) {
    if (k.id != "alice" && k.id != "eve") without_alice.push_back(k);
  }
  REQUIRE(h["bob"].SetAuthorizedKeys(without_alice).ok());
  const auto refused_before = h["bob"].stats().rejected_unauthorized;
  auto outcome = h["alice"].Send("bob", MsgType::kHeartbeat, "after");
  REQUIRE(outcome.ok());
  if (outcome.value() == SendOutcome::kQueued) {
    // Queued on the old connection: bob must drop it.
    auto got = PumpUntil(h["bob"],
                         [&] { return h["bob"].stats().rejected_unauthorized > refused_before; });
    CHECK(got.empty());
  }
  CHECK(h["bob"].stats().received == 1);
}

TEMPLATE_TEST_CASE("Transport: nothing is sent to a peer that cannot prove its key",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  mesh::PeerInfo impostor = h.InfoOf("bob");
  impostor.public_key = h.KeysOf("alice").public_key;  // not bob's key
  REQUIRE(h["alice"].AddPeer(impostor).ok());
  for (int i = 0; i < 20; ++i) {
    auto outcome = h["alice"].Send("bob", MsgType::kHeartbeat, "secret");
    REQUIRE(outcome.ok());
    // Lean: a datagram sealed for the key alice was given, which bob lacks.
    if (!TestType::kLean) CHECK(outcome.value() == SendOutcome::kWouldBlock);
    auto got = h["bob"].Receive(10ms);
    REQUIRE(got.ok());
    CHECK_FALSE(got.value().has_value());
  }
  // Fixing the key reconnects.
  REQUIRE(h["alice"].AddPeer(h.InfoOf("bob")).ok());
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "hello");
  CHECK(ReceiveEventually(h["bob"]).payload == "hello");
}

TEMPLATE_TEST_CASE(
    "Transport: a restarted peer is reached again, and its new messages are accepted",
    "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "one");
  CHECK(ReceiveEventually(h["bob"]).payload == "one");
  SendEventually(h["bob"], "alice", MsgType::kHeartbeat, "one-back");
  CHECK(ReceiveEventually(h["alice"]).payload == "one-back");

  Transport& bob = h.Restart("bob");  // same key, same port, empty state
  REQUIRE(bob.SetAuthorizedKeys(h.AllKeys()).ok());
  REQUIRE(bob.AddPeer(h.InfoOf("alice")).ok());

  // ZeroMQ: a message sent while the old connection goes down may be lost: retry.
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  std::optional<Envelope> got;
  while (!got) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    auto outcome = h["alice"].Send("bob", MsgType::kHeartbeat, "two");
    REQUIRE(outcome.ok());
    auto r = bob.Receive(100ms);
    REQUIRE(r.ok());
    got = std::move(r).value();
  }
  CHECK(got->payload == "two");

  // The new bob's sequence numbers start above the old one's (wall clock).
  SendEventually(bob, "alice", MsgType::kHeartbeat, "two-back");
  CHECK(ReceiveEventually(h["alice"]).payload == "two-back");
  CHECK(h["alice"].stats().rejected_replay == 0);
}

TEST_CASE("ZmqTransport: bad options and a taken address are refused", "[mesh][transport][zmq]") {
  mesh::ZmqTransportOptions options;
  options.self_id = "a";
  auto no_keys = mesh::CreateZmqTransport(options);
  REQUIRE_FALSE(no_keys.ok());
  CHECK(no_keys.status().code() == StatusCode::kInvalidArgument);

  options.keys = mesh::GenerateTransportKeyPair().value();
  options.bind_endpoint = "nonsense://here";
  auto bad = mesh::CreateZmqTransport(options);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);

  options.bind_endpoint = "tcp://127.0.0.1:*";
  auto first = mesh::CreateZmqTransport(options);
  REQUIRE(first.ok());
  options.bind_endpoint = first.value()->local_endpoint();
  auto second = mesh::CreateZmqTransport(options);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == StatusCode::kAlreadyExists);
}

TEST_CASE("InMemoryNetwork: loss is reproducible from the seed", "[mesh][transport][inmemory]") {
  auto run = [](std::uint64_t seed) {
    mesh::InMemoryNetwork net({.loss_probability = 0.3, .seed = seed});
    auto ka = mesh::GenerateTransportKeyPair().value();
    auto kb = mesh::GenerateTransportKeyPair().value();
    auto a = net.Attach("a", ka.public_key).value();
    auto b = net.Attach("b", kb.public_key).value();
    REQUIRE(b->SetAuthorizedKeys({{"a", ka.public_key}}).ok());
    REQUIRE(a->AddPeer({"b", b->local_endpoint(), kb.public_key}).ok());
    std::string pattern;
    for (int i = 0; i < 200; ++i) {
      REQUIRE(a->Send("b", MsgType::kHeartbeat, "").value() == SendOutcome::kQueued);
      pattern += b->Receive(0ns).value() ? '1' : '0';
    }
    CHECK(net.stats().dropped_loss + net.stats().delivered == 200);
    return pattern;
  };
  const std::string p1 = run(42);
  CHECK(p1 == run(42));
  CHECK(p1 != run(43));
  const auto lost = std::count(p1.begin(), p1.end(), '0');
  CHECK(lost > 20);  // ~60 expected at 30%
  CHECK(lost < 120);
}

TEST_CASE("InMemoryNetwork: a partition drops both ways until healed",
          "[mesh][transport][inmemory]") {
  InMemoryHarness h;
  h.Add("a");
  h.Add("b");
  h.Add("c");
  h.Mesh();
  h.network().Partition("a", "b");
  REQUIRE(h["a"].Send("b", MsgType::kHeartbeat, "lost").value() == SendOutcome::kQueued);
  REQUIRE(h["b"].Send("a", MsgType::kHeartbeat, "lost").value() == SendOutcome::kQueued);
  REQUIRE(h["a"].Send("c", MsgType::kHeartbeat, "kept").value() == SendOutcome::kQueued);
  CHECK_FALSE(h["b"].Receive(0ns).value().has_value());
  CHECK_FALSE(h["a"].Receive(0ns).value().has_value());
  CHECK(h["c"].Receive(0ns).value()->payload == "kept");
  CHECK(h.network().stats().dropped_partition == 2);

  h.network().Heal("b", "a");
  REQUIRE(h["a"].Send("b", MsgType::kHeartbeat, "back").value() == SendOutcome::kQueued);
  CHECK(h["b"].Receive(0ns).value()->payload == "back");
}

TEST_CASE("InMemoryNetwork: delivery order is the send order", "[mesh][transport][inmemory]") {
  InMemoryHarness h;
  h.Add("a");
  h.Add("b");
  h.Add("c");
  h.Mesh();
  for (int i = 0; i < 10; ++i) {
    const std::string& from = i % 2 ? "a" : "c";
    REQUIRE(h[from].Send("b", MsgType::kHeartbeat, std::to_string(i)).value() ==
            SendOutcome::kQueued);
  }
  for (int i = 0; i < 10; ++i) CHECK(h["b"].Receive(0ns).value()->payload == std::to_string(i));
}

TEMPLATE_TEST_CASE("Transport: Receive returns nothing, not an error, when nothing comes",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  for (mesh::Nanos timeout : {mesh::Nanos(0), mesh::Nanos(20ms)}) {
    auto got = h["bob"].Receive(timeout);
    REQUIRE(got.ok());
    CHECK_FALSE(got.value().has_value());
  }
  // Many rejected messages in a row are skipped, and the good one after them comes out.
  h.AddGhost("mallory");
  h.Mesh();
  for (int i = 0; i < 600; ++i) h.InjectRaw("mallory", "bob", "garbage");
  h.InjectRaw("mallory", "bob", Wire("mallory", 1, "last"));
  auto got = PumpUntil(h["bob"], [&] { return h["bob"].stats().received == 1; });
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == "last");
  CHECK(h["bob"].stats().rejected_garbage == 600);
}

// Not for lean members: a datagram to a member that went away is sent all the
// same (see "lean members ..." below).
TEMPLATE_TEST_CASE("Transport: a member that went away is not connected", "[mesh][transport]",
                   InMemoryHarness, ZmqCurveHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "hi");
  CHECK(ReceiveEventually(h["bob"]).payload == "hi");
  h.Remove("bob");
  // Once the connection is known to be gone, sends say kWouldBlock, not an error.
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  for (;;) {
    auto outcome = h["alice"].Send("bob", MsgType::kHeartbeat, "anyone?");
    REQUIRE(outcome.ok());
    if (outcome.value() == SendOutcome::kWouldBlock) break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(5ms);
  }
}

TEST_CASE("ZmqTransport: without CURVE the sender is bound to the routing id",
          "[mesh][transport][zmq]") {
  ZmqPlainHarness h;
  h.Add("bob");
  h.AddGhost("mallory");
  h.Mesh();
  h.InjectRaw("mallory", "bob", Wire("alice", 1, "forged"));
  h.InjectRaw("mallory", "bob", Wire("mallory", 2, "honest"));
  CHECK(ReceiveEventually(h["bob"]).payload == "honest");
  CHECK(h["bob"].stats().rejected_spoofed == 1);
}

TEST_CASE("InMemoryNetwork: seq starts at the clock, so a restart needs the clock to move",
          "[mesh][transport][inmemory]") {
  mesh::FakeClock clock;
  mesh::InMemoryNetwork net;
  auto ka = mesh::GenerateTransportKeyPair().value();
  auto kb = mesh::GenerateTransportKeyPair().value();
  auto b = net.Attach("b", kb.public_key, clock).value();
  REQUIRE(b->SetAuthorizedKeys({{"a", ka.public_key}}).ok());
  auto start = [&] {
    auto a = net.Attach("a", ka.public_key, clock).value();
    REQUIRE(a->AddPeer({"b", b->local_endpoint(), kb.public_key}).ok());
    return a;
  };
  auto a = start();
  for (int i = 0; i < 3; ++i) REQUIRE(a->Send("b", MsgType::kHeartbeat, "").ok());
  for (int i = 0; i < 3; ++i) {
    auto e = b->Receive(0ns).value();
    REQUIRE(e);
    CHECK(e->seq == static_cast<std::uint64_t>(clock.WallNs()) + static_cast<std::uint64_t>(i));
    CHECK(e->sent_ns == clock.WallNs());
  }
  // Restarted at the same instant: its first numbers were used already.
  a.reset();
  a = start();
  REQUIRE(a->Send("b", MsgType::kHeartbeat, "").ok());
  CHECK_FALSE(b->Receive(0ns).value().has_value());
  CHECK(b->stats().rejected_replay == 1);
  // 1 ms later (10^6 numbers on) is above all the old incarnation used.
  a.reset();
  clock.Advance(1ms);
  a = start();
  REQUIRE(a->Send("b", MsgType::kHeartbeat, "").ok());
  CHECK(b->Receive(0ns).value().has_value());
}

TEMPLATE_TEST_CASE("Transport: a member refused once gets through after it is authorized",
                   "[mesh][transport]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  // Membership is asynchronous: a new member may call on a peer that has not
  // yet heard of it. ZeroMQ gives up on a refused handshake; the transport
  // must not.
  TestType h;
  h.Add("alice");
  h.Add("bob");
  REQUIRE(h["alice"].AddPeer(h.InfoOf("bob")).ok());
  PumpUntil(h["bob"], [&] {
    auto outcome = h["alice"].Send("bob", MsgType::kJoinRequest, "me?");
    REQUIRE(outcome.ok());
    if (!TestType::kLean) CHECK(outcome.value() == SendOutcome::kWouldBlock);
    return h["bob"].stats().rejected_unauthorized > 0;
  });
  REQUIRE(h["bob"].SetAuthorizedKeys(h.AllKeys()).ok());
  SendEventually(h["alice"], "bob", MsgType::kJoinRequest, "now");
  CHECK(ReceiveEventually(h["bob"]).payload == "now");
}

namespace {

// A kBatch frame from `sender` carrying `inner` (encoded envelopes), framed
// as the ZeroMQ transport frames them: [u32 big-endian length][envelope]...
std::string BatchWire(const std::string& sender, std::uint64_t seq,
                      const std::vector<std::string>& inner) {
  std::string payload;
  for (const std::string& e : inner) {
    const auto size = static_cast<std::uint32_t>(e.size());
    for (int shift = 24; shift >= 0; shift -= 8) {
      payload.push_back(static_cast<char>(size >> shift));
    }
    payload += e;
  }
  return Wire(sender, seq, std::move(payload), mesh::kWireVersion, MsgType::kBatch);
}

}  // namespace

TEMPLATE_TEST_CASE("Transport: batch is the transport's own type, not a caller's",
                   "[mesh][transport][batch]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  auto sent = h["alice"].Send("bob", MsgType::kBatch, "");
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.status().code() == StatusCode::kInvalidArgument);
  CHECK(h["alice"].stats().sent == 0);
}

TEMPLATE_TEST_CASE("Transport: a batch frame is unpacked and every envelope in it checked",
                   "[mesh][transport][batch]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("bob");
  h.AddGhost("mallory");
  h.Mesh();
  // Envelopes 10, 11, 12 in order; a repeat of 11; one claiming to be alice;
  // a nested batch; a batch whose last length runs past its end.
  h.InjectRaw("mallory", "bob",
              BatchWire("mallory", 10,
                        {Wire("mallory", 10, "a"), Wire("mallory", 11, "b"),
                         Wire("mallory", 11, "b-again"), Wire("alice", 12, "forged"),
                         BatchWire("mallory", 13, {Wire("mallory", 13, "nested")}),
                         Wire("mallory", 12, "c")}));
  // A batch whose length claims 200 bytes where only a few follow.
  h.InjectRaw("mallory", "bob",
              Wire("mallory", 22, std::string("\0\0\0\xc8", 4) + Wire("mallory", 22, "f"),
                   mesh::kWireVersion, MsgType::kBatch));
  h.InjectRaw("mallory", "bob", Wire("mallory", 30, "after"));

  std::vector<std::string> payloads;
  const auto got = PumpUntil(h["bob"], [&] { return h["bob"].stats().received >= 4; });
  for (const Envelope& e : got) {
    CHECK(e.sender == "mallory");
    CHECK(e.type == MsgType::kHeartbeat);
    payloads.push_back(e.payload);
  }
  CHECK(payloads == std::vector<std::string>{"a", "b", "c", "after"});
  const auto stats = h["bob"].stats();
  CHECK(stats.received == 4);
  CHECK(stats.rejected_replay == 1);
  CHECK(stats.rejected_spoofed == 1);
  CHECK(stats.rejected_garbage == 2);  // the nested batch, the overrun length
}

TEMPLATE_TEST_CASE("Transport: a batch of junk is given up after a few refusals",
                   "[mesh][transport][batch]", InMemoryHarness, ZmqCurveHarness, ZmqLeanHarness) {
  TestType h;
  h.Add("bob");
  h.AddGhost("mallory");
  h.Mesh();
  std::vector<std::string> inner(1000, std::string("\xc1"));  // a byte msgpack never uses
  inner.push_back(Wire("mallory", 5, "after the junk"));
  h.InjectRaw("mallory", "bob", BatchWire("mallory", 1, inner));
  h.InjectRaw("mallory", "bob", Wire("mallory", 6, "next frame"));
  const auto got = PumpUntil(h["bob"], [&] { return h["bob"].stats().received >= 1; });
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == "next frame");
  // 16 refusals counted one by one, then the rest of the batch once.
  CHECK(h["bob"].stats().rejected_garbage == 17);
}

TEST_CASE("ZmqTransport: a burst beyond a full queue leaves in batches, whole and in order",
          "[mesh][transport][zmq][batch]") {
  ZmqCurveHarness h;
  h.hwm = 8;  // a short queue, so the burst overflows it at once
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "hello");  // connected
  CHECK(ReceiveEventually(h["bob"]).payload == "hello");

  // Bob does not read: alice's queue, the socket buffers and then one batch
  // fill up, and only then does Send say kWouldBlock.
  const std::string filler(1000, 'x');
  const auto before = h["alice"].stats();
  int queued = 0;
  for (; queued < 1'000'000; ++queued) {
    auto sent =
        h["alice"].Send("bob", MsgType::kMembershipGossip, std::to_string(queued) + ":" + filler);
    REQUIRE(sent.ok());
    if (sent.value() == SendOutcome::kWouldBlock) break;
  }
  const auto sender = h["alice"].stats();
  CHECK(sender.sent - before.sent == static_cast<std::uint64_t>(queued));
  CHECK(sender.sent_batched > 0);
  CHECK(sender.send_would_block - before.send_would_block == 1);

  // Bob reads everything; alice hands on her waiting batch as room appears.
  std::vector<Envelope> got;
  const auto deadline = Clock::now() + kPatience;
  while (got.size() < static_cast<std::size_t>(queued)) {
    REQUIRE(Clock::now() < deadline);
    REQUIRE(h["alice"].Flush(0ms).ok());
    auto r = h["bob"].Receive(10ms);
    REQUIRE(r.ok());
    if (r.value()) got.push_back(*std::move(r).value());
  }
  auto flushed = h["alice"].Flush(kPatience);
  REQUIRE(flushed.ok());
  CHECK(flushed.value());
  for (int i = 0; i < queued; ++i) {
    REQUIRE(got[i].payload == std::to_string(i) + ":" + filler);
    if (i > 0) REQUIRE(got[i].seq == got[i - 1].seq + 1);
  }
  CHECK(h["alice"].stats().batches > 0);
  const auto receiver = h["bob"].stats();
  CHECK(receiver.received == static_cast<std::uint64_t>(queued) + 1);
  CHECK(receiver.rejected_garbage + receiver.rejected_replay == 0);
}

TEST_CASE("ZmqTransport: a peer that is not connected gets kWouldBlock, not a batch",
          "[mesh][transport][zmq][batch]") {
  ZmqCurveHarness h;
  h.hwm = 8;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  h.Remove("bob");  // gone before alice ever connected
  for (int i = 0; i < 50; ++i) {
    auto sent = h["alice"].Send("bob", MsgType::kHeartbeat, "ping");
    REQUIRE(sent.ok());
    CHECK(sent.value() == SendOutcome::kWouldBlock);
  }
  CHECK(h["alice"].stats().sent == 0);
  CHECK(h["alice"].stats().sent_batched == 0);
  auto flushed = h["alice"].Flush(0ms);
  REQUIRE(flushed.ok());
  CHECK(flushed.value());
}

// Lean members (datagrams and lazy links, as the swarmlet and the GPU peer run).
namespace {

// Sends `bytes` as one UDP datagram to the member at `tcp_endpoint` (the
// datagram socket shares the ROUTER's port).
void SendDatagram(const std::string& tcp_endpoint, const std::string& bytes) {
  const auto colon = tcp_endpoint.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(tcp_endpoint.substr(colon + 1))));
  REQUIRE(inet_pton(AF_INET, "127.0.0.1", &to.sin_addr) == 1);
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  const auto sent = sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to),
                           sizeof to);
  close(fd);
  REQUIRE(sent == static_cast<ssize_t>(bytes.size()));
}

// A datagram as DatagramChannel seals it: "SSD1" | n | sender | nonce | box
// of `envelope` from `from_secret` to `to_public`.
std::string SealedDatagram(const std::string& sender, const mesh::TransportKey& from_secret,
                           const mesh::TransportKey& to_public, const std::string& envelope) {
  std::string out = "SSD1";
  out.push_back(static_cast<char>(sender.size()));
  out += sender;
  std::array<std::uint8_t, crypto_box_NONCEBYTES> nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  out.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  std::string box(crypto_box_MACBYTES + envelope.size(), '\0');
  REQUIRE(crypto_box_easy(reinterpret_cast<std::uint8_t*>(box.data()),
                          reinterpret_cast<const std::uint8_t*>(envelope.data()), envelope.size(),
                          nonce.data(), to_public.data(), from_secret.data()) == 0);
  return out + box;
}

}  // namespace

// Everything `t` receives within `window`.
std::vector<Envelope> ReceiveFor(Transport& t, std::chrono::milliseconds window) {
  std::vector<Envelope> got;
  const auto until = Clock::now() + window;
  while (Clock::now() < until) {
    auto r = t.Receive(10ms);
    REQUIRE(r.ok());
    if (r.value()) got.push_back(*std::move(r).value());
  }
  return got;
}

TEST_CASE("ZmqTransport lean: membership messages go as datagrams, the rest opens a link",
          "[mesh][transport][zmq][datagram]") {
  ZmqLeanHarness h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  // Members that both speak datagrams hear each other at once: no link.
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "hello");
  CHECK(ReceiveEventually(h["bob"]).payload == "hello");
  SendEventually(h["bob"], "alice", MsgType::kHeartbeatAck, "hello back");
  CHECK(ReceiveEventually(h["alice"]).payload == "hello back");
  CHECK(h["alice"].stats().links_opened == 0);
  CHECK(h["bob"].stats().links_opened == 0);

  // Heard by datagram: datagrams only, also after the 2 s grace.
  std::this_thread::sleep_for(2100ms);
  const auto before = h["alice"].stats();
  const auto bob_before = h["bob"].stats();
  for (MsgType type : {MsgType::kHeartbeat, MsgType::kHeartbeatAck, MsgType::kIndirectProbe,
                       MsgType::kIndirectProbeAck, MsgType::kMembershipGossip}) {
    SendEventually(h["alice"], "bob", type, "alive");
    const Envelope got = ReceiveEventually(h["bob"]);
    CHECK(got.type == type);
    CHECK(got.sender == "alice");
  }
  CHECK(ReceiveFor(h["bob"], 100ms).empty());  // no second copy
  CHECK(h["alice"].stats().datagrams_sent - before.datagrams_sent == 5);
  CHECK(h["bob"].stats().datagrams_received - bob_before.datagrams_received == 5);
  CHECK(h["bob"].stats().received - bob_before.received == 5);

  // Anything else, and gossip too big for a datagram, goes over the link;
  // what is sent while a link is in its first handshake is not lost.
  REQUIRE(h["alice"].Send("bob", MsgType::kWorkloadCommand, "start").value() == SendOutcome::kQueued);
  const std::string big(3000, 'g');
  REQUIRE(h["alice"].Send("bob", MsgType::kMembershipGossip, big).value() == SendOutcome::kQueued);
  const std::vector<Envelope> got = ReceivePumping(h["alice"], h["bob"], 2);
  CHECK(got[0].payload == "start");
  CHECK(got[1].payload == big);
  CHECK(h["alice"].stats().datagrams_sent - before.datagrams_sent == 5);
  CHECK(h["alice"].stats().links_opened == 1);
}

TEST_CASE("ZmqTransport lean: a member without datagrams still hears and is heard",
          "[mesh][transport][zmq][datagram]") {
  ZmqLeanHarness h;
  h.Add("alice");  // lean
  const auto bob_keys = mesh::GenerateTransportKeyPair().value();
  mesh::ZmqTransportOptions options;  // an older build: no datagrams
  options.self_id = "bob";
  options.keys = bob_keys;
  options.linger = 0ms;
  auto bob = mesh::CreateZmqTransport(options);
  REQUIRE(bob.ok());
  Transport& b = **bob;
  const std::vector<mesh::AuthorizedKey> keys{{"alice", h.KeysOf("alice").public_key},
                                              {"bob", bob_keys.public_key}};
  REQUIRE(h["alice"].SetAuthorizedKeys(keys).ok());
  REQUIRE(b.SetAuthorizedKeys(keys).ok());
  REQUIRE(h["alice"].AddPeer({"bob", b.local_endpoint(), bob_keys.public_key}).ok());
  REQUIRE(b.AddPeer(h.InfoOf("alice")).ok());
  auto pass = [](Transport& from, Transport& to) { return ReceivePumping(from, to, 1)[0].payload; };
  // For 2 s alice sends bob datagrams only (he cannot hear them); then,
  // not having heard him by datagram, over the link as well. Members resend.
  const auto added = Clock::now();
  std::optional<Envelope> first;
  PumpUntil(h["alice"], [&] {
    REQUIRE(h["alice"].Send("bob", MsgType::kHeartbeat, "ping").ok());
    auto r = b.Receive(50ms);
    REQUIRE(r.ok());
    first = std::move(r).value();
    return first.has_value();
  });
  CHECK(first->payload == "ping");
  CHECK(Clock::now() - added >= 2s);
  while (b.Receive(100ms).value()) {  // the other pings that made it
  }
  for (int i = 0; i < 3; ++i) {
    SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "ping " + std::to_string(i));
    CHECK(pass(h["alice"], b) == "ping " + std::to_string(i));
    SendEventually(b, "alice", MsgType::kHeartbeatAck, "ack " + std::to_string(i));
    CHECK(pass(b, h["alice"]) == "ack " + std::to_string(i));
  }
  CHECK(h["alice"].stats().datagrams_received == 0);
}

TEST_CASE("ZmqTransport lean: an idle link closes and the next send opens it again",
          "[mesh][transport][zmq][datagram]") {
  ZmqLeanHarness h;
  h.idle_link_close = 200ms;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  REQUIRE(h["alice"].Send("bob", MsgType::kWorkloadStatus, "one").value() == SendOutcome::kQueued);
  ReceivePumping(h["alice"], h["bob"], 1);
  PumpUntil(h["alice"], [&] { return h["alice"].stats().links_closed_idle == 1; });
  REQUIRE(h["alice"].Send("bob", MsgType::kWorkloadStatus, "two").value() == SendOutcome::kQueued);
  CHECK(ReceivePumping(h["alice"], h["bob"], 1)[0].payload == "two");
  CHECK(h["alice"].stats().links_opened == 2);
  CHECK(h["bob"].stats().rejected_replay == 0);
}

TEST_CASE("ZmqTransport lean: forged, junk and replayed datagrams are rejected",
          "[mesh][transport][zmq][datagram]") {
  ZmqLeanHarness h;
  h.Add("alice");
  h.Add("bob");
  h.Add("eve");  // a key pair bob does not authorize
  std::vector<mesh::AuthorizedKey> keys;
  for (const auto& k : h.AllKeys()) {
    if (k.id != "eve") keys.push_back(k);
  }
  REQUIRE(h["bob"].SetAuthorizedKeys(keys).ok());
  const std::string bob_at = h.InfoOf("bob").endpoint;
  const auto& bob_key = h.KeysOf("bob").public_key;
  auto drain = [&] {
    std::vector<Envelope> got;
    for (int i = 0; i < 20; ++i) {
      auto r = h["bob"].Receive(10ms);
      REQUIRE(r.ok());
      if (r.value()) got.push_back(*std::move(r).value());
    }
    return got;
  };

  // eve speaks as alice: sealed with eve's key, it does not open as alice's.
  SendDatagram(bob_at, SealedDatagram("alice", h.KeysOf("eve").secret_key, bob_key, Wire("alice", 5)));
  // eve as herself: not authorized.
  SendDatagram(bob_at, SealedDatagram("eve", h.KeysOf("eve").secret_key, bob_key, Wire("eve", 5)));
  // junk, a plain datagram to a sealed member, an empty id, a cut box.
  SendDatagram(bob_at, "hello");
  SendDatagram(bob_at, std::string("SSD0\x05") + "alice" + Wire("alice", 6));
  SendDatagram(bob_at, std::string("SSD1\x00", 5) + std::string(60, 'x'));
  SendDatagram(bob_at, std::string("SSD1\x05") + "alice" + std::string(30, 'x'));
  // alice's own key, but the envelope names bob as sender.
  SendDatagram(bob_at, SealedDatagram("alice", h.KeysOf("alice").secret_key, bob_key, Wire("bob", 7)));
  CHECK(drain().empty());
  const auto stats = h["bob"].stats();
  CHECK(stats.rejected_unauthorized == 2);
  CHECK(stats.rejected_garbage == 4);
  CHECK(stats.rejected_spoofed == 1);
  CHECK(stats.received == 0);

  // A genuine one is accepted once; sent again, it is a replay.
  const std::string genuine =
      SealedDatagram("alice", h.KeysOf("alice").secret_key, bob_key, Wire("alice", 9, "real"));
  SendDatagram(bob_at, genuine);
  SendDatagram(bob_at, genuine);
  const auto got = drain();
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == "real");
  CHECK(h["bob"].stats().rejected_replay == 1);
}

TEST_CASE("ZmqTransport lean: without CURVE datagrams are plain and still bound to the allow-list",
          "[mesh][transport][zmq][datagram]") {
  ZmqLeanPlainHarness h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "plain");
  CHECK(ReceiveEventually(h["bob"]).payload == "plain");
  CHECK(h["bob"].stats().datagrams_received == 1);
  SendDatagram(h.InfoOf("bob").endpoint, std::string("SSD0\x07") + "mallory" + Wire("mallory", 3));
  auto r = h["bob"].Receive(50ms);
  REQUIRE(r.ok());
  CHECK_FALSE(r.value().has_value());
  CHECK(h["bob"].stats().rejected_unauthorized == 1);
}

TEST_CASE("ZmqTransport lean: a UDP port taken at an explicit address is a clear error",
          "[mesh][transport][zmq][datagram]") {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, "127.0.0.1", &at.sin_addr) == 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0);
  socklen_t size = sizeof at;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&at), &size) == 0);
  const int port = ntohs(at.sin_port);
  mesh::ZmqTransportOptions options;
  options.self_id = "alice";
  options.keys = mesh::GenerateTransportKeyPair().value();
  options.bind_endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  options.datagrams = true;
  auto t = mesh::CreateZmqTransport(options);
  close(fd);
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().code() == StatusCode::kAlreadyExists);
  CHECK(t.status().ToString().find("bind udp 127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("ZmqTransport lean: SendMore then Send to one peer share a datagram, in order",
          "[mesh][transport][zmq][datagram]") {
  ZmqLeanHarness h;
  h.Add("alice");
  h.Add("bob");
  h.Add("carol");
  h.Mesh();
  auto stats = [&](const char* id) { return h[id].stats(); };
  const auto before = stats("alice");
  const auto bob_before = stats("bob");
  // A probe and the rumors piggybacked on it: one datagram, two envelopes.
  REQUIRE(h["alice"].SendMore("bob", MsgType::kHeartbeatAck, "ack").value() == SendOutcome::kQueued);
  REQUIRE(h["alice"].Send("bob", MsgType::kMembershipGossip, "rumors").value() == SendOutcome::kQueued);
  auto got = ReceiveFor(h["bob"], 200ms);
  REQUIRE(got.size() == 2);
  CHECK(got[0].type == MsgType::kHeartbeatAck);
  CHECK(got[0].payload == "ack");
  CHECK(got[1].type == MsgType::kMembershipGossip);
  CHECK(got[1].payload == "rumors");
  CHECK(got[0].seq < got[1].seq);
  CHECK(stats("alice").datagrams_sent - before.datagrams_sent == 1);
  CHECK(stats("bob").datagrams_received - bob_before.datagrams_received == 1);
  CHECK(stats("bob").received - bob_before.received == 2);

  // What SendMore() left waiting goes with a send to another peer...
  REQUIRE(h["alice"].SendMore("bob", MsgType::kHeartbeat, "held").value() == SendOutcome::kQueued);
  REQUIRE(h["alice"].Send("carol", MsgType::kHeartbeat, "to carol").value() == SendOutcome::kQueued);
  got = ReceiveFor(h["bob"], 100ms);
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == "held");
  got = ReceiveFor(h["carol"], 100ms);
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == "to carol");
  // ...or at the sender's next Receive(), not before.
  REQUIRE(h["alice"].SendMore("bob", MsgType::kHeartbeat, "until receive").value() ==
          SendOutcome::kQueued);
  CHECK(ReceiveFor(h["bob"], 50ms).empty());
  REQUIRE(h["alice"].Receive(0ms).ok());
  got = ReceiveFor(h["bob"], 100ms);
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == "until receive");
  CHECK(stats("alice").datagrams_sent - before.datagrams_sent == 4);

  // Too big together for one datagram: two, in order.
  const std::string a(700, 'a'), b(700, 'b');
  REQUIRE(h["alice"].SendMore("bob", MsgType::kMembershipGossip, a).value() == SendOutcome::kQueued);
  REQUIRE(h["alice"].Send("bob", MsgType::kMembershipGossip, b).value() == SendOutcome::kQueued);
  got = ReceiveFor(h["bob"], 100ms);
  REQUIRE(got.size() == 2);
  CHECK(got[0].payload == a);
  CHECK(got[1].payload == b);
  CHECK(stats("alice").datagrams_sent - before.datagrams_sent == 6);
  CHECK(stats("alice").links_opened == 0);
}

TEST_CASE("ZmqTransport lean: a member that sends us membership messages over its link gets ours there too",
          "[mesh][transport][zmq][datagram]") {
  ZmqLeanHarness h;
  h.Add("alice");
  h.Add("bob");
  h.Mesh();
  // bob knows alice by name, so bob cannot send her datagrams: his membership
  // messages take the link, as those of a member that does not hear her
  // datagrams do once its grace has run out.
  mesh::PeerInfo alice = h.InfoOf("alice");
  alice.endpoint = "tcp://localhost:" + alice.endpoint.substr(alice.endpoint.rfind(':') + 1);
  REQUIRE(h["bob"].AddPeer(alice).ok());
  // Within the 2 s grace alice sends bob datagrams only...
  SendEventually(h["alice"], "bob", MsgType::kHeartbeat, "datagram only");
  auto got = ReceiveFor(h["bob"], 100ms);
  REQUIRE(got.size() == 1);
  CHECK(h["alice"].stats().links_opened == 0);
  // ...until a membership message of bob's comes over his link: from then on
  // hers go both ways (a copy each; the detector takes the second as a repeat).
  REQUIRE(h["bob"].Send("alice", MsgType::kHeartbeatAck, "by link").ok());
  CHECK(ReceivePumping(h["bob"], h["alice"], 1)[0].payload == "by link");
  CHECK(h["alice"].stats().datagrams_received == 0);
  REQUIRE(h["alice"].Send("bob", MsgType::kHeartbeat, "both ways").ok());
  const std::vector<Envelope> at_bob = ReceivePumping(h["alice"], h["bob"], 2);
  CHECK(at_bob[0].payload == "both ways");
  CHECK(at_bob[1].payload == "both ways");
  CHECK(at_bob[0].seq == at_bob[1].seq);
  CHECK(h["alice"].stats().links_opened == 1);
}
