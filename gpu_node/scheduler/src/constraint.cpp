#include "scheduler/constraint.h"

#include <algorithm>
#include <cctype>
#include <utility>
#include <string>

#include "scheduler/types.h"

namespace scheduler {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Values may be quoted ("node.name == 'rpi-1'").
std::string_view Unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

bool ValidToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != '_' && c != '.' && c != '/' && c != ':') return false;
  }
  return true;
}

mesh::Status Bad(std::string_view text, std::string_view why) {
  return mesh::Status::InvalidArgument("constraint '" + std::string(text) + "'", why);
}

}  // namespace

mesh::Result<Constraint> ParseConstraint(std::string_view text) {
  const std::string_view whole = Trim(text);
  Constraint c;
  std::size_t op = whole.find("==");
  if (op == std::string_view::npos) {
    op = whole.find("!=");
    if (op == std::string_view::npos) return Bad(whole, "expected `==` or `!=`");
    c.equals = false;
  }
  const std::string_view field = Trim(whole.substr(0, op));
  const std::string_view value = Unquote(Trim(whole.substr(op + 2)));
  if (value.find("==") != std::string_view::npos || value.find("!=") != std::string_view::npos) {
    return Bad(whole, "more than one operator");
  }
  if (!ValidToken(value)) {
    return Bad(whole, "the value must be non-empty letters, digits or -_./:");
  }
  if (field == "node.name") {
    c.field = Constraint::Field::kName;
  } else if (field == "node.type") {
    c.field = Constraint::Field::kType;
    if (!ParseNodeType(value)) {
      return Bad(whole,
                 "unknown node type '" + std::string(value) + "' (expected gpu, rpi or x86)");
    }
  } else if (field == "node.arch" || field == "node.platform.arch") {
    c.field = Constraint::Field::kArch;
  } else if (field.starts_with("node.labels.")) {
    c.field = Constraint::Field::kLabel;
    c.label_key = std::string(field.substr(std::string_view("node.labels.").size()));
    if (!ValidToken(c.label_key)) return Bad(whole, "missing or malformed label key");
  } else {
    return Bad(whole, "unknown field '" + std::string(field) +
                          "' (expected node.name, node.type, node.arch or node.labels.<key>)");
  }
  c.value = std::string(value);
  std::string canonical_field =
      c.field == Constraint::Field::kArch ? "node.arch" : std::string(field);
  c.text = canonical_field + (c.equals ? " == " : " != ") + c.value;
  return c;
}

bool Matches(const Constraint& constraint, const NodeInfo& node) {
  bool same = false;
  switch (constraint.field) {
    case Constraint::Field::kName:
      same = node.name == constraint.value;
      break;
    case Constraint::Field::kType:
      same = NodeTypeName(node.type) == constraint.value;
      break;
    case Constraint::Field::kArch:
      same = node.arch == constraint.value;
      break;
    case Constraint::Field::kLabel: {
      const auto it = node.labels.find(constraint.label_key);
      same = it != node.labels.end() && it->second == constraint.value;
      break;
    }
    case Constraint::Field::kPlatforms: {
      std::string_view rest = constraint.value;
      while (!same && !rest.empty()) {
        const auto comma = rest.find(',');
        same = rest.substr(0, comma) == node.arch;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      break;
    }
    case Constraint::Field::kMemoryLimits:
      same = node.memory_limits;
      break;
  }
  return same == constraint.equals;
}

namespace {
constexpr std::pair<std::string_view, std::string_view> kArchNames[] = {
    {"x86_64", "amd64"}, {"aarch64", "arm64"}, {"armv7l", "arm"}, {"riscv64", "riscv64"}};
}  // namespace

std::string OciArchOf(std::string_view node_arch) {
  for (const auto& [node, oci] : kArchNames) {
    if (node == node_arch) return std::string(oci);
  }
  return std::string(node_arch);
}

std::string NodeArchOf(std::string_view oci_arch) {
  for (const auto& [node, oci] : kArchNames) {
    if (oci == oci_arch) return std::string(node);
  }
  return std::string(oci_arch);
}

Constraint ImagePlatformConstraint(const std::string& image, const std::vector<std::string>& oci_archs) {
  std::vector<std::string> archs;
  for (const auto& a : oci_archs) archs.push_back(NodeArchOf(a));
  std::sort(archs.begin(), archs.end());
  archs.erase(std::unique(archs.begin(), archs.end()), archs.end());
  Constraint c;
  c.field = Constraint::Field::kPlatforms;
  c.label_key = image;
  std::string platforms;
  for (const auto& a : archs) {
    c.value += (c.value.empty() ? "" : ",") + a;
    platforms += (platforms.empty() ? "linux/" : ", linux/") + OciArchOf(a);
  }
  c.text = "image " + image + " (" + platforms + ")";
  return c;
}

Constraint MemoryLimitsConstraint() {
  Constraint c;
  c.field = Constraint::Field::kMemoryLimits;
  c.value = "true";
  c.text = "memory limits (cgroup memory controller)";
  return c;
}

}  // namespace scheduler
