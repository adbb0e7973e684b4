// Writes the seed corpora for the fuzz targets: one directory per target
// (tests/fuzz/CMakeLists.txt lists them) with valid encodings of everything it
// decodes. Targets with several decoders get the selector byte first
// (fuzz_support.h). Usage:
//   fuzz_seeds <dir>   (creates <dir>/<target> for every target)
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

#include "consensus/codec.h"
#include "fuzz_support.h"
#include "mesh/atomic_file.h"
#include "mesh/certificate_authority.h"
#include "mesh/envelope.h"
#include "mesh/identity_store.h"
#include "mesh/member_list_delta.h"
#include "mesh/membership_codec.h"
#include "swarmlet/cert_renewal.h"
#include "swarmlet/image_protocol.h"
#include "swarmlet/join_protocol.h"
#include "swarmlet/node_health.h"
#include "swarmlet/node_notice.h"
#include "swarmlet/workload_protocol.h"

namespace {

std::string g_dir;

void Put(const std::string& target, const std::string& name, const mesh::Result<std::string>& bytes) {
  const std::string dir = g_dir + "/" + target;
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/" + name;
  if (!bytes.ok() || !mesh::WriteFileAtomic(path, *bytes, 0644).ok()) {
    std::fprintf(stderr, "cannot write %s: %s\n", path.c_str(),
                 bytes.ok() ? "write failed" : bytes.status().message().c_str());
    std::exit(1);
  }
}

// A seed for a target that dispatches on its first byte.
void PutSelected(const std::string& target, const std::string& name, char selector,
                 const mesh::Result<std::string>& bytes) {
  if (!bytes.ok()) return Put(target, name, bytes);
  Put(target, name, std::string(1, selector) + *bytes);
}

constexpr std::int64_t kNow = 1'795'687'200'000'000'000;

mesh::Envelope MakeEnvelope(mesh::MsgType type, std::string sender, std::uint64_t seq,
                            std::string payload) {
  mesh::Envelope e;
  e.type = type;
  e.sender = std::move(sender);
  e.seq = seq;
  e.sent_ns = kNow;
  e.payload = std::move(payload);
  return e;
}

void Envelopes() {
  for (std::uint16_t t = 1; t <= mesh::kLastMsgType; ++t) {
    Put("envelope", "type-" + std::to_string(t),
        mesh::Encode(MakeEnvelope(static_cast<mesh::MsgType>(t), "rpi-" + std::to_string(t), t,
                                  std::string(t * 3, 'p'))));
  }
}

void Membership() {
  PutSelected("membership", "heartbeat", 0, mesh::EncodeHeartbeat({0x1234'5678}));
  PutSelected("membership", "heartbeat-ack", 1, mesh::EncodeHeartbeatAck({0x1234'5678}));
  PutSelected("membership", "indirect-probe", 2, mesh::EncodeIndirectProbe({7, "n-rpi-2"}));
  PutSelected("membership", "indirect-probe-ack", 3,
              mesh::EncodeIndirectProbeAck({7, "n-rpi-2", true}));
  mesh::GossipBody gossip;
  gossip.rumors = {{mesh::RumorKind::kAlive, "n-rpi-1", 3, "n-rpi-1"},
                   {mesh::RumorKind::kSuspect, "n-rpi-2", 1, "n-rpi-3"},
                   {mesh::RumorKind::kConfirm, "n-rpi-4", 9, "n-primary"}};
  PutSelected("membership", "gossip", 4, mesh::EncodeGossip(gossip));
}

void Consensus() {
  consensus::Proposal p;
  p.kind = consensus::ProposalKind::kPlacement;
  p.term = 12;
  p.subject = "0123456789ab";
  p.payload_hash.fill(0x5a);
  p.proposer = "n-primary";
  PutSelected("consensus", "proposal", 0, consensus::EncodeProposal(p));

  consensus::Decision d;
  d.proposal = p;
  d.outcome = consensus::Outcome::kYes;
  for (int i = 1; i <= 3; ++i) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(static_cast<std::uint8_t>(i));
    consensus::Vote v;
    v.proposal_id = consensus::ComputeProposalId(p);
    v.term = p.term;
    v.voter = "n-rpi-" + std::to_string(i);
    v.verdict = consensus::Verdict::kYes;
    if (!consensus::SignVote(v, consensus::KeyPairFromSeed(seed).secret_key).ok()) std::exit(1);
    d.votes.push_back(v);
  }
  PutSelected("consensus", "vote", 1, consensus::EncodeVote(d.votes[0]));
  PutSelected("consensus", "decision-yes", 2, consensus::EncodeDecision(d));
  d.outcome = consensus::Outcome::kNo;
  d.votes[1].verdict = consensus::Verdict::kNo;
  d.votes.resize(2);
  PutSelected("consensus", "decision-no", 2, consensus::EncodeDecision(d));

  // A decision notice as the GPU peer broadcasts it: node_failed, its voters
  // bound into the proposal.
  consensus::DecisionNotice n;
  n.voters = {"n-rpi-1", "n-rpi-2", "n-rpi-3"};
  n.decision.proposal = {consensus::ProposalKind::kNodeFailed, 13, "n-rpi-4", consensus::VoterSetHash(n.voters),
                         "n-rpi-1"};
  n.decision.outcome = consensus::Outcome::kYes;
  for (int i = 1; i <= 3; ++i) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(static_cast<std::uint8_t>(i));
    consensus::Vote v;
    v.proposal_id = consensus::ComputeProposalId(n.decision.proposal);
    v.term = n.decision.proposal.term;
    v.voter = "n-rpi-" + std::to_string(i);
    v.verdict = consensus::Verdict::kYes;
    if (!consensus::SignVote(v, consensus::KeyPairFromSeed(seed).secret_key).ok()) std::exit(1);
    n.decision.votes.push_back(v);
  }
  PutSelected("consensus", "decision-notice", 3, consensus::EncodeDecisionNotice(n));
}

// Frames as the inbound filter sees them; selector 0 is the connection of "rpi-1".
void Transport() {
  auto one = mesh::Encode(MakeEnvelope(mesh::MsgType::kHeartbeat, "rpi-1", 1, "\x91\x07"));
  PutSelected("transport", "single", 0, one);
  std::string batch;
  for (std::uint64_t seq = 5; seq <= 7; ++seq) {
    auto inner = mesh::Encode(MakeEnvelope(mesh::MsgType::kWorkloadStatus, "rpi-1", seq,
                                           std::string(seq, 'w')));
    if (!inner.ok()) std::exit(1);
    const auto n = static_cast<std::uint32_t>(inner->size());
    batch += {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
              static_cast<char>(n)};
    batch += *inner;
  }
  PutSelected("transport", "batch", 0,
              mesh::Encode(MakeEnvelope(mesh::MsgType::kBatch, "rpi-1", 4, batch)));
  // Datagrams: selector 3 sealed from "rpi-1" (fuzz::DatagramKeys), 4 plain.
  if (!one.ok()) std::exit(1);
  const mesh::TransportKeyPair member = fuzz::DatagramKeys(1), rpi1 = fuzz::DatagramKeys(2);
  std::string sealed = "SSD1\x05rpi-1";
  unsigned char nonce[crypto_box_NONCEBYTES] = {9};
  sealed.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  std::string box(crypto_box_MACBYTES + one->size(), '\0');
  if (crypto_box_easy(reinterpret_cast<unsigned char*>(box.data()),
                      reinterpret_cast<const unsigned char*>(one->data()), one->size(), nonce,
                      member.public_key.data(), rpi1.secret_key.data()) != 0) {
    std::exit(1);
  }
  PutSelected("transport", "datagram-sealed", 3, sealed + box);
  PutSelected("transport", "datagram-plain", 4, "SSD0\x05rpi-1" + *one);
}

void Join(const mesh::CertificateAuthority& ca, const mesh::NodeCertificate& cert,
          const mesh::MemberList& list) {
  swarmlet::JoinRequest q;
  q.token_secret = std::string(32, 'q');
  q.nonce.fill(7);
  q.sent_ns = kNow;
  q.name = "rpi-1";
  q.labels = {{"zone", "a"}, {"arch", "arm64"}};
  q.signing_key = cert.signing_key;
  q.curve_key = cert.curve_key;
  q.mesh_endpoint = "tcp://10.0.0.11:7946";
  q.profile.arch = "aarch64";
  q.profile.model = "Raspberry Pi 4 Model B Rev 1.4";
  q.profile.cores = 4;
  q.profile.memory_mb = 3793;
  q.profile.disk_total_mb = 29'000;
  q.profile.disk_free_mb = 21'000;
  q.profile.cgroup_mode = swarmlet::CgroupMode::kUnified;
  q.profile.memory_controller = true;
  q.signature.fill(3);
  PutSelected("join", "request", 0, swarmlet::EncodeJoinRequest(q));

  swarmlet::JoinResponse accepted;
  accepted.accepted = true;
  accepted.cluster_id = ca.FingerprintHex().substr(0, 16);
  accepted.certificate = cert;
  accepted.members = list;
  PutSelected("join", "response-accepted", 1, swarmlet::EncodeJoinResponse(accepted));
  swarmlet::JoinResponse refused;
  refused.error = std::string(swarmlet::kJoinClockRefusal);
  PutSelected("join", "response-refused", 1, swarmlet::EncodeJoinResponse(refused));

  const swarmlet::BootstrapInfo info{ca.public_keys(), 7947, 7946};
  PutSelected("join", "bootstrap-line", 2, swarmlet::EncodeBootstrapLine(info));
  std::string txt;
  for (const auto& [key, value] : swarmlet::BootstrapTxt(info)) txt += key + "=" + value + "\n";
  PutSelected("join", "txt-records", 3, txt);
}

void Workload() {
  swarmlet::WorkloadCommand c;
  c.request_id = 0x1234'5678'9abc'def0ull;
  c.op = swarmlet::WorkloadOp::kStart;
  c.workload_id = "0123456789ab";
  c.spec.name = "web";
  c.spec.image = "alpine:latest";
  c.spec.argv = {"/bin/sh", "-c", "echo hello; exit 3"};
  c.spec.env = {"A=1", "B=two words"};
  c.spec.cpu_millis = 500;
  c.spec.memory_bytes = 128ll << 20;
  c.spec.pids_max = 64;
  c.spec.restart = "on-failure:5";
  c.spec.image_digest = "sha256:" + std::string(64, 'a');
  c.spec.image_bytes = 7'400'000;
  c.spec.cwd = "/home/app";
  c.spec.uid = 1000;
  c.spec.gid = 1000;
  c.spec.groups = {2000, 65534};
  c.spec.stop_signal = 2;
  PutSelected("workload", "command-start", 0, swarmlet::EncodeWorkloadCommand(c));
  swarmlet::WorkloadCommand logs;
  logs.request_id = 9;
  logs.op = swarmlet::WorkloadOp::kLogs;
  logs.workload_id = "0123456789ab";
  logs.log_bytes = 4096;
  PutSelected("workload", "command-logs", 0, swarmlet::EncodeWorkloadCommand(logs));

  swarmlet::WorkloadReport r;
  r.workload_id = "0123456789ab";
  r.state = swarmlet::WorkloadRunState::kExited;
  r.pid = 4242;
  r.exit_code = 3;
  r.oom_killed = true;
  r.restarts = 2;
  r.started_ns = kNow;
  r.cpu_percent = 12.5;
  r.memory_bytes = 5'000'000;
  r.error = "exec /bin/x: No such file or directory";
  swarmlet::WorkloadStatusMsg s;
  s.request_id = 77;
  s.full = true;
  s.workloads = {r, r};
  s.workloads[1].workload_id = "ba9876543210";
  s.workloads[1].state = swarmlet::WorkloadRunState::kPulling;
  s.workloads[1].pulled_bytes = 3'100'000;
  s.workloads[1].image_bytes = 7'400'000;
  s.logs = "hello\n";
  s.images = {"sha256:" + std::string(64, 'b')};
  PutSelected("workload", "status-full", 1, swarmlet::EncodeWorkloadStatus(s));
}

void Image() {
  const std::string digest = "sha256:" + std::string(64, 'c');
  PutSelected("image", "fetch", 0, swarmlet::EncodeImageFetch({3, digest, 1 << 20, 64 * 1024}));
  PutSelected("image", "chunk", 1,
              swarmlet::EncodeImageChunk({3, digest, 1 << 20, 7'400'000, "hsqs-bytes", ""}));
  PutSelected("image", "chunk-error", 1,
              swarmlet::EncodeImageChunk({4, digest, 0, 0, "", "unknown image"}));
}

void NodeMessages() {
  PutSelected("node_message", "health", 0,
              swarmlet::EncodeNodeHealth({kNow, 81'500, 0x50005u, true}));
  PutSelected("node_message", "health-bare", 0,
              swarmlet::EncodeNodeHealth({kNow, std::nullopt, std::nullopt, false}));
  PutSelected("node_message", "notice-restarting", 1,
              swarmlet::EncodeNodeNotice(swarmlet::NodeNotice::kRestarting));
  PutSelected("node_message", "notice-leaving", 1,
              swarmlet::EncodeNodeNotice(swarmlet::NodeNotice::kLeaving));
}

// Request heads as the metrics server hands them over (up to the blank line).
void MetricsHttp() {
  Put("metrics_http", "get", std::string("GET /metrics HTTP/1.1\r\nHost: rpi-1:9100\r\n"
                                         "Accept: text/plain;version=0.0.4\r\n"));
  Put("metrics_http", "head-query", std::string("HEAD /metrics?x=1 HTTP/1.0\r\n"));
  Put("metrics_http", "post", std::string("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  ::mkdir(g_dir.c_str(), 0755);

  Envelopes();
  Membership();
  Consensus();
  Transport();
  Workload();
  Image();
  NodeMessages();
  MetricsHttp();

  auto ca = mesh::CertificateAuthority::Create();
  auto keys = mesh::GenerateNodeKeys();
  if (!ca.ok() || !keys.ok()) return 1;
  mesh::NodeCertificate cert;
  cert.node_id = "n-rpi-1";
  cert.name = "rpi-1";
  cert.labels = {{"arch", "arm64"}, {"zone", "shelf-2"}};
  cert.signing_key = keys->signing.public_key;
  cert.curve_key = keys->curve.public_key;
  cert.not_before_ns = kNow;
  cert.not_after_ns = kNow + 86'400'000'000'000;
  if (!ca->SignCertificate(cert).ok()) return 1;
  Put("identity", "certificate", mesh::EncodeCertificate(cert));
  PutSelected("node_message", "cert-renew", 2, swarmlet::EncodeCertRenew({cert.not_after_ns}));
  PutSelected("node_message", "cert-renewed", 3, swarmlet::EncodeCertRenewed({"", cert}));
  PutSelected("node_message", "cert-renew-refused", 3,
              swarmlet::EncodeCertRenewed({"node rpi-1 was removed from the cluster", std::nullopt}));

  mesh::MemberList list;
  list.epoch = 3;
  list.issued_ns = cert.not_before_ns;
  list.members.push_back(mesh::MemberFromCertificate(cert, "tcp://10.0.0.2:7946"));
  mesh::Member primary{"n-primary",
                       "primary-gpu",
                       mesh::NodeRole::kPrimary,
                       ca->public_keys().signing_key,
                       ca->public_keys().curve_key,
                       "tcp://[fd00::1]:7946"};
  list.members.push_back(primary);
  if (!ca->SignMemberList(list).ok()) return 1;
  Put("identity", "member-list", mesh::EncodeMemberList(list));
  // The next epoch: one member joined, one changed its endpoint.
  mesh::MemberList next = list;
  next.epoch = 4;
  next.members[0].endpoint = "tcp://10.0.0.3:7946";
  next.members.push_back({"n-rpi-9", "rpi-9", mesh::NodeRole::kWorker, cert.signing_key,
                          ca->public_keys().signing_key, "tcp://10.0.0.9:7946"});
  if (!ca->SignMemberList(next).ok()) return 1;
  auto delta = mesh::MakeMemberListDelta(list, next);
  if (!delta.ok()) return 1;
  PutSelected("membership", "member-list-delta", 5, mesh::EncodeMemberListDelta(*delta));
  PutSelected("membership", "member-list-request", 6, mesh::EncodeMemberListRequest({3, true}));

  mesh::NodeIdentity id{*keys, cert, ca->public_keys()};
  Put("identity", "node-identity", mesh::EncodeNodeIdentity(id));
  Put("identity", "ca-identity", mesh::EncodeCaIdentity(*ca));

  Join(*ca, cert, list);
  return 0;
}
