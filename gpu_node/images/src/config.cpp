#include "images/config.h"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <nlohmann/json.hpp>
#include <optional>

namespace images {
namespace {

using nlohmann::json;

mesh::Status Wrong(std::string_view field, std::string_view want) {
  return mesh::Status::Corrupt("image config",
                               "'" + std::string(field) + "' is not " + std::string(want));
}

// Optional string member: absent or null -> empty.
mesh::Status GetString(const json& obj, const char* key, std::string_view field, std::string& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return mesh::Status::Ok();
  if (!it->is_string()) return Wrong(field, "a string");
  out = it->get<std::string>();
  return mesh::Status::Ok();
}

mesh::Status GetStrings(const json& obj, const char* key, std::string_view field,
                        std::vector<std::string>& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return mesh::Status::Ok();
  if (!it->is_array()) return Wrong(field, "an array of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) return Wrong(field, "an array of strings");
    out.push_back(v.get<std::string>());
  }
  return mesh::Status::Ok();
}

std::optional<std::uint32_t> ParseId(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// One colon-separated /etc/passwd or /etc/group line.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> f;
  std::size_t start = 0;
  for (;;) {
    const auto colon = line.find(':', start);
    f.push_back(line.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return f;
}

template <typename Fn>
void ForEachLine(std::string_view text, Fn fn) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() != '#') fn(Fields(line));
    start = nl + 1;
  }
}

struct PasswdEntry {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

// By name, or by uid when `by_uid` is set. Lines with bad numbers are skipped.
std::optional<PasswdEntry> FindPasswd(std::string_view passwd, std::string_view name,
                                      std::optional<std::uint32_t> by_uid) {
  std::optional<PasswdEntry> found;
  ForEachLine(passwd, [&](const std::vector<std::string_view>& f) {
    if (found || f.size() < 4) return;
    const auto uid = ParseId(f[2]);
    const auto gid = ParseId(f[3]);
    if (!uid || !gid) return;
    if (by_uid ? *uid == *by_uid : f[0] == name) found = PasswdEntry{std::string(f[0]), *uid, *gid};
  });
  return found;
}

}  // namespace

mesh::Result<ImageConfig> ParseImageConfig(std::string_view text) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return mesh::Status::Corrupt("image config", "not valid JSON");
  if (!doc.is_object()) return Wrong("(top level)", "an object");
  ImageConfig c;
  MESH_RETURN_IF_ERROR(GetString(doc, "architecture", "architecture", c.architecture));
  MESH_RETURN_IF_ERROR(GetString(doc, "os", "os", c.os));
  MESH_RETURN_IF_ERROR(GetString(doc, "variant", "variant", c.variant));
  if (c.architecture.empty())
    return mesh::Status::Corrupt("image config", "'architecture' is missing");
  if (c.os.empty()) return mesh::Status::Corrupt("image config", "'os' is missing");
  if (const auto it = doc.find("config"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return Wrong("config", "an object");
    MESH_RETURN_IF_ERROR(GetStrings(*it, "Entrypoint", "config.Entrypoint", c.entrypoint));
    MESH_RETURN_IF_ERROR(GetStrings(*it, "Cmd", "config.Cmd", c.cmd));
    MESH_RETURN_IF_ERROR(GetStrings(*it, "Env", "config.Env", c.env));
    MESH_RETURN_IF_ERROR(GetString(*it, "WorkingDir", "config.WorkingDir", c.working_dir));
    MESH_RETURN_IF_ERROR(GetString(*it, "User", "config.User", c.user));
    MESH_RETURN_IF_ERROR(GetString(*it, "StopSignal", "config.StopSignal", c.stop_signal));
  }
  const auto rootfs = doc.find("rootfs");
  if (rootfs == doc.end()) return mesh::Status::Corrupt("image config", "'rootfs' is missing");
  if (!rootfs->is_object()) return Wrong("rootfs", "an object");
  std::string type;
  MESH_RETURN_IF_ERROR(GetString(*rootfs, "type", "rootfs.type", type));
  if (type != "layers") return mesh::Status::Corrupt("image config", "rootfs.type is not 'layers'");
  if (!rootfs->contains("diff_ids"))
    return mesh::Status::Corrupt("image config", "'rootfs.diff_ids' is missing");
  MESH_RETURN_IF_ERROR(GetStrings(*rootfs, "diff_ids", "rootfs.diff_ids", c.diff_ids));
  return c;
}

mesh::Result<ResolvedUser> ResolveUser(const std::string& user, std::string_view passwd,
                                       std::string_view group) {
  const std::string op = "resolve user '" + user + "'";
  std::string_view user_part = user;
  std::optional<std::string_view> group_part;
  if (const auto colon = user.find(':'); colon != std::string::npos) {
    user_part = std::string_view(user).substr(0, colon);
    group_part = std::string_view(user).substr(colon + 1);
    if (user_part.empty() || group_part->empty())
      return mesh::Status::InvalidArgument(op, "expected USER, USER:GROUP, UID or UID:GID");
  }
  if (user_part.empty()) user_part = "root";

  ResolvedUser r;
  std::string name;  // for supplementary groups; empty when unknown
  if (const auto uid = ParseId(user_part)) {
    r.uid = *uid;
    if (const auto e = FindPasswd(passwd, {}, uid)) {
      r.gid = e->gid;
      name = e->name;
    }
  } else if (const auto e = FindPasswd(passwd, user_part, std::nullopt)) {
    r.uid = e->uid;
    r.gid = e->gid;
    name = e->name;
  } else if (user_part == "root" && user.empty()) {
    // No config.User and no passwd entry for root: plain 0:0.
  } else {
    return mesh::Status::NotFound(
        op, "user '" + std::string(user_part) + "' not in the image's /etc/passwd");
  }

  if (group_part) {
    if (const auto gid = ParseId(*group_part)) {
      r.gid = *gid;
      return r;
    }
    std::optional<std::uint32_t> found;
    ForEachLine(group, [&](const std::vector<std::string_view>& f) {
      if (!found && f.size() >= 3 && f[0] == *group_part) found = ParseId(f[2]);
    });
    if (!found)
      return mesh::Status::NotFound(
          op, "group '" + std::string(*group_part) + "' not in the image's /etc/group");
    r.gid = *found;
    return r;
  }
  if (!name.empty()) {
    ForEachLine(group, [&](const std::vector<std::string_view>& f) {
      if (f.size() < 4) return;
      const auto gid = ParseId(f[2]);
      if (!gid || *gid == r.gid) return;
      std::string_view members = f[3];
      std::size_t start = 0;
      while (start <= members.size()) {
        auto comma = members.find(',', start);
        if (comma == std::string_view::npos) comma = members.size();
        if (members.substr(start, comma - start) == name) {
          r.groups.push_back(*gid);
          break;
        }
        start = comma + 1;
      }
    });
    std::sort(r.groups.begin(), r.groups.end());
    r.groups.erase(std::unique(r.groups.begin(), r.groups.end()), r.groups.end());
  }
  return r;
}

int StopSignalNumber(std::string_view signal) {
  if (signal.empty()) return 0;
  if (signal.front() >= '0' && signal.front() <= '9') {
    const auto n = ParseId(signal);
    return n && *n >= 1 && *n <= 64 ? static_cast<int>(*n) : 0;
  }
  std::string upper;
  for (char c : signal) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.starts_with("SIG")) upper = upper.substr(3);
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
      {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
      {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
      {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
      {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
      {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
      {"SYS", SIGSYS},
  };
  for (const auto& [name, number] : kSignals)
    if (upper == name) return number;
  return 0;
}

}  // namespace images
