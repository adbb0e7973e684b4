#include "swarmlet/agent.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <iostream>
#include <msgpack.hpp>
#include <optional>
#include <set>

#include "consensus/codec.h"
#include "consensus/failure_witness.h"
#include "consensus/types.h"
#include "mesh/atomic_file.h"
#include "mesh/crypto.h"
#include "mesh/identity_store.h"
#include "mesh/member_list_delta.h"
#include "mesh/mesh_member.h"
#include "mesh/timing_log.h"
#include "mesh/zmq_transport.h"
#include "swarmlet/discovery.h"
#include "swarmlet/hwprofile.h"
#include "swarmlet/join_protocol.h"
#include "swarmlet/join_token.h"
#include "swarmlet/metrics.h"
#include "swarmlet/metrics_http.h"
#include "swarmlet/node_notice.h"
#include "swarmlet/node_health.h"
#include "swarmlet/workload_host.h"
#include "swarmlet/workload_protocol.h"
#include "node_lifecycle.h"

namespace swarmlet {
namespace {

using mesh::Result;
using mesh::Status;
using Ms = std::chrono::duration<double, std::milli>;

constexpr auto kExchangeTimeout = std::chrono::milliseconds(10'000);
constexpr auto kMeshJoinTimeout = std::chrono::seconds(10);


// The local address the kernel would use to reach `dest_ip` (no packet is sent).
Result<std::string> RouteSourceIp(const std::string& dest_ip) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(9);
  inet_pton(AF_INET, dest_ip.c_str(), &dst.sin_addr);
  sockaddr_in src{};
  socklen_t len = sizeof src;
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&src), &len) == 0;
  const int err = errno;
  close(fd);
  if (!ok) return Status::Unavailable("no route to the GPU peer at " + dest_ip, strerror(err));
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &src.sin_addr, buf, sizeof buf);
  return std::string(buf);
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "swarmlet";
  std::string name(buf);
  return name.substr(0, name.find('.'));
}

Status SaveMembers(const std::string& state_dir, const mesh::MemberList& list) {
  auto bytes = mesh::EncodeMemberList(list);
  if (!bytes.ok()) return bytes.status();
  return mesh::WriteFileAtomic(state_dir + "/" + kMembersFile, *bytes, 0600);
}

Result<mesh::MemberList> LoadMembers(const std::string& state_dir, const mesh::CaPublicKeys& ca) {
  const std::string path = state_dir + "/" + kMembersFile;
  auto bytes = mesh::ReadFileLimited(path, mesh::kMaxMemberListBytes);
  if (!bytes.ok()) return bytes.status();
  auto list = mesh::DecodeMemberList(*bytes);
  if (!list.ok()) return Status::Corrupt(path, list.status().message());
  MESH_RETURN_IF_ERROR(mesh::VerifyMemberList(ca, *list));
  return list;
}

// How this node watches its peers (--membership).
//   swim (the default, issue 20): the GPU peer (the list's primary) is the
//     anchor, heard and answered every 100 ms; one other member is probed
//     every 500 ms in a shuffled round-robin order, so the idle cost does not
//     grow with the cluster. Failures are decided from the GPU peer's own
//     heartbeats and from voters that probe the subject when asked.
//   all: a heartbeat to every member each 100 ms (the cost grows with N).
mesh::FailureDetectorConfig MembershipConfig(const std::string& membership) {
  constexpr std::chrono::milliseconds kHeartbeat{100};
  if (membership != "swim") return mesh::FailureDetectorConfig::Lan();
  mesh::FailureDetectorConfig c = mesh::FailureDetectorConfig::Swim(kHeartbeat);
  c.swim_probe_interval = 5 * kHeartbeat;
  return c;
}

const mesh::Member* Primary(const mesh::MemberList& list) {
  for (const auto& m : list.members) {
    if (m.role == mesh::NodeRole::kPrimary) return &m;
  }
  return nullptr;
}

// Where the cluster's keys came from, and the primary's address.
struct Found {
  BootstrapInfo info;
  std::string primary_ip;
};

Result<Found> Discover(const AgentOptions& o, const JoinToken& token) {
  if (!o.cluster.empty()) {
    auto hp = ParseHostPort(o.cluster, kDefaultBootstrapPort);
    if (!hp.ok()) return hp.status();
    auto info = FetchBootstrap(hp->ip, hp->port, std::chrono::milliseconds(5000));
    if (!info.ok()) return info.status();
    MESH_RETURN_IF_ERROR(CheckFingerprint(info->keys, token.fingerprint_hex));
    return Found{*info, hp->ip};
  }
  const std::string prefix = token.fingerprint_hex.substr(0, 16);
  std::optional<BootstrapInfo> matched;
  auto service = Browse(
      [&](const DiscoveredService& s) {
        auto fp = s.txt.find("fp");
        if (fp == s.txt.end() || fp->second != prefix) return false;
        auto info = BootstrapFromTxt(s.txt);
        if (!info.ok() || !CheckFingerprint(info->keys, token.fingerprint_hex).ok()) return false;
        matched = *info;
        return true;
      },
      o.discovery_timeout);
  if (!service.ok()) {
    if (service.status().code() == mesh::StatusCode::kTimeout) {
      return Status::Timeout("discovery", "no StratoSwarm cluster matching the token answered on mDNS within " +
                                              std::to_string(o.discovery_timeout.count() / 1000.0).substr(0, 4) +
                                              " s; is the GPU peer running on this network? (or pass --cluster IP)");
    }
    return service.status();
  }
  return Found{*matched, service->address};
}

std::string EncodeJoinReport(const std::vector<double>& ms) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, ms);
  return {buf.data(), buf.size()};
}

// This member's verdict on a node_failed proposal, signed and encoded
// (consensus::FailureWitness decides it from what this member itself heard
// of the subject, never from rumors). The GPU peer counts these signed
// votes, so a node it cannot reach but others can (a partition) is not
// declared failed.
std::optional<std::string> SignedVote(const consensus::Proposal& proposal, consensus::Verdict verdict,
                                      const std::string& self, const mesh::NodeKeys& keys) {
  auto vote = consensus::MakeSignedVote(proposal, self, verdict, keys.signing.secret_key);
  if (!vote.ok()) return std::nullopt;
  auto bytes = consensus::EncodeVote(*vote);
  if (!bytes.ok()) return std::nullopt;
  return std::move(*bytes);
}

// A failure decision from the GPU peer, acted on (said and timed) only once
// its quorum certificate proves it: a quorum of the voters it names, members
// of this node's signed list, signed yes (consensus/quorum.h). Anything else
// is refused with the reason.
void OnDecision(const mesh::MeshMember& m, std::string_view payload, mesh::TimingLog& log, std::ostream& out) {
  auto notice = consensus::DecodeDecisionNotice(payload);
  const mesh::Status checked =
      notice.ok() ? consensus::CheckFailureDecision(*notice,
                                                    [&](const std::string& id) -> const consensus::PublicKey* {
                                                      const mesh::Member* member = m.members().FindById(id);
                                                      return member ? &member->signing_key : nullptr;
                                                    })
                  : notice.status();
  if (!checked.ok()) {
    std::cerr << "swarmlet: failure decision refused: " << checked.message() << "\n";
    return;
  }
  const consensus::Decision& d = notice->decision;
  const mesh::Member* subject = m.members().FindById(d.proposal.subject);
  const std::string name = subject ? subject->name : d.proposal.subject;
  std::set<std::string> yes;
  for (const consensus::Vote& v : d.votes) {
    if (v.verdict == consensus::Verdict::kYes) yes.insert(v.voter);
  }
  (void)log.Record("failure_detection", "decision_checked", 0,
                   {{"name", name}, {"yes", static_cast<std::int64_t>(yes.size())},
                    {"voters", static_cast<std::int64_t>(notice->voters.size())}});
  if (d.proposal.subject == m.self_id()) {
    out << "This node was decided Down by " << yes.size() << " of " << notice->voters.size()
        << " voters while the GPU peer could not hear it; its workloads move elsewhere" << std::endl;
  } else {
    out << "Node " << name << " was decided Down by " << yes.size() << " of " << notice->voters.size()
        << " voters (quorum certificate checked)" << std::endl;
  }
}

// Tells the primary which member list this node holds, and that it takes
// deltas (after connecting and after each full list), or asks for the full
// list (`need_full`).
void SendMemberListRequest(mesh::MeshMember& m, const std::string& primary, bool need_full) {
  if (auto bytes = mesh::EncodeMemberListRequest({m.members().epoch, need_full}); bytes.ok()) {
    (void)m.Send(primary, mesh::MsgType::kMemberListRequest, *bytes);
  }
}

// Applying a member list frees a few lists' worth of temporaries (the
// decoded list, the one replaced, the allow-list, the detector's tables);
// glibc keeps freed heap pages in the process, where they added ~0.5-1.5 kB
// per member to a swarmlet's anonymous memory as a cluster formed (issue 20,
// docs/memory_per_member.md). List changes are rare (joins and leaves), so
// hand those pages back each time.
void ReleaseFreedHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// A full member list or a delta (issue 20): applied and saved when newer
// than ours. A delta this node cannot apply (made from an epoch it does not
// hold, or failing verification) asks the primary for the full list.
void OnMemberList(mesh::MeshMember& m, const mesh::Envelope& env, const mesh::CaPublicKeys& ca,
                  const std::string& primary, const std::string& state_dir) {
  const std::uint64_t had = m.members().epoch;
  Result<mesh::MemberList> list = Status::Corrupt("member list", "not a member-list message");
  if (env.type == mesh::MsgType::kMemberList) {
    list = mesh::DecodeMemberList(env.payload);
  } else if (auto delta = mesh::DecodeMemberListDelta(env.payload); !delta.ok() || delta->epoch > had) {
    list = delta.ok() ? mesh::ApplyMemberListDelta(ca, m.members(), *delta) : delta.status();
    if (!list.ok()) {
      std::cerr << "[mesh] member list delta from " << env.sender << " not applied ("
                << list.status().message() << ")\n";
      // Only the primary's deltas count: no other member can make us ask.
      if (env.sender == primary) SendMemberListRequest(m, primary, true);
      return;
    }
  }
  if (list.ok() && list->epoch > had && m.ApplyMemberList(*list).ok() && m.members().epoch == list->epoch) {
    (void)SaveMembers(state_dir, *list);
    if (env.type == mesh::MsgType::kMemberList && env.sender == primary) SendMemberListRequest(m, primary, false);
  }
}

// The node's executor, behind the workload protocol. A node that cannot run
// workloads (not root, no cgroups) still gets a host, which answers every
// start with the reason; nullptr only when even that cannot be built.
std::unique_ptr<WorkloadHost> OpenWorkloadHost(const std::string& state_dir,
                                               const std::string& node_name,
                                               std::uint64_t image_cache_mb) {
  WorkloadHostOptions options;
  options.state_dir = state_dir;
  options.node_name = node_name;
  options.image_cache_bytes = image_cache_mb << 20;
  auto host = WorkloadHost::Open(std::move(options));
  if (!host.ok()) {
    std::cerr << "swarmlet: WARNING: this node cannot run workloads: " << host.status().message()
              << "\n";
    return nullptr;
  }
  if (!(*host)->available()) {
    std::cerr << "swarmlet: WARNING: this node cannot run workloads: "
              << (*host)->unavailable_reason() << "\n";
  }
  return std::move(*host);
}

void SendWorkloadStatus(mesh::MeshMember& m, const std::string& to,
                        const WorkloadStatusMsg& status) {
  auto bytes = EncodeWorkloadStatus(status);
  if (!bytes.ok()) {
    std::cerr << "swarmlet: workload status not sent: " << bytes.status().message() << "\n";
    return;
  }
  (void)m.Send(to, mesh::MsgType::kWorkloadStatus, *bytes);
}

// A command from the primary: executed here, answered with the same request id.
void HandleWorkloadCommand(mesh::MeshMember& m, WorkloadHost& host, const std::string& primary,
                           std::string_view payload) {
  auto command = DecodeWorkloadCommand(payload);
  if (!command.ok()) {
    std::cerr << "swarmlet: workload command refused: " << command.status().message() << "\n";
    return;
  }
  SendWorkloadStatus(m, primary, host.Handle(*command));
}

// Workload counts by state, written by the agent loop and read by the
// /metrics thread (a snapshot: each count is exact, the set need not be).
class WorkloadCounts {
 public:
  void Publish(const WorkloadHost& host) {
    const auto counts = host.CountByState();
    for (std::size_t i = 0; i < kStates.size(); ++i) {
      const auto it = counts.find(kStates[i]);
      counts_[i].store(it == counts.end() ? 0 : it->second, std::memory_order_relaxed);
    }
  }
  std::vector<ExtraGauge> Gauges() const {
    std::vector<ExtraGauge> gauges;
    for (std::size_t i = 0; i < kStates.size(); ++i) {
      gauges.push_back({"stratoswarm_swarmlet_workloads", "Workloads on this node by state",
                        {{"state", std::string(WorkloadRunStateName(kStates[i]))}},
                        static_cast<double>(counts_[i].load(std::memory_order_relaxed))});
    }
    return gauges;
  }

 private:
  static constexpr std::array<WorkloadRunState, 5> kStates = {
      WorkloadRunState::kRunning, WorkloadRunState::kBackoff, WorkloadRunState::kExited,
      WorkloadRunState::kFailed, WorkloadRunState::kStopped};
  std::array<std::atomic<int>, kStates.size()> counts_{};
};

// Serves /metrics when asked to (--metrics-port); null when not.
Result<std::unique_ptr<MetricsHttpThread>> StartMetrics(const AgentOptions& o,
                                                        const DurationHistograms& histograms,
                                                        const WorkloadCounts& counts) {
  if (o.metrics_port == 0) return std::unique_ptr<MetricsHttpThread>();
  MetricsHttpOptions options;
  options.bind_address = o.metrics_address;
  options.port = static_cast<std::uint16_t>(o.metrics_port);
  return MetricsHttpThread::Start(
      options, [&histograms, &counts, state_dir = o.state_dir,
                hw_root = o.hw_root]() -> Result<std::string> {
        auto families =
            NodeMetricFamilies(ReadNodeMetrics("/", state_dir, 0, hw_root), counts.Gauges());
        auto timed = histograms.Families();
        families.insert(families.end(), timed.begin(), timed.end());
        return FormatPrometheus(families);
      });
}

int Fail(const Status& st) {
  std::cerr << "swarmlet: " << st.message() << "\n";
  return 1;
}

// `swarmlet leave`: the GPU peer moves this node's workloads and removes it;
// once it confirms, the copies here end and the identity goes (joining again
// needs a new token). Without its confirmation nothing changes here.
int Leave(mesh::MeshMember& m, const std::string& primary, bool connected, WorkloadHost* workloads,
          const std::string& state_dir, const std::string& cluster_id, std::ostream& out) {
  if (!connected) {
    return Fail(Status::Unavailable("leave the cluster",
                                    "the GPU peer does not answer; nothing changed (try again when it is back)"));
  }
  auto notice = EncodeNodeNotice(NodeNotice::kLeaving);
  if (!notice.ok()) return Fail(notice.status());
  (void)m.Send(primary, mesh::MsgType::kNodeNotice, *notice);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  bool confirmed = false;
  while (!confirmed && std::chrono::steady_clock::now() < deadline) {
    auto polled = m.Poll(std::chrono::milliseconds(50));
    if (!polled.ok()) break;
    for (const mesh::Envelope& env : polled->messages) {
      if (env.type != mesh::MsgType::kNodeNotice || env.sender != primary) continue;
      auto answer = DecodeNodeNotice(env.payload);
      confirmed = confirmed || (answer.ok() && *answer == NodeNotice::kLeaving);
    }
  }
  if (!confirmed) {
    return Fail(Status::Timeout("leave the cluster", "the GPU peer did not confirm within 15 s; nothing changed here"));
  }
  const std::size_t ended = EndWorkloadsAndForget(workloads, state_dir);
  out << "Left cluster " << cluster_id << ": its workloads run on other nodes now (" << ended
      << " ended here); joining again needs a new token" << std::endl;
  return 0;
}

struct Joined {
  mesh::NodeIdentity identity;
  mesh::MemberList members;
  std::string cluster_id;
  std::unique_ptr<mesh::Transport> transport;
  std::vector<double> phase_ms;  // hw_profile, discovery, cert_exchange
};

Result<std::unique_ptr<mesh::Transport>> OpenTransport(const AgentOptions& o, const std::string& id,
                                                       const mesh::NodeKeys& keys, const std::string& ip) {
  mesh::ZmqTransportOptions t;
  t.self_id = id;
  t.bind_endpoint = "tcp://" + ip + ":" + (o.mesh_port == 0 ? std::string("*") : std::to_string(o.mesh_port));
  t.datagrams = true;  // membership by UDP, links only where there is work (zmq_transport.h)
  t.idle_link_close = mesh::kMemberIdleLinkClose;
  t.keys.public_key = keys.curve.public_key;
  std::copy(keys.curve.secret_key.data(), keys.curve.secret_key.data() + 32, t.keys.secret_key.begin());
  auto transport = mesh::CreateZmqTransport(std::move(t));
  mesh::SecureZero(t.keys.secret_key.data(), t.keys.secret_key.size());
  return transport;
}

Result<Joined> FreshJoin(const AgentOptions& o, const std::string& name, mesh::TimingLog& log,
                         std::ostream& out) {
  auto token = ParseJoinToken(o.token);
  if (!token.ok()) return token.status();
  auto labels = ParseLabels(o.labels);
  if (!labels.ok()) return labels.status();
  Joined j;

  auto hw_phase = log.StartPhase("join", "hw_profile");
  const HardwareProfile profile = ReadHardwareProfile(o.hw_root, o.state_dir);
  j.phase_ms.push_back(hw_phase.ElapsedMs());
  (void)hw_phase.Stop();
  out << HardwareProfileLogLine(profile) << std::endl;
  if (profile.cgroup_mode != CgroupMode::kNone && !profile.memory_controller) {
    std::cerr << "swarmlet: WARNING: " << kMemoryControllerHint << "\n";
  }

  auto discovery_phase = log.StartPhase("join", "discovery");
  auto found = Discover(o, *token);
  if (!found.ok()) {
    discovery_phase.Cancel();
    return found.status();
  }
  j.phase_ms.push_back(discovery_phase.ElapsedMs());
  (void)discovery_phase.Stop({{"via", o.cluster.empty() ? "mdns" : "bootstrap"}});

  auto cert_phase = log.StartPhase("join", "cert_exchange");
  auto keys = mesh::GenerateNodeKeys();
  if (!keys.ok()) return keys.status();
  std::string ip = o.advertise;
  if (ip.empty()) {
    auto route = RouteSourceIp(found->primary_ip);
    if (!route.ok()) return route.status();
    ip = *route;
  }
  // The node id is derived from its signing key, so the mesh can start before
  // the certificate arrives (the primary derives the same id).
  auto node_id = NodeIdFor(keys->signing.public_key);
  if (!node_id.ok()) return node_id.status();
  auto transport = OpenTransport(o, *node_id, *keys, ip);
  if (!transport.ok()) return transport.status();
  // Admit the primary's mesh connection before it is made: it dials us as
  // soon as it accepts the join, and a refused CURVE handshake is only
  // retried after a backoff.
  auto primary_id = NodeIdFor(found->info.keys.signing_key);
  if (!primary_id.ok()) return primary_id.status();
  MESH_RETURN_IF_ERROR((*transport)->SetAuthorizedKeys({{*primary_id, found->info.keys.curve_key}}));
  JoinRequest req;
  req.token_secret = token->secret;
  MESH_RETURN_IF_ERROR(mesh::RandomBytes(req.nonce));
  req.sent_ns = log.clock().WallNs();
  req.name = name;
  req.labels = *labels;
  req.signing_key = keys->signing.public_key;
  req.curve_key = keys->curve.public_key;
  const std::string& bound = (*transport)->local_endpoint();
  req.mesh_endpoint = "tcp://" + ip + bound.substr(bound.rfind(':'));
  req.profile = profile;
  // Signed again, with a new nonce, when the GPU peer asks for its own time.
  const auto sign = [&]() -> Status {
    auto signed_bytes = JoinRequestSignedBytes(req);
    if (!signed_bytes.ok()) return signed_bytes.status();
    auto sig = mesh::Sign(keys->signing.secret_key, *signed_bytes);
    if (!sig.ok()) return sig.status();
    req.signature = *sig;
    return Status::Ok();
  };
  MESH_RETURN_IF_ERROR(sign());
  auto response = ExchangeJoin(found->primary_ip, found->info, *keys, req, kExchangeTimeout);
  if (response.ok() && !response->accepted && response->peer_wall_ns != 0 &&
      response->error.starts_with(kJoinClockRefusal)) {
    // No real-time clock (a Pi before NTP answers): once more, on the GPU
    // peer's time, which it gave with the refusal. Freshness stays its check.
    const std::int64_t offset = response->peer_wall_ns - log.clock().WallNs();
    out << "This node's clock is " << std::llabs(offset) / 1'000'000'000 << " s "
        << (offset > 0 ? "behind" : "ahead of") << " the GPU peer's; joining on the GPU peer's time" << std::endl;
    req.sent_ns = log.clock().WallNs() + offset;
    MESH_RETURN_IF_ERROR(mesh::RandomBytes(req.nonce));
    MESH_RETURN_IF_ERROR(sign());
    response = ExchangeJoin(found->primary_ip, found->info, *keys, req, kExchangeTimeout);
  }
  if (!response.ok()) {
    cert_phase.Cancel();
    return response.status();
  }
  if (!response->accepted) {
    cert_phase.Cancel();
    return Status::PermissionDenied("join refused by the GPU peer", response->error);
  }
  // Trust nothing the primary sent that the pinned CA did not sign for us;
  // its validity is judged on the GPU peer's clock (this one may be wrong).
  const auto& cert = response->certificate;
  MESH_RETURN_IF_ERROR(mesh::VerifyCertificate(
      found->info.keys, cert, response->peer_wall_ns != 0 ? response->peer_wall_ns : log.clock().WallNs()));
  if (cert.signing_key != keys->signing.public_key || cert.curve_key != keys->curve.public_key ||
      cert.node_id != *node_id) {
    return Status::Corrupt("join", "the certificate from the GPU peer is not for this node's keys");
  }
  MESH_RETURN_IF_ERROR(mesh::VerifyMemberList(found->info.keys, response->members));
  // The other members dial us as soon as the primary announces us: admit
  // them before the slower identity writes below (a refused handshake is only
  // retried after a backoff).
  std::vector<mesh::AuthorizedKey> admitted;
  for (const auto& member : response->members.members) {
    if (member.node_id != *node_id) admitted.push_back({member.node_id, member.curve_key});
  }
  MESH_RETURN_IF_ERROR((*transport)->SetAuthorizedKeys(admitted));
  j.phase_ms.push_back(cert_phase.ElapsedMs());
  (void)cert_phase.Stop();

  j.identity = {std::move(*keys), cert, found->info.keys};
  j.members = response->members;
  j.cluster_id = response->cluster_id;
  j.transport = std::move(*transport);
  // Only now does anything reach the state dir, each file whole or not at all.
  MESH_RETURN_IF_ERROR(mesh::SaveNodeIdentity(o.state_dir, j.identity));
  MESH_RETURN_IF_ERROR(SaveMembers(o.state_dir, j.members));
  return j;
}

Result<Joined> Rejoin(const AgentOptions& o, mesh::NodeIdentity identity, mesh::TimingLog& log, std::ostream& out) {
  auto check = mesh::CheckCertificate(identity.ca, identity.certificate, log.clock().WallNs());
  if (check.verdict == mesh::CertificateVerdict::kNotYetValid) {
    // A clock behind the certificate is this node's clock (no RTC, NTP not
    // there yet), not a forged certificate: the signature held.
    out << "This node's clock (" << mesh::FormatWallTime(log.clock().WallNs())
        << ") is before its certificate's start; it is wrong (no NTP yet?), the GPU peer's clock decides"
        << std::endl;
  } else if (!check.status.ok()) {
    return check.status;
  }
  auto members = LoadMembers(o.state_dir, identity.ca);
  if (!members.ok()) return members.status();
  const mesh::Member* self = members->FindById(identity.certificate.node_id);
  const mesh::Member* primary = Primary(*members);
  if (primary == nullptr) return Status::Corrupt(o.state_dir + "/" + kMembersFile, "no primary in the member list");
  std::string ip = o.advertise;
  if (ip.empty() && self != nullptr) {
    // Rebind where the cluster knows us: tcp://IP:PORT.
    ip = self->endpoint.substr(6, self->endpoint.rfind(':') - 6);
  }
  AgentOptions bind = o;
  if (self != nullptr && o.mesh_port == 0) {
    std::from_chars(self->endpoint.data() + self->endpoint.rfind(':') + 1,
                    self->endpoint.data() + self->endpoint.size(), bind.mesh_port);
  }
  auto transport = OpenTransport(bind, identity.certificate.node_id, identity.keys, ip);
  if (!transport.ok()) return transport.status();
  auto fp = identity.ca.ComputeFingerprint();
  Joined j{std::move(identity), std::move(*members), fp.ok() ? mesh::ToHex(*fp).substr(0, 12) : "",
           std::move(*transport), {0, 0, 0}};
  return j;
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view text, int default_port) {
  HostPort hp{std::string(text), default_port};
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    hp.ip = std::string(text.substr(0, colon));
    const auto port = text.substr(colon + 1);
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), hp.port);
    if (ec != std::errc() || end != port.data() + port.size() || hp.port <= 0 || hp.port > 65535) {
      return Status::InvalidArgument("--cluster", "'" + std::string(text) + "' has a bad port");
    }
  }
  in_addr a{};
  if (inet_pton(AF_INET, hp.ip.c_str(), &a) != 1) {
    return Status::InvalidArgument("--cluster", "'" + hp.ip + "' is not an IPv4 address (IP[:PORT])");
  }
  return hp;
}

Result<mesh::MemberList> LoadSavedMembers(const std::string& state_dir, const mesh::CaPublicKeys& ca) {
  return LoadMembers(state_dir, ca);
}

int RunAgent(const AgentOptions& o, const std::atomic<bool>& stop, std::ostream& out) {
  const auto start = std::chrono::steady_clock::now();
  // Outlive the timing log (its observer feeds them) and the metrics thread.
  DurationHistograms histograms;
  WorkloadCounts workload_counts;
  // Bad input is refused before anything touches the state dir.
  if (!o.token.empty()) {
    if (auto token = ParseJoinToken(o.token); !token.ok()) return Fail(token.status());
  }
  if (auto labels = ParseLabels(o.labels); !labels.ok()) return Fail(labels.status());
  auto identity = mesh::LoadNodeIdentity(o.state_dir);
  if (!identity.ok() && identity.status().code() == mesh::StatusCode::kNotFound && o.token.empty()) {
    if (!o.token_file.empty()) {
      return Fail(Status::InvalidArgument("--token-file " + o.token_file + " does not exist",
                                          "this node has no identity in " + o.state_dir + " yet"));
    }
    return Fail(Status::InvalidArgument("a join token is required (--token-file, STRATOSWARM_JOIN_TOKEN or --token)",
                                        "this node has no identity in " + o.state_dir + " yet"));
  }
  if (auto st = mesh::EnsureDirectory(o.state_dir, 0700); !st.ok()) return Fail(st);
  const std::string name = o.name.empty() ? HostName() : o.name;
  auto& clock = mesh::SystemClock::Get();
  auto log = mesh::TimingLog::Open(o.state_dir + "/timing.jsonl", name, clock);
  if (!log.ok()) return Fail(log.status());
  (*log)->SetObserver([&histograms](std::string_view event, std::string_view phase, double ms) {
    histograms.Observe(event, phase, ms / 1000.0);
  });
  auto metrics = StartMetrics(o, histograms, workload_counts);
  if (!metrics.ok()) return Fail(metrics.status());
  if (*metrics) {
    out << "Serving metrics on http://" << o.metrics_address << ":" << (*metrics)->port()
        << "/metrics" << std::endl;
  }

  Result<Joined> joined = Status::Internal("join", "not attempted");
  bool rejoined = false;  // a saved identity: the node runs on without the GPU peer
  if (identity.ok()) {
    auto valid = mesh::CheckCertificate(identity->ca, identity->certificate, clock.WallNs());
    if (valid.verdict == mesh::CertificateVerdict::kExpired && !o.token.empty()) {
      joined = FreshJoin(o, name, **log, out);  // replaces the expired identity on success
    } else if (!o.token.empty() && ParseJoinToken(o.token).ok() &&
               mesh::ToHex(*identity->ca.ComputeFingerprint()) != ParseJoinToken(o.token)->fingerprint_hex) {
      return Fail(Status::AlreadyExists(
          "this node already belongs to another cluster",
          "its identity is in " + o.state_dir + "/node.identity; remove that file to join the token's cluster"));
    } else {
      if (!o.token.empty()) {
        out << "Using the saved identity of " << identity->certificate.name << " (" << o.state_dir
            << "); the token is not needed" << std::endl;
      }
      joined = Rejoin(o, std::move(*identity), **log, out);
      rejoined = true;
    }
  } else if (identity.status().code() == mesh::StatusCode::kNotFound) {
    joined = FreshJoin(o, name, **log, out);
  } else {
    return Fail(Status::Corrupt(identity.status().message(),
                                "remove it and join again with a token (swarmlet join --token ...)"));
  }
  if (!joined.ok()) return Fail(joined.status());
  // Joined, or rejoining with a valid identity: the token is not needed again.
  if (o.remove_token_file && !o.token_file.empty() && ::unlink(o.token_file.c_str()) == 0) {
    out << "Removed the join token file " << o.token_file << " (this node rejoins with its identity)" << std::endl;
  }

  const mesh::NodeCertificate& cert = joined->identity.certificate;
  (*log)->SetNode(cert.name);
  // The primary's entry by value: the agent's copy of the list goes once the
  // mesh holds its own (below).
  std::optional<mesh::Member> primary_entry;
  if (const mesh::Member* p = Primary(joined->members)) primary_entry = *p;
  const mesh::Member* primary = primary_entry ? &*primary_entry : nullptr;
  auto member = mesh::MeshMember::Create(std::move(joined->transport), joined->identity.ca,
                                         MembershipConfig(o.membership), clock);
  if (!member.ok()) return Fail(member.status());
  mesh::MeshMember& m = **member;
  if (auto st = m.ApplyMemberList(joined->members); !st.ok()) return Fail(st);

  // Autonomy (issue 16): a node that has joined before re-adopts its
  // workloads and restarts those whose policy says so before it hears from
  // the GPU peer, which may be off.
  std::unique_ptr<WorkloadHost> workloads;
  const auto open_workloads = [&] {
    workloads = OpenWorkloadHost(o.state_dir, cert.name, o.image_cache_mb);
    if (workloads) workload_counts.Publish(*workloads);
    // `stratoswarm-metrics` run beside us (docker exec) meters this process.
    (void)WriteSwarmletPidFile(o.state_dir);
  };
  if (rejoined) open_workloads();

  // mesh_join: until the primary answers a heartbeat.
  auto mesh_phase = (*log)->StartPhase("join", "mesh_join");
  const auto mesh_deadline = clock.Now() + kMeshJoinTimeout;
  std::optional<mesh::Nanos> rtt;
  // Events raised while joining (formation can complete already) are kept for the agent loop.
  std::vector<mesh::FdEvent> early_events;
  while (!rejoined && !stop && !rtt && clock.Now() < mesh_deadline) {
    auto polled = m.Poll(std::chrono::milliseconds(20));
    if (!polled.ok()) return Fail(polled.status());
    for (auto& e : polled->events) early_events.push_back(std::move(e));
    if (auto view = m.detector().Member(primary->node_id)) rtt = view->rtt;
  }
  if (!rejoined && !rtt) {
    mesh_phase.Cancel();
    if (stop) return 0;
    return Fail(Status::Unavailable("joined, but the GPU peer does not answer on the mesh at " + primary->endpoint,
                                    "within " + std::to_string(kMeshJoinTimeout.count()) + " s (firewall?)"));
  }
  // The GPU peer answers (at once after a fresh join; whenever it is back
  // after a rejoin): the join completes and the full report lets it
  // reconcile what this node ran meanwhile.
  bool connected = false;
  const auto on_connected = [&](mesh::Nanos primary_rtt) {
    connected = true;
    joined->phase_ms.push_back(mesh_phase.ElapsedMs());
    (void)mesh_phase.Stop();
    const double total = Ms(std::chrono::steady_clock::now() - start).count();
    (void)(*log)->Record("join", "total", total, {{"name", cert.name}});
    std::vector<double> report{total};
    report.insert(report.end(), joined->phase_ms.begin(), joined->phase_ms.end());
    (void)m.Send(primary->node_id, mesh::MsgType::kJoinReport, EncodeJoinReport(report));
    SendMemberListRequest(m, primary->node_id, false);  // after the report: it resets what we hold
    (void)m.Poll(std::chrono::milliseconds(0));  // push it out now
    if (!workloads) open_workloads();
    out << "Successfully joined cluster " << joined->cluster_id << " as " << cert.name << std::endl;
    if (workloads) SendWorkloadStatus(m, primary->node_id, workloads->FullReport());
    char latency[32];
    std::snprintf(latency, sizeof latency, "%.2f", Ms(primary_rtt).count());
    out << "Network latency: " << latency << " ms to primary" << std::endl;
  };
  if (rtt) on_connected(*rtt);
  // While the GPU peer is away: a note after 2 s, then one per interval
  // (10 s, 20 s, ... 5 min), not one per try.
  const auto waiting_since = clock.Now();
  auto next_wait_log = waiting_since + std::chrono::seconds(2);
  std::chrono::seconds wait_log_interval(5);

  // The node agent: keep the mesh, follow member-list updates, run the
  // primary's workload commands and report workload changes. While a
  // workload runs, 20 ms bounds how late its exit is noticed (reaping is
  // polled); with none, only coarse timers are left (health every 10 s,
  // renewal, the notes above; a command or an event wakes the poll at once),
  // so 500 ms keeps an idle swarmlet's wakeups down (issue 20) and still
  // notices a stop signal within half a second.
  auto witness = consensus::FailureWitness::ForDetector(m.detector());
  // Temperature, throttling, memory limits, clock: at once, then every 10 s.
  HealthReporter health(o.hw_root, **log);
  // Certificate renewal and removal (node_lifecycle.h).
  NodeLifecycle lifecycle(joined->identity, joined->members, o.state_dir, **log, out);
  // MeshMember keeps the list from here (m.members()); a second copy would
  // cost some 260 bytes per member for the life of the agent (issue 20).
  joined->members = mesh::MemberList();
  ReleaseFreedHeap();
  while (!stop && !lifecycle.removed()) {
    if (!connected) {
      if (auto view = m.detector().Member(primary->node_id); view && view->rtt) {
        on_connected(*view->rtt);
      } else if (clock.Now() >= next_wait_log) {
        const auto waited = std::chrono::duration_cast<std::chrono::seconds>(clock.Now() - waiting_since);
        wait_log_interval = std::min<std::chrono::seconds>(wait_log_interval * 2, std::chrono::seconds(300));
        next_wait_log = clock.Now() + wait_log_interval;
        out << "The GPU peer at " << primary->endpoint << " does not answer (" << waited.count()
            << " s); running " << (workloads ? workloads->CountByState()[WorkloadRunState::kRunning] : 0)
            << " workload(s) on our own and retrying; next note in " << wait_log_interval.count() << " s"
            << std::endl;
      }
    }
    if (connected) {
      if (auto h = health.Poll()) (void)m.Send(primary->node_id, mesh::MsgType::kNodeHealth, *h);
    }
    lifecycle.Tick(m, connected);
    const bool watching = workloads && workloads->watching();
    std::chrono::milliseconds timeout(watching ? 20 : 500);
    if (auto due = witness.NextDeadline()) {
      timeout = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*due - clock.Now()),
                           std::chrono::milliseconds(0), timeout);
    }
    auto polled = m.Poll(timeout);
    if (!polled.ok()) return Fail(polled.status());
    if (!early_events.empty()) {
      polled->events.insert(polled->events.begin(), early_events.begin(), early_events.end());
      early_events.clear();
    }
    for (const mesh::Envelope& env : polled->messages) {
      if (lifecycle.OnMessage(env)) continue;
      if (env.type == mesh::MsgType::kProposal && env.sender == primary->node_id) {
        if (auto proposal = consensus::DecodeProposal(env.payload); proposal.ok()) {
          // First-hand: ask the subject itself before answering (SWIM hears it only now and then).
          if (witness.Add(*proposal, m.self_id(), clock.Now())) (void)m.ProbeNow(proposal->subject);
        }
        continue;
      }
      if (env.type == mesh::MsgType::kDecision) {
        OnDecision(m, env.payload, **log, out);  // from any member: the certificate is what counts
        continue;
      }
      if (env.type == mesh::MsgType::kImageChunk) {
        if (workloads && env.sender == primary->node_id) {
          if (auto chunk = DecodeImageChunk(env.payload); chunk.ok()) workloads->OnImageChunk(*chunk);
        }
        continue;
      }
      if (env.type == mesh::MsgType::kWorkloadCommand) {
        if (workloads && env.sender == primary->node_id) {
          HandleWorkloadCommand(m, *workloads, primary->node_id, env.payload);
          workload_counts.Publish(*workloads);
        }
        continue;
      }
      if (env.type == mesh::MsgType::kMemberList || env.type == mesh::MsgType::kMemberListDelta) {
        OnMemberList(m, env, joined->identity.ca, primary->node_id, o.state_dir);
        ReleaseFreedHeap();
      }
    }
    for (const consensus::FailureWitness::Answer& a : witness.Due(clock.Now())) {
      if (auto vote = SignedVote(a.proposal, a.verdict, m.self_id(), joined->identity.keys)) {
        (void)m.Send(primary->node_id, mesh::MsgType::kVote, *vote);
      }
    }
    for (const mesh::FdEvent& e : polled->events) {
      if (e.kind == mesh::FdEventKind::kFormed) {
        (void)(*log)->Record("mesh", "formation", Ms(e.since_start).count(),
                             {{"members", static_cast<std::int64_t>(m.members().members.size())}});
      } else {
        std::cerr << "[mesh] " << mesh::FdEventKindName(e.kind) << " " << e.member << "\n";
      }
    }
    if (workloads) {
      if (auto changes = workloads->Poll()) {
        SendWorkloadStatus(m, primary->node_id, *changes);
        workload_counts.Publish(*workloads);
      }
      for (const auto& t : workloads->TakeImageFetchTimings()) {
        (void)(*log)->Record("image", "fetch", t.ms,
                             {{"image", t.image}, {"bytes", static_cast<std::int64_t>(t.bytes)},
                              {"mb_per_s", t.ms > 0 ? static_cast<double>(t.bytes) / 1e3 / t.ms : 0.0}});
      }
      for (const ImageFetch& f : workloads->TakeImageRequests()) {
        if (auto bytes = EncodeImageFetch(f); bytes.ok()) {
          (void)m.Send(primary->node_id, mesh::MsgType::kImageFetch, *bytes);
        }
      }
    }
  }
  if (lifecycle.removed()) return lifecycle.Finish(workloads.get());
  if (o.leave != nullptr && *o.leave) {
    return Leave(m, primary->node_id, connected, workloads.get(), o.state_dir, joined->cluster_id, out);
  }
  // Told to stop (systemctl restart, docker restart, an upgrade): say so, so
  // that the GPU peer waits for this node instead of moving its workloads.
  if (connected) {
    if (auto bytes = EncodeNodeNotice(NodeNotice::kRestarting); bytes.ok()) {
      (void)m.Send(primary->node_id, mesh::MsgType::kNodeNotice, *bytes);
      (void)m.Poll(std::chrono::milliseconds(50));
      out << "Stopped; told the GPU peer this node is restarting" << std::endl;
    }
  }
  return 0;
}

}  // namespace swarmlet
