#include "node_lifecycle.h"

#include <unistd.h>

#include <charconv>
#include <iostream>

#include "mesh/crypto.h"
#include "swarmlet/cli.h"
#include "swarmlet/join_protocol.h"
#include "swarmlet/node_notice.h"
#include "swarmlet/workload_protocol.h"

namespace swarmlet {
namespace {

using Ms = std::chrono::duration<double, std::milli>;

constexpr auto kProbeTimeout = std::chrono::seconds(3);
// How the join endpoint words a removed node's refusal (gpu_node's RemovedMessage).
constexpr std::string_view kRemovedMark = " was removed from the cluster on ";

// "tcp://IP:PORT" -> IP and PORT; false when it is not that.
bool SplitEndpoint(const std::string& endpoint, std::string& ip, int& port) {
  const auto colon = endpoint.rfind(':');
  if (endpoint.rfind("tcp://", 0) != 0 || colon == std::string::npos || colon < 6) return false;
  ip = endpoint.substr(6, colon - 6);
  const char* end = endpoint.data() + endpoint.size();
  return std::from_chars(endpoint.data() + colon + 1, end, port).ptr == end;
}

}  // namespace

NodeLifecycle::NodeLifecycle(mesh::NodeIdentity& identity, const mesh::MemberList& members, std::string state_dir,
                             mesh::TimingLog& log, std::ostream& out)
    : identity_(identity), state_dir_(std::move(state_dir)), log_(log), out_(out),
      renewal_(identity, state_dir_) {
  for (const mesh::Member& m : members.members) {
    if (m.role == mesh::NodeRole::kPrimary && !primary_) primary_ = m;
    if (m.node_id == identity.certificate.node_id) self_endpoint_ = m.endpoint;
  }
}

NodeLifecycle::~NodeLifecycle() {
  if (probe_.valid()) probe_.wait();  // bounded by kProbeTimeout
}

void NodeLifecycle::Tick(mesh::MeshMember& m, bool connected) {
  const mesh::Clock& clock = log_.clock();
  if (connected) {
    away_since_.reset();
    probe_interval_ = std::chrono::seconds(5);
    if (auto request = renewal_.Due(clock.WallNs(), clock.Now()); request && primary_) {
      (void)m.Send(primary_->node_id, mesh::MsgType::kCertRenew, *request);
    }
  } else if (!away_since_) {
    away_since_ = clock.Now();
    next_probe_ = clock.Now() + probe_interval_;
  }
  if (probe_.valid() && probe_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    if (auto why = probe_.get()) removed_ = *why;
  }
  if (!connected && !probe_.valid() && !removed_ && clock.Now() >= next_probe_) {
    StartProbe();
    probe_interval_ = std::min<std::chrono::seconds>(probe_interval_ * 2, std::chrono::seconds(300));
    next_probe_ = clock.Now() + probe_interval_;
  }
}

// A join request without a token, signed with the saved identity: the join
// endpoint answers a removed node with its removal (and refuses anything
// else for want of a token, which tells nothing and is ignored). The mesh
// gives a removed node nothing but silence: its key is refused.
void NodeLifecycle::StartProbe() {
  std::string ip;
  int mesh_port = 0;
  if (!primary_ || !SplitEndpoint(primary_->endpoint, ip, mesh_port)) return;
  BootstrapInfo info{identity_.ca, mesh_port + (kDefaultJoinPort - kDefaultMeshPort), mesh_port};
  JoinRequest req;
  if (!mesh::RandomBytes(req.nonce).ok()) return;
  req.sent_ns = log_.clock().WallNs();
  req.name = identity_.certificate.name;
  req.labels = identity_.certificate.labels;
  req.signing_key = identity_.keys.signing.public_key;
  req.curve_key = identity_.keys.curve.public_key;
  req.mesh_endpoint = self_endpoint_.empty() ? primary_->endpoint : self_endpoint_;
  auto signed_bytes = JoinRequestSignedBytes(req);
  if (!signed_bytes.ok()) return;
  auto sig = mesh::Sign(identity_.keys.signing.secret_key, *signed_bytes);
  if (!sig.ok()) return;
  req.signature = *sig;
  probe_ = std::async(std::launch::async, [ip, info, keys = identity_.keys, req]() -> std::optional<std::string> {
    auto response = ExchangeJoin(ip, info, keys, req, kProbeTimeout);
    if (!response.ok() || response->accepted || response->error.find(kRemovedMark) == std::string::npos) {
      return std::nullopt;
    }
    return response->error;
  });
}

bool NodeLifecycle::OnMessage(const mesh::Envelope& env) {
  if (!primary_ || env.sender != primary_->node_id) return false;
  if (env.type == mesh::MsgType::kNodeNotice) {
    auto notice = DecodeNodeNotice(env.payload);
    if (!notice.ok() || *notice != NodeNotice::kRemoved) return false;
    removed_ = "node " + identity_.certificate.name + " was removed from the cluster on " +
               mesh::FormatWallTime(env.sent_ns) + " (stratoswarm node rm); join again with a new token";
    return true;
  }
  if (env.type != mesh::MsgType::kCertRenewed) return false;
  const double ms = renewal_.PendingMs(log_.clock().Now());
  auto cert = renewal_.Accept(env.payload, env.sent_ns);
  if (!cert.ok()) {
    std::cerr << "swarmlet: certificate not renewed: " << cert.status().message() << "\n";
    return true;
  }
  (void)log_.Record("cert", "renewed", ms, {{"name", cert->name}});
  out_ << "Renewed this node's certificate; valid until " << mesh::FormatWallTime(cert->not_after_ns) << std::endl;
  return true;
}

std::size_t EndWorkloadsAndForget(WorkloadHost* workloads, const std::string& state_dir) {
  std::size_t ended = 0;
  if (workloads) {
    std::uint64_t request = 1;
    for (const WorkloadReport& w : workloads->FullReport().workloads) {
      WorkloadCommand remove;
      remove.request_id = request++;
      remove.op = WorkloadOp::kRemove;
      remove.workload_id = w.workload_id;
      if (workloads->Handle(remove).error.empty()) ++ended;
    }
  }
  for (const std::string& file : {std::string(mesh::kNodeIdentityFileName), std::string(kMembersFile)}) {
    ::unlink((state_dir + "/" + file).c_str());
  }
  return ended;
}

int NodeLifecycle::Finish(WorkloadHost* workloads) {
  const std::size_t ended = EndWorkloadsAndForget(workloads, state_dir_);
  std::cerr << "swarmlet: " << removed_.value_or("removed from the cluster") << "; " << ended
            << " workload(s) ended here, identity deleted" << std::endl;
  return kExitRemoved;
}

}  // namespace swarmlet
