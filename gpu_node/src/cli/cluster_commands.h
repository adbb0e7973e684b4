// The cluster commands of the `stratoswarm` CLI: each one asks the running
// `serve` through api.sock and prints a table (or JSON with --format json).
// Every function returns the process exit code; errors are one line on stderr.
#pragma once

#include <iosfwd>
#include <string>

#include "serve/peer.h"

namespace gpu_node {

int CmdServe(const ServeOptions& options, std::ostream& out);
int CmdCreateJoinToken(const std::string& state_dir, const std::string& ttl, const std::string& role,
                       std::ostream& out);
int CmdTokens(const std::string& state_dir, const std::string& format, std::ostream& out);
int CmdRevokeToken(const std::string& state_dir, const std::string& token, std::ostream& out);
int CmdNodes(const std::string& state_dir, const std::string& format, std::ostream& out);
int CmdMeshStatus(const std::string& state_dir, const std::string& format, std::ostream& out);

}  // namespace gpu_node
