// MakeCudaVerifier in a build without CUDA (STRATOSWARM_CUDA=OFF or no nvcc):
// always Unavailable, so callers keep their CpuVerifier.
#include "consensus/verifier.h"

namespace consensus {

mesh::Result<std::unique_ptr<VoteVerifier>> MakeCudaVerifier() {
  return mesh::Status::Unavailable("cuda verifier", "built without CUDA (STRATOSWARM_CUDA=OFF)");
}

}  // namespace consensus
