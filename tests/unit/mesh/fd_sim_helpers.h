// Helpers shared by the whole-cluster simulation tests (fd_simulation_test,
// swim_test): member ids, a seeded network, counting events.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mesh/testing/fd_simulation.h"

namespace mesh::testing {

// "n0" .. "n<n-1>".
inline std::vector<std::string> Ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("n" + std::to_string(i));
  return ids;
}

// A seeded LAN-like network with `loss`, members started within 100 ms.
inline SimNetworkConfig Lan(std::uint64_t seed, double loss = 0.0) {
  SimNetworkConfig net;
  net.seed = seed;
  net.loss = loss;
  net.start_spread = std::chrono::milliseconds(100);
  return net;
}

// Events of `kind` the simulation recorded so far.
inline int Count(const FdSimulation& sim, FdEventKind kind) {
  int n = 0;
  for (const SimEvent& e : sim.events()) n += e.event.kind == kind;
  return n;
}

}  // namespace mesh::testing
