// The seed-000 consensus benchmark, shared by bench/consensus_bench and
// `stratoswarm bench consensus`: single vote (verify + tally), batch of 100,
// 33% byzantine, raw libsodium verify, and large-batch throughput for 1 and
// all threads. Prints a table and returns the results as JSON.
//
// Thread safety: runs on the calling thread (plus the verifier's pool); one
// run at a time.
#pragma once

#include <iosfwd>
#include <string>

#include "mesh/status.h"

namespace consensus {

struct BenchOptions {
  int single_iterations = 3000;    // samples for single vote and raw verify
  int batch_iterations = 300;      // samples for batch-100 and byzantine
  int throughput_batch = 4096;     // signatures per large batch
  int throughput_rounds = 5;       // large batches per thread count
  unsigned threads = 0;            // 0 = hardware concurrency
};

// Fails only when a case decides wrongly or misses a bad vote (a bug, not slowness).
mesh::Result<std::string> RunConsensusBench(const BenchOptions& options, std::ostream& table);

}  // namespace consensus
