// Durations as users type them: "90s", "30m", "24h", "7d" (one unit).
#pragma once

#include <chrono>
#include <string_view>

#include "mesh/status.h"

namespace gpu_node {

// InvalidArgument naming the value for anything else, zero or more than 10 years.
mesh::Result<std::chrono::seconds> ParseDuration(std::string_view text);

}  // namespace gpu_node
