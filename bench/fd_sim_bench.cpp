// fd_sim_bench: failure-detection figures from the deterministic simulator.
//
// Part 1: `--runs` simulated clusters (Lan preset, 100 ms heartbeats) each kill
// one member at a random moment; we time kill -> suspect and kill -> declared,
// for the first observer and for the last one (every other member), at 0% and
// 5% loss. Part 2: `--loss-runs` clusters run `--minutes` simulated minutes at
// `--loss-pct` (5) loss with nobody killed; every suspicion there is false. The same loss
// runs without indirect probes (k = 0) show what the indirect probes buy.
//
// Part 3 (issue 20): SWIM probing (FailureDetectorConfig::Swim, 100 ms period,
// one probe per period, k = 3, gossip fanout 3) at `--swim-members` (default
// 1000; 0 skips): `--swim-runs` clusters at `--swim-loss-pct` (1) loss kill one
// member each (kill -> first suspicion, kill -> declared by the first and by
// every other member), and one run of `--swim-minutes` simulated minutes with
// nobody killed counts false suspicions (distinct member and origin: one
// mistake gossiped to every member counts once) and members falsely declared. Messages per member
// and second (packets: rumors piggybacked on a probe ride in its packet;
// split into probes, indirect probes and gossip) show that the probing cost
// grows little with N: 23.3 at 1,000 members, 27.7 at 10,000, where the
// whole cluster makes a false suspicion every ~10 s at 1% loss and every
// member pings a suspect until it is settled (probes 22.0 -> 26.1); gossip
// is 0.39 of it at 10,000 (2.45 with `--no-piggyback`, the gossip rounds
// alone of the code before rumors rode on probes). The simulator
// holds N full detectors (the production FailureDetector), so memory grows
// with N²: ~110 bytes per member entry since the detector's member table is
// flat (~380 with the std::map before), 10.8 GB peak RSS at 10,000 members.
// Per size the output adds the simulated seconds, wall seconds per simulated
// second, the peak RSS and a digest of every event (equal digests for the
// same seeds: the same behaviour); each kill run's figures go to stderr as
// it ends.
//
// 10,000 members, 1% loss (docs/PERFORMANCE.md; on a 2-core VM 32 min wall
// for 5 kills and 3 idle minutes, 14 min for --swim-runs 2 --swim-minutes 1):
//   fd_sim_bench --runs 1 --loss-runs 0 --minutes 1 --swim-members 10000
//                --swim-runs 5 --swim-minutes 3
//
// Simulated time is exact, so the figures are protocol properties, not host
// speed; wall time is printed only to show what the run cost.
//
// Usage: fd_sim_bench [--runs N] [--loss-runs N] [--minutes M] [--members N]
//                     [--loss-pct P (no-kill runs, default 5)] [--swim-members N[,N...]]
//                     [--swim-runs N] [--swim-minutes M] [--swim-loss-pct P] [--no-piggyback]
//                     [--output FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "mesh/testing/fd_simulation.h"

namespace {

using mesh::FailureDetectorConfig;
using mesh::FdEventKind;
using mesh::MonoTime;
using mesh::Nanos;
using mesh::testing::FdSimulation;
using mesh::testing::SimNetworkConfig;
using std::chrono::milliseconds;

struct Options {
  int runs = 1000;
  int loss_runs = 10;
  int minutes = 10;
  int members = 6;
  double loss_pct = 5.0;  // loss of the no-kill runs
  std::vector<int> swim_members{1000};
  int swim_runs = 10;
  int swim_minutes = 2;
  double swim_loss_pct = 1.0;
  bool piggyback = true;  // Swim()'s piggybacked rumors; --no-piggyback: gossip rounds only
  std::string output = "fd_sim_bench.json";
};

struct Dist {
  std::vector<double> ms;
  double Pct(double p) const {
    if (ms.empty()) return 0;
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    const auto rank = static_cast<std::size_t>(std::max(0.0, p / 100.0 * s.size() - 1e-9));
    return s[std::min(rank, s.size() - 1)];
  }
  double Max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

std::vector<std::string> Ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("node-" + std::to_string(i));
  return ids;
}

double Ms(Nanos d) { return static_cast<double>(d.count()) / 1e6; }

// FNV-1a over everything a simulation decided (each event's observer, kind,
// member, incarnation, time and source, then the messages sent and dropped):
// two builds that print the same digest for the same seeds behaved the same.
struct Digest {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  void Add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  }
  void Add(const std::string& s) { Add(s.data(), s.size() + 1); }
  void Add(std::uint64_t v) { Add(&v, sizeof v); }
  void Add(const FdSimulation& sim) {
    for (const auto& e : sim.events()) {
      Add(e.observer);
      Add(static_cast<std::uint64_t>(e.event.kind));
      Add(e.event.member);
      Add(e.event.incarnation);
      Add(static_cast<std::uint64_t>(e.event.at.time_since_epoch().count()));
      Add(e.event.source);
    }
    Add(sim.sent());
    Add(sim.dropped());
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // kB on Linux
}

struct KillResult {
  Dist suspect_first, suspect_all, declared_first, declared_all;
  int false_suspicions = 0;  // suspicions of members that were not killed
  int undetected = 0;        // runs where some observer never suspected
};

KillResult KillRuns(const Options& o, double loss) {
  KillResult r;
  const auto cfg = FailureDetectorConfig::Lan();
  for (int run = 0; run < o.runs; ++run) {
    SimNetworkConfig net;
    net.seed = 1000003ULL * static_cast<std::uint64_t>(run + 1) + (loss > 0 ? 17 : 0);
    net.loss = loss;
    net.start_spread = milliseconds(100);
    FdSimulation sim(Ids(o.members), cfg, net);
    // Warm up past formation, then kill at a random phase of the heartbeats.
    sim.RunFor(milliseconds(1500) + Nanos(static_cast<Nanos::rep>(net.seed % 100'000'000)));
    const std::string victim = sim.ids()[net.seed % sim.ids().size()];
    const MonoTime killed_at = sim.Now();
    sim.Kill(victim);
    sim.RunFor(std::chrono::seconds(4));
    double s_first = 1e18, s_all = 0, d_first = 1e18, d_all = 0;
    int suspecters = 0, declarers = 0;
    for (const auto& e : sim.events()) {
      if (e.event.kind == FdEventKind::kSuspect && e.event.member != victim) ++r.false_suspicions;
      if (e.event.member != victim) continue;
      const double ms = Ms(e.event.at - killed_at);
      if (e.event.kind == FdEventKind::kSuspect) {
        s_first = std::min(s_first, ms), s_all = std::max(s_all, ms), ++suspecters;
      } else if (e.event.kind == FdEventKind::kDeclared) {
        d_first = std::min(d_first, ms), d_all = std::max(d_all, ms), ++declarers;
      }
    }
    if (suspecters < o.members - 1 || declarers < o.members - 1) {
      ++r.undetected;
      continue;
    }
    r.suspect_first.ms.push_back(s_first);
    r.suspect_all.ms.push_back(s_all);
    r.declared_first.ms.push_back(d_first);
    r.declared_all.ms.push_back(d_all);
  }
  return r;
}

struct LossResult {
  int false_suspicions = 0;
  int false_declarations = 0;
  std::uint64_t messages = 0;
  std::uint64_t dropped = 0;
  std::uint64_t indirect_rounds = 0;
  std::uint64_t indirect_rescues = 0;
};

LossResult LossRuns(const Options& o, int indirect_probes) {
  LossResult r;
  auto cfg = FailureDetectorConfig::Lan();
  cfg.indirect_probes = indirect_probes;
  for (int run = 0; run < o.loss_runs; ++run) {
    SimNetworkConfig net;
    net.seed = 7919ULL * static_cast<std::uint64_t>(run + 1);
    net.loss = o.loss_pct / 100.0;
    net.start_spread = milliseconds(100);
    FdSimulation sim(Ids(o.members), cfg, net);
    sim.RunFor(std::chrono::minutes(o.minutes));
    for (const auto& e : sim.events()) {
      r.false_suspicions += e.event.kind == FdEventKind::kSuspect;
      r.false_declarations += e.event.kind == FdEventKind::kDeclared;
    }
    r.messages += sim.sent();
    r.dropped += sim.dropped();
    for (const auto& id : sim.ids()) {
      r.indirect_rounds += sim.Detector(id)->stats().indirect_rounds;
      r.indirect_rescues += sim.Detector(id)->stats().indirect_rescues;
    }
  }
  return r;
}

struct SwimResult {
  int members = 0;
  KillResult kill;  // suspect_all/declared_all: the last of the other members
  LossResult idle;  // the no-kill run
  double messages_per_member_s = 0;
  // The idle run's packets per member and s by kind, and the gossip
  // envelopes that rode on probes (not packets of their own).
  double probes_per_member_s = 0;    // heartbeats and acks
  double indirect_per_member_s = 0;  // indirect probes and their answers
  double gossip_per_member_s = 0;
  double piggybacked_per_member_s = 0;
  double idle_sim_s = 0;
  double wall_s = 0;
  double sim_s = 0;          // simulated seconds, kill runs and idle run together
  double peak_rss_mb = 0;    // the process's peak RSS after this size (getrusage)
  std::string digest;        // Digest of every kill run and the idle run
};

SwimResult SwimRuns(const Options& o, int members) {
  SwimResult r;
  r.members = members;
  const auto wall0 = std::chrono::steady_clock::now();
  auto cfg = FailureDetectorConfig::Swim(milliseconds(100));
  cfg.piggyback_rumors = o.piggyback;
  const double loss = o.swim_loss_pct / 100.0;
  Digest digest;
  auto progress = [&](const char* what) {
    std::fprintf(stderr, "fd_sim_bench: %d members: %s (wall %.1f s, peak RSS %.0f MB)\n", members,
                 what,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count(),
                 PeakRssMb());
  };
  for (int run = 0; run < o.swim_runs; ++run) {
    SimNetworkConfig net;
    net.seed = 15485863ULL * static_cast<std::uint64_t>(run + 1);
    net.loss = loss;
    net.start_spread = milliseconds(100);
    FdSimulation sim(Ids(members), cfg, net);
    sim.RunFor(milliseconds(2000) + Nanos(static_cast<Nanos::rep>(net.seed % 100'000'000)));
    const std::string victim = sim.ids()[net.seed % sim.ids().size()];
    const MonoTime killed_at = sim.Now();
    sim.Kill(victim);
    // Long enough for the largest suspicion timeout (max at N) and the gossip.
    sim.RunFor(cfg.SuspicionMax(static_cast<std::size_t>(members)) + std::chrono::seconds(8));
    r.sim_s += std::chrono::duration<double>(sim.Now().time_since_epoch()).count();
    digest.Add(sim);
    double s_first = 1e18, d_first = 1e18, d_all = 0;
    std::set<std::string> declarers;
    std::set<std::pair<std::string, std::string>> false_suspicions;  // (member, origin)
    for (const auto& e : sim.events()) {
      if (e.event.kind == FdEventKind::kSuspect && e.event.member != victim) {
        false_suspicions.insert({e.event.member, e.event.source});
      }
      if (e.event.member != victim) continue;
      const double ms = Ms(e.event.at - killed_at);
      if (e.event.kind == FdEventKind::kSuspect) s_first = std::min(s_first, ms);
      if (e.event.kind == FdEventKind::kDeclared && declarers.insert(e.observer).second) {
        d_first = std::min(d_first, ms), d_all = std::max(d_all, ms);
      }
    }
    r.kill.false_suspicions += static_cast<int>(false_suspicions.size());
    char line[200];
    std::snprintf(line, sizeof line,
                  "kill run %d: suspected %.1f ms, declared first %.1f ms, by all %.1f ms "
                  "(%zu declarers), %zu false suspicions",
                  run + 1, s_first, d_first, d_all, declarers.size(), false_suspicions.size());
    progress(line);
    if (static_cast<int>(declarers.size()) < members - 1) {
      ++r.kill.undetected;
      continue;
    }
    r.kill.suspect_first.ms.push_back(s_first);
    r.kill.declared_first.ms.push_back(d_first);
    r.kill.declared_all.ms.push_back(d_all);
  }
  SimNetworkConfig net;
  net.seed = 104729;
  net.loss = loss;
  net.start_spread = milliseconds(100);
  FdSimulation sim(Ids(members), cfg, net);
  sim.RunFor(std::chrono::seconds(3));  // past the join grace
  const std::uint64_t sent0 = sim.sent();
  const auto by_type0 = sim.sent_by_type();
  const std::uint64_t piggybacked0 = sim.piggybacked();
  sim.RunFor(std::chrono::minutes(o.swim_minutes));
  r.idle_sim_s = 60.0 * o.swim_minutes;
  r.sim_s += std::chrono::duration<double>(sim.Now().time_since_epoch()).count();
  digest.Add(sim);
  r.digest = digest.Hex();
  progress("idle run done");
  // Distinct suspicions (member, origin) and members declared: one false
  // suspicion gossiped to N members is one mistake, not N.
  std::set<std::pair<std::string, std::string>> suspicions;
  std::set<std::string> declared;
  for (const auto& e : sim.events()) {
    if (e.event.kind == FdEventKind::kSuspect) suspicions.insert({e.event.member, e.event.source});
    if (e.event.kind == FdEventKind::kDeclared) declared.insert(e.event.member);
  }
  r.idle.false_suspicions = static_cast<int>(suspicions.size());
  r.idle.false_declarations = static_cast<int>(declared.size());
  r.idle.messages = sim.sent() - sent0;
  r.idle.dropped = sim.dropped();
  for (const auto& id : sim.ids()) {
    r.idle.indirect_rounds += sim.Detector(id)->stats().indirect_rounds;
    r.idle.indirect_rescues += sim.Detector(id)->stats().indirect_rescues;
  }
  r.messages_per_member_s = static_cast<double>(r.idle.messages) / members / r.idle_sim_s;
  auto rate = [&](std::initializer_list<mesh::MsgType> types) {
    std::uint64_t n = 0;
    for (mesh::MsgType t : types) {
      const auto i = static_cast<std::size_t>(t);
      n += sim.sent_by_type()[i] - by_type0[i];
    }
    return static_cast<double>(n) / members / r.idle_sim_s;
  };
  r.probes_per_member_s = rate({mesh::MsgType::kHeartbeat, mesh::MsgType::kHeartbeatAck});
  r.indirect_per_member_s = rate({mesh::MsgType::kIndirectProbe, mesh::MsgType::kIndirectProbeAck});
  r.gossip_per_member_s = rate({mesh::MsgType::kMembershipGossip});
  r.piggybacked_per_member_s =
      static_cast<double>(sim.piggybacked() - piggybacked0) / members / r.idle_sim_s;
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  r.peak_rss_mb = PeakRssMb();
  return r;
}

void PrintDist(const char* name, const Dist& d) {
  std::printf("  %-34s %9.1f %9.1f %9.1f\n", name, d.Pct(50), d.Pct(99), d.Max());
}

std::string JsonDist(const Dist& d) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"n\": %zu}", d.Pct(50),
                d.Pct(99), d.Max(), d.ms.size());
  return buf;
}

std::string JsonKill(const KillResult& r) {
  return "{\"suspect_first\": " + JsonDist(r.suspect_first) +
         ", \"suspect_all\": " + JsonDist(r.suspect_all) +
         ", \"declared_first\": " + JsonDist(r.declared_first) +
         ", \"declared_all\": " + JsonDist(r.declared_all) +
         ", \"false_suspicions\": " + std::to_string(r.false_suspicions) +
         ", \"undetected_runs\": " + std::to_string(r.undetected) + "}";
}

std::string JsonLoss(const LossResult& r);

std::string JsonSwim(const SwimResult& r) {
  const double member_hours = r.members * r.idle_sim_s / 3600.0;
  char rates[200];
  std::snprintf(rates, sizeof rates,
                ", \"false_suspicions_per_member_hour\": %.6f, \"false_declarations_per_member_hour\": %.6f",
                r.idle.false_suspicions / member_hours, r.idle.false_declarations / member_hours);
  return "{\"members\": " + std::to_string(r.members) +
         ", \"kill\": {\"suspect_first\": " + JsonDist(r.kill.suspect_first) +
         ", \"declared_first\": " + JsonDist(r.kill.declared_first) +
         ", \"declared_all\": " + JsonDist(r.kill.declared_all) +
         ", \"false_suspicions\": " + std::to_string(r.kill.false_suspicions) +
         ", \"undetected_runs\": " + std::to_string(r.kill.undetected) + "}" +
         ", \"no_kill\": " + JsonLoss(r.idle) + ", \"no_kill_sim_s\": " + std::to_string(r.idle_sim_s) +
         rates + ", \"messages_per_member_s\": " + std::to_string(r.messages_per_member_s) +
         ", \"probes_per_member_s\": " + std::to_string(r.probes_per_member_s) +
         ", \"indirect_per_member_s\": " + std::to_string(r.indirect_per_member_s) +
         ", \"gossip_per_member_s\": " + std::to_string(r.gossip_per_member_s) +
         ", \"piggybacked_per_member_s\": " + std::to_string(r.piggybacked_per_member_s) +
         ", \"wall_s\": " + std::to_string(r.wall_s) + ", \"sim_s\": " + std::to_string(r.sim_s) +
         ", \"wall_per_sim_s\": " + std::to_string(r.sim_s > 0 ? r.wall_s / r.sim_s : 0) +
         ", \"peak_rss_mb\": " + std::to_string(r.peak_rss_mb) + ", \"digest\": \"" + r.digest +
         "\"}";
}

std::string JsonLoss(const LossResult& r) {
  return "{\"false_suspicions\": " + std::to_string(r.false_suspicions) +
         ", \"false_declarations\": " + std::to_string(r.false_declarations) +
         ", \"messages\": " + std::to_string(r.messages) +
         ", \"dropped\": " + std::to_string(r.dropped) +
         ", \"indirect_rounds\": " + std::to_string(r.indirect_rounds) +
         ", \"indirect_rescues\": " + std::to_string(r.indirect_rescues) + "}";
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--runs" && has_value)
      o.runs = std::atoi(argv[++i]);
    else if (a == "--loss-runs" && has_value)
      o.loss_runs = std::atoi(argv[++i]);
    else if (a == "--minutes" && has_value)
      o.minutes = std::atoi(argv[++i]);
    else if (a == "--members" && has_value)
      o.members = std::atoi(argv[++i]);
    else if (a == "--loss-pct" && has_value)
      o.loss_pct = std::atof(argv[++i]);
    else if (a == "--swim-members" && has_value) {
      o.swim_members.clear();
      for (const char* p = argv[++i]; *p != '\0';) {
        char* end = nullptr;
        const long n = std::strtol(p, &end, 10);
        if (end == p) return false;
        if (n > 0) o.swim_members.push_back(static_cast<int>(n));
        p = *end == ',' ? end + 1 : end;
      }
    } else if (a == "--swim-runs" && has_value)
      o.swim_runs = std::atoi(argv[++i]);
    else if (a == "--swim-minutes" && has_value)
      o.swim_minutes = std::atoi(argv[++i]);
    else if (a == "--swim-loss-pct" && has_value)
      o.swim_loss_pct = std::atof(argv[++i]);
    else if (a == "--no-piggyback")
      o.piggyback = false;
    else if (a == "--output" && has_value)
      o.output = argv[++i];
    else
      return false;
  }
  const bool swim_ok = std::all_of(o.swim_members.begin(), o.swim_members.end(),
                                   [](int n) { return n >= 5; }) &&
                       o.swim_runs > 0 && o.swim_minutes > 0 && o.swim_loss_pct >= 0 &&
                       o.swim_loss_pct < 100;
  return o.runs > 0 && o.loss_runs >= 0 && o.minutes > 0 && o.members >= 3 && o.loss_pct >= 0 &&
         o.loss_pct < 100 && swim_ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: fd_sim_bench [--runs N] [--loss-runs N] [--minutes M] [--members N>=3] "
                 "[--loss-pct P] [--swim-members N[,N...] (0: none)] [--swim-runs N] "
                 "[--swim-minutes M] [--swim-loss-pct P] [--no-piggyback] [--output FILE]\n");
    return 2;
  }
  const auto cfg = FailureDetectorConfig::Lan();
  const auto wall0 = std::chrono::steady_clock::now();
  const KillResult clean = KillRuns(o, 0.0);
  const KillResult lossy = KillRuns(o, 0.05);
  const LossResult swim = LossRuns(o, cfg.indirect_probes);
  const LossResult direct_only = LossRuns(o, 0);
  std::vector<SwimResult> swim_runs;
  for (int n : o.swim_members) swim_runs.push_back(SwimRuns(o, n));
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();

  std::printf(
      "fd_sim_bench: %d members, Lan preset (heartbeat %lld ms, detection bound %lld ms, "
      "k = %d), latency 0.2-1 ms one way\n",
      o.members, static_cast<long long>(cfg.probe_interval.count()),
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(cfg.DetectionBound()).count()),
      cfg.indirect_probes);
  for (const auto* k : {&clean, &lossy}) {
    std::printf("\nkilled member, %d runs, %s loss (ms after the kill)   p50       p99       max\n",
                o.runs, k == &clean ? "0%" : "5%");
    PrintDist("suspected, first observer", k->suspect_first);
    PrintDist("suspected, every observer", k->suspect_all);
    PrintDist("declared, first observer", k->declared_first);
    PrintDist("declared, every observer", k->declared_all);
    std::printf("  false suspicions of live members: %d; runs not fully detected: %d\n",
                k->false_suspicions, k->undetected);
  }
  std::printf(
      "\nno kill, %g%% loss, %d runs x %d simulated min   false suspicions  declared  "
      "indirect rounds (rescued)  messages\n",
      o.loss_pct, o.loss_runs, o.minutes);
  std::printf("  SWIM, k = %d helpers                  %8d  %8d  %10llu (%llu)  %llu\n",
              cfg.indirect_probes, swim.false_suspicions, swim.false_declarations,
              static_cast<unsigned long long>(swim.indirect_rounds),
              static_cast<unsigned long long>(swim.indirect_rescues),
              static_cast<unsigned long long>(swim.messages));
  std::printf("  direct heartbeats only (k = 0)        %8d  %8d  %10llu (%llu)  %llu\n",
              direct_only.false_suspicions, direct_only.false_declarations,
              static_cast<unsigned long long>(direct_only.indirect_rounds),
              static_cast<unsigned long long>(direct_only.indirect_rescues),
              static_cast<unsigned long long>(direct_only.messages));
  for (const SwimResult& s : swim_runs) {
    std::printf("\nSWIM probing, %d members, %g%% loss, %d kills, rumors %s (ms after the kill)   p50       p99       max\n",
                s.members, o.swim_loss_pct, o.swim_runs,
                o.piggyback ? "piggybacked" : "in gossip rounds only");
    PrintDist("suspected, first observer", s.kill.suspect_first);
    PrintDist("declared, first observer", s.kill.declared_first);
    PrintDist("declared, every other member", s.kill.declared_all);
    std::printf("  false suspicions (member, origin) during the kill runs: %d; runs not fully declared: %d\n",
                s.kill.false_suspicions, s.kill.undetected);
    std::printf("  no kill, %.0f simulated s: %d false suspicions, %d false declarations, "
                "%llu indirect rounds (%llu rescued), %.1f messages per member and second "
                "(wall %.1f s)\n",
                s.idle_sim_s, s.idle.false_suspicions, s.idle.false_declarations,
                static_cast<unsigned long long>(s.idle.indirect_rounds),
                static_cast<unsigned long long>(s.idle.indirect_rescues), s.messages_per_member_s,
                s.wall_s);
    std::printf("  idle packets per member and s: %.1f probes (ping, ack), %.1f indirect, %.2f gossip; "
                "%.2f gossip envelopes rode on probes\n",
                s.probes_per_member_s, s.indirect_per_member_s, s.gossip_per_member_s,
                s.piggybacked_per_member_s);
    std::printf("  %.0f simulated s in all, %.2f s wall per simulated s, peak RSS %.0f MB, digest %s\n",
                s.sim_s, s.sim_s > 0 ? s.wall_s / s.sim_s : 0.0, s.peak_rss_mb, s.digest.c_str());
  }
  const bool suspect_ok = clean.suspect_all.Pct(99) <= 400.0 && clean.undetected == 0;
  const bool false_ok = swim.false_suspicions == 0;
  std::printf(
      "\ntargets: suspected <= 400 ms p99 (every observer, 0%% loss): %s (%.1f ms); "
      "0 false suspicions at %g%% loss: %s (%d)\nwall time %.1f s\n",
      suspect_ok ? "met" : "MISSED", clean.suspect_all.Pct(99), o.loss_pct,
      false_ok ? "met" : "MISSED", swim.false_suspicions, wall_s);

  std::ofstream out(o.output);
  out << "{\"bench\": \"fd_sim_bench\", \"members\": " << o.members << ", \"runs\": " << o.runs
      << ", \"loss_runs\": " << o.loss_runs << ", \"loss_pct\": " << o.loss_pct
      << ", \"minutes\": " << o.minutes << ", \"probe_interval_ms\": " << cfg.probe_interval.count()
      << ", \"swim_piggyback\": " << (o.piggyback ? "true" : "false")
      << ",\n \"kill_0pct_loss\": " << JsonKill(clean)
      << ",\n \"kill_5pct_loss\": " << JsonKill(lossy) << ",\n \"no_kill\": " << JsonLoss(swim)
      << ",\n \"no_kill_direct_only\": " << JsonLoss(direct_only) << ",\n \"swim_loss_pct\": "
      << o.swim_loss_pct << ", \"swim_runs\": " << o.swim_runs << ", \"swim\": [";
  for (std::size_t i = 0; i < swim_runs.size(); ++i) out << (i ? ",\n  " : "\n  ") << JsonSwim(swim_runs[i]);
  out << "]"
      << ",\n \"targets\": {\"suspect_p99_le_400ms\": " << (suspect_ok ? "true" : "false")
      << ", \"zero_false_suspicions\": " << (false_ok ? "true" : "false") << "}"
      << ", \"wall_s\": " << wall_s << "}\n";
  if (!out) {
    std::fprintf(stderr, "fd_sim_bench: cannot write %s\n", o.output.c_str());
    return 1;
  }
  std::printf("wrote %s\n", o.output.c_str());
  return 0;
}
