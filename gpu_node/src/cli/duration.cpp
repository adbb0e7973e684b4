#include "cli/duration.h"

#include <charconv>
#include <string>

namespace gpu_node {

mesh::Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return mesh::Status::InvalidArgument(
        "duration", "'" + std::string(text) + "' is not a duration like 90s, 30m, 24h or 7d");
  };
  if (text.size() < 2) return bad();
  std::int64_t n = 0;
  const auto digits = text.substr(0, text.size() - 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n <= 0) return bad();
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return bad();
  }
  constexpr std::int64_t kTenYears = 10LL * 365 * 86400;
  if (n > kTenYears / unit) return bad();
  return std::chrono::seconds(n * unit);
}

}  // namespace gpu_node
