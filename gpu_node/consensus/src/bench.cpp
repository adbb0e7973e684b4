#include "consensus/bench.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "consensus/tally.h"
#include "consensus/types.h"
#include "consensus/verifier.h"

namespace consensus {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMembers = 100;
constexpr std::size_t kBatch = 100;
constexpr std::size_t kByzantine = 33;

struct Stats {
  std::size_t samples = 0;
  double p50_us = 0, p95_us = 0, p99_us = 0, mean_us = 0, min_us = 0;
  double cpu_p50_us = 0;  // process CPU time (all threads) per sample, median
};

struct Samples {
  std::vector<double> wall_us;
  std::vector<double> cpu_us;
};

Stats Summarize(std::vector<double> us, std::vector<double> cpu = {}) {
  Stats s;
  if (!cpu.empty()) {
    std::sort(cpu.begin(), cpu.end());
    s.cpu_p50_us = cpu[cpu.size() / 2];
  }
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) {
    const std::size_t idx = static_cast<std::size_t>(p * static_cast<double>(us.size() - 1) + 0.5);
    return us[std::min(idx, us.size() - 1)];
  };
  s.samples = us.size();
  s.p50_us = pct(0.50);
  s.p95_us = pct(0.95);
  s.p99_us = pct(0.99);
  s.min_us = us.front();
  double sum = 0;
  for (double v : us) sum += v;
  s.mean_us = sum / static_cast<double>(us.size());
  return s;
}

// CPU time of the whole process (all threads), in µs: unlike wall time it
// barely moves when other processes share the cores.
double ProcessCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double MicrosSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

std::string LoadAvg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Fixture {
  std::vector<KeyPair> keys;
  std::vector<std::string> ids;
  std::shared_ptr<const MemberList> members;
  Proposal proposal;
  ProposalId id{};
};

mesh::Result<Fixture> MakeFixture() {
  Fixture fx;
  std::vector<Member> members;
  for (std::size_t i = 0; i < kMembers; ++i) {
    std::array<std::uint8_t, 32> seed{};
    seed[0] = static_cast<std::uint8_t>(i);
    seed[1] = 0xb3;
    fx.keys.push_back(KeyPairFromSeed(seed));
    fx.ids.push_back("node-" + std::to_string(i));
    members.push_back({fx.ids.back(), fx.keys.back().public_key});
  }
  auto list = MemberList::Create(std::move(members));
  MESH_RETURN_IF_ERROR(list.status());
  fx.members = *list;
  fx.proposal.kind = ProposalKind::kNodeFailed;
  fx.proposal.term = 7;
  fx.proposal.subject = "node-99";
  fx.proposal.proposer = "node-0";
  fx.id = ComputeProposalId(fx.proposal);
  return fx;
}

Vote MakeVote(const Fixture& fx, std::size_t member, Verdict verdict) {
  Vote v;
  v.proposal_id = fx.id;
  v.term = fx.proposal.term;
  v.voter = fx.ids[member];
  v.verdict = verdict;
  (void)SignVote(v, fx.keys[member].secret_key);
  return v;
}

// 67 honest yes votes; 33 byzantine members: 9 send a vote with a corrupted
// signature, 8 forge "no" votes in honest members' names, 16 equivocate
// (a valid yes and a valid no). Shuffled.
struct ByzantineSet {
  std::vector<Vote> votes;
  std::set<std::string> equivocators;
  std::size_t invalid = 0;
};

ByzantineSet MakeByzantine(const Fixture& fx) {
  ByzantineSet b;
  const std::size_t honest = kMembers - kByzantine;
  for (std::size_t i = 0; i < honest; ++i) b.votes.push_back(MakeVote(fx, i, Verdict::kYes));
  std::size_t m = honest;
  for (int i = 0; i < 9; ++i, ++m) {
    Vote v = MakeVote(fx, m, Verdict::kNo);
    v.signature[static_cast<std::size_t>(i) * 7 % 64] ^= 0x10;
    b.votes.push_back(v);
    ++b.invalid;
  }
  for (std::size_t i = 0; i < 8; ++i, ++m) {
    Vote v = MakeVote(fx, m, Verdict::kNo);
    v.voter = fx.ids[i];  // signed by m, claims to be honest member i
    b.votes.push_back(v);
    ++b.invalid;
  }
  for (int i = 0; i < 16; ++i, ++m) {
    b.votes.push_back(MakeVote(fx, m, Verdict::kYes));
    b.votes.push_back(MakeVote(fx, m, Verdict::kNo));
    b.equivocators.insert(fx.ids[m]);
  }
  std::mt19937_64 rng(42);
  std::shuffle(b.votes.begin(), b.votes.end(), rng);
  return b;
}

void PrintRow(std::ostream& t, const std::string& name, const Stats& s, const std::string& target) {
  t << std::left << std::setw(34) << name << std::right << std::fixed << std::setprecision(1)
    << std::setw(10) << s.p50_us << std::setw(10) << s.p95_us << std::setw(10) << s.p99_us
    << std::setw(10) << s.mean_us << std::setw(12) << s.cpu_p50_us << "   " << target << "\n";
}

void JsonStats(std::ostream& j, const Stats& s) {
  j << std::fixed << std::setprecision(2) << "{\"samples\": " << s.samples
    << ", \"p50_us\": " << s.p50_us << ", \"p95_us\": " << s.p95_us << ", \"p99_us\": " << s.p99_us
    << ", \"mean_us\": " << s.mean_us << ", \"min_us\": " << s.min_us
    << ", \"process_cpu_p50_us\": " << s.cpu_p50_us << "}";
}

// For a Status message inside a JSON string.
std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

mesh::Status Fail(const std::string& why) { return mesh::Status::Internal("consensus bench", why); }

}  // namespace

mesh::Result<std::string> RunConsensusBench(const BenchOptions& options, std::ostream& table) {
  const std::string load_start = LoadAvg();
  auto fx_or = MakeFixture();
  MESH_RETURN_IF_ERROR(fx_or.status());
  const Fixture& fx = *fx_or;

  // The verifiers compared: key tables (the default) on all threads and on one,
  // and plain libsodium on all threads as the baseline.
  CpuVerifier::Options vopt;
  vopt.threads = options.threads;
  CpuVerifier cpu(vopt);
  CpuVerifier::Options one_opt = vopt;
  one_opt.threads = 1;
  CpuVerifier cpu1(one_opt);
  CpuVerifier::Options plain_opt = vopt;
  plain_opt.key_tables = false;
  CpuVerifier plain(plain_opt);
  std::vector<PublicKey> member_keys;
  for (const KeyPair& kp : fx.keys) member_keys.push_back(kp.public_key);
  const auto prep0 = Clock::now();
  cpu.Prepare(member_keys);
  const double prepare_us = MicrosSince(prep0);
  cpu1.Prepare(member_keys);

  // The GPU column, where this build has CUDA and the machine a device.
  std::unique_ptr<VoteVerifier> cuda;
  std::string cuda_unavailable;
  if (auto made = MakeCudaVerifier(); made.ok()) {
    cuda = std::move(*made);
    cuda->Prepare(member_keys);
  } else {
    cuda_unavailable = made.status().ToString();
  }

  std::vector<Vote> honest;
  for (std::size_t i = 0; i < kMembers; ++i) honest.push_back(MakeVote(fx, i, Verdict::kYes));

  // Raw libsodium verify of one vote (the floor for "single vote" without tables).
  Samples raw_us;
  {
    std::string msg;
    for (int it = 0; it < options.single_iterations; ++it) {
      const Vote& v = honest[static_cast<std::size_t>(it) % kMembers];
      VoteSigningBytes(v, msg);
      SignedMessage sm{reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size(), &v.signature,
                       &fx.keys[static_cast<std::size_t>(it) % kMembers].public_key};
      const double c0 = ProcessCpuMicros();
      const auto t0 = Clock::now();
      const bool ok = VerifyOne(sm);
      raw_us.wall_us.push_back(MicrosSince(t0));
      raw_us.cpu_us.push_back(ProcessCpuMicros() - c0);
      if (!ok) return Fail("honest vote failed raw verification");
    }
  }

  // Single vote: verify + tally into a fresh tally (construction not timed).
  auto run_single = [&](VoteVerifier& verifier, Samples& out) -> mesh::Status {
    for (int it = 0; it < options.single_iterations; ++it) {
      Tally tally(fx.proposal, fx.members, verifier);
      const Vote& v = honest[static_cast<std::size_t>(it) % kMembers];
      const double c0 = ProcessCpuMicros();
      const auto t0 = Clock::now();
      auto outcome = tally.Add(v);
      out.wall_us.push_back(MicrosSince(t0));
      out.cpu_us.push_back(ProcessCpuMicros() - c0);
      if (!outcome.ok() || *outcome != VoteOutcome::kCounted) return Fail("single vote not counted");
    }
    return mesh::Status::Ok();
  };
  Samples single_us, single_plain_us;
  MESH_RETURN_IF_ERROR(run_single(cpu, single_us));
  MESH_RETURN_IF_ERROR(run_single(plain, single_plain_us));
  Samples single_cuda_us;
  if (cuda) MESH_RETURN_IF_ERROR(run_single(*cuda, single_cuda_us));

  // Batch of 100: one Verify() call + tally + decision.
  auto run_batch = [&](VoteVerifier& verifier, Samples& out) -> mesh::Status {
    for (int it = 0; it < options.batch_iterations; ++it) {
      Tally tally(fx.proposal, fx.members, verifier);
      const double c0 = ProcessCpuMicros();
      const auto t0 = Clock::now();
      MESH_RETURN_IF_ERROR(tally.AddBatch(std::span<const Vote>(honest.data(), kBatch)));
      out.wall_us.push_back(MicrosSince(t0));
      out.cpu_us.push_back(ProcessCpuMicros() - c0);
      if (!tally.decided() || tally.decision()->outcome != Outcome::kYes) {
        return Fail("batch of 100 did not decide yes");
      }
    }
    return mesh::Status::Ok();
  };
  Samples batch_us, batch1_us, batch_plain_us;
  MESH_RETURN_IF_ERROR(run_batch(cpu, batch_us));
  MESH_RETURN_IF_ERROR(run_batch(cpu1, batch1_us));
  MESH_RETURN_IF_ERROR(run_batch(plain, batch_plain_us));
  Samples batch_cuda_us;
  if (cuda) MESH_RETURN_IF_ERROR(run_batch(*cuda, batch_cuda_us));

  // 33% byzantine.
  const ByzantineSet byz = MakeByzantine(fx);
  auto run_byzantine = [&](VoteVerifier& verifier, Samples& out) -> mesh::Status {
    for (int it = 0; it < options.batch_iterations; ++it) {
      Tally tally(fx.proposal, fx.members, verifier);
      const double c0 = ProcessCpuMicros();
      const auto t0 = Clock::now();
      MESH_RETURN_IF_ERROR(tally.AddBatch(byz.votes));
      out.wall_us.push_back(MicrosSince(t0));
      out.cpu_us.push_back(ProcessCpuMicros() - c0);
      if (!tally.decided() || tally.decision()->outcome != Outcome::kYes) {
        return Fail("byzantine case did not decide yes");
      }
      const std::set<std::string> caught(tally.equivocators().begin(), tally.equivocators().end());
      if (caught != byz.equivocators || tally.counts().invalid_signature != byz.invalid ||
          tally.counts().counted_yes != kMembers - kByzantine) {
        return Fail("byzantine case missed a bad vote or accused an honest member");
      }
    }
    return mesh::Status::Ok();
  };
  Samples byz_us, byz_cuda_us;
  MESH_RETURN_IF_ERROR(run_byzantine(cpu, byz_us));
  if (cuda) MESH_RETURN_IF_ERROR(run_byzantine(*cuda, byz_cuda_us));

  // Large-batch throughput, 1 thread and all threads.
  std::vector<std::string> msgs(static_cast<std::size_t>(options.throughput_batch));
  std::vector<Signature> sigs(msgs.size());
  std::vector<SignedMessage> items(msgs.size());
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    msgs[i].resize(90);
    for (char& c : msgs[i]) c = static_cast<char>(rng());
    const KeyPair& kp = fx.keys[i % kMembers];
    Vote v = honest[i % kMembers];
    v.term = i;
    (void)SignVote(v, kp.secret_key);
    VoteSigningBytes(v, msgs[i]);
    sigs[i] = v.signature;
    items[i] = {reinterpret_cast<const std::uint8_t*>(msgs[i].data()), msgs[i].size(), &sigs[i],
                &kp.public_key};
  }
  std::vector<std::uint8_t> verdicts(items.size());
  auto throughput = [&](VoteVerifier& verifier) -> mesh::Result<double> {
    std::vector<double> rates;
    for (int r = 0; r < options.throughput_rounds; ++r) {
      const auto t0 = Clock::now();
      MESH_RETURN_IF_ERROR(verifier.Verify(items, verdicts));
      const double s = MicrosSince(t0) / 1e6;
      for (std::uint8_t ok : verdicts) {
        if (ok == 0) return Fail("throughput batch: valid signature rejected");
      }
      rates.push_back(static_cast<double>(items.size()) / s);
    }
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
  };
  auto tp1 = throughput(cpu1);
  MESH_RETURN_IF_ERROR(tp1.status());
  auto tpn = throughput(cpu);
  MESH_RETURN_IF_ERROR(tpn.status());
  CpuVerifier::Options plain1_opt = plain_opt;
  plain1_opt.threads = 1;
  CpuVerifier plain1(plain1_opt);
  auto tp_plain1 = throughput(plain1);
  MESH_RETURN_IF_ERROR(tp_plain1.status());
  auto tp_plainn = throughput(plain);
  MESH_RETURN_IF_ERROR(tp_plainn.status());
  double tp_cuda = 0;
  if (cuda) {
    auto r = throughput(*cuda);
    MESH_RETURN_IF_ERROR(r.status());
    tp_cuda = *r;
  }
  const std::string load_end = LoadAvg();

  auto summarize = [](const Samples& x) { return Summarize(x.wall_us, x.cpu_us); };
  const Stats raw = summarize(raw_us), single = summarize(single_us),
              single_plain = summarize(single_plain_us), batch = summarize(batch_us),
              batch1 = summarize(batch1_us), batch_plain = summarize(batch_plain_us),
              byzs = summarize(byz_us), single_cuda = summarize(single_cuda_us),
              batch_cuda = summarize(batch_cuda_us), byz_cuda = summarize(byz_cuda_us);
  const std::string nthreads = std::to_string(cpu.threads());

  table << "consensus benchmark (seed 000), " << kMembers << " members, quorum "
        << fx.members->quorum().quorum << ", verifier " << cpu.Name() << "\n"
        << "load average at start " << load_start << ", at end " << load_end << "\n\n"
        << std::left << std::setw(34) << "case (CPU)" << std::right << std::setw(10) << "p50 us"
        << std::setw(10) << "p95 us" << std::setw(10) << "p99 us" << std::setw(10) << "mean us"
        << std::setw(12) << "cpu p50 us" << "   target\n";
  PrintRow(table, "raw libsodium verify (1 sig)", raw, "-");
  PrintRow(table, "single_vote (verify+tally)", single, "p50 <= 60 us");
  PrintRow(table, "single_vote, plain libsodium", single_plain, "baseline");
  PrintRow(table, "batch_100 (" + nthreads + " threads)", batch, "p50 <= 1500 us");
  PrintRow(table, "batch_100 (1 thread)", batch1, "-");
  PrintRow(table, "batch_100, plain libsodium (" + nthreads + " thr)", batch_plain, "baseline");
  PrintRow(table, "byzantine_33 (" + std::to_string(byz.votes.size()) + " votes, " + nthreads + " thr)",
           byzs, "decides yes, all bad caught");
  if (cuda) {
    PrintRow(table, "single_vote, CUDA", single_cuda, "-");
    PrintRow(table, "batch_100, CUDA", batch_cuda, "-");
    PrintRow(table, "byzantine_33, CUDA", byz_cuda, "decides yes, all bad caught");
  }
  table << std::fixed << std::setprecision(0) << "\nthroughput, batches of " << items.size()
        << " (verifications/s): key tables 1 thread " << *tp1 << ", " << nthreads << " threads "
        << *tpn << "; plain libsodium 1 thread " << *tp_plain1 << ", " << nthreads << " threads "
        << *tp_plainn << "\n"
        << "key tables for " << kMembers << " members built in " << prepare_us / 1000.0
        << " ms (Prepare, once per member list)\n"
        << "byzantine_33: decided yes every run; " << byz.invalid << " invalid signatures and "
        << byz.equivocators.size() << " equivocators caught every run, no honest member accused\n";
  if (cuda) {
    table << "CUDA: " << cuda->Name() << ", throughput " << tp_cuda
          << " verifications/s (batches of " << items.size() << ")\n";
  } else {
    table << "CUDA: unavailable (" << cuda_unavailable << ")\n";
  }

  std::ostringstream j;
  j << "{\n  \"benchmark\": \"consensus\",\n  \"machine\": {\"hardware_threads\": "
    << std::thread::hardware_concurrency() << ", \"loadavg_start\": \"" << load_start
    << "\", \"loadavg_end\": \"" << load_end << "\"},\n"
    << "  \"members\": " << kMembers << ", \"quorum\": " << fx.members->quorum().quorum << ",\n"
    << "  \"cpu_verifier\": \"" << cpu.Name() << "\",\n"
    << "  \"cuda\": \"" << (cuda ? cuda->Name() : "unavailable: " + JsonEscape(cuda_unavailable))
    << "\",\n  \"cases\": {\n";
  auto cuda_stats = [&](const Stats& st) {
    if (cuda) {
      JsonStats(j, st);
    } else {
      j << "null";  // as sched_bench: no column
    }
  };
  j << "    \"raw_libsodium_verify\": {\"cpu\": ";
  JsonStats(j, raw);
  j << "},\n    \"single_vote\": {\"cpu\": ";
  JsonStats(j, single);
  j << ", \"cpu_plain_libsodium\": ";
  JsonStats(j, single_plain);
  j << ", \"cuda\": ";
  cuda_stats(single_cuda);
  j << ", \"target_p50_us\": 60},\n    \"batch_100\": {\"cpu\": ";
  JsonStats(j, batch);
  j << ", \"cpu_1_thread\": ";
  JsonStats(j, batch1);
  j << ", \"cpu_plain_libsodium\": ";
  JsonStats(j, batch_plain);
  j << ", \"cuda\": ";
  cuda_stats(batch_cuda);
  j << ", \"target_p50_us\": 1500},\n    \"byzantine_33\": {\"cpu\": ";
  JsonStats(j, byzs);
  j << ", \"cuda\": ";
  cuda_stats(byz_cuda);
  j << ", \"votes\": " << byz.votes.size()
    << ", \"invalid_signatures_caught\": " << byz.invalid
    << ", \"equivocators_caught\": " << byz.equivocators.size()
    << ", \"decided\": \"yes\", \"honest_accused\": 0}\n  },\n";
  j << std::fixed << std::setprecision(0) << "  \"throughput\": {\"batch\": " << items.size()
    << ", \"verifications_per_s_1_thread\": " << *tp1 << ", \"verifications_per_s_"
    << cpu.threads() << "_threads\": " << *tpn << ", \"plain_libsodium_per_s_1_thread\": "
    << *tp_plain1 << ", \"plain_libsodium_per_s_" << cpu.threads() << "_threads\": " << *tp_plainn
    << ", \"cuda_per_s\": ";
  if (cuda) {
    j << tp_cuda;
  } else {
    j << "null";
  }
  j << "},\n  \"key_table_prepare_ms\": " << std::setprecision(2)
    << prepare_us / 1000.0 << "\n}\n";
  return j.str();
}

}  // namespace consensus
