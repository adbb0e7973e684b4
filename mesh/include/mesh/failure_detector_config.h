// Tuning of mesh::FailureDetector: every field with its unit, the formula it
// enters and the trade-off of moving it. Presets are edits of Base(); the
// numbers the comments state are checked by tests/unit/mesh/fd_config_test.cpp.
//
// Thread safety: a plain value.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "mesh/clock.h"
#include "mesh/status.h"

namespace mesh {

// How members are probed (see mesh/failure_detector.h).
//   kAllToAll: every member heartbeats every other member each probe_interval;
//     2·N·(N−1) messages per interval cluster-wide, silence-based detection.
//     For the GPU peer (it must hear every member first-hand) and small tests.
//   kSwim: each probe_interval one member, the next of a shuffled round-robin
//     order, gets a direct probe; per-member cost does not grow with N.
//     Members marked `anchor` in the list are watched by silence and pinged
//     every interval they were not heard from (a swarmlet's GPU peer).
enum class Probing : std::uint8_t { kAllToAll, kSwim };

struct FailureDetectorConfig {
  using ms = std::chrono::milliseconds;

  Probing probing = Probing::kAllToAll;

  // Heartbeat period (ms). Every member sends a kHeartbeat to every other member
  // once per interval and expects a kHeartbeatAck (ping-pong). All-to-all costs
  // 2·N·(N−1) messages per interval cluster-wide: 60 per 100 ms for 6 members,
  // fine for the handful of nodes StratoSwarm targets; for hundreds of members
  // lengthen the interval. Shorter: faster detection, more traffic and CPU.
  ms probe_interval{1000};
  // kSwim: period (ms) between two direct probes of the round-robin order
  // (0: probe_interval). Anchors are still watched every probe_interval.
  // The swarmlet sets 5 × probe_interval (issue 20): with the GPU peer as
  // anchor, failures are decided from the GPU peer's own 100 ms heartbeats
  // and from voters that probe the subject when asked, so peer probes only
  // spread rumors and cover a cluster without its GPU peer; each probe costs
  // two messages and ~4 wake-ups on both sides. Longer: less idle CPU, slower
  // detection among members without an anchor (fd_sim_bench).
  ms swim_probe_interval{0};

  // kSwim: how long (ms) a direct probe waits for an answer (any message from
  // the member counts) before k helpers are asked; the same silence bound as
  // kAllToAll's, so DetectionBound() holds from the probe for both.
  // kAllToAll: silence (ms) after which a member is probed indirectly: no message of any
  // kind from it, directly or relayed by a helper. 2 × probe_interval in the
  // presets, so one lost heartbeat or ack never starts a probe round; at 5%
  // loss a pair of members exchanges ~4 messages per interval, so 2 intervals
  // of silence happen with p ≈ (0.0975 · 0.05)² ≈ 2.4e-5 per pair and interval.
  // Scaled by the awareness multiplier. Shorter: faster, more indirect rounds.
  ms probe_timeout{2000};

  // Time (ms) the indirect helpers get before the member is suspected. A helper
  // needs 4 one-way hops (request, ping, ack, report): keep it above 4 × the
  // worst one-way latency. Scaled by the awareness multiplier.
  // Detection bound = probe_timeout + indirect_timeout (see DetectionBound()).
  ms indirect_timeout{500};

  // A helper that has not heard from the target after this long (ms) sends a
  // nack. 0.8 × indirect_timeout, so the nack arrives before the requester
  // gives up; a requester that gets fewer nacks than it asked for suspects its
  // own network and raises its awareness score (Lifeguard).
  ms indirect_nack_timeout{400};

  // Number of helpers (k) asked to probe a silent member. Each extra helper is
  // one more independent path: at 5% loss a 4-hop path fails with p ≈ 0.19, so
  // k = 3 paths all fail with p ≈ 0.006. Capped by the members available.
  int indirect_probes = 3;

  // Suspicion timeout bounds, Lifeguard style (mesh/suspicion.h):
  //   min = suspicion_mult × max(1, log10(N)) × probe_interval
  //   max = suspicion_max_timeout_mult × min
  //   confirmations wanted k = suspicion_mult − 2 (0 when N − 2 < k)
  // N counts every member including this one. Lan() with N = 6: min 400 ms,
  // max 2.4 s, k = 2. Longer: more time for a falsely suspected member to
  // refute; shorter: faster "declared" decisions.
  int suspicion_mult = 4;
  int suspicion_max_timeout_mult = 6;

  // Lifeguard local health: a score in [0, awareness_max_multiplier − 1]
  // raised by missing nacks and by having to refute a suspicion of ourselves,
  // lowered by every heartbeat ack. probe_timeout and indirect_timeout are
  // multiplied by (score + 1): a member whose own links or CPU are struggling
  // waits longer before it accuses others. 1 disables it.
  int awareness_max_multiplier = 8;

  // Gossip round period (ms) while rumors are pending. A new rumor goes out at
  // once and is repeated every gossip_interval until it was sent
  // rumor_transmits(N) times:
  //   transmits = retransmit_mult × ceil(log10(N + 1))   (Lan(), N = 6: 4)
  // With gossip_fanout 0 a round to every member counts once (N = 6: 4
  // rounds); with gossip_fanout k each message counts, as in memberlist, so a
  // rumor leaves in ceil(transmits / k) rounds (Swim(), N = 100: 12 messages
  // in 4 rounds per member that holds it, not 36 in 12: at 100 swarmlets on
  // 2 cores the suspicion rumors of starved members fed the load, issue 20).
  // More transmits: more robust dissemination under loss, more traffic.
  ms gossip_interval{200};
  int retransmit_mult = 4;

  // Members each gossip round goes to; 0 = every member (small clusters).
  // Swim() sets 3: a rumor then reaches all N members in O(log N) rounds
  // while a gossip round costs the same at any N.
  int gossip_fanout = 0;

  // Piggyback queued rumors on every probe message (ping, ack, indirect probe
  // and its answer), as memberlist does: a kMembershipGossip envelope with
  // the rumors sent fewest times, up to kMaxPiggybackRumorBytes, follows the
  // probe to the same member (OutgoingEnvelope::piggyback), and the transport
  // sends both as one packet (one datagram, ZmqTransport). Each rumor carried
  // counts as one transmit, so gossip rounds end sooner: dissemination rides
  // on packets that go anyway. Swim() turns it on; off in the other presets
  // (kAllToAll pings every member: each probe round would spend N transmits).
  bool piggyback_rumors = false;

  // Grace (ms) before a member that was never heard is probed at all: members
  // of a list start at different times, and one that has not come up yet is
  // not failed. A member that never comes up is suspected after
  // join_grace + DetectionBound() (Lan(): 1 s + 300 ms). Longer: quieter
  // cluster starts, slower detection of members that never start.
  ms join_grace{5000};

  // Send a heartbeat to a member the moment it is added, instead of at the
  // next probe round: a join or rejoin then gets its first round trip at
  // once rather than up to probe_interval later. kSwim: and every interval
  // until every member was heard once (formation), since a greeting sent
  // while the connection still handshakes is lost and the round robin
  // reaches a member only every N × swim_probe_interval. Off in the presets
  // (their message-count properties are tested); MeshMember turns it on.
  bool greet_new_members = false;

  // Presets. Base(): 1 s heartbeats, memberlist-like pacing for slow links.
  // Lan(): Base with 100 ms heartbeats (the default): detection bound
  // 300 ms, join grace 1 s. ForTests(): Base with 10 ms heartbeats and awareness disabled, so
  // hand-stepped tests see exact deadlines.
  static FailureDetectorConfig Base();
  static FailureDetectorConfig Lan();
  // Lan()'s proportions around another heartbeat period (serve and swarmlet
  // --heartbeat-ms): detection bound 3 × heartbeat. Lan() is Scaled(100 ms).
  static FailureDetectorConfig Scaled(ms heartbeat);
  static FailureDetectorConfig ForTests();
  // Scaled(heartbeat) with kSwim probing, gossip_fanout 3 and piggybacked
  // rumors (issue 20): the swarmlet's preset, where idle cost must not grow
  // with the member count.
  static FailureDetectorConfig Swim(ms heartbeat);

  // InvalidArgument naming the first inconsistent field.
  Status Validate() const;

  // Derived values (N = members including this one).
  Nanos SuspicionMin(std::size_t members) const;
  Nanos SuspicionMax(std::size_t members) const;
  int SuspicionConfirmationsWanted(std::size_t members) const;
  int RumorTransmits(std::size_t members) const;
  // From the last message heard from a member to suspecting it, at awareness 0.
  Nanos DetectionBound() const { return probe_timeout + indirect_timeout; }
  // kSwim: the period between round-robin probes (swim_probe_interval, or
  // probe_interval when that is 0).
  Nanos SwimProbePeriod() const {
    return swim_probe_interval > ms(0) ? Nanos(swim_probe_interval) : Nanos(probe_interval);
  }
};

}  // namespace mesh
