// `stratoswarm selftest`'s GPU line: whether serve would have a device path,
// and, where it would, that the device engines give the CPU's results on a
// fixed batch of votes (a third of them invalid) and a fixed cluster.
//
// Thread safety: none needed (one call, the CLI's thread).
#pragma once

#include "serve/gpu_paths.h"
#include "swarmlet/selftest.h"

namespace gpu_node {

// ok is false only when a device engine exists and fails or disagrees with
// the CPU; no device is a fact (serve --gpu auto then runs on the CPU).
swarmlet::SelfTestCheck GpuSelfTest(const GpuCrossovers& crossovers,
                                    const GpuDevices& devices = GpuDevices::Cuda());

}  // namespace gpu_node
