#include "serve/gpu_paths.h"

#include <algorithm>
#include <chrono>
#include <ostream>

#include "scheduler/cuda_scheduler.h"

namespace gpu_node {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

std::optional<GpuMode> ParseGpuMode(std::string_view text) {
  if (text == "auto") return GpuMode::kAuto;
  if (text == "on") return GpuMode::kOn;
  if (text == "off") return GpuMode::kOff;
  return std::nullopt;
}

std::string_view GpuModeName(GpuMode mode) {
  switch (mode) {
    case GpuMode::kAuto:
      return "auto";
    case GpuMode::kOn:
      return "on";
    case GpuMode::kOff:
      return "off";
  }
  return "?";
}

std::string_view GpuPathName(GpuPath path) { return path == GpuPath::kCuda ? "cuda" : "cpu"; }

std::string_view PathReasonName(PathReason reason) {
  switch (reason) {
    case PathReason::kGpuOff:
      return "gpu off";
    case PathReason::kNoDevice:
      return "no device";
    case PathReason::kBelowCrossover:
      return "below crossover";
    case PathReason::kAtCrossover:
      return "at or above crossover";
    case PathReason::kGpuOn:
      return "gpu on";
    case PathReason::kDeviceError:
      return "device error";
  }
  return "?";
}

PathChoice ChoosePath(GpuMode mode, bool have_device, std::uint64_t size, std::uint64_t crossover) {
  if (mode == GpuMode::kOff) return {GpuPath::kCpu, PathReason::kGpuOff};
  if (!have_device) return {GpuPath::kCpu, PathReason::kNoDevice};
  if (mode == GpuMode::kOn) return {GpuPath::kCuda, PathReason::kGpuOn};
  if (size < crossover) return {GpuPath::kCpu, PathReason::kBelowCrossover};
  return {GpuPath::kCuda, PathReason::kAtCrossover};
}

// --- PathCounter ---

PathCounter::PathCounter(std::string op, std::ostream* log) : op_(std::move(op)), log_(log) {}

void PathCounter::Ran(PathChoice choice, double ms) {
  (choice.path == GpuPath::kCuda ? cuda_ : cpu_).fetch_add(1);
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    changed = last_ != choice;
    last_ = choice;
  }
  if (changed && timing_ != nullptr) {
    (void)timing_->Record(
        "gpu_path", op_, ms,
        {{"path", GpuPathName(choice.path)}, {"why", PathReasonName(choice.reason)}});
  }
}

void PathCounter::DeviceFailed(const mesh::Status& error) {
  fallbacks_.fetch_add(1);
  std::lock_guard lock(mu_);
  if (failure_logged_ || log_ == nullptr) return;
  failure_logged_ = true;
  *log_ << "GPU: " << op_ << " failed on the device, redone on the CPU (logged once; "
        << "counted in stratoswarm_gpu_path_fallbacks_total): " << error.ToString() << std::endl;
}

std::uint64_t PathCounter::calls(GpuPath path) const {
  return (path == GpuPath::kCuda ? cuda_ : cpu_).load();
}

std::optional<PathChoice> PathCounter::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

// --- SelectingVerifier ---

SelectingVerifier::SelectingVerifier(GpuMode mode, std::unique_ptr<consensus::VoteVerifier> cpu,
                                     std::unique_ptr<consensus::VoteVerifier> device,
                                     std::uint64_t crossover_batch,
                                     std::shared_ptr<PathCounter> counter)
    : mode_(mode),
      cpu_(std::move(cpu)),
      device_(std::move(device)),
      crossover_(crossover_batch),
      counter_(std::move(counter)) {}

std::string SelectingVerifier::Name() const {
  if (device_ == nullptr) return cpu_->Name();
  if (mode_ == GpuMode::kOn) return device_->Name();
  return device_->Name() + " from " + std::to_string(crossover_) + " votes, else " + cpu_->Name();
}

mesh::Status SelectingVerifier::Verify(std::span<const consensus::SignedMessage> items,
                                       std::span<std::uint8_t> verdicts) {
  // Bad arguments are the caller's error on either path, never a device failure.
  MESH_RETURN_IF_ERROR(consensus::CheckVerifyArguments(items, verdicts));
  const auto start = std::chrono::steady_clock::now();
  PathChoice choice = ChoosePath(mode_, device_ != nullptr, items.size(), crossover_);
  if (choice.path == GpuPath::kCuda) {
    const mesh::Status st = device_->Verify(items, verdicts);
    if (st.ok()) {
      counter_->Ran(choice, MsSince(start));
      return st;
    }
    counter_->DeviceFailed(st);
    choice = {GpuPath::kCpu, PathReason::kDeviceError};
  }
  MESH_RETURN_IF_ERROR(cpu_->Verify(items, verdicts));
  counter_->Ran(choice, MsSince(start));
  return mesh::Status::Ok();
}

void SelectingVerifier::Prepare(std::span<const consensus::PublicKey> keys) {
  cpu_->Prepare(keys);
  if (device_ != nullptr) device_->Prepare(keys);
}

// --- SelectingScheduler ---

SelectingScheduler::SelectingScheduler(GpuMode mode, std::unique_ptr<scheduler::Scheduler> cpu,
                                       std::unique_ptr<scheduler::Scheduler> device,
                                       std::uint64_t crossover_pairs,
                                       std::shared_ptr<PathCounter> counter)
    : mode_(mode),
      cpu_(std::move(cpu)),
      device_(std::move(device)),
      crossover_(crossover_pairs),
      counter_(std::move(counter)),
      last_(cpu_.get()) {}

std::string_view SelectingScheduler::Name() const { return last_.load()->Name(); }

mesh::Status SelectingScheduler::Place(scheduler::internal::Plan& plan,
                                       std::span<std::int32_t> out) {
  const auto start = std::chrono::steady_clock::now();
  PathChoice choice = ChoosePath(mode_, device_ != nullptr, PlanPairs(plan), crossover_);
  if (choice.path == GpuPath::kCuda) {
    const mesh::Status st = PlaceOn(*device_, plan, out);
    if (st.ok()) {
      last_ = device_.get();
      counter_->Ran(choice, MsSince(start));
      return st;
    }
    counter_->DeviceFailed(st);
    choice = {GpuPath::kCpu, PathReason::kDeviceError};
    // The device may have written some steps: the CPU starts from all Pending.
    std::fill(out.begin(), out.end(), scheduler::kPending);
  }
  MESH_RETURN_IF_ERROR(PlaceOn(*cpu_, plan, out));
  last_ = cpu_.get();
  counter_->Ran(choice, MsSince(start));
  return mesh::Status::Ok();
}

// --- construction ---

GpuDevices GpuDevices::Cuda() {
  GpuDevices d;
  d.verifier = [] { return consensus::MakeCudaVerifier(); };
  d.scheduler = []() -> mesh::Result<std::unique_ptr<scheduler::Scheduler>> {
    auto s = scheduler::CudaScheduler::Create();
    if (!s.ok()) return s.status();
    return std::unique_ptr<scheduler::Scheduler>(std::move(*s));
  };
  return d;
}

std::string GpuPaths::StartupLine() const {
  std::string line = "GPU: " + std::string(GpuModeName(mode));
  if (!device_verifier && !device_scheduler) return line + ": CPU only (" + device + ")";
  line += ", " + device + ": ";
  if (mode == GpuMode::kOn) {
    line += "votes and placement on the GPU";
  } else {
    line += device_verifier
                ? "votes on the GPU from " + std::to_string(crossovers.verify_batch) + " per batch"
                : "votes on the CPU (no CUDA verifier)";
    line += device_scheduler ? ", placement from " + std::to_string(crossovers.place_pairs) +
                                   " replica x node pairs"
                             : ", placement on the CPU (no CUDA scheduler)";
    line += crossovers.date.empty() ? " (crossovers not measured on a device)"
                                    : " (crossovers measured " + std::string(crossovers.date) +
                                          " on " + std::string(crossovers.measured_on) + ")";
  }
  return line;
}

mesh::Result<GpuPaths> MakeGpuPaths(GpuMode mode, const GpuCrossovers& crossovers,
                                    std::unique_ptr<consensus::VoteVerifier> cpu_verifier,
                                    std::ostream* log, const GpuDevices& devices) {
  GpuPaths p;
  p.mode = mode;
  p.crossovers = crossovers;
  p.verify_counter = std::make_shared<PathCounter>("verify", log);
  p.place_counter = std::make_shared<PathCounter>("place", log);
  std::unique_ptr<consensus::VoteVerifier> device_verifier;
  std::unique_ptr<scheduler::Scheduler> device_scheduler;
  if (mode == GpuMode::kOff) {
    p.device = "gpu off";
  } else {
    auto v = devices.verifier();
    auto s = devices.scheduler();
    if (mode == GpuMode::kOn && !(v.ok() && s.ok())) {
      return mesh::Status::Unavailable(
          "--gpu on", "no usable CUDA device: " + (v.ok() ? s.status() : v.status()).message());
    }
    if (v.ok()) {
      device_verifier = std::move(*v);
      p.device = device_verifier->Name();
    }
    if (s.ok()) {
      device_scheduler = std::move(*s);
      if (p.device.empty()) p.device = std::string(device_scheduler->Name());
    }
    if (p.device.empty()) p.device = v.status().message();
  }
  p.device_verifier = device_verifier != nullptr;
  p.device_scheduler = device_scheduler != nullptr;
  p.verifier =
      std::make_unique<SelectingVerifier>(mode, std::move(cpu_verifier), std::move(device_verifier),
                                          crossovers.verify_batch, p.verify_counter);
  p.scheduler = std::make_unique<SelectingScheduler>(
      mode, std::make_unique<scheduler::CpuScheduler>(), std::move(device_scheduler),
      crossovers.place_pairs, p.place_counter);
  return p;
}

std::vector<swarmlet::MetricFamily> GpuPathFamilies(const GpuPaths& paths) {
  using swarmlet::MetricFamily;
  using swarmlet::MetricType;
  MetricFamily calls{"stratoswarm_gpu_path_calls_total",
                     "Vote verifications (op=verify) and placements (op=place) by the path that "
                     "produced the result (a device failure redone on the CPU counts as cpu)",
                     MetricType::kCounter,
                     {}};
  MetricFamily fallbacks{"stratoswarm_gpu_path_fallbacks_total",
                         "Calls the CUDA engine failed and the CPU redid",
                         MetricType::kCounter,
                         {}};
  MetricFamily device{"stratoswarm_gpu_device",
                      "1 when the op has a CUDA path (serve --gpu mode in the label)",
                      MetricType::kGauge,
                      {}};
  MetricFamily crossover{"stratoswarm_gpu_crossover",
                         "Call size from which --gpu auto uses the device (votes per batch; "
                         "replica x node pairs)",
                         MetricType::kGauge,
                         {}};
  const std::string mode(GpuModeName(paths.mode));
  const struct {
    const PathCounter* counter;
    bool has_device;
    std::uint64_t crossover;
  } ops[] = {{paths.verify_counter.get(), paths.device_verifier, paths.crossovers.verify_batch},
             {paths.place_counter.get(), paths.device_scheduler, paths.crossovers.place_pairs}};
  for (const auto& o : ops) {
    if (o.counter == nullptr) continue;
    for (GpuPath path : {GpuPath::kCpu, GpuPath::kCuda}) {
      calls.samples.emplace_back(
          swarmlet::MetricLabels{{"op", o.counter->op()}, {"path", std::string(GpuPathName(path))}},
          static_cast<double>(o.counter->calls(path)));
    }
    fallbacks.samples.emplace_back(swarmlet::MetricLabels{{"op", o.counter->op()}},
                                   static_cast<double>(o.counter->fallbacks()));
    device.samples.emplace_back(swarmlet::MetricLabels{{"op", o.counter->op()}, {"mode", mode}},
                                o.has_device ? 1.0 : 0.0);
    crossover.samples.emplace_back(swarmlet::MetricLabels{{"op", o.counter->op()}},
                                   static_cast<double>(o.crossover));
  }
  return {calls, fallbacks, device, crossover};
}

}  // namespace gpu_node
