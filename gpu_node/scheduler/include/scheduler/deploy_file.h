// Deploy files: the YAML that `stratoswarm deploy FILE|-` reads, in the two
// shapes of seed 001, into WorkloadSpecs.
//
// (a) a list under `workloads:`
//       workloads:
//         - name: gpu-inference
//           type: gpu-compute            # workload class, informational
//           requirements: {gpu: true, memory: "4GB", cpu: 1.0}
//           replicas: 1                  # default 1
//           expected_node: primary-gpu   # or expected_nodes: [rpi-1, rpi-2]
// (b) one workload per document (several `---` documents, or a YAML list)
//       name: critical-service
//       replicas: 3
//       placement: {constraints: ["node.type == rpi"]}
//       spec: {image: alpine, command: ["sh", "-c", "..."]}
// Every workload accepts the union of both shapes' fields: name, type,
// replicas, requirements {cpu, memory, gpu, arch}, placement {constraints},
// spec {image, command, user, privileged}, expected_node, expected_nodes. `requirements.arch:
// aarch64` is the constraint `node.arch == aarch64`; `gpu: true` requests one
// GPU, an integer that many; a string command runs as `sh -c STRING`.
//
// Errors are InvalidArgument with the 1-based line and column: YAML syntax,
// unknown fields, missing or duplicate names, negative or non-integer
// replicas, bad cpu/memory/gpu values, bad constraints, an empty file.
//
// Thread safety: pure function.
#pragma once

#include <string_view>
#include <vector>

#include "mesh/status.h"
#include "scheduler/types.h"

namespace scheduler {

mesh::Result<std::vector<WorkloadSpec>> ParseDeployFile(std::string_view yaml);

}  // namespace scheduler
