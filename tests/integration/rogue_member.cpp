// What a compromised member or a stranger could send, for the control-plane
// safety tests (issue 17). Test-only: never installed.
//   rogue_member alive-rumor STATE_DIR SUBJECT_NAME
//       as the member whose identity is in STATE_DIR (its swarmlet stopped),
//       tell the GPU peer that SUBJECT is alive at a huge incarnation
//   rogue_member forged-decision STATE_DIR TARGET_NAME SUBJECT_NAME
//       send TARGET a decision "SUBJECT failed" carrying only this member's vote
//   rogue_member join-flood IP BOOTSTRAP_PORT RATE SECONDS SOURCES
//       bogus signed join requests (random keys, a wrong token), RATE per
//       second in all, from SOURCES loopback addresses 127.0.0.2...
// Prints one summary line; exit 0 when everything was sent.
#include <zmq.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "consensus/codec.h"
#include "consensus/quorum.h"
#include "mesh/atomic_file.h"
#include "mesh/crypto.h"
#include "mesh/envelope.h"
#include "mesh/identity_store.h"
#include "mesh/member_list.h"
#include "mesh/membership_codec.h"
#include "mesh/mesh_member.h"
#include "mesh/zmq_transport.h"
#include "swarmlet/join_protocol.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& why) {
  std::cerr << "rogue_member: " << why << "\n";
  std::exit(1);
}

template <typename T>
T Must(mesh::Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().message());
  return std::move(*r);
}

struct Member {
  mesh::NodeIdentity identity;
  mesh::MemberList list;
  std::unique_ptr<mesh::MeshMember> mesh;

  std::string IdOf(const std::string& name) const {
    for (const auto& m : list.members) {
      if (m.name == name) return m.node_id;
    }
    Die("no member named " + name);
  }
  std::string Primary() const {
    for (const auto& m : list.members) {
      if (m.role == mesh::NodeRole::kPrimary) return m.node_id;
    }
    Die("no GPU peer in the member list");
  }
  // Keeps the connections served for a while so the messages leave.
  void Pump(std::chrono::milliseconds how_long) {
    const auto until = Clock::now() + how_long;
    while (Clock::now() < until) (void)mesh->Poll(std::chrono::milliseconds(20));
  }
};

Member Become(const std::string& state_dir) {
  Member m;
  m.identity = Must(mesh::LoadNodeIdentity(state_dir), "identity");
  auto bytes = Must(mesh::ReadFileLimited(state_dir + "/members.list", mesh::kMaxMemberListBytes), "members");
  m.list = Must(mesh::DecodeMemberList(bytes), "member list");
  mesh::ZmqTransportOptions t;
  t.self_id = m.identity.certificate.node_id;
  t.bind_endpoint = "tcp://127.0.0.1:*";
  t.keys.public_key = m.identity.keys.curve.public_key;
  std::copy(m.identity.keys.curve.secret_key.data(), m.identity.keys.curve.secret_key.data() + 32,
            t.keys.secret_key.begin());
  auto transport = Must(mesh::CreateZmqTransport(std::move(t)), "transport");
  m.mesh = Must(mesh::MeshMember::Create(std::move(transport), m.identity.ca, mesh::FailureDetectorConfig::Lan(),
                                         mesh::SystemClock::Get()),
                "mesh");
  if (auto st = m.mesh->ApplyMemberList(m.list); !st.ok()) Die("member list: " + st.message());
  m.Pump(std::chrono::milliseconds(500));  // connections up
  return m;
}

int AliveRumor(const std::string& state_dir, const std::string& subject) {
  Member m = Become(state_dir);
  mesh::GossipBody g;
  g.rumors.push_back({mesh::RumorKind::kAlive, m.IdOf(subject), 1ull << 40, m.IdOf(subject)});
  const std::string bytes = Must(mesh::EncodeGossip(g), "gossip");
  for (int i = 0; i < 5; ++i) {
    if (auto st = m.mesh->Send(m.Primary(), mesh::MsgType::kMembershipGossip, bytes); !st.ok()) {
      Die("send: " + st.message());
    }
    m.Pump(std::chrono::milliseconds(200));
  }
  std::cout << "sent 5 forged alive rumors about " << subject << std::endl;
  return 0;
}

int ForgedDecision(const std::string& state_dir, const std::string& target, const std::string& subject) {
  Member m = Become(state_dir);
  consensus::DecisionNotice n;
  n.voters = {m.identity.certificate.node_id};
  n.decision.proposal.kind = consensus::ProposalKind::kNodeFailed;
  n.decision.proposal.term = 1;
  n.decision.proposal.subject = m.IdOf(subject);
  n.decision.proposal.proposer = m.identity.certificate.node_id;
  n.decision.proposal.payload_hash = consensus::VoterSetHash(n.voters);
  n.decision.votes.push_back(Must(consensus::MakeSignedVote(n.decision.proposal, m.identity.certificate.node_id,
                                                            consensus::Verdict::kYes, m.identity.keys.signing.secret_key),
                                  "vote"));
  const std::string bytes = Must(consensus::EncodeDecisionNotice(n), "notice");
  if (auto st = m.mesh->Send(m.IdOf(target), mesh::MsgType::kDecision, bytes); !st.ok()) Die("send: " + st.message());
  m.Pump(std::chrono::milliseconds(1000));
  std::cout << "sent a forged decision about " << subject << " to " << target << std::endl;
  return 0;
}

int JoinFlood(const std::string& ip, int bootstrap_port, int rate, int seconds, int sources) {
  const auto info = Must(swarmlet::FetchBootstrap(ip, bootstrap_port, std::chrono::seconds(5)), "bootstrap");
  void* ctx = zmq_ctx_new();
  std::vector<void*> socks;
  const auto keys = Must(mesh::GenerateNodeKeys(), "keys");
  for (int i = 0; i < sources; ++i) {
    void* s = zmq_socket(ctx, ZMQ_DEALER);
    const int zero = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, info.keys.curve_key.data(), 32);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, keys.curve.public_key.data(), 32);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys.curve.secret_key.data(), 32);
    const std::string ep = "tcp://127.0.0." + std::to_string(2 + i) + ":0;" + ip + ":" + std::to_string(info.join_port);
    if (zmq_connect(s, ep.c_str()) != 0) Die("connect " + ep + ": " + zmq_strerror(zmq_errno()));
    socks.push_back(s);
  }
  // A few distinct signed requests, resent with fresh nonces is not needed:
  // the token is wrong, so the GPU peer refuses before the replay cache.
  std::vector<std::string> frames;
  for (int i = 0; i < 16; ++i) {
    swarmlet::JoinRequest r;
    r.token_secret = std::string(43, 'A' + static_cast<char>(i));
    (void)mesh::RandomBytes(r.nonce);
    r.sent_ns = mesh::SystemClock::Get().WallNs();
    r.name = "flood-" + std::to_string(i);
    const auto k = Must(mesh::GenerateNodeKeys(), "keys");
    r.signing_key = k.signing.public_key;
    r.curve_key = k.curve.public_key;
    r.mesh_endpoint = "tcp://127.0.0.1:9";
    r.signature = Must(mesh::Sign(k.signing.secret_key, Must(swarmlet::JoinRequestSignedBytes(r), "bytes")), "sign");
    mesh::Envelope env;
    env.type = mesh::MsgType::kJoinRequest;
    env.sender = r.name;
    env.seq = 1;
    env.sent_ns = r.sent_ns;
    env.payload = Must(swarmlet::EncodeJoinRequest(r), "encode");
    frames.push_back(Must(mesh::Encode(env), "envelope"));
  }
  std::map<std::string, int> answers;
  long sent = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  char buf[65536];
  while (Clock::now() < end) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    while (sent < static_cast<long>(elapsed * rate)) {
      void* s = socks[static_cast<std::size_t>(sent) % socks.size()];
      const std::string& f = frames[static_cast<std::size_t>(sent) % frames.size()];
      if (zmq_send(s, f.data(), f.size(), ZMQ_DONTWAIT) >= 0) ++sent; else break;
    }
    for (void* s : socks) {
      for (;;) {
        const int n = zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT);
        if (n < 0) break;
        auto env = mesh::Decode({buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf))});
        auto resp = env.ok() ? swarmlet::DecodeJoinResponse(env->payload) : mesh::Result<swarmlet::JoinResponse>(env.status());
        ++answers[resp.ok() ? resp->error.substr(0, resp->error.find(' ', 12)) : "undecodable"];
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  long answered = 0;
  for (const auto& [k, v] : answers) answered += v;
  std::cout << "flood: sent " << sent << " join requests in " << seconds << " s from " << sources
            << " sources; answered " << answered;
  for (const auto& [k, v] : answers) std::cout << "; \"" << k << "\": " << v;
  std::cout << std::endl;
  for (void* s : socks) zmq_close(s);
  zmq_ctx_term(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 3 && a[0] == "alive-rumor") return AliveRumor(a[1], a[2]);
  if (a.size() == 4 && a[0] == "forged-decision") return ForgedDecision(a[1], a[2], a[3]);
  if (a.size() == 6 && a[0] == "join-flood") {
    return JoinFlood(a[1], std::atoi(a[2].c_str()), std::atoi(a[3].c_str()), std::atoi(a[4].c_str()),
                     std::atoi(a[5].c_str()));
  }
  std::cerr << "usage: rogue_member alive-rumor STATE_DIR SUBJECT | forged-decision STATE_DIR TARGET SUBJECT |"
               " join-flood IP BOOTSTRAP_PORT RATE SECONDS SOURCES\n";
  return 2;
}
