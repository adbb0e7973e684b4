// FailureDetector: SWIM-style membership and failure detection for one member,
// written sans-IO so any transport (ZeroMQ, in-memory, a simulator) can drive it.
//
// It is a pure state machine. The owner feeds it
//   OnMessage(envelope, now)  every envelope received from a member (any type:
//                             types 1..5 are interpreted, every message counts
//                             as a sign of life of its sender);
//   Tick(now)                 at NextWakeup() or later;
//   SetMembers(list, now)     whenever the (CA-signed) member list changes;
// and collects what it decided through TakeOutgoing() (envelopes addressed to
// member ids) and TakeEvents(). Time is only what the caller passes in; there
// are no threads, timers or sleeps inside.
//
// Protocol (see FailureDetectorConfig for every number):
//  * Probing, config.probing:
//    - kAllToAll: every probe_interval a kHeartbeat (ping) to each member,
//      answered by kHeartbeatAck. Any message from a member resets its
//      silence; after probe_timeout of silence (a member never heard from
//      gets join_grace first) the member is probed indirectly (below).
//    - kSwim: every probe_interval one ping, to the next member of a shuffled
//      round-robin order (reshuffled after each pass, new members inserted at
//      random places), so every member is probed within N-1 intervals and the
//      cost per interval does not grow with N. No answer (any message counts)
//      within probe_timeout: indirect probe. Members in join grace are
//      skipped. Members marked `anchor` are watched by silence as in
//      kAllToAll and pinged every interval unless heard within the last 1.5
//      intervals (the GPU peer pings every member each interval itself).
//      A member that heard no one at all for probe_timeout pings every
//      member each interval until someone answers (its inbound traffic is
//      cut: voters must keep hearing it first-hand). Tick() and NextWakeup() look only
//      at the anchors and the members with a probe, round or suspicion
//      pending.
//  * Indirect probe: k helpers are asked (kIndirectProbe) to reach the
//    member; they answer kIndirectProbeAck alive, or nack when their own
//    probe times out. No alive answer within indirect_timeout: suspect.
//    Suspects are probed the same way until our own probe confirms (a
//    Lifeguard confirmation).
//  * Suspicion is gossiped (kMembershipGossip) with the member's incarnation.
//    A member that hears it is suspected refutes with a higher incarnation
//    (alive rumor); rumors about older incarnations are ignored. A suspicion
//    that is not refuted within the Lifeguard timeout (shrinking with
//    independent confirmations, mesh/suspicion.h) becomes "declared".
//  * Lifeguard awareness: missing nacks and refutations of ourselves stretch
//    our own timeouts (a sick member should not accuse healthy ones).
//  * "declared" is a local decision the owner acts on (later: a consensus
//    proposal). "formed" fires when this member has heard directly from every
//    member of the list.
//
// Thread safety: none. One owner thread calls every method.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mesh/clock.h"
#include "mesh/envelope.h"
#include "mesh/failure_detector_config.h"
#include "mesh/membership_codec.h"
#include "mesh/status.h"
#include "mesh/suspicion.h"

namespace mesh {

struct MemberInfo {
  std::string id;
  // kSwim: ping this member every probe_interval and watch it by silence (the
  // GPU peer, which has to hear every member first-hand). Ignored by kAllToAll.
  bool anchor = false;
};

enum class MemberState : std::uint8_t { kAlive, kSuspect, kDeclared };
std::string_view MemberStateName(MemberState state);

enum class FdEventKind : std::uint8_t {
  kSuspect,     // a member became suspect here (our own probe or a rumor)
  kAliveAgain,  // a suspect or declared member refuted with a newer incarnation
  kDeclared,    // suspicion ran out (or a confirm rumor arrived): treat as failed
  kRefuted,     // we heard we were suspected and refuted it (member == self)
  kFormed,      // heard directly from every member of the list not declared failed (member == self)
};
std::string_view FdEventKindName(FdEventKind kind);

struct FdEvent {
  FdEventKind kind = FdEventKind::kSuspect;
  std::string member;             // the subject; self for kRefuted and kFormed
  std::uint64_t incarnation = 0;  // the subject's incarnation the event is about
  MonoTime at{};                  // when this detector decided
  // Last message received directly from the member; nullopt if never.
  std::optional<MonoTime> last_heard;
  // kSuspect: == at. kDeclared / kAliveAgain: when the suspicion began here
  // (nullopt when a confirm rumor arrived for a member never suspected here).
  std::optional<MonoTime> suspected_at;
  // Who raised it: our own id when detected locally, else the rumor's origin.
  std::string source;
  // kFormed: time from this detector's start to formation.
  Nanos since_start{0};
};

struct OutgoingEnvelope {
  std::string to;     // member id
  Envelope envelope;  // sent_ns is left 0: the transport stamps its wall clock
  // A kMembershipGossip of piggybacked rumors: it goes to the same member as
  // the envelope before it and belongs in the same packet
  // (FailureDetectorConfig::piggyback_rumors).
  bool piggyback = false;
};

struct MemberView {
  std::string id;
  MemberState state = MemberState::kAlive;
  std::uint64_t incarnation = 0;
  std::optional<MonoTime> last_heard;  // direct messages only
  std::optional<Nanos> rtt;            // last heartbeat round trip
};

struct FdStats {
  std::uint64_t messages = 0;  // envelopes passed to OnMessage
  std::uint64_t rejected = 0;  // undecodable payloads, self or unknown senders
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t indirect_rounds = 0;   // silent members probed through helpers
  std::uint64_t indirect_rescues = 0;  // rounds ended by a helper's alive answer
  std::uint64_t stale_rumors = 0;      // rumors about old incarnations, ignored
  std::uint64_t rumors_piggybacked = 0;  // rumor transmits that rode on a probe message
};

class FailureDetector {
 public:
  // `self` must be a valid id (1..kMaxSenderBytes bytes) and `config` must
  // Validate(). `seed` drives helper and gossip-target choice (determinism).
  static Result<FailureDetector> Create(std::string self, FailureDetectorConfig config,
                                        MonoTime start, std::uint64_t seed);

  // Replaces the member list (ids; this member's own id may be included).
  // New members start alive with their silence counted from `now`; removed
  // members are forgotten with their probes and rumors.
  void SetMembers(const std::vector<MemberInfo>& members, MonoTime now);

  // Processes one received envelope. Returns NotFound for senders outside the
  // list, Corrupt for undecodable membership payloads (counted, then ignored);
  // OK otherwise.
  Status OnMessage(const Envelope& env, MonoTime now);

  // Does everything due at `now`: heartbeats, indirect rounds, suspicion
  // timeouts, gossip rounds, helper nacks.
  void Tick(MonoTime now);

  // A first-hand check asked for from outside (a voter about to answer a
  // node_failed proposal, consensus::FailureWitness): pings `id` now. With
  // kSwim a member that stays silent then goes through the indirect probe and
  // suspicion as if its turn had come. NotFound for a non-member.
  Status ProbeNow(const std::string& id, MonoTime now);

  // The earliest time Tick() has work; may be <= now (tick again at once).
  MonoTime NextWakeup() const;

  std::vector<OutgoingEnvelope> TakeOutgoing();
  std::vector<FdEvent> TakeEvents();

  const std::string& self() const { return self_; }
  std::uint64_t incarnation() const { return incarnation_; }
  int awareness_score() const { return awareness_; }
  bool formed() const { return formed_; }
  const FdStats& stats() const { return stats_; }
  const FailureDetectorConfig& config() const { return config_; }
  std::optional<MemberView> Member(const std::string& id) const;
  std::vector<MemberView> Members() const;

 private:
  struct IndirectRound {
    std::uint64_t probe_id = 0;
    MonoTime deadline{};
    int asked = 0;
    int nacks = 0;
  };
  // An optional time (or duration) in 8 bytes instead of 16: T::min() stands
  // for "none" (no caller passes the earliest representable time as now).
  // Peer holds three: at 10,000 members the simulator keeps 10^8 peers.
  template <typename T>
  class CompactOptional {
   public:
    CompactOptional& operator=(T v) {
      v_ = v;
      return *this;
    }
    void reset() { v_ = T::min(); }
    explicit operator bool() const { return v_ != T::min(); }
    const T& operator*() const { return v_; }
    std::optional<T> ToOptional() const {
      return *this ? std::optional<T>(v_) : std::optional<T>();
    }

   private:
    T v_ = T::min();
  };
  // What only suspected, declared or indirectly probed members need: one
  // allocation for those, none for the (many) others.
  struct PeerCold {
    std::optional<IndirectRound> round;
    std::optional<Suspicion> suspicion;
    std::optional<MonoTime> suspected_at;
    std::string rumor_origin;  // who raised the current suspicion/declaration
    std::optional<MonoTime> told_about_itself;
  };
  struct Peer {
    std::uint64_t incarnation = 0;
    std::uint64_t last_probe_id = 0;
    // Silence is counted from here: the last direct or relayed sign of life,
    // or for a member never heard yet, the end of its join grace.
    MonoTime silent_since{};
    MonoTime last_probe_sent{};
    CompactOptional<MonoTime> last_heard;      // direct
    CompactOptional<MonoTime> probe_deadline;  // kSwim: a direct probe awaits an answer
    CompactOptional<Nanos> rtt;
    std::unique_ptr<PeerCold> cold;  // null until first needed
    MemberState state = MemberState::kAlive;
    bool anchor = false;  // MemberInfo::anchor
  };
  struct Relay {
    std::string requester;
    std::uint64_t probe_id = 0;
    std::string target;
    MonoTime nack_at{};
  };
  struct QueuedRumor {
    Rumor rumor;
    int transmits_left = 0;
    bool gossiped = false;  // went out in a gossip round (piggyback_rumors: its only one)
  };

  FailureDetector(std::string self, FailureDetectorConfig config, MonoTime start,
                  std::uint64_t seed);

  // Queues an envelope; with piggyback_rumors a probe message is followed by
  // a gossip of queued rumors (Piggyback()).
  void Send(const std::string& to, MsgType type, std::string payload);
  void Piggyback(const std::string& to);
  void SendHeartbeat(const std::string& to, Peer& peer, MonoTime now);
  void MarkHeard(const std::string& id, Peer& peer, MonoTime now);
  bool StillProbing(const Peer& peer) const;
  void StartIndirectRound(const std::string& id, Peer& peer, MonoTime now);
  void FailIndirectRound(const std::string& id, Peer& peer, MonoTime now);
  void Suspect(const std::string& id, Peer& peer, std::uint64_t incarnation,
               const std::string& origin, MonoTime now);
  void Declare(const std::string& id, Peer& peer, std::uint64_t incarnation,
               const std::string& origin, MonoTime now);
  void ApplyRumor(const Rumor& rumor, MonoTime now);
  void Refute(std::uint64_t accused_incarnation, MonoTime now);
  void QueueRumor(Rumor rumor, MonoTime now);
  // k distinct values of 0..n-1 (k <= n) chosen at random: the first k
  // positions of a partial Fisher-Yates shuffle, drawing NextRandom() k
  // times, with only the positions it touched kept (n may be 10,000).
  std::vector<std::size_t> Sample(std::size_t n, std::size_t k);
  void GossipRound(MonoTime now);
  void TellAboutItself(const std::string& id, Peer& peer, MonoTime now);
  void CheckFormed(MonoTime now);
  // Index of `id` in peer_ids_ / peers_, or kNoPeer.
  std::size_t Find(const std::string& id) const;
  static const PeerCold& Cold(const Peer& peer);  // an empty one when none
  static PeerCold& MutableCold(Peer& peer);       // allocates on first use
  static void ResetRound(Peer& peer) {
    if (peer.cold) peer.cold->round.reset();
  }
  // Every change of a member's state goes through here (keeps not_alive_ and
  // unheard_ in step).
  void SetState(Peer& peer, MemberState state);
  // Recomputes not_alive_, unheard_ and last_heard_any_ (after SetMembers).
  void RecountPeers();
  bool Swim() const { return config_.probing == Probing::kSwim; }
  // Whether a member is pinged every interval and watched by silence.
  bool Heartbeated(const Peer& peer) const { return !Swim() || peer.anchor; }
  bool Deaf(MonoTime now) const;
  // kSwim: pings the next member of the round-robin order that can be probed.
  void ProbeNext(MonoTime now);
  void InsertInProbeOrder(std::uint32_t index);
  // One member's timers: suspicion deadline, direct probe, indirect round.
  void TickPeer(const std::string& id, Peer& peer, MonoTime now);
  MonoTime PeerWakeup(const Peer& peer) const;
  void AdjustAwareness(int delta);
  Nanos Scaled(std::chrono::milliseconds d) const;
  std::uint64_t NextRandom();
  std::size_t ClusterSize() const { return peers_.size() + 1; }

  std::string self_;
  FailureDetectorConfig config_;
  MonoTime start_;
  std::uint64_t rng_;
  std::uint64_t incarnation_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t probe_seq_ = 0;
  int awareness_ = 0;
  bool acked_since_round_ = false;
  bool formed_ = false;
  MonoTime next_probe_at_;
  MonoTime next_swim_probe_at_;  // kSwim: the next round-robin probe (SwimProbePeriod)
  MonoTime next_gossip_at_ = MonoTime::max();
  // The members, sorted by id (the order every loop over them follows, as the
  // std::map they replace did): peers_[i] is peer_ids_[i]. Flat vectors, not
  // a map: 10^8 entries in a 10,000-member simulation.
  static constexpr std::size_t kNoPeer = static_cast<std::size_t>(-1);
  std::vector<std::string> peer_ids_;
  std::vector<Peer> peers_;
  // Indices of the members not alive (sorted), the number of members never
  // heard and not declared (formation waits for them), and the latest
  // last_heard of any member (MonoTime::min(): none): kept up to date so that
  // helper choice, CheckFormed() and Deaf() need no pass over all members.
  std::vector<std::uint32_t> not_alive_;
  std::size_t unheard_ = 0;
  MonoTime last_heard_any_ = MonoTime::min();
  // kSwim: the round-robin probe order (indices into peers_; with kDeparted
  // set, an index into departed_ids_: a member that left, skipped, dropped at
  // the next reshuffle, found again if it rejoins first) and the next
  // position in it, and the members Tick() has to look at: anchors and
  // those with a probe, round or suspicion pending.
  static constexpr std::uint32_t kDeparted = 0x80000000U;
  std::vector<std::uint32_t> probe_order_;
  std::vector<std::string> departed_ids_;
  std::size_t probe_next_ = 0;
  std::set<std::string> watched_;
  std::vector<Relay> relays_;
  std::vector<QueuedRumor> rumors_;
  std::vector<OutgoingEnvelope> outgoing_;
  std::vector<FdEvent> events_;
  FdStats stats_;
};

}  // namespace mesh
