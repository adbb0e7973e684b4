// `swarmlet selftest`: proves that every library the static binary needs is
// really linked and working, by calling each one:
//   libzmq    version, and whether CURVE is compiled in
//   libsodium an Ed25519 sign/verify round trip (and a tampered message refused)
//   msgpack   a wire envelope encode/decode round trip
//   libcgroup library init, next to our own statfs detection of the cgroup mode
//   Avahi     whether the Avahi daemon answers over D-Bus
// and the node's hardware profile (what a join would report).
//
// Thread safety: call from one thread at a time (it talks to D-Bus).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace swarmlet {

struct SelfTestCheck {
  std::string name;    // "libzmq", "libsodium", ...
  bool ok = false;     // false only when a linked library misbehaves
  std::string detail;  // the one-line finding printed after the name
};

// Runs every check. Environment facts (no cgroups, no Avahi daemon) are
// reported in the detail but do not fail the check: the library still works.
std::vector<SelfTestCheck> RunSelfTest();

// Prints the checks one per line; returns the process exit code (0 = all ok).
int PrintSelfTest(const std::vector<SelfTestCheck>& checks, std::ostream& out);

}  // namespace swarmlet
