// Resource quantities as users write them: memory "256MB", "4GB", "512Mi",
// "128M" and CPU "1.0", "0.5", "500m".
//
// Memory units are binary, as Docker reads them (`--memory 128M` is 128 MiB):
// B, K/KB/Ki/KiB, M/MB/Mi/MiB, G/GB/Gi/GiB, T/TB/Ti/TiB, case-insensitive; a
// bare number is bytes. Fractions are allowed ("1.5GB") and rounded to bytes.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace scheduler {

// InvalidArgument (naming the text) for empty, negative, unit-less garbage or
// unknown units, and for values that overflow 64 bits.
mesh::Result<std::uint64_t> ParseMemory(std::string_view text);
// CPU cores as a decimal ("2", "0.25") or millicores ("250m"); rounded to
// millicores. InvalidArgument for negatives and garbage.
mesh::Result<std::uint64_t> ParseCpu(std::string_view text);

// "256MiB", "4GiB", "1.5GiB", "100B": the largest binary unit, at most 2 decimals.
std::string FormatMemory(std::uint64_t bytes);
// "2", "0.5", "0.125": cores.
std::string FormatCpu(std::uint64_t millis);

}  // namespace scheduler
