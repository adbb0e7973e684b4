#include "images/reference.h"

#include <cctype>

namespace images {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// A repository path component: lowercase alphanumerics joined by ".", "_",
// "__" or runs of "-" (the distribution reference grammar).
bool ValidComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    const char ch = c[i];
    if (IsLowerAlnum(ch)) continue;
    if (ch == '.' || ch == '-') {
      if (ch == '.' && !IsLowerAlnum(c[i + 1])) return false;
      continue;
    }
    if (ch == '_') {
      if (c[i + 1] == '_') ++i;
      if (!IsLowerAlnum(c[i + 1])) return false;
      continue;
    }
    return false;
  }
  return true;
}

// host or host:port; hosts may have uppercase letters, dots and dashes.
bool ValidHost(std::string_view h) {
  std::string_view host = h;
  const auto colon = h.find(':');
  if (colon != std::string_view::npos) {
    host = h.substr(0, colon);
    const std::string_view port = h.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char ch : port)
      if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
  }
  if (host.empty()) return false;
  for (char ch : host)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-') return false;
  return true;
}

bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char ch = t[i];
    const bool word = std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    if (!word && (i == 0 || (ch != '.' && ch != '-'))) return false;
  }
  return true;
}

mesh::Status Bad(std::string_view text, std::string_view why) {
  return mesh::Status::InvalidArgument("image reference '" + std::string(text) + "'", why);
}

}  // namespace

bool IsSha256Digest(std::string_view d) {
  if (d.size() != 7 + 64 || d.substr(0, 7) != "sha256:") return false;
  for (char ch : d.substr(7))
    if (!IsHex(ch)) return false;
  return true;
}

mesh::Result<Reference> ParseReference(std::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  if (text.size() > 512) return Bad(text.substr(0, 40), "longer than 512 characters");
  Reference ref;
  std::string_view rest = text;
  if (const auto at = rest.find('@'); at != std::string_view::npos) {
    const std::string_view digest = rest.substr(at + 1);
    if (!IsSha256Digest(digest))
      return Bad(text, "digest must be sha256: followed by 64 lowercase hex digits");
    ref.digest = std::string(digest);
    rest = rest.substr(0, at);
  }
  // A tag is after the last ':' that follows the last '/'; a ':' before a '/'
  // belongs to a host:port.
  const auto slash = rest.rfind('/');
  const auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    const std::string_view tag = rest.substr(colon + 1);
    if (!ValidTag(tag))
      return Bad(text, "tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  } else if (ref.digest.empty()) {
    ref.tag = "latest";
  }
  if (rest.empty()) return Bad(text, "missing name");
  std::string_view path = rest;
  const auto first_slash = rest.find('/');
  if (first_slash != std::string_view::npos) {
    const std::string_view first = rest.substr(0, first_slash);
    const bool is_host =
        first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
        first.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos;
    if (is_host) {
      if (!ValidHost(first))
        return Bad(text, "registry host '" + std::string(first) + "' is malformed");
      path = rest.substr(first_slash + 1);
    }
  }
  std::size_t start = 0;
  for (;;) {
    const auto end = path.find('/', start);
    const std::string_view comp =
        path.substr(start, end == std::string_view::npos ? end : end - start);
    if (!ValidComponent(comp))
      return Bad(text, "name component '" + std::string(comp) +
                           "' must be lowercase letters and digits separated by '.', '_' or '-'");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  ref.name = std::string(rest);
  return ref;
}

std::string ToString(const Reference& ref) {
  std::string s = ref.name;
  if (!ref.tag.empty()) s += ":" + ref.tag;
  if (!ref.digest.empty()) s += "@" + ref.digest;
  return s;
}

}  // namespace images
