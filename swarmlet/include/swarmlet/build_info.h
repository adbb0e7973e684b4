// What this binary is: version, source revision and target architecture,
// fixed at build time. Shared by swarmlet, stratoswarm and the images.
#pragma once

#include <string_view>

namespace swarmlet {

std::string_view Version();   // "0.1.0"
std::string_view Revision();  // short git revision, or "unknown" outside a checkout
std::string_view Arch();      // "x86_64", "aarch64"
bool StaticallyLinked();      // true when the running executable has no dynamic section

}  // namespace swarmlet
