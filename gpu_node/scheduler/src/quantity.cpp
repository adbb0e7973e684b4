#include "scheduler/quantity.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>

namespace scheduler {
namespace {

struct Number {
  double value;
  std::string_view unit;
};

// Splits "1.5GB" into 1.5 and "GB"; digits with at most one '.', no sign.
mesh::Result<Number> SplitNumber(std::string_view what, std::string_view text) {
  std::size_t i = 0;
  bool dot = false;
  bool digit = false;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !dot))) {
    dot = dot || text[i] == '.';
    digit = digit || text[i] != '.';
    ++i;
  }
  if (!digit) {
    const std::string why =
        !text.empty() && text[0] == '-' ? "must not be negative" : "expected a number";
    return mesh::Status::InvalidArgument(std::string(what) + " '" + std::string(text) + "'", why);
  }
  const std::string digits(text.substr(0, i));
  return Number{std::strtod(digits.c_str(), nullptr), text.substr(i)};
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

mesh::Result<std::uint64_t> Scale(std::string_view what, std::string_view text, double value,
                                  double unit) {
  const double scaled = std::round(value * unit);
  if (!(scaled < 18446744073709551615.0)) {
    return mesh::Status::InvalidArgument(std::string(what) + " '" + std::string(text) + "'",
                                         "too large");
  }
  return static_cast<std::uint64_t>(scaled);
}

}  // namespace

mesh::Result<std::uint64_t> ParseMemory(std::string_view raw) {
  const std::string_view text = TrimSpace(raw);
  auto number = SplitNumber("memory", text);
  if (!number.ok()) return number.status();
  const std::string_view unit = TrimSpace(number->unit);
  struct Unit {
    const char* names[4];
    double bytes;
  };
  static constexpr Unit kUnits[] = {
      {{"", "b", "", ""}, 1.0},
      {{"k", "kb", "ki", "kib"}, 1024.0},
      {{"m", "mb", "mi", "mib"}, 1024.0 * 1024},
      {{"g", "gb", "gi", "gib"}, 1024.0 * 1024 * 1024},
      {{"t", "tb", "ti", "tib"}, 1024.0 * 1024 * 1024 * 1024},
  };
  for (const Unit& u : kUnits) {
    for (const char* name : u.names) {
      if (IEquals(unit, name) && (unit.size() > 0 || name[0] == '\0')) {
        return Scale("memory", text, number->value, u.bytes);
      }
    }
  }
  return mesh::Status::InvalidArgument(
      "memory '" + std::string(text) + "'",
      "unknown unit '" + std::string(unit) + "' (use B, K, M, G or T, optionally with B or iB)");
}

mesh::Result<std::uint64_t> ParseCpu(std::string_view raw) {
  const std::string_view text = TrimSpace(raw);
  auto number = SplitNumber("cpu", text);
  if (!number.ok()) return number.status();
  const std::string_view unit = TrimSpace(number->unit);
  if (unit.empty()) return Scale("cpu", text, number->value, 1000.0);
  if (unit == "m") return Scale("cpu", text, number->value, 1.0);
  return mesh::Status::InvalidArgument(
      "cpu '" + std::string(text) + "'",
      "expected cores (\"0.5\") or millicores (\"500m\"), not unit '" + std::string(unit) + "'");
}

std::string FormatMemory(std::uint64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", value);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s + kNames[unit];
}

std::string FormatCpu(std::uint64_t millis) {
  std::string s = std::to_string(millis / 1000);
  std::uint64_t frac = millis % 1000;
  if (frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), ".%03u", static_cast<unsigned>(frac));
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    s += f;
  }
  return s;
}

}  // namespace scheduler
