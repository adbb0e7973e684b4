#include "serve/peer.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <zmq.h>

#include <iostream>
#include <map>
#include <set>
#include <mutex>
#include <msgpack.hpp>

#include "api/api.h"
#include "consensus/codec.h"
#include "consensus/failure_witness.h"
#include "consensus/tally.h"
#include "consensus/verifier.h"
#include "dashboard/dashboard.h"
#include "mesh/atomic_file.h"
#include "mesh/certificate_authority.h"
#include "mesh/crypto.h"
#include "mesh/identity_store.h"
#include "mesh/member_list_delta.h"
#include "mesh/mesh_member.h"
#include "mesh/timing_log.h"
#include "mesh/zmq_transport.h"
#include "serve/bandwidth_endpoint.h"
#include "serve/bootstrap_endpoint.h"
#include "serve/failure_quorum.h"
#include "serve/join_guard.h"
#include "serve/member_delivery.h"
#include "serve/peer_metrics.h"
#include "serve/image_service.h"
#include "serve/node_health.h"
#include "serve/node_lifecycle.h"
#include "serve/workloads.h"
#include "state/store.h"
#include "swarmlet/bandwidth.h"
#include "swarmlet/cert_renewal.h"
#include "swarmlet/discovery.h"
#include "swarmlet/hwprofile.h"
#include "swarmlet/join_protocol.h"
#include "swarmlet/join_token.h"
#include "swarmlet/metrics.h"
#include "swarmlet/metrics_http.h"
#include "swarmlet/node_notice.h"
#include "swarmlet/workload_host.h"
#include "swarmlet/workload_protocol.h"

namespace gpu_node {
namespace {

using api::Json;
using mesh::Result;
using mesh::Status;
using Ms = std::chrono::duration<double, std::milli>;

constexpr std::int64_t kNsPerSec = 1'000'000'000;
// A join request older (or newer) than this is refused: bounds the replay cache.
constexpr std::int64_t kJoinFreshnessNs = 300 * kNsPerSec;
// Nonces of token holders' requests remembered at most (with the freshness
// window, this bounds the replay cache by age and count).
constexpr std::size_t kMaxJoinNonces = 10'000;
// Join requests handled per turn of the mesh thread's loop (5 ms): the
// mesh's heartbeats never wait behind a flood.
constexpr int kJoinRequestsPerTurn = 16;

std::string FirstNonLoopbackIpv4() {
  ifaddrs* list = nullptr;
  std::string found = "127.0.0.1";
  if (getifaddrs(&list) != 0) return found;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
        !(i->ifa_flags & IFF_UP)) {
      continue;
    }
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    found = buf;
    break;
  }
  freeifaddrs(list);
  return found;
}

// gpu when the node has one; ARM boards (and whatever calls itself a
// Raspberry Pi in its device tree) are the Pis of this cluster; else x86.
std::string NodeType(const swarmlet::HardwareProfile& p) {
  if (p.gpu) return "gpu";
  if (p.arch == "aarch64" || p.arch.rfind("arm", 0) == 0 || p.model.find("Raspberry Pi") != std::string::npos) {
    return "rpi";
  }
  return "x86";
}

std::string IsoTime(std::int64_t ns) { return mesh::FormatWallTime(ns); }

class GpuPeer {
 public:
  GpuPeer(const ServeOptions& o, std::ostream& out) : o_(o), out_(out), clock_(mesh::SystemClock::Get()) {}
  ~GpuPeer() {
    // Before anything its sources read goes away (the log's observer may
    // still poke it: that is harmless once stopped).
    if (dashboard_ != nullptr) dashboard_->Stop();
    mesh_calls_.Close();  // an API call waiting for the mesh thread ends now
    if (join_socket_ != nullptr) zmq_close(join_socket_);
    if (zmq_ctx_ != nullptr) zmq_ctx_term(zmq_ctx_);
  }

  Status Start();
  Status Run(const std::atomic<bool>& stop);

 private:
  Status LoadOrCreateIdentity();
  Status RegisterSelf();
  Status OpenJoinEndpoint();
  Status PublishMembers();
  void DeliverMembers();
  void DrainJoinRequests();
  swarmlet::JoinResponse Admit(const swarmlet::JoinRequest& req);
  void OnMessage(const mesh::Envelope& env);
  void OnEvent(const mesh::FdEvent& e);
  void ProposeFailure(const mesh::FdEvent& e);
  void OnVote(const mesh::Envelope& env);
  void CastOwnVotes();
  void Decided(const std::string& subject);
  void ExpireProposals();
  void OnNodeNotice(const mesh::Envelope& env);
  void NodeBack(const std::string& id, std::string_view how);
  void CheckRestarting();
  // Members that vote on no failure: decided Down, or leaving.
  std::set<std::string> NonVoters() const;
  void MarkUnreachable(const std::string& id);
  // Isolation (failure_quorum.h): said when it changes; on regaining a
  // majority, members still silent are proposed again.
  void CheckHearing();
  // Down or Unreachable nodes back to Ready when heard first-hand.
  void CheckFirstHand();
  // Node lifecycle (serve/node_lifecycle.h): `node rm`, on the mesh thread; renewal.
  Result<Json> RemoveNode(const std::string& name, bool force);
  void OnCertRenew(const mesh::Envelope& env);
  // A node this peer admitted (itself excepted) owns this CURVE key. Any thread.
  bool IsNodeKey(const mesh::CurvePublicKey& key);
  std::map<std::string, api::Handler> ApiHandlers();
  // serve --dashboard-port: the same node and workload lists as the API,
  // read on the dashboard's own thread; each timing record pokes it.
  Status StartDashboard();
  void Log(const std::string& line) { out_ << line << std::endl; }
  // How recent a direct message must be for a member to count as heard.
  mesh::Nanos Fresh() const { return std::max<mesh::Nanos>(std::chrono::seconds(1), 10 * o_.heartbeat); }

  const ServeOptions o_;
  std::ostream& out_;
  const mesh::Clock& clock_;
  std::string advertise_;
  std::optional<mesh::CertificateAuthority> ca_;
  std::string cluster_id_;
  std::string self_id_;
  std::unique_ptr<state::StateStore> store_;
  // Fed by log_'s observer, read by the /metrics thread: outlives both.
  swarmlet::DurationHistograms histograms_;
  std::unique_ptr<mesh::TimingLog> log_;
  std::unique_ptr<mesh::MeshMember> mesh_;
  std::uint64_t epoch_ = 0;
  // The signed member lists, and what each member surely holds (sent over a
  // completed connection, or received in its join response): full or delta.
  MemberListDelivery lists_;
  mesh::MonoTime next_delivery_{};
  // What lists_ sent, said at most every 2 s when it changed (issue 20's measure).
  MemberListDelivery::Totals totals_said_;
  mesh::MonoTime next_totals_log_{};
  void* zmq_ctx_ = nullptr;
  void* join_socket_ = nullptr;
  std::map<std::string, std::int64_t> seen_nonces_;  // hex nonce -> expiry wall ns
  JoinRateLimiter join_rate_;
  // At most 20 refusals said (stderr, timing.jsonl) per 10 s; the rest counted.
  RefusalThrottle refusals_said_{20, std::chrono::seconds(10)};
  std::unique_ptr<BootstrapEndpoint> bootstrap_;
  std::unique_ptr<BandwidthEndpoint> bandwidth_;  // its ZAP reads store_
  std::unique_ptr<swarmlet::ServicePublisher> mdns_;
  std::unique_ptr<WorkloadManager> workloads_;
  std::unique_ptr<images::ImageStore> image_store_;
  std::unique_ptr<ImageService> image_service_;
  std::unique_ptr<api::ApiServer> api_;
  // node_failed proposals being voted on, by subject node id.
  struct OpenProposal {
    std::unique_ptr<consensus::Tally> tally;
    std::vector<std::string> voters;  // bound into the proposal's payload_hash
    mesh::MonoTime last_heard;  // of the subject, for the detection timing
    mesh::MonoTime opened;
  };
  GpuPaths gpu_;  // the vote verifier and the scheduler, CPU or CUDA per call (made in Start)
  std::map<std::string, OpenProposal> proposals_;
  // Down or Unreachable nodes: since when (monotonic; this peer's start for
  // those it found so in the store), and whether a quorum decided it.
  struct Away {
    mesh::MonoTime since;
    bool decided = false;
  };
  std::map<std::string, Away> away_;
  Hearing hearing_;
  bool isolated_ = false;
  mesh::MonoTime next_check_{};
  // Nodes that said they are restarting: until when no failure is proposed
  // for them (serve --restart-grace), and when they said so.
  struct Restarting {
    mesh::MonoTime until;
    mesh::MonoTime since;
    bool overdue = false;  // the grace ran out (said once)
  };
  std::map<std::string, Restarting> restarting_;
  // Nodes that left (`swarmlet leave`), removed from the member list a
  // moment after their confirmation went out (removal closes the link).
  std::map<std::string, mesh::MonoTime> leaving_;
  // The API thread's requests that need the mesh thread (node rm).
  MeshThreadQueue mesh_calls_;
  // This peer's own verdicts, from what it hears itself (like every voter);
  // made with mesh_ in Start().
  std::optional<consensus::FailureWitness> witness_;
  std::uint64_t term_ = 0;
  // What `cluster mesh-status` shows; written by the mesh thread.
  std::mutex view_mu_;
  std::vector<mesh::MemberView> view_;
  Hearing status_hearing_;
  bool status_isolated_ = false;
  // Last: stopped before anything its provider reads goes away.
  std::unique_ptr<swarmlet::MetricsHttpThread> metrics_;
  // Shared with log_'s observer, which pokes it after each record.
  std::shared_ptr<dashboard::Dashboard> dashboard_;
};

Status GpuPeer::LoadOrCreateIdentity() {
  MESH_RETURN_IF_ERROR(mesh::EnsureDirectory(o_.state_dir, 0700));
  auto loaded = mesh::LoadCaIdentity(o_.state_dir);
  if (loaded.ok()) {
    ca_.emplace(std::move(*loaded));
  } else if (loaded.status().code() == mesh::StatusCode::kNotFound) {
    auto created = mesh::CertificateAuthority::Create();
    if (!created.ok()) return created.status();
    MESH_RETURN_IF_ERROR(mesh::SaveCaIdentity(o_.state_dir, *created));
    ca_.emplace(std::move(*created));
    Log("Created cluster identity " + ca_->FingerprintHex().substr(0, 12) + " in " + o_.state_dir);
  } else {
    return loaded.status();
  }
  cluster_id_ = ca_->FingerprintHex().substr(0, 12);
  auto id = swarmlet::NodeIdFor(ca_->public_keys().signing_key);
  if (!id.ok()) return id.status();
  self_id_ = *id;
  return Status::Ok();
}

Status GpuPeer::RegisterSelf() {
  const auto p = swarmlet::ReadHardwareProfile(o_.hw_root, o_.state_dir);
  state::NodeRecord self;
  self.id = self_id_;
  self.name = o_.name;
  self.role = "primary";
  self.type = NodeType(p);
  self.arch = p.arch;
  self.model = p.model;
  self.cores = p.cores;
  self.memory_mb = p.memory_mb;
  self.gpu = p.gpu;
  self.endpoint = "tcp://" + advertise_ + ":" + std::to_string(o_.mesh_port);
  self.curve_key_hex = mesh::ToHex(ca_->public_keys().curve_key);
  self.signing_key_hex = mesh::ToHex(ca_->public_keys().signing_key);
  auto existing = store_->GetNode(self_id_);
  self.joined_ns = existing.ok() ? existing->joined_ns : clock_.WallNs();
  self.status_since_ns = clock_.WallNs();
  Log(swarmlet::HardwareProfileLogLine(p) + " (" + self.type + ")");
  return store_->PutNode(self);
}

Status GpuPeer::OpenJoinEndpoint() {
  zmq_ctx_ = zmq_ctx_new();
  join_socket_ = zmq_socket(zmq_ctx_, ZMQ_ROUTER);
  const int one = 1, zero = 0;
  zmq_setsockopt(join_socket_, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(join_socket_, ZMQ_CURVE_SERVER, &one, sizeof one);
  zmq_setsockopt(join_socket_, ZMQ_CURVE_SECRETKEY, ca_->curve_keys().secret_key.data(), 32);
  const int max_msg = 64 * 1024;
  zmq_setsockopt(join_socket_, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
  const std::string ep = "tcp://" + o_.listen_ip + ":" + std::to_string(o_.join_port);
  if (zmq_bind(join_socket_, ep.c_str()) != 0) {
    return Status::Unavailable("bind join endpoint " + ep, zmq_strerror(zmq_errno()));
  }
  return Status::Ok();
}

Status GpuPeer::PublishMembers() {
  auto nodes = store_->ListNodes();
  if (!nodes.ok()) return nodes.status();
  mesh::MemberList list;
  list.epoch = epoch_ = std::max<std::uint64_t>(epoch_ + 1, static_cast<std::uint64_t>(clock_.WallNs()));
  list.issued_ns = clock_.WallNs();
  for (const auto& n : *nodes) {
    mesh::Member m;
    m.node_id = n.id;
    m.name = n.name;
    m.role = n.role == "primary" ? mesh::NodeRole::kPrimary : mesh::NodeRole::kWorker;
    auto sk = mesh::FromHex(n.signing_key_hex);
    auto ck = mesh::FromHex(n.curve_key_hex);
    if (!sk.ok() || !ck.ok() || sk->size() != 32 || ck->size() != 32) continue;
    std::copy(sk->begin(), sk->end(), m.signing_key.begin());
    std::copy(ck->begin(), ck->end(), m.curve_key.begin());
    m.endpoint = n.endpoint;
    list.members.push_back(std::move(m));
  }
  MESH_RETURN_IF_ERROR(ca_->SignMemberList(list));
  MESH_RETURN_IF_ERROR(mesh_->ApplyMemberList(list));
  MESH_RETURN_IF_ERROR(lists_.Publish(list));
  next_delivery_ = {};
  DeliverMembers();
  return Status::Ok();
}

// A member that misses a list update never learns of the members admitted
// with it (it refuses their CURVE keys, they never hear from it directly), so
// the list is re-sent to each member until the transport takes it on a
// completed connection: a fire-and-forget broadcast lost updates when several
// swarmlets joined at once (their connections were still handshaking).
void GpuPeer::DeliverMembers() {
  const auto now = clock_.Now();
  if (lists_.epoch() == 0 || now < next_delivery_) return;
  next_delivery_ = now + std::chrono::milliseconds(20);
  for (const mesh::Member& m : mesh_->members().members) {
    if (m.node_id == self_id_) continue;
    const auto message = lists_.Next(m.node_id);
    if (!message) continue;
    auto sent = mesh_->transport().Send(m.node_id, message->type, *message->payload);
    if (sent.ok() && *sent == mesh::SendOutcome::kQueued) lists_.Queued(m.node_id, *message);
  }
  if (const auto& t = lists_.totals(); !(t == totals_said_) && now >= next_totals_log_) {
    Log("Member lists sent: " + std::to_string(t.full) + " full (" + std::to_string(t.full_bytes) +
        " bytes), " + std::to_string(t.delta) + " deltas (" + std::to_string(t.delta_bytes) + " bytes)");
    totals_said_ = t;
    next_totals_log_ = now + std::chrono::seconds(2);
  }
}

Status GpuPeer::Start() {
  advertise_ = !o_.advertise_ip.empty() ? o_.advertise_ip
               : o_.listen_ip == "0.0.0.0" ? FirstNonLoopbackIpv4()
                                           : o_.listen_ip;
  auto gpu = MakeGpuPaths(o_.gpu, kGpuCrossovers,
                          std::make_unique<consensus::CpuVerifier>(consensus::CpuVerifier::Options{1, 8, true, 128}),
                          &out_);
  if (!gpu.ok()) return gpu.status();
  gpu_ = std::move(*gpu);
  Log(gpu_.StartupLine());
  MESH_RETURN_IF_ERROR(LoadOrCreateIdentity());
  auto store = state::OpenSqliteStore(o_.state_dir + "/state.db");
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  auto log = mesh::TimingLog::Open(o_.state_dir + "/timing.jsonl", o_.name, clock_);
  if (!log.ok()) return log.status();
  log_ = std::move(*log);
  gpu_.verify_counter->SetTimingLog(log_.get());
  gpu_.place_counter->SetTimingLog(log_.get());
  log_->SetObserver([this](std::string_view event, std::string_view phase, double ms) {
    histograms_.Observe(event, phase, ms / 1000.0);
  });
  // primary-gpu is a node too: its workloads run through the same executor.
  swarmlet::WorkloadHostOptions host_options;
  host_options.state_dir = o_.state_dir;
  host_options.node_name = o_.name;
  auto host = swarmlet::WorkloadHost::Open(std::move(host_options));
  if (!host.ok()) return host.status();
  if (!(*host)->available()) {
    std::cerr << "stratoswarm: WARNING: " << o_.name << " cannot run workloads: " << (*host)->unavailable_reason()
              << "\n";
  }
  workloads_ = std::make_unique<WorkloadManager>(*store_, *log_, clock_, self_id_, std::move(*host), out_,
                                                 std::move(gpu_.scheduler));
  // The cluster's images (issue 15): <state-dir>/images, served to the nodes by digest.
  auto image_store = images::ImageStore::Open(o_.state_dir + "/images");
  if (!image_store.ok()) return image_store.status();
  image_store_ = std::move(*image_store);
  image_service_ = std::make_unique<ImageService>(*image_store_);
  workloads_->SetImages(image_service_.get());
  // The API first: a second serve on this state dir stops here, before any port.
  auto api = api::ApiServer::Start(o_.state_dir, ApiHandlers());
  if (!api.ok()) return api.status();
  api_ = std::move(*api);
  MESH_RETURN_IF_ERROR(RegisterSelf());

  mesh::ZmqTransportOptions t;
  t.self_id = self_id_;
  t.bind_endpoint = "tcp://" + o_.listen_ip + ":" + std::to_string(o_.mesh_port);
  t.datagrams = true;  // membership by UDP, links only where there is work (zmq_transport.h)
  t.idle_link_close = mesh::kMemberIdleLinkClose;
  t.keys.public_key = ca_->public_keys().curve_key;
  std::copy(ca_->curve_keys().secret_key.data(), ca_->curve_keys().secret_key.data() + 32,
            t.keys.secret_key.begin());
  auto transport = mesh::CreateZmqTransport(std::move(t));
  if (!transport.ok()) return transport.status();
  auto member = mesh::MeshMember::Create(std::move(*transport), ca_->public_keys(),
                                         mesh::FailureDetectorConfig::Scaled(o_.heartbeat), clock_);
  if (!member.ok()) return member.status();
  mesh_ = std::move(*member);
  witness_.emplace(consensus::FailureWitness::ForDetector(mesh_->detector()));
  if (auto nodes = store_->ListNodes(); nodes.ok()) {
    for (const auto& n : *nodes) {
      if (n.status == state::NodeStatus::kDown || n.status == state::NodeStatus::kUnreachable) {
        away_[n.id] = {clock_.Now(), n.status == state::NodeStatus::kDown};
      }
    }
  }
  MESH_RETURN_IF_ERROR(PublishMembers());
  MESH_RETURN_IF_ERROR(OpenJoinEndpoint());

  const swarmlet::BootstrapInfo info{ca_->public_keys(), o_.join_port, o_.mesh_port};
  auto boot = BootstrapEndpoint::Start(o_.listen_ip, o_.bootstrap_port, swarmlet::EncodeBootstrapLine(info));
  if (!boot.ok()) return boot.status();
  bootstrap_ = std::move(*boot);
  const int bandwidth_port =
      o_.bandwidth_port != 0 ? o_.bandwidth_port : o_.mesh_port + swarmlet::kBandwidthPortOffset;
  auto bandwidth = BandwidthEndpoint::Start(o_.listen_ip, bandwidth_port, ca_->curve_keys(),
                                            [this](const mesh::CurvePublicKey& key) { return IsNodeKey(key); });
  if (!bandwidth.ok()) return bandwidth.status();
  bandwidth_ = std::move(*bandwidth);
  if (o_.mdns) {
    auto pub = swarmlet::ServicePublisher::Start("StratoSwarm " + cluster_id_, 
                                                 static_cast<std::uint16_t>(o_.bootstrap_port),
                                                 swarmlet::BootstrapTxt(info));
    if (pub.ok()) {
      mdns_ = std::move(*pub);
    } else {
      std::cerr << "stratoswarm: WARNING: not announcing on mDNS (" << pub.status().message()
                << "); swarmlets must join with --cluster " << advertise_ << "\n";
    }
  }
  if (o_.metrics_port != 0) {
    swarmlet::MetricsHttpOptions options;
    options.bind_address = o_.metrics_address;
    options.port = static_cast<std::uint16_t>(o_.metrics_port);
    auto metrics = swarmlet::MetricsHttpThread::Start(
        options, [this] { return PeerMetricsText(o_.state_dir, *store_, histograms_, GpuPathFamilies(gpu_)); });
    if (!metrics.ok()) return metrics.status();
    metrics_ = std::move(*metrics);
    Log("Serving metrics on http://" + o_.metrics_address + ":" + std::to_string(metrics_->port()) +
        "/metrics");
  }
  if (o_.dashboard_port != 0) MESH_RETURN_IF_ERROR(StartDashboard());
  Log("GPU peer " + o_.name + " serving cluster " + cluster_id_ + ": mesh " + advertise_ + ":" +
      std::to_string(o_.mesh_port) + ", join " + std::to_string(o_.join_port) + ", bootstrap " +
      std::to_string(o_.bootstrap_port) + ", bandwidth " + std::to_string(bandwidth_->port()) +
      ", state " + o_.state_dir);
  return Status::Ok();
}

swarmlet::JoinResponse GpuPeer::Admit(const swarmlet::JoinRequest& req) {
  swarmlet::JoinResponse refuse;
  const std::int64_t now = clock_.WallNs();
  auto signed_bytes = swarmlet::JoinRequestSignedBytes(req);
  if (!signed_bytes.ok() || !mesh::VerifySignature(req.signing_key, *signed_bytes, req.signature).ok()) {
    refuse.error = "the join request's signature does not verify";
    return refuse;
  }
  // A removed node's saved identity (it signed with its key) is refused, with its removal date.
  if (auto refusal = RevokedRefusal(*store_, mesh::ToHex(req.signing_key))) {
    refuse.error = *refusal;
    return refuse;
  }
  if (!mesh::IsValidNodeName(req.name)) {
    refuse.error = "node name '" + mesh::LoggableName(req.name) + "' must be 1.." +
                   std::to_string(mesh::kMaxNodeNameBytes) + " characters of [A-Za-z0-9._-]";
    return refuse;
  }
  if (req.sent_ns < now - kJoinFreshnessNs || req.sent_ns > now + kJoinFreshnessNs) {
    refuse.error = std::string(swarmlet::kJoinClockRefusal) + ": check the clock on " + req.name;
    return refuse;
  }
  const swarmlet::JoinToken presented{std::string(64, '0'), req.token_secret};
  auto hash = presented.SecretHashHex();
  auto token = hash.ok() ? store_->FindTokenByHash(*hash) : Result<std::optional<state::TokenRecord>>(hash.status());
  if (!token.ok() || !token->has_value()) {
    refuse.error = "invalid join token (not issued by this cluster, or mistyped)";
    return refuse;
  }
  const state::TokenRecord& t = **token;
  if (t.revoked) {
    refuse.error = "join token " + t.id + " was revoked";
    return refuse;
  }
  if (t.expires_ns <= now) {
    refuse.error = "join token " + t.id + " expired at " + IsoTime(t.expires_ns) +
                   "; create a new one with 'stratoswarm cluster create-join-token'";
    return refuse;
  }
  // Only token holders get this far, so only they can fill the replay cache.
  std::erase_if(seen_nonces_, [now](const auto& kv) { return kv.second < now; });
  if (seen_nonces_.size() >= kMaxJoinNonces) {
    refuse.error = "too many joins in the last " + std::to_string(2 * kJoinFreshnessNs / kNsPerSec) +
                   " s; retry later";
    return refuse;
  }
  if (!seen_nonces_.emplace(mesh::ToHex(req.nonce), now + 2 * kJoinFreshnessNs).second) {
    refuse.error = "replayed join request refused";
    return refuse;
  }
  if (!mesh::IsValidEndpoint(req.mesh_endpoint)) {
    refuse.error = "bad mesh endpoint '" + req.mesh_endpoint + "'";
    return refuse;
  }
  auto id = swarmlet::NodeIdFor(req.signing_key);
  if (!id.ok()) {
    refuse.error = id.status().message();
    return refuse;
  }
  // A name belongs to one node; a Down node's name may be taken over.
  if (auto same = store_->FindNodeByName(req.name); same.ok() && same->has_value() && (*same)->id != *id) {
    if ((*same)->status == state::NodeStatus::kReady || (*same)->role == "primary") {
      refuse.error = "node name " + req.name + " is in use by a Ready node; pick another --name";
      return refuse;
    }
  }

  mesh::NodeCertificate cert;
  cert.node_id = *id;
  cert.name = req.name;
  cert.role = t.role == "manager" ? mesh::NodeRole::kPrimary : mesh::NodeRole::kWorker;
  cert.labels = req.labels;
  cert.signing_key = req.signing_key;
  cert.curve_key = req.curve_key;
  cert.not_before_ns = now - std::chrono::nanoseconds(swarmlet::kCertBackdate).count();  // tolerate clock skew
  cert.not_after_ns = now + std::chrono::duration_cast<std::chrono::nanoseconds>(o_.cert_ttl).count();
  if (auto st = ca_->SignCertificate(cert); !st.ok()) {
    refuse.error = st.message();
    return refuse;
  }
  state::NodeRecord n;
  n.id = cert.node_id;
  n.name = cert.name;
  n.role = std::string(mesh::NodeRoleName(cert.role));
  n.type = NodeType(req.profile);
  n.arch = req.profile.arch;
  n.model = req.profile.model;
  n.cores = req.profile.cores;
  n.memory_mb = req.profile.memory_mb;
  n.gpu = req.profile.gpu;
  n.health.memory_controller = req.profile.memory_controller;  // known before its first health message
  n.labels = cert.labels;
  n.endpoint = req.mesh_endpoint;
  n.curve_key_hex = mesh::ToHex(cert.curve_key);
  n.signing_key_hex = mesh::ToHex(cert.signing_key);
  n.joined_ns = now;
  n.cert_not_after_ns = cert.not_after_ns;
  n.status_since_ns = now;
  if (auto same = store_->FindNodeByName(req.name); same.ok() && same->has_value() && (*same)->id != *id) {
    (void)store_->SetNodeStatus((*same)->id, state::NodeStatus::kDown, now);
  }
  if (auto st = store_->PutNode(n); !st.ok()) {
    refuse.error = "cannot record the node: " + st.message();
    return refuse;
  }
  (void)store_->CountTokenUse(t.id);
  (void)store_->AppendEvent({0, now, "node_joined", n.id, n.name + " " + n.arch + " " + n.endpoint});
  if (auto st = PublishMembers(); !st.ok()) {
    refuse.error = "cannot update the member list: " + st.message();
    return refuse;
  }
  swarmlet::JoinResponse ok;
  ok.accepted = true;
  ok.cluster_id = cluster_id_;
  ok.certificate = cert;
  ok.members = mesh_->members();
  lists_.Joined(n.id);  // the join response carries the list
  return ok;
}

void GpuPeer::DrainJoinRequests() {
  const auto now = clock_.Now();
  if (const std::uint64_t unsaid = refusals_said_.TakeSuppressed(now); unsaid > 0) {
    std::cerr << "stratoswarm: refused " << unsaid << " more join request(s) (not each said)\n";
    (void)log_->Record("join", "refused_unsaid", 0, {{"count", static_cast<std::int64_t>(unsaid)}});
  }
  for (int turn = 0; turn < kJoinRequestsPerTurn; ++turn) {
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, join_socket_, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&id);
      return;
    }
    zmq_msg_init(&body);
    const bool two_frames = zmq_msg_more(&id) && zmq_msg_recv(&body, join_socket_, 0) >= 0;
    const auto started = clock_.Now();
    const char* address = two_frames ? zmq_msg_gets(&body, "Peer-Address") : nullptr;
    const std::string source = address != nullptr ? address : "?";
    swarmlet::JoinResponse response;
    std::string name = "?";
    // The source's rate first: before any decoding, signature or token work.
    const bool allowed = join_rate_.Allow(source, started);
    Result<mesh::Envelope> env = Status::Corrupt("join", "one frame");
    if (allowed && two_frames) {
      env = mesh::Decode({static_cast<const char*>(zmq_msg_data(&body)), zmq_msg_size(&body)});
    }
    if (!allowed) {
      response.error = "too many join requests from " + source + "; retry in a few seconds";
    } else if (!env.ok() || env->type != mesh::MsgType::kJoinRequest) {
      response.error = "not a join request";
    } else if (auto req = swarmlet::DecodeJoinRequest(env->payload); !req.ok()) {
      response.error = "malformed join request: " + req.status().message();
    } else {
      name = mesh::LoggableName(req->name);
      response = Admit(*req);
    }
    const double ms = Ms(clock_.Now() - started).count();
    if (response.accepted) {
      Log("Admitted " + name + " (" + response.certificate.node_id + ") in " + std::to_string(ms).substr(0, 5) + " ms");
      (void)log_->Record("join", "admit", ms, {{"name", name}});
    } else if (refusals_said_.Allow(started)) {
      std::cerr << "stratoswarm: refused join from " << name << " at " << source << ": " << response.error << "\n";
      (void)log_->Record("join", "refused", ms, {{"name", name}, {"source", source}, {"reason", response.error}});
    }
    auto payload = swarmlet::EncodeJoinResponse(response);
    mesh::Envelope reply;
    reply.type = mesh::MsgType::kJoinResponse;
    reply.sender = self_id_;
    reply.sent_ns = clock_.WallNs();
    if (payload.ok()) reply.payload = std::move(*payload);
    if (auto bytes = mesh::Encode(reply); bytes.ok() && two_frames) {
      zmq_msg_send(&id, join_socket_, ZMQ_SNDMORE | ZMQ_DONTWAIT);
      zmq_send(join_socket_, bytes->data(), bytes->size(), ZMQ_DONTWAIT);
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
  }
}

void GpuPeer::OnMessage(const mesh::Envelope& env) {
  if (env.type == mesh::MsgType::kVote) return OnVote(env);
  if (env.type == mesh::MsgType::kNodeNotice) return OnNodeNotice(env);
  if (env.type == mesh::MsgType::kCertRenew) return OnCertRenew(env);
  if (env.type == mesh::MsgType::kImageFetch) {
    // Any member may fetch any image by digest (the mesh admits members only).
    auto fetch = swarmlet::DecodeImageFetch(env.payload);
    if (!fetch.ok()) return;
    if (auto bytes = swarmlet::EncodeImageChunk(image_service_->ServeFetch(*fetch)); bytes.ok()) {
      (void)mesh_->Send(env.sender, mesh::MsgType::kImageChunk, *bytes);
    }
    return;
  }
  if (env.type == mesh::MsgType::kWorkloadStatus) {
    auto status = swarmlet::DecodeWorkloadStatus(env.payload);
    if (status.ok()) {
      workloads_->OnStatus(env.sender, *status);
    } else {
      std::cerr << "stratoswarm: bad workload status from " << env.sender << ": " << status.status().message() << "\n";
    }
    return;
  }
  if (env.type == mesh::MsgType::kNodeHealth) {
    const auto view = mesh_->detector().Member(env.sender);
    if (auto st = ApplyNodeHealth(*store_, env.sender, env.payload, clock_.WallNs(),
                                  view ? view->rtt : std::nullopt);
        !st.ok()) {
      std::cerr << "stratoswarm: node health from " << env.sender << " refused: " << st.message() << "\n";
    }
    return;
  }
  if (env.type == mesh::MsgType::kMemberListRequest) {
    // A delta it could not apply, or a hello after its start (it speaks deltas).
    if (auto request = mesh::DecodeMemberListRequest(env.payload); request.ok()) {
      lists_.Requested(env.sender, *request);
    }
    return;
  }
  if (env.type != mesh::MsgType::kJoinReport) return;
  // Sent on every start: a restarted swarmlet rejoined with the list it saved,
  // which may be older than ours.
  lists_.Restarted(env.sender);
  std::vector<double> ms;
  try {
    // A handful of phase timings: limits keep a hostile header (an array
    // claiming 2^28 elements) from making msgpack allocate gigabytes.
    std::size_t offset = 0;
    const msgpack::unpack_limit limits(16, 0, 0, 0, 0, 2);
    msgpack::object_handle h =
        msgpack::unpack(env.payload.data(), env.payload.size(), offset, nullptr, nullptr, limits);
    h.get().convert(ms);
  } catch (const std::exception&) {
    return;  // a malformed report is not worth a node's membership
  }
  auto node = store_->GetNode(env.sender);
  if (!node.ok() || ms.empty()) return;
  node->join_ms = ms[0];
  (void)store_->PutNode(*node);
  // A swarmlet back from a quick restart may never have gone quiet long
  // enough to be suspected (no kAliveAgain): its join report says it is back.
  if (node->status == state::NodeStatus::kRestarting) NodeBack(env.sender, "rejoined");
  Log("Node " + node->name + " joined in " + std::to_string(ms[0]).substr(0, 6) + " ms");
}

void GpuPeer::OnEvent(const mesh::FdEvent& e) {
  auto node = store_->GetNode(e.member);
  const std::string name = node.ok() ? node->name : e.member;
  auto since = [&](std::optional<mesh::MonoTime> t) { return t ? Ms(e.at - *t).count() : 0.0; };
  // A rumor about a member this peer heard itself within its own silence
  // bound starts no vote round (failure_quorum.h): the subject refutes it,
  // and if it has died this peer's own detector suspects it shortly.
  const bool contradicted =
      RumorContradictedFirstHand(e, self_id_, mesh_->detector().config().probe_timeout);
  switch (e.kind) {
    case mesh::FdEventKind::kSuspect:
      (void)log_->Record("failure_detection", "suspect", since(e.last_heard), {{"name", name}});
      if (!contradicted) ProposeFailure(e);
      break;
    case mesh::FdEventKind::kDeclared:
      // Only a quorum of members decides a failure (ProposeFailure / OnVote).
      // A suspicion that came as a rumor may have been voted down while the
      // node was alive; if it has died since, this proposes again.
      (void)log_->Record("failure_detection", "declared_locally", since(e.last_heard), {{"name", name}});
      if (!contradicted && (!node.ok() || node->status != state::NodeStatus::kDown)) ProposeFailure(e);
      break;
    case mesh::FdEventKind::kAliveAgain:
      // Maybe only a rumor: a Down or Unreachable node is Ready again only
      // when this peer hears it itself (CheckFirstHand).
      proposals_.erase(e.member);
      if (away_.contains(e.member)) break;
      if (node.ok() && node->status == state::NodeStatus::kRestarting) NodeBack(e.member, "alive again");
      workloads_->OnNodeReady(e.member);
      break;
    case mesh::FdEventKind::kFormed:  // timed by the joining members, not here
    case mesh::FdEventKind::kRefuted:
      break;
  }
}

// A suspicion here (ours or a rumor of another member's) becomes a
// node_failed proposal: every member but the subject votes from what it
// itself hears of the subject (consensus::FailureWitness), this peer
// included, and a quorum of signed votes decides (consensus::Tally).
void GpuPeer::ProposeFailure(const mesh::FdEvent& e) {
  if (proposals_.contains(e.member) || e.member == self_id_) return;
  if (leaving_.contains(e.member)) return;  // it said goodbye: removed, not failed
  // A node that said it is restarting is not failed while its grace lasts.
  if (auto r = restarting_.find(e.member); r != restarting_.end() && clock_.Now() < r->second.until) return;
  if (auto a = away_.find(e.member); a != away_.end() && a->second.decided) return;  // decided already
  // Voters: every member but the subject and those decided Down or leaving,
  // suspected ones included: a quorum of the whole cluster decides, so a
  // GPU peer cut off from the others cannot decide alone.
  const FailureVoters voters = VotersFor(mesh_->members(), e.member, NonVoters());
  if (!voters.can_decide()) {
    if (e.kind == mesh::FdEventKind::kDeclared) MarkUnreachable(e.member);
    return;
  }
  CheckHearing();
  if (isolated_) return;  // said in CheckHearing; proposed again once it hears a majority
  auto members = consensus::MemberList::Create(voters.members);
  if (!members.ok()) return;
  consensus::Proposal p;
  p.kind = consensus::ProposalKind::kNodeFailed;
  p.term = ++term_;
  p.subject = e.member;
  p.payload_hash = consensus::VoterSetHash(voters.ids);
  p.proposer = self_id_;
  auto bytes = consensus::EncodeProposal(p);
  if (!bytes.ok()) return;
  proposals_[e.member] = OpenProposal{std::make_unique<consensus::Tally>(p, *members, *gpu_.verifier), voters.ids,
                                      e.last_heard.value_or(e.at), clock_.Now()};
  witness_->Add(p, self_id_, clock_.Now());
  for (const auto& id : voters.ids) {
    if (id != self_id_) (void)mesh_->Send(id, mesh::MsgType::kProposal, *bytes);
  }
  CastOwnVotes();  // at once when the subject is already silent here
}

// This peer's verdicts that are due: signed and counted like any member's.
void GpuPeer::CastOwnVotes() {
  for (const consensus::FailureWitness::Answer& a : witness_->Due(clock_.Now())) {
    auto it = proposals_.find(a.proposal.subject);
    if (it == proposals_.end() || it->second.tally->proposal().term != a.proposal.term) continue;
    auto own = consensus::MakeSignedVote(a.proposal, self_id_, a.verdict, ca_->signing_keys().secret_key);
    if (!own.ok() || !it->second.tally->Add(*own).ok()) continue;
    if (it->second.tally->decided()) Decided(a.proposal.subject);
  }
}

void GpuPeer::OnVote(const mesh::Envelope& env) {
  auto vote = consensus::DecodeVote(env.payload);
  if (!vote.ok()) return;
  for (auto& [subject, open] : proposals_) {
    if (open.tally->proposal_id() != vote->proposal_id) continue;
    auto outcome = open.tally->Add(*vote);
    if (outcome.ok() && *outcome != consensus::VoteOutcome::kCounted &&
        *outcome != consensus::VoteOutcome::kDuplicate) {
      std::cerr << "stratoswarm: vote from " << vote->voter << " on " << subject << ": "
                << consensus::VoteOutcomeName(*outcome) << "\n";
    }
    if (open.tally->decided()) Decided(subject);
    return;
  }
}

void GpuPeer::Decided(const std::string& subject) {
  auto it = proposals_.find(subject);
  const consensus::Decision& d = *it->second.tally->decision();
  const double ms = Ms(clock_.Now() - it->second.last_heard).count();
  auto node = store_->GetNode(subject);
  const std::string name = node.ok() ? node->name : subject;
  const auto& c = it->second.tally->counts();
  const std::int64_t yes = static_cast<std::int64_t>(c.counted_yes), no = static_cast<std::int64_t>(c.counted_no);
  auto certificate = consensus::EncodeDecision(d);
  if (d.outcome == consensus::Outcome::kYes) {
    away_[subject] = {clock_.Now(), true};
    (void)store_->SetNodeStatus(subject, state::NodeStatus::kDown, clock_.WallNs());
    (void)store_->AppendEvent({0, clock_.WallNs(), "node_failed", subject,
                               certificate.ok() ? mesh::ToHex(std::span<const std::uint8_t>(
                                                      reinterpret_cast<const std::uint8_t*>(certificate->data()),
                                                      certificate->size()))
                                                : ""});
    (void)log_->Record("failure_detection", "decided", ms, {{"name", name}, {"yes", yes}, {"no", no}});
    // The members check the certificate before they act on it (consensus/quorum.h).
    if (auto notice = consensus::EncodeDecisionNotice({d, it->second.voters}); notice.ok()) {
      mesh_->Broadcast(mesh::MsgType::kDecision, *notice);
    }
    Log("Node " + name + " is Down: failure decided by " + std::to_string(yes) + " signed votes, " +
        std::to_string(ms).substr(0, 6) + " ms after its last message");
    workloads_->OnNodeDown(subject, it->second.last_heard);
  } else {
    (void)log_->Record("failure_detection", "refuted_by_quorum", ms, {{"name", name}, {"yes", yes}, {"no", no}});
    Log("Node " + name + " is not failed: " + std::to_string(no) + " members still hear it");
  }
  proposals_.erase(it);
}

Status GpuPeer::StartDashboard() {
  auto handlers = ApiHandlers();
  auto list = [](api::Handler handler, Json request) -> dashboard::JsonSource {
    return [handler = std::move(handler), request = std::move(request)]() -> Result<std::string> {
      auto rows = handler(request);
      if (!rows.ok()) return rows.status();
      return rows->dump(-1, ' ', false, Json::error_handler_t::replace);
    };
  };
  dashboard::DashboardOptions options;
  options.address = o_.dashboard_address;
  options.port = o_.dashboard_port;
  options.timing_log = log_->path();
  auto started = dashboard::Dashboard::Start(
      std::move(options), {list(handlers.at("nodes"), Json::object()), list(handlers.at("ps"), Json{{"all", true}})});
  if (!started.ok()) return started.status();
  dashboard_ = std::move(*started);
  log_->SetObserver([this, dashboard = dashboard_](std::string_view event, std::string_view phase, double ms) {
    histograms_.Observe(event, phase, ms / 1000.0);
    dashboard->Poke();
  });
  Log("Serving the dashboard on http://" + o_.dashboard_address + ":" + std::to_string(dashboard_->port()) + "/");
  return Status::Ok();
}

bool GpuPeer::IsNodeKey(const mesh::CurvePublicKey& key) {
  auto nodes = store_->ListNodes();
  if (!nodes.ok()) return false;
  const std::string hex = mesh::ToHex(key);
  if (RevokedRefusal(*store_, hex)) return false;  // removed with node rm
  for (const auto& n : *nodes) {
    if (n.curve_key_hex == hex && n.id != self_id_) return true;
  }
  return false;
}

// `stratoswarm node rm` (serve/node_lifecycle.h): on the mesh thread, which
// owns the member list and the workload manager.
Result<Json> GpuPeer::RemoveNode(const std::string& name, bool force) {
  auto found = store_->FindNodeByName(name);
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    return Status::NotFound("node rm " + name, "no node named " + name + " (stratoswarm node ls)");
  }
  const state::NodeRecord node = **found;
  // Reachable: heard first-hand lately (a member never heard is Alive too).
  const auto view = mesh_->detector().Member(node.id);
  const bool reachable = view && view->state == mesh::MemberState::kAlive && view->last_heard &&
                         clock_.Now() - *view->last_heard < 3 * o_.heartbeat + std::chrono::seconds(1);
  auto told = CheckRemoval(node, reachable, force);
  if (!told.ok()) return told.status();
  const auto now = clock_.Now();
  const std::int64_t wall = clock_.WallNs();
  const auto moving = store_->ListWorkloads(node.id);
  workloads_->OnNodeDown(node.id, now);  // while its name is still recorded
  const state::RevokedNodeRecord revoked = RevocationOf(node, wall, *told, force);
  MESH_RETURN_IF_ERROR(store_->RevokeNode(revoked));
  restarting_.erase(node.id);
  proposals_.erase(node.id);
  (void)store_->AppendEvent({0, wall, "node_removed", node.id, node.name + " (" + revoked.reason + ")"});
  (void)log_->Record("node", "removed", 0, {{"name", node.name}, {"told", std::string(*told ? "yes" : "no")}});
  Log("Node " + node.name + " was removed from the cluster (" + revoked.reason + "); its certificate is revoked");
  if (*told) {
    // Told over its own connection, then dropped from the member list a
    // moment later (as a leaving node), which closes that connection.
    if (auto bytes = swarmlet::EncodeNodeNotice(swarmlet::NodeNotice::kRemoved); bytes.ok()) {
      (void)mesh_->Send(node.id, mesh::MsgType::kNodeNotice, *bytes);
    }
    leaving_[node.id] = now + std::chrono::seconds(1);
  } else if (auto st = PublishMembers(); !st.ok()) {
    std::cerr << "stratoswarm: member list not updated after removing " << node.name << ": " << st.message() << "\n";
  }
  std::int64_t moved = 0;
  if (moving.ok()) {
    for (const auto& w : *moving) {  // what WorkloadManager moves: wanted and Starting or Running
      const bool active = w.phase == state::WorkloadPhase::kStarting || w.phase == state::WorkloadPhase::kRunning;
      moved += w.desired_running && active ? 1 : 0;
    }
  }
  return Json{{"id", node.id}, {"name", node.name}, {"revoked", IsoTime(wall)}, {"told", *told},
              {"reason", revoked.reason}, {"workloads", moved}};
}

// A member's certificate renewal (swarmlet/cert_renewal.h): the same keys,
// a new validity; refused for removed or unknown nodes.
void GpuPeer::OnCertRenew(const mesh::Envelope& env) {
  auto request = swarmlet::DecodeCertRenew(env.payload);
  if (!request.ok()) return;
  const auto started = clock_.Now();
  swarmlet::CertRenewResponse response;
  auto cert = RenewCertificate(*ca_, *store_, env.sender, clock_.WallNs(), o_.cert_ttl);
  if (cert.ok()) {
    response.certificate = *cert;
    (void)log_->Record("cert", "renew", Ms(clock_.Now() - started).count(), {{"name", cert->name}});
    Log("Renewed the certificate of " + cert->name + " until " + IsoTime(cert->not_after_ns));
  } else {
    response.error = cert.status().message();
    std::cerr << "stratoswarm: certificate renewal for " << env.sender << " refused: " << response.error << "\n";
  }
  if (auto bytes = swarmlet::EncodeCertRenewed(response); bytes.ok()) {
    (void)mesh_->Send(env.sender, mesh::MsgType::kCertRenewed, *bytes);
  }
}

// A node's notice about itself, over its own authenticated connection.
void GpuPeer::OnNodeNotice(const mesh::Envelope& env) {
  auto notice = swarmlet::DecodeNodeNotice(env.payload);
  auto node = store_->GetNode(env.sender);
  if (!notice.ok() || !node.ok() || env.sender == self_id_) return;
  if (*notice == swarmlet::NodeNotice::kRemoved) return;  // only the GPU peer removes
  const auto now = clock_.Now();
  if (*notice == swarmlet::NodeNotice::kRestarting) {
    if (node->status == state::NodeStatus::kDown) return;
    restarting_[env.sender] = {now + o_.restart_grace, now, false};
    proposals_.erase(env.sender);
    (void)store_->SetNodeStatus(env.sender, state::NodeStatus::kRestarting, clock_.WallNs());
    (void)store_->AppendEvent({0, clock_.WallNs(), "node_restarting", env.sender, "said so"});
    (void)log_->Record("node", "restarting", 0, {{"name", node->name}});
    Log("Node " + node->name + " is Restarting; its workloads stay unless it is away more than " +
        std::to_string(o_.restart_grace.count()) + " s");
    return;
  }
  // Leaving for good (`swarmlet leave`): its workloads move, it gets a
  // leaving notice back as the confirmation, and it goes from the member
  // list a second later (CheckRestarting).
  restarting_.erase(env.sender);
  proposals_.erase(env.sender);
  if (leaving_.contains(env.sender)) return;
  workloads_->OnNodeDown(env.sender, now);
  (void)store_->AppendEvent({0, clock_.WallNs(), "node_left", env.sender, node->name});
  (void)log_->Record("node", "left", 0, {{"name", node->name}});
  Log("Node " + node->name + " left the cluster");
  if (auto bytes = swarmlet::EncodeNodeNotice(swarmlet::NodeNotice::kLeaving); bytes.ok()) {
    (void)mesh_->Send(env.sender, mesh::MsgType::kNodeNotice, *bytes);
  }
  leaving_[env.sender] = now + std::chrono::seconds(1);
}

void GpuPeer::NodeBack(const std::string& id, std::string_view how) {
  auto it = restarting_.find(id);
  const double away_s = it != restarting_.end()
                            ? std::chrono::duration<double>(clock_.Now() - it->second.since).count()
                            : 0.0;
  restarting_.erase(id);
  auto node = store_->GetNode(id);
  if (!node.ok() || node->status != state::NodeStatus::kRestarting) return;
  (void)store_->SetNodeStatus(id, state::NodeStatus::kReady, clock_.WallNs());
  (void)store_->AppendEvent({0, clock_.WallNs(), "node_ready", id, std::string(how) + " after a restart"});
  (void)log_->Record("node", "restarted", away_s * 1000, {{"name", node->name}});
  char away[32];
  std::snprintf(away, sizeof away, "%.1f", away_s);
  Log("Node " + node->name + " is Ready again after its restart (" + away + " s away)");
}

// A restarting node that stays away past its grace is proposed failed like
// any silent node (again every 5 s until decided, as its suspicion came and
// went while the grace held).
void GpuPeer::CheckRestarting() {
  const auto now = clock_.Now();
  for (auto it = leaving_.begin(); it != leaving_.end();) {
    if (now < it->second) {
      ++it;
      continue;
    }
    (void)store_->DeleteNode(it->first);
    it = leaving_.erase(it);
    if (auto st = PublishMembers(); !st.ok()) {
      std::cerr << "stratoswarm: member list not updated after a node left: " << st.message() << "\n";
    }
  }
  for (auto it = restarting_.begin(); it != restarting_.end();) {
    auto node = store_->GetNode(it->first);
    if (!node.ok() || node->status != state::NodeStatus::kRestarting) {
      it = restarting_.erase(it);
      continue;
    }
    if (now < it->second.until) {
      ++it;
      continue;
    }
    const auto view = mesh_->detector().Member(it->first);
    if (view && view->state == mesh::MemberState::kAlive) {
      const std::string id = it->first;
      ++it;
      NodeBack(id, "alive");
      continue;
    }
    if (!it->second.overdue) {
      it->second.overdue = true;
      Log("Node " + node->name + " did not come back within " + std::to_string(o_.restart_grace.count()) +
          " s of its restart");
    }
    mesh::FdEvent e;
    e.kind = mesh::FdEventKind::kDeclared;  // its grace is over: as if declared here
    e.member = it->first;
    e.at = now;
    e.last_heard = view ? view->last_heard : std::nullopt;
    const std::string id = it->first;
    ++it;
    // Past its grace: proposed like any silent node, again every 5 s until decided.
    if (!proposals_.contains(id)) {
      restarting_[id].until = now;
      ProposeFailure(e);
      restarting_[id].until = now + std::chrono::seconds(5);
    }
  }
}

std::set<std::string> GpuPeer::NonVoters() const {
  std::set<std::string> out;
  for (const auto& [id, away] : away_) {
    if (away.decided) out.insert(id);
  }
  for (const auto& [id, until] : leaving_) out.insert(id);
  return out;
}

// The two-member case: this peer alone cannot decide the node failed, so it
// is shown Unreachable and its workloads stay where they are.
void GpuPeer::MarkUnreachable(const std::string& id) {
  auto node = store_->GetNode(id);
  if (!node.ok() || node->status == state::NodeStatus::kDown || node->status == state::NodeStatus::kUnreachable) {
    return;
  }
  away_[id] = {clock_.Now(), false};
  (void)store_->SetNodeStatus(id, state::NodeStatus::kUnreachable, clock_.WallNs());
  (void)store_->AppendEvent({0, clock_.WallNs(), "node_unreachable", id, "no quorum without the GPU peer alone"});
  (void)log_->Record("failure_detection", "unreachable", 0, {{"name", node->name}});
  Log("Node " + node->name + " is Unreachable: no other member can vote on its failure and the GPU peer " +
      "never decides alone; its workloads stay (stratoswarm node rm --force " + node->name + " moves them)");
}

void GpuPeer::CheckHearing() {
  const Hearing h = HearingOf(mesh_->members(), self_id_, NonVoters(), mesh_->detector().Members(), clock_.Now(),
                              Fresh());
  const bool was = isolated_;
  hearing_ = h;
  isolated_ = h.isolated();
  if (isolated_ == was) return;
  const std::int64_t heard = static_cast<std::int64_t>(h.heard), members = static_cast<std::int64_t>(h.members);
  if (isolated_) {
    (void)log_->Record("cluster", "isolated", 0, {{"heard", heard}, {"members", members}});
    Log("GPU peer " + o_.name + " is isolated: " + h.Describe() + "; it decides no failure until it hears a majority");
    return;
  }
  (void)log_->Record("cluster", "majority", 0, {{"heard", heard}, {"members", members}});
  Log("GPU peer " + o_.name + " hears a majority again: " + h.Describe());
  // Members still silent now were suspected while this peer could not
  // decide: propose them again (their voters answer from what they hear).
  for (const mesh::MemberView& v : mesh_->detector().Members()) {
    if (v.id == self_id_ || v.state == mesh::MemberState::kAlive) continue;
    mesh::FdEvent e;
    e.kind = v.state == mesh::MemberState::kDeclared ? mesh::FdEventKind::kDeclared : mesh::FdEventKind::kSuspect;
    e.member = v.id;
    e.at = clock_.Now();
    e.last_heard = v.last_heard;
    ProposeFailure(e);
  }
}

void GpuPeer::CheckFirstHand() {
  const auto now = clock_.Now();
  for (auto it = away_.begin(); it != away_.end();) {
    auto node = store_->GetNode(it->first);
    if (!node.ok() ||
        (node->status != state::NodeStatus::kDown && node->status != state::NodeStatus::kUnreachable)) {
      it = away_.erase(it);  // removed, or readmitted through the join endpoint
      continue;
    }
    if (!HeardFirstHand(mesh_->detector().Member(it->first), it->second.since, now, Fresh())) {
      ++it;
      continue;
    }
    const std::string id = it->first;
    it = away_.erase(it);
    (void)store_->SetNodeStatus(id, state::NodeStatus::kReady, clock_.WallNs());
    (void)store_->AppendEvent({0, clock_.WallNs(), "node_ready", id, "heard directly"});
    Log("Node " + node->name + " is Ready again: heard from it directly");
    workloads_->OnNodeReady(id);
  }
}

// A proposal that gathers no quorum (members gone quiet) is dropped; a
// persisting suspicion proposes again on the detector's next suspect event.
void GpuPeer::ExpireProposals() {
  const auto now = clock_.Now();
  std::erase_if(proposals_, [&](const auto& kv) { return now - kv.second.opened > std::chrono::seconds(5); });
}

Status GpuPeer::Run(const std::atomic<bool>& stop) {
  while (!stop) {
    auto polled = mesh_->Poll(std::chrono::milliseconds(5));
    if (!polled.ok()) return polled.status();
    for (const auto& env : polled->messages) OnMessage(env);
    for (const auto& e : polled->events) OnEvent(e);
    CastOwnVotes();
    ExpireProposals();
    CheckRestarting();
    if (clock_.Now() >= next_check_) {
      next_check_ = clock_.Now() + std::chrono::milliseconds(50);
      CheckHearing();
      CheckFirstHand();
    }
    DrainJoinRequests();
    mesh_calls_.RunPending();
    DeliverMembers();
    workloads_->Pump([this](const std::string& node, const swarmlet::WorkloadCommand& command) {
      auto bytes = swarmlet::EncodeWorkloadCommand(command);
      return bytes.ok() && mesh_->Send(node, mesh::MsgType::kWorkloadCommand, *bytes).ok();
    });
    std::lock_guard lock(view_mu_);
    view_ = mesh_->detector().Members();
    status_hearing_ = hearing_;
    status_isolated_ = isolated_;
  }
  return Status::Ok();
}

Json NodeJson(const state::NodeRecord& n) {
  Json j = {{"id", n.id},           {"name", n.name},       {"role", n.role},
          {"type", n.type},       {"arch", n.arch},       {"model", n.model},
          {"cores", n.cores},     {"memory_mb", n.memory_mb}, {"gpu", n.gpu},
          {"labels", n.labels},   {"endpoint", n.endpoint},
          {"status", std::string(state::NodeStatusName(n.status))},
          {"joined", IsoTime(n.joined_ns)}, {"join_ms", n.join_ms},
          {"cert_expires", n.cert_not_after_ns ? IsoTime(n.cert_not_after_ns) : ""}};
  j.update(NodeHealthJson(n));  // health, conditions (docs/node_health.md)
  return j;
}

std::map<std::string, api::Handler> GpuPeer::ApiHandlers() {
  std::map<std::string, api::Handler> h;
  h["create-join-token"] = [this](const Json& r) -> Result<Json> {
    const std::int64_t ttl_s = r.value("ttl_s", 86400);
    const std::string role = r.value("role", "worker");
    auto token = swarmlet::NewJoinToken(ca_->FingerprintHex());
    if (!token.ok()) return token.status();
    auto hash = token->SecretHashHex();
    if (!hash.ok()) return hash.status();
    const std::int64_t now = clock_.WallNs();
    state::TokenRecord rec{token->Id(), *hash, role, now, now + ttl_s * kNsPerSec, false, 0};
    MESH_RETURN_IF_ERROR(store_->PutToken(rec));
    (void)store_->AppendEvent({0, now, "token_created", rec.id, role});
    return Json{{"token", token->ToString()}, {"id", rec.id}, {"role", role},
                {"expires", IsoTime(rec.expires_ns)}};
  };
  h["tokens"] = [this](const Json&) -> Result<Json> {
    auto tokens = store_->ListTokens();
    if (!tokens.ok()) return tokens.status();
    Json out = Json::array();
    const std::int64_t now = clock_.WallNs();
    for (const auto& t : *tokens) {
      out.push_back({{"id", t.id}, {"role", t.role}, {"created", IsoTime(t.created_ns)},
                     {"expires", IsoTime(t.expires_ns)}, {"uses", t.uses},
                     {"state", t.revoked ? "revoked" : t.expires_ns <= now ? "expired" : "active"}});
    }
    return out;
  };
  h["revoke-token"] = [this](const Json& r) -> Result<Json> {
    std::string id = r.at("token").get<std::string>();
    if (auto parsed = swarmlet::ParseJoinToken(id); parsed.ok()) id = parsed->Id();
    MESH_RETURN_IF_ERROR(store_->RevokeToken(id));
    (void)store_->AppendEvent({0, clock_.WallNs(), "token_revoked", id, ""});
    return Json{{"id", id}};
  };
  h["nodes"] = [this](const Json&) -> Result<Json> {
    auto nodes = store_->ListNodes();
    if (!nodes.ok()) return nodes.status();
    Json out = Json::array();
    for (const auto& n : *nodes) out.push_back(NodeJson(n));
    return out;
  };
  h["node-rm"] = [this](const Json& r) -> Result<Json> {
    const std::string name = r.at("name").get<std::string>();
    const bool force = r.value("force", false);
    return mesh_calls_.Call([this, name, force] { return RemoveNode(name, force); }, std::chrono::seconds(20));
  };
  h["nodes-revoked"] = [this](const Json&) -> Result<Json> {
    auto revoked = store_->ListRevokedNodes();
    if (!revoked.ok()) return revoked.status();
    Json out = Json::array();
    for (const auto& n : *revoked) {
      out.push_back({{"id", n.node_id}, {"name", n.name}, {"signing_key", n.signing_key_hex},
                     {"curve_key", n.curve_key_hex}, {"revoked", IsoTime(n.revoked_ns)}, {"reason", n.reason}});
    }
    return out;
  };
  h["mesh-status"] = [this](const Json&) -> Result<Json> {
    std::lock_guard lock(view_mu_);
    Json out = Json::array();
    const auto now = clock_.Now();
    for (const auto& v : view_) {
      auto node = store_->GetNode(v.id);
      out.push_back({{"from", o_.name}, {"to", node.ok() ? node->name : v.id},
                     {"state", std::string(mesh::MemberStateName(v.state))},
                     {"rtt_ms", v.rtt ? Json(Ms(*v.rtt).count()) : Json(nullptr)},
                     {"last_heard_ms", v.last_heard ? Json(Ms(now - *v.last_heard).count()) : Json(nullptr)}});
    }
    return out;
  };
  h["cluster-status"] = [this](const Json&) -> Result<Json> {
    std::lock_guard lock(view_mu_);
    return Json{{"name", o_.name},
                {"isolated", status_isolated_},
                {"heard", status_hearing_.heard},
                {"members", status_hearing_.members},
                {"hearing", status_hearing_.Describe()}};
  };
  h.merge(workloads_->ApiHandlers());
  h.merge(image_service_->ApiHandlers());
  return h;
}

}  // namespace

int RunServe(const ServeOptions& options, const std::atomic<bool>& stop, std::ostream& out) {
  GpuPeer peer(options, out);
  if (auto st = peer.Start(); !st.ok()) {
    std::cerr << "stratoswarm: cannot serve: " << st.message() << "\n";
    return 1;
  }
  if (auto st = peer.Run(stop); !st.ok()) {
    std::cerr << "stratoswarm: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace gpu_node
