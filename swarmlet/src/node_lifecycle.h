// The node agent's side of the node lifecycle (docs/architecture.md, "Node
// lifecycle"), kept out of agent.cpp's loop:
//   renewal   two thirds into its certificate's lifetime the node asks the
//             GPU peer for a new one over the mesh (swarmlet/cert_renewal.h)
//             and saves it atomically;
//   removal   `stratoswarm node rm`: the GPU peer's node notice "removed", or,
//             for a node removed while it was away (the mesh refuses its key,
//             so it only sees silence), the join endpoint's answer to a
//             token-less join request signed with the saved identity. Either
//             way the node ends its workloads (they run elsewhere now),
//             deletes its identity and the agent exits with kExitRemoved.
//
// Thread safety: the agent loop's thread only (the join-endpoint probe runs on
// a thread of its own and hands back one string).
#pragma once

#include <future>
#include <iosfwd>
#include <optional>
#include <string>

#include "mesh/clock.h"
#include "mesh/envelope.h"
#include "mesh/identity_store.h"
#include "mesh/member_list.h"
#include "mesh/mesh_member.h"
#include "mesh/timing_log.h"
#include "swarmlet/cert_renewal.h"
#include "swarmlet/workload_host.h"

namespace swarmlet {

// The member list the swarmlet saves in its state dir.
inline constexpr char kMembersFile[] = "members.list";

// A node leaving the cluster for good (`swarmlet leave`, or removed): ends
// every workload it runs and deletes its identity and member list. Returns
// how many workloads it ended.
std::size_t EndWorkloadsAndForget(WorkloadHost* workloads, const std::string& state_dir);

class NodeLifecycle {
 public:
  // `identity` is the agent's (renewal replaces its certificate); `members`
  // the list it joined with (the primary's address for the probe).
  NodeLifecycle(mesh::NodeIdentity& identity, const mesh::MemberList& members, std::string state_dir,
                mesh::TimingLog& log, std::ostream& out);
  ~NodeLifecycle();

  // Once per loop turn: a renewal request when one is due and the GPU peer
  // answers (`connected`); while it does not, now and then the probe.
  void Tick(mesh::MeshMember& m, bool connected);
  // A message from the GPU peer; true when it was one of ours.
  bool OnMessage(const mesh::Envelope& env);

  // The GPU peer removed this node (told, or learned from the probe).
  bool removed() const { return removed_.has_value(); }
  // Ends the node's workloads, deletes its identity and member list, prints
  // the one-line reason; returns kExitRemoved.
  int Finish(WorkloadHost* workloads);

 private:
  void StartProbe();

  mesh::NodeIdentity& identity_;
  std::optional<mesh::Member> primary_;
  std::string self_endpoint_;
  const std::string state_dir_;
  mesh::TimingLog& log_;
  std::ostream& out_;
  CertRenewal renewal_;
  std::optional<std::string> removed_;  // why, one line
  // The probe: started after a while without the GPU peer, then less and less often.
  std::optional<mesh::MonoTime> away_since_;
  mesh::MonoTime next_probe_{};
  std::chrono::seconds probe_interval_{5};
  std::future<std::optional<std::string>> probe_;
};

}  // namespace swarmlet
