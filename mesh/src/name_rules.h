// Character rules for node ids, names and labels (private to mesh/src).
// They keep every identifier safe to print in a log line, a table or a
// filename without quoting.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace mesh::internal {

inline bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// 1..max_len characters of [A-Za-z0-9._-].
inline bool IsValidName(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

// 1..max_len characters of [A-Za-z0-9._/-] (Kubernetes-style "zone/rack").
inline bool IsValidLabelKey(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!IsNameChar(c) && c != '/') return false;
  }
  return true;
}

// 0..max_len bytes, none of them ASCII control characters (UTF-8 allowed).
inline bool IsPrintable(std::string_view s, std::size_t max_len) {
  if (s.size() > max_len) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// A copy safe to quote in an error message: control bytes become '?', and
// at most 64 bytes are kept.
inline std::string Printable(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  if (s.size() > 64) out += "...";
  return out;
}

}  // namespace mesh::internal
