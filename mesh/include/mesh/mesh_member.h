// MeshMember: one member of the mesh, wiring a Transport to a FailureDetector
// and to the CA-signed member list.
//
//   - ApplyMemberList() checks the list's CA signature and epoch (an older or
//     equal epoch is ignored: a replayed list cannot re-admit a removed
//     member), then authorizes exactly the listed CURVE keys, connects to
//     every other member and tells the failure detector who to probe;
//   - a message the transport cannot take yet (kWouldBlock: the CURVE
//     handshake to a new peer is still running) is retried every
//     kRetryInterval for up to kRetryFor, so a join or a rejoin does not wait
//     a whole heartbeat interval for its first round trip;
//   - Poll() receives for at most `max_wait`, feeds every envelope to the
//     failure detector (any message is a sign of life), runs its timers,
//     sends what it decided, and hands back what is not membership traffic
//     (join timings, member lists, consensus, workload messages) together
//     with the detector's events (suspect, declared, formed, ...).
//
// Thread safety: none; one owner thread calls every method (as Transport).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mesh/certificate.h"
#include "mesh/clock.h"
#include "mesh/envelope.h"
#include "mesh/failure_detector.h"
#include "mesh/failure_detector_config.h"
#include "mesh/member_list.h"
#include "mesh/status.h"
#include "mesh/transport.h"

namespace mesh {

struct MeshPollResult {
  std::vector<Envelope> messages;  // non-membership envelopes, in arrival order
  std::vector<FdEvent> events;     // failure-detector events, in decision order
};

class MeshMember {
 public:
  static constexpr Nanos kRetryInterval = std::chrono::milliseconds(1);
  static constexpr Nanos kRetryFor = std::chrono::milliseconds(100);

  // `self_id` must match the transport's. `clock` must outlive the member.
  static Result<std::unique_ptr<MeshMember>> Create(std::unique_ptr<Transport> transport,
                                                    CaPublicKeys ca, FailureDetectorConfig config,
                                                    const Clock& clock);

  // Unsupported-free: PermissionDenied/Corrupt when the list is not the CA's;
  // OK (and nothing changes) when its epoch is not newer than the current one.
  Status ApplyMemberList(const MemberList& list);
  const MemberList& members() const { return members_; }

  // Receives, runs the detector and sends, for at most `max_wait`; returns
  // early once something arrives for the caller or an event is raised.
  Result<MeshPollResult> Poll(Nanos max_wait);

  // An application message to one member / to every other member; retried
  // like heartbeats while the connection is being set up.
  Status Send(const std::string& to, MsgType type, std::string_view payload);
  void Broadcast(MsgType type, std::string_view payload);

  // A direct probe of a member, now (FailureDetector::ProbeNow): what a voter
  // does before it answers a node_failed proposal about it.
  Status ProbeNow(const std::string& id);

  const std::string& self_id() const { return transport_->self_id(); }
  const std::string& local_endpoint() const { return transport_->local_endpoint(); }
  const FailureDetector& detector() const { return detector_; }
  Transport& transport() { return *transport_; }

 private:
  MeshMember(std::unique_ptr<Transport> transport, CaPublicKeys ca, FailureDetector detector,
             const Clock& clock);
  void Flush();
  // `more`: the next envelope (piggybacked rumors) shares this one's packet
  // (Transport::SendMore).
  void SendOrQueue(const std::string& to, MsgType type, std::string payload, MonoTime now,
                   bool more);
  void RetryPending(MonoTime now);

  struct Pending {
    std::string to;
    MsgType type;
    std::string payload;
    MonoTime give_up;
  };

  std::unique_ptr<Transport> transport_;
  CaPublicKeys ca_;
  FailureDetector detector_;
  const Clock& clock_;
  MemberList members_;
  std::vector<Pending> pending_;
};

}  // namespace mesh
