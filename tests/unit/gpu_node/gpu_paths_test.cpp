// serve's GPU path selection (serve/gpu_paths.h), without a device: fake
// "device present" engines that record their calls and can be told to fail.
#include "serve/gpu_paths.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>

#include "mesh/clock.h"
#include "scheduler/cuda_scheduler.h"
#include "scheduler/deploy_report.h"
#include "scheduler/scheduler.h"
#include "serve/gpu_selftest.h"

namespace {

using gpu_node::GpuMode;
using gpu_node::GpuPath;
using gpu_node::PathChoice;
using gpu_node::PathReason;

// A device verifier: libsodium per item (the contract's reference), the
// batch sizes it was given, and a switch that makes it fail like a lost
// device after scribbling over the verdicts.
class FakeDeviceVerifier final : public consensus::VoteVerifier {
 public:
  explicit FakeDeviceVerifier(std::vector<std::size_t>* calls, const bool* fail)
      : calls_(calls), fail_(fail) {}
  std::string Name() const override { return "cuda(fake)"; }
  mesh::Status Verify(std::span<const consensus::SignedMessage> items,
                      std::span<std::uint8_t> verdicts) override {
    calls_->push_back(items.size());
    if (*fail_) {
      std::fill(verdicts.begin(), verdicts.end(), std::uint8_t{1});
      return mesh::Status::Internal("fake cuda verify", "an illegal memory access was encountered");
    }
    for (std::size_t i = 0; i < items.size(); ++i)
      verdicts[i] = consensus::VerifyOne(items[i]) ? 1 : 0;
    return mesh::Status::Ok();
  }
  void Prepare(std::span<const consensus::PublicKey> keys) override { prepared_ += keys.size(); }
  std::size_t prepared_ = 0;

 private:
  std::vector<std::size_t>* calls_;
  const bool* fail_;
};

// A device scheduler: the CUDA kernel's host twin, recording each call and
// failing on demand after writing node 0 everywhere.
class FakeDeviceScheduler final : public scheduler::CudaHostTwinScheduler {
 public:
  FakeDeviceScheduler(int* calls, const bool* fail) : calls_(calls), fail_(fail) {}
  std::string_view Name() const override { return "cuda(fake)"; }

 protected:
  mesh::Status Place(scheduler::internal::Plan& plan, std::span<std::int32_t> out) override {
    ++*calls_;
    if (*fail_) {
      std::fill(out.begin(), out.end(), 0);
      return mesh::Status::Unavailable("fake cuda scheduler", "device lost");
    }
    return CudaHostTwinScheduler::Place(plan, out);
  }

 private:
  int* calls_;
  const bool* fail_;
};

// Everything the fakes report back to the test.
struct Rig {
  std::vector<std::size_t> verify_calls;
  int place_calls = 0;
  bool fail = false;
  bool device_present = true;
  FakeDeviceVerifier* verifier = nullptr;

  gpu_node::GpuDevices Devices() {
    gpu_node::GpuDevices d;
    d.verifier = [this]() -> mesh::Result<std::unique_ptr<consensus::VoteVerifier>> {
      if (!device_present) return mesh::Status::Unavailable("cuda verifier", "no CUDA device");
      auto v = std::make_unique<FakeDeviceVerifier>(&verify_calls, &fail);
      verifier = v.get();
      return std::unique_ptr<consensus::VoteVerifier>(std::move(v));
    };
    d.scheduler = [this]() -> mesh::Result<std::unique_ptr<scheduler::Scheduler>> {
      if (!device_present) return mesh::Status::Unavailable("cuda scheduler", "no CUDA device");
      return std::unique_ptr<scheduler::Scheduler>(
          std::make_unique<FakeDeviceScheduler>(&place_calls, &fail));
    };
    return d;
  }
};

constexpr gpu_node::GpuCrossovers kCross{
    .verify_batch = 16, .place_pairs = 100, .measured_on = "test", .date = ""};

gpu_node::GpuPaths Make(GpuMode mode, Rig& rig, std::ostream* log = nullptr) {
  auto p = gpu_node::MakeGpuPaths(
      mode, kCross,
      std::make_unique<consensus::CpuVerifier>(consensus::CpuVerifier::Options{1, 8, true, 128}),
      log, rig.Devices());
  REQUIRE(p.ok());
  return std::move(*p);
}

// `n` signed messages; every third signature is corrupted.
struct Batch {
  std::vector<std::string> messages;
  std::vector<consensus::Signature> signatures;
  std::vector<consensus::PublicKey> keys;
  std::vector<consensus::SignedMessage> items;
  std::vector<std::uint8_t> expected;

  explicit Batch(std::size_t n) : messages(n), signatures(n), keys(n), items(n), expected(n) {
    for (std::size_t i = 0; i < n; ++i) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(i);
      const consensus::KeyPair kp = consensus::KeyPairFromSeed(seed);
      keys[i] = kp.public_key;
      messages[i] = "vote " + std::to_string(i);
      crypto_sign_detached(signatures[i].data(), nullptr,
                           reinterpret_cast<const unsigned char*>(messages[i].data()),
                           messages[i].size(), kp.secret_key.data());
      if (i % 3 == 2) signatures[i][5] ^= 0x40;
      expected[i] = i % 3 == 2 ? 0 : 1;
    }
    for (std::size_t i = 0; i < n; ++i) {
      items[i] = {reinterpret_cast<const std::uint8_t*>(messages[i].data()), messages[i].size(),
                  &signatures[i], &keys[i]};
    }
  }
  std::vector<std::uint8_t> Verify(consensus::VoteVerifier& v) {
    std::vector<std::uint8_t> verdicts(items.size(), 7);
    REQUIRE(v.Verify(items, verdicts).ok());
    return verdicts;
  }
};

// A cluster and a batch of `replicas` single-replica workloads.
struct Cluster {
  std::vector<scheduler::NodeInfo> nodes;
  std::vector<scheduler::WorkloadSpec> workloads;
  Cluster(int nodes_count, int replicas) {
    for (int i = 0; i < nodes_count; ++i) {
      scheduler::NodeInfo n;
      n.id = n.name = "node-" + std::to_string(i);
      n.type = i == 0 ? scheduler::NodeType::kGpu : scheduler::NodeType::kRpi;
      n.arch = i == 0 ? "x86_64" : "aarch64";
      n.capacity = {4000 + 1000u * static_cast<unsigned>(i % 3), 4ull << 30, i == 0 ? 1u : 0u};
      nodes.push_back(n);
    }
    for (int i = 0; i < replicas; ++i) {
      scheduler::WorkloadSpec w;
      w.name = "w" + std::to_string(i);
      w.requests = {500, 256ull << 20, 0};
      w.replicas = 1;
      workloads.push_back(w);
    }
  }
};

std::vector<std::int32_t> NodesOf(const scheduler::ScheduleResult& r) {
  std::vector<std::int32_t> out;
  for (const auto& p : r.placements) out.push_back(p.node);
  return out;
}

}  // namespace

TEST_CASE("gpu paths: the choice rule", "[gpu_node][gpu_paths]") {
  using gpu_node::ChoosePath;
  CHECK(ChoosePath(GpuMode::kOff, true, 1000, 10) ==
        PathChoice{GpuPath::kCpu, PathReason::kGpuOff});
  CHECK(ChoosePath(GpuMode::kAuto, false, 1000, 10) ==
        PathChoice{GpuPath::kCpu, PathReason::kNoDevice});
  CHECK(ChoosePath(GpuMode::kAuto, true, 9, 10) ==
        PathChoice{GpuPath::kCpu, PathReason::kBelowCrossover});
  CHECK(ChoosePath(GpuMode::kAuto, true, 10, 10) ==
        PathChoice{GpuPath::kCuda, PathReason::kAtCrossover});
  CHECK(ChoosePath(GpuMode::kOn, true, 1, 10) == PathChoice{GpuPath::kCuda, PathReason::kGpuOn});
  CHECK(gpu_node::ParseGpuMode("auto") == GpuMode::kAuto);
  CHECK(gpu_node::ParseGpuMode("on") == GpuMode::kOn);
  CHECK(gpu_node::ParseGpuMode("off") == GpuMode::kOff);
  CHECK_FALSE(gpu_node::ParseGpuMode("yes").has_value());
}

TEST_CASE("gpu paths: auto verifies on the device from the crossover, same verdicts",
          "[gpu_node][gpu_paths]") {
  Rig rig;
  auto paths = Make(GpuMode::kAuto, rig);
  REQUIRE(paths.device_verifier);
  CHECK(
      paths.verifier->Name().starts_with("cuda(fake) from 16 votes, else cpu-libsodium(1 threads"));
  Batch small(15), large(40);
  CHECK(small.Verify(*paths.verifier) == small.expected);
  CHECK(rig.verify_calls.empty());  // below the crossover: the CPU
  CHECK(large.Verify(*paths.verifier) == large.expected);
  CHECK(rig.verify_calls == std::vector<std::size_t>{40});
  CHECK(paths.verify_counter->calls(GpuPath::kCpu) == 1);
  CHECK(paths.verify_counter->calls(GpuPath::kCuda) == 1);
  CHECK(paths.verify_counter->last() == PathChoice{GpuPath::kCuda, PathReason::kAtCrossover});

  const std::vector<consensus::PublicKey> keys(3);
  paths.verifier->Prepare(keys);
  CHECK(rig.verifier->prepared_ == 3);
}

TEST_CASE("gpu paths: a device error is redone on the CPU, counted, logged once",
          "[gpu_node][gpu_paths]") {
  Rig rig;
  std::ostringstream log;
  auto paths = Make(GpuMode::kOn, rig, &log);
  rig.fail = true;
  Batch batch(20);
  CHECK(batch.Verify(*paths.verifier) == batch.expected);  // not the fake's all-ones
  CHECK(batch.Verify(*paths.verifier) == batch.expected);
  CHECK(rig.verify_calls.size() == 2);
  CHECK(paths.verify_counter->fallbacks() == 2);
  CHECK(paths.verify_counter->calls(GpuPath::kCpu) == 2);
  CHECK(paths.verify_counter->calls(GpuPath::kCuda) == 0);
  CHECK(paths.verify_counter->last() == PathChoice{GpuPath::kCpu, PathReason::kDeviceError});
  const std::string text = log.str();
  CHECK(text.find("verify failed on the device") != std::string::npos);
  CHECK(text.find("illegal memory access") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);

  // Placement: the fake writes node 0 everywhere and fails; the CPU's answer stands.
  Cluster c(6, 9);
  scheduler::CpuScheduler cpu;
  auto want = cpu.Schedule(c.nodes, c.workloads);
  auto got = paths.scheduler->Schedule(c.nodes, c.workloads);
  REQUIRE(want.ok());
  REQUIRE(got.ok());
  CHECK(NodesOf(*got) == NodesOf(*want));
  CHECK(rig.place_calls == 1);
  CHECK(paths.place_counter->fallbacks() == 1);
  CHECK(paths.scheduler->Name() == "cpu");
  CHECK(log.str().find("place failed on the device") != std::string::npos);

  rig.fail = false;  // the device is back: next call runs there again
  CHECK(batch.Verify(*paths.verifier) == batch.expected);
  CHECK(paths.verify_counter->calls(GpuPath::kCuda) == 1);
}

TEST_CASE("gpu paths: auto places on the device from the crossover, same placements",
          "[gpu_node][gpu_paths]") {
  Rig rig;
  auto paths = Make(GpuMode::kAuto, rig);
  scheduler::CpuScheduler cpu;
  for (const auto& [nodes, replicas, on_device] :
       {std::tuple{5, 19, false}, std::tuple{5, 20, true}, std::tuple{40, 30, true}}) {
    INFO(nodes << " nodes x " << replicas << " replicas");
    Cluster c(nodes, replicas);
    const int before = rig.place_calls;
    auto want = cpu.Schedule(c.nodes, c.workloads);
    auto got = paths.scheduler->Schedule(c.nodes, c.workloads);
    REQUIRE(want.ok());
    REQUIRE(got.ok());
    CHECK(NodesOf(*got) == NodesOf(*want));
    CHECK(rig.place_calls - before == (on_device ? 1 : 0));
    CHECK(paths.scheduler->Name() == (on_device ? "cuda(fake)" : "cpu"));
  }
  CHECK(paths.place_counter->calls(GpuPath::kCpu) == 1);
  CHECK(paths.place_counter->calls(GpuPath::kCuda) == 2);
}

TEST_CASE("gpu paths: off never probes a device, auto without one runs on the CPU",
          "[gpu_node][gpu_paths]") {
  Rig rig;
  auto off = Make(GpuMode::kOff, rig);
  CHECK(rig.verifier == nullptr);  // the factory was not called
  CHECK_FALSE(off.device_verifier);
  CHECK(off.StartupLine() == "GPU: off: CPU only (gpu off)");
  Batch batch(40);
  CHECK(batch.Verify(*off.verifier) == batch.expected);
  CHECK(off.verify_counter->last() == PathChoice{GpuPath::kCpu, PathReason::kGpuOff});

  rig.device_present = false;
  auto none = Make(GpuMode::kAuto, rig);
  CHECK_FALSE(none.device_verifier);
  CHECK_FALSE(none.device_scheduler);
  CHECK(none.StartupLine().starts_with("GPU: auto: CPU only ("));
  CHECK(none.StartupLine().find("no CUDA device") != std::string::npos);
  CHECK(batch.Verify(*none.verifier) == batch.expected);
  CHECK(none.verify_counter->last() == PathChoice{GpuPath::kCpu, PathReason::kNoDevice});
}

TEST_CASE("gpu paths: on refuses to start without a device", "[gpu_node][gpu_paths]") {
  Rig rig;
  rig.device_present = false;
  auto p = gpu_node::MakeGpuPaths(GpuMode::kOn, kCross, std::make_unique<consensus::CpuVerifier>(),
                                  nullptr, rig.Devices());
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().message().find("no usable CUDA device") != std::string::npos);
  CHECK(p.status().ToString().find('\n') == std::string::npos);
}

TEST_CASE("gpu paths: startup line and metric families say which path and why",
          "[gpu_node][gpu_paths]") {
  Rig rig;
  auto paths = Make(GpuMode::kAuto, rig);
  CHECK(paths.StartupLine() ==
        "GPU: auto, cuda(fake): votes on the GPU from 16 per batch, placement from 100 replica x "
        "node pairs (crossovers not measured on a device)");
  Batch batch(20);
  (void)batch.Verify(*paths.verifier);
  const auto families = gpu_node::GpuPathFamilies(paths);
  REQUIRE(families.size() == 4);
  CHECK(families[0].name == "stratoswarm_gpu_path_calls_total");
  CHECK(families[0].type == swarmlet::MetricType::kCounter);
  REQUIRE(families[0].samples.size() == 4);  // {verify, place} x {cpu, cuda}, zeros included
  const auto& cuda_verify = families[0].samples[1];
  CHECK(cuda_verify.labels == swarmlet::MetricLabels{{"op", "verify"}, {"path", "cuda"}});
  CHECK(cuda_verify.value == 1);
  CHECK(families[0].samples[2].value == 0);
  CHECK(families[2].samples[0].labels ==
        swarmlet::MetricLabels{{"op", "verify"}, {"mode", "auto"}});
  CHECK(families[2].samples[0].value == 1);
  CHECK(families[3].samples[1].value == 100);
  auto text = swarmlet::FormatPrometheus(families);
  REQUIRE(text.ok());
  CHECK(text->find("stratoswarm_gpu_path_calls_total{op=\"verify\",path=\"cuda\"} 1") !=
        std::string::npos);
}

TEST_CASE("gpu paths: the timing log gets a record when the path or its reason changes",
          "[gpu_node][gpu_paths]") {
  Rig rig;
  auto paths = Make(GpuMode::kAuto, rig);
  const std::string file = "/tmp/gpu_paths_test_timing_" + std::to_string(getpid()) + ".jsonl";
  std::remove(file.c_str());
  auto timing = mesh::TimingLog::Open(file, "primary-gpu", mesh::SystemClock::Get());
  REQUIRE(timing.ok());
  paths.verify_counter->SetTimingLog(timing->get());
  Batch small(3), large(30);
  (void)small.Verify(*paths.verifier);
  (void)small.Verify(*paths.verifier);  // same path, same reason: no record
  (void)large.Verify(*paths.verifier);
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::remove(file.c_str());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("\"event\":\"gpu_path\"") != std::string::npos);
  CHECK(lines[0].find("\"phase\":\"verify\"") != std::string::npos);
  CHECK(lines[0].find("\"why\":\"below crossover\"") != std::string::npos);
  CHECK(lines[1].find("\"path\":\"cuda\"") != std::string::npos);
  CHECK(lines[1].find("\"why\":\"at or above crossover\"") != std::string::npos);
}

namespace {

// A device verifier that gets one verdict wrong.
class LyingVerifier final : public consensus::VoteVerifier {
 public:
  std::string Name() const override { return "cuda(liar)"; }
  mesh::Status Verify(std::span<const consensus::SignedMessage> items,
                      std::span<std::uint8_t> verdicts) override {
    for (std::size_t i = 0; i < items.size(); ++i)
      verdicts[i] = consensus::VerifyOne(items[i]) ? 1 : 0;
    verdicts[2] ^= 1;
    return mesh::Status::Ok();
  }
};

}  // namespace

TEST_CASE("gpu selftest: no device is reported, not failed", "[gpu_node][gpu_paths]") {
  Rig rig;
  rig.device_present = false;
  const auto check = gpu_node::GpuSelfTest(kCross, rig.Devices());
  CHECK(check.name == "gpu");
  CHECK(check.ok);
  CHECK(check.detail.find("no CUDA device") != std::string::npos);
  CHECK(check.detail.find("on the CPU") != std::string::npos);
}

TEST_CASE("gpu selftest: device engines are compared with the CPU", "[gpu_node][gpu_paths]") {
  Rig rig;
  const auto good = gpu_node::GpuSelfTest(kCross, rig.Devices());
  CHECK(good.ok);
  CHECK(good.detail.starts_with("cuda(fake): verify = CPU on 256 votes, auto from 16"));
  CHECK(good.detail.find("place = CPU on 300 nodes, auto from 100 pairs") != std::string::npos);
  CHECK(rig.verify_calls == std::vector<std::size_t>{256});
  CHECK(rig.place_calls == 1);

  gpu_node::GpuDevices liar = rig.Devices();
  liar.verifier = []() -> mesh::Result<std::unique_ptr<consensus::VoteVerifier>> {
    return std::unique_ptr<consensus::VoteVerifier>(std::make_unique<LyingVerifier>());
  };
  const auto bad = gpu_node::GpuSelfTest(kCross, liar);
  CHECK_FALSE(bad.ok);
  CHECK(bad.detail.find("verify DIFFERS") != std::string::npos);

  rig.fail = true;
  const auto failing = gpu_node::GpuSelfTest(kCross, rig.Devices());
  CHECK_FALSE(failing.ok);
  CHECK(failing.detail.find("device lost") != std::string::npos);
}

TEST_CASE("gpu paths: a deploy report names the engine that placed it", "[gpu_node][gpu_paths]") {
  Rig rig;
  auto paths = Make(GpuMode::kAuto, rig);
  Cluster c(40, 2);
  c.workloads[1].replicas = 3;  // 3 x 40 = 120 pairs, above the crossover of 100
  auto report = scheduler::ScheduleDeployment(*paths.scheduler, c.nodes, c.workloads,
                                              mesh::SystemClock::Get());
  REQUIRE(report.ok());
  CHECK(report->placed == 4);
  CHECK(report->scheduler == "cuda(fake)");
  CHECK(rig.place_calls == 1);  // the first workload (40 pairs) went to the CPU
  CHECK(paths.place_counter->calls(GpuPath::kCpu) == 1);
}
