// OCI image configuration (application/vnd.oci.image.config.v1+json, which
// Docker's config is a superset of) and the user a workload runs as.
//
// ParseImageConfig is strict: a field of the wrong type is Corrupt (never an
// exception); absent optional fields are empty. architecture, os and
// rootfs.diff_ids are required.
//
// ResolveUser interprets config.User against the image's own /etc/passwd and
// /etc/group (captured while building the squashfs), as runc does:
//   ""            root: uid 0, its passwd gid (0 when there is no entry)
//   "name"        passwd lookup; NotFound when absent
//   "uid"         passwd lookup when present, else gid 0
//   "name:group" / "uid:gid" / "name:gid" / "uid:group"
//                 the group by name (NotFound when absent from /etc/group) or
//                 by number (need not exist)
// Supplementary groups are the /etc/group entries listing the user's name,
// only when no group was given (an explicit group means that group alone),
// without the primary gid, ascending.
//
// Thread safety: pure functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace images {

struct ImageConfig {
  std::string architecture;  // "amd64", "arm64", ...
  std::string os;            // "linux"
  std::string variant;       // "v8", "v7" or empty
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::string working_dir;
  std::string user;
  std::string stop_signal;
  std::vector<std::string> diff_ids;  // rootfs.diff_ids, lowest layer first

  bool operator==(const ImageConfig&) const = default;
};

mesh::Result<ImageConfig> ParseImageConfig(std::string_view json);

struct ResolvedUser {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> groups;  // supplementary, ascending, without gid

  bool operator==(const ResolvedUser&) const = default;
};

mesh::Result<ResolvedUser> ResolveUser(const std::string& user, std::string_view passwd,
                                       std::string_view group);

// "SIGTERM", "TERM", "sigterm" and "15" give 15; 0 for anything that is not a
// Linux signal (1..64).
int StopSignalNumber(std::string_view signal);

}  // namespace images
