// The cluster commands of the `stratoswarm` CLI: each one asks the running
// `serve` through api.sock and prints a table (or JSON with --format json).
// Every function returns the process exit code; errors are one line on stderr.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "serve/peer.h"

namespace gpu_node {

int CmdServe(const ServeOptions& options, std::ostream& out);
int CmdCreateJoinToken(const std::string& state_dir, const std::string& ttl, const std::string& role,
                       std::ostream& out);
int CmdTokens(const std::string& state_dir, const std::string& format, std::ostream& out);
int CmdRevokeToken(const std::string& state_dir, const std::string& token, std::ostream& out);
int CmdNodes(const std::string& state_dir, const std::string& format, std::ostream& out);
int CmdMeshStatus(const std::string& state_dir, const std::string& format, std::ostream& out);
// Whether the GPU peer hears a majority of the members (isolated or not).
int CmdClusterStatus(const std::string& state_dir, const std::string& format, std::ostream& out);
// `node rm NAME [--force]` (serve/node_lifecycle.h) and `node revoked`.
int CmdNodeRm(const std::string& state_dir, const std::string& name, bool force, const std::string& format,
              std::ostream& out);
int CmdNodesRevoked(const std::string& state_dir, const std::string& format, std::ostream& out);


// The workload commands (run / ps / logs / stop / deploy / migrate).
struct RunArgs {
  double cpu = 0;
  std::string memory;
  bool gpu = false;
  std::vector<std::string> constraints;
  std::string name;
  std::string restart = "never";
  int replicas = 1;
  std::string user;         // UID[:GID]; empty: the image's User
  bool privileged = false;  // no capability drop, seccomp or read-only image root
  std::vector<std::string> image_and_command;  // IMAGE CMD... (IMAGE "-": host command)
};
int CmdRun(const std::string& state_dir, const RunArgs& args, std::ostream& out);
int CmdPs(const std::string& state_dir, bool all, const std::string& format, std::ostream& out);
int CmdLogs(const std::string& state_dir, const std::string& id, std::ostream& out);
int CmdStop(const std::string& state_dir, const std::string& id, std::ostream& out);
int CmdDeploy(const std::string& state_dir, const std::string& file, bool measure, const std::string& output,
              const std::string& format, std::ostream& out);
int CmdMigrate(const std::string& state_dir, const std::string& id, const std::string& to, bool stop_first,
               const std::string& format, std::ostream& out);

// The image commands (load / pull / ls / inspect / rm): the GPU peer's store.
struct ImageArgs {
  std::string path;     // load: FILE or DIR
  std::string name;     // load: NAME[:TAG] when the archive names none (or to rename)
  std::string ref;      // pull / inspect / rm
  bool insecure = false;  // pull: plain HTTP / unverified TLS (a local registry)
};
int CmdImageLoad(const std::string& state_dir, const ImageArgs& args, const std::string& format, std::ostream& out);
int CmdImagePull(const std::string& state_dir, const ImageArgs& args, const std::string& format, std::ostream& out);
int CmdImageLs(const std::string& state_dir, const std::string& format, std::ostream& out);
int CmdImageInspect(const std::string& state_dir, const std::string& ref, std::ostream& out);
int CmdImageRm(const std::string& state_dir, const std::string& ref, std::ostream& out);
}  // namespace gpu_node
