#include "cli/commands.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <ostream>
#include <string>
#include <vector>

#include "cli/cluster_commands.h"
#include "cli/duration.h"
#include "serve/gpu_selftest.h"
#include "consensus/bench.h"
#include "timings/timings.h"
#include "swarmlet/build_info.h"
#include "swarmlet/cli.h"
#include "swarmlet/selftest.h"

namespace gpu_node {
namespace {

struct GlobalOptions {
  std::string state_dir;
  std::string format = "table";
};

std::string DefaultStateDir() {
  const char* env = std::getenv("STRATOSWARM_STATE_DIR");
  return env != nullptr && *env != '\0' ? env : "/var/lib/stratoswarm";
}

std::string VersionLine() {
  return "stratoswarm " + std::string(swarmlet::Version()) + " (" +
         std::string(swarmlet::Revision()) + ", " + std::string(swarmlet::Arch()) + ")";
}

// The commands that print a listing take --format (shown in their --help);
// the program-wide --format is the same option given anywhere else.
void AddFormat(CLI::App* cmd, GlobalOptions& g, std::set<const CLI::App*>& listings) {
  cmd->add_option("--format", g.format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  listings.insert(cmd);
}

// Program-wide options are parsed on the root, before or after a subcommand
// (CLI11 passes options a subcommand does not know up to its parent).
void AllowGlobalOptionsAnywhere(CLI::App& app) {
  app.fallthrough();
  app.footer("Program-wide options, before or after the command: --state-dir DIR, --format table|json "
             "(listings only)");
}

// Options of the commands below.
struct CommandOptions {
  std::string ttl = "24h";
  std::string role = "worker";
  std::string token;
  RunArgs run;
  bool all_nodes = false;
  bool all = false;
  std::string workload_id;
  std::string deploy_file;
  bool measure_scheduling_time = false;
  std::string output;
  std::string to_node;
  bool stop_first = false;
  std::string node_name;
  bool force = false;
};

// `bench consensus`: the seed-000 cases (consensus/bench.h), table to `out`.
int RunBenchConsensus(const std::string& output, std::ostream& out) {
  auto json = consensus::RunConsensusBench(consensus::BenchOptions{}, out);
  if (!json.ok()) {
    std::cerr << "stratoswarm bench consensus: " << json.status().ToString() << "\n";
    return swarmlet::kExitFailure;
  }
  if (!output.empty()) {
    std::ofstream f(output);
    f << *json;
    if (!f) {
      std::cerr << "stratoswarm bench consensus: cannot write " << output << "\n";
      return swarmlet::kExitFailure;
    }
  }
  return swarmlet::kExitOk;
}

}  // namespace

int RunStratoswarm(int argc, const char* const* argv, std::ostream& out) {
  GlobalOptions g;
  g.state_dir = DefaultStateDir();
  CommandOptions o;

  CLI::App app{"stratoswarm: the GPU peer of a StratoSwarm edge cluster. 'serve' runs the peer; "
               "every other command talks to a running 'serve' through <state-dir>/api.sock.",
               "stratoswarm"};
  app.set_version_flag("--version", VersionLine());
  app.require_subcommand(1);
  app.add_option("--state-dir", g.state_dir,
                 "State directory (env STRATOSWARM_STATE_DIR)")
      ->capture_default_str();
  app.add_option("--format", g.format, "Output format of listings")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  AllowGlobalOptionsAnywhere(app);  // before the subcommands: they inherit it
  std::set<const CLI::App*> listings;

  auto* serve = app.add_subcommand("serve", "Run the GPU peer: CA, join endpoint, mDNS, mesh, "
                                            "scheduler, consensus, state");
  ServeOptions so;
  serve->add_option("--listen", so.listen_ip, "IPv4 address to serve on")->capture_default_str();
  serve->add_option("--advertise", so.advertise_ip,
                    "IPv4 address members reach the mesh at (default: --listen, or the first "
                    "non-loopback address)");
  serve->add_option("--name", so.name, "This node's name")->capture_default_str();
  serve->add_option("--mesh-port", so.mesh_port, "Mesh port")->check(CLI::Range(1, 65535))->capture_default_str();
  serve->add_option("--join-port", so.join_port, "Join (certificate exchange) port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  serve->add_option("--bootstrap-port", so.bootstrap_port, "Bootstrap (public keys) port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  serve->add_option("--bandwidth-port", so.bandwidth_port,
                    "Bandwidth test port for 'stratoswarm-test bandwidth' (0: mesh port + 3)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--metrics-port", so.metrics_port,
                    "Serve Prometheus /metrics over HTTP on this port (0: off)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--metrics-address", so.metrics_address,
                    "IPv4 address to serve /metrics on (0.0.0.0: every interface)")
      ->capture_default_str();
  serve->add_option("--dashboard-port", so.dashboard_port,
                    "Serve the live dashboard (nodes, workloads, timing events; docs/dashboard.md) "
                    "over HTTP on this port (0: off). Unauthenticated: keep it on 127.0.0.1 and "
                    "reach it with ssh -L")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--dashboard-address", so.dashboard_address,
                    "IPv4 address to serve the dashboard on (0.0.0.0: every interface)")
      ->capture_default_str();
  std::string gpu_mode = "auto";
  serve->add_option("--gpu", gpu_mode,
                    "Vote verification and placement on the GPU: auto (when a device is usable and "
                    "the batch is above the crossover), on (refuse to start without a device), off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  bool no_mdns = false;
  serve->add_flag("--no-mdns", no_mdns, "Do not announce the cluster over mDNS");
  int heartbeat_ms = 100;
  serve->add_option("--heartbeat-ms", heartbeat_ms,
                    "Failure detector heartbeat in ms; a silent node is suspected after 3 heartbeats "
                    "(raise it for slow links or emulated nodes)")
      ->check(CLI::Range(10, 10000))
      ->capture_default_str();
  std::string restart_grace = "60s";
  serve->add_option("--restart-grace", restart_grace,
                    "How long a node whose swarmlet said it is restarting may stay away before its "
                    "workloads move (e.g. 30s, 5m)")
      ->capture_default_str();
  std::string cert_ttl = "30d";
  serve->add_option("--cert-ttl", cert_ttl,
                    "Lifetime of the node certificates this peer signs (e.g. 30d, 12h); nodes renew "
                    "theirs at two thirds of it")
      ->capture_default_str();

  auto* cluster = app.add_subcommand("cluster", "Cluster membership and join tokens");
  cluster->require_subcommand(1);
  auto* create_token = cluster->add_subcommand("create-join-token", "Print a new join token");
  create_token->add_option("--ttl", o.ttl, "Lifetime (e.g. 30m, 24h, 7d)")->capture_default_str();
  create_token->add_option("--role", o.role, "Role granted to the joiner")
      ->check(CLI::IsMember({"worker", "manager"}))
      ->capture_default_str();
  auto* tokens = cluster->add_subcommand("tokens", "List join tokens (hashes, expiry, state)");
  AddFormat(tokens, g, listings);
  auto* revoke = cluster->add_subcommand("revoke-token", "Revoke a join token");
  revoke->add_option("token", o.token, "Token or its id")->required();
  auto* nodes = cluster->add_subcommand("nodes", "List the cluster's nodes");
  AddFormat(nodes, g, listings);
  auto* mesh_status = cluster->add_subcommand("mesh-status", "Pairwise mesh links and latency");
  AddFormat(mesh_status, g, listings);
  auto* cluster_status =
      cluster->add_subcommand("status", "Whether the GPU peer hears a majority of the members (else: isolated)");
  AddFormat(cluster_status, g, listings);

  auto* node = app.add_subcommand("node", "Node commands");
  node->require_subcommand(1);
  auto* node_ls = node->add_subcommand("ls", "List nodes (ID, NAME, ARCH, STATUS, ROLE, JOINED, CONDITIONS)");
  AddFormat(node_ls, g, listings);
  auto* node_rm = node->add_subcommand(
      "rm", "Remove a node for good: its workloads move, its certificate is revoked, it is told to stop");
  node_rm->add_option("NAME", o.node_name, "Node name")->required();
  node_rm->add_flag("--force", o.force, "Remove it even when it does not answer (it cannot be told)");
  AddFormat(node_rm, g, listings);
  auto* node_revoked = node->add_subcommand("revoked", "List removed nodes (revoked certificates)");
  AddFormat(node_revoked, g, listings);

  auto* run = app.add_subcommand("run", "Start a workload; prints only its ID");
  run->add_option("--cpu", o.run.cpu, "CPU cores (e.g. 0.5); also the placement request")->check(CLI::PositiveNumber);
  run->add_option("--memory", o.run.memory, "Memory limit (e.g. 128M, 1G); also the placement request");
  run->add_flag("--gpu", o.run.gpu, "Needs a GPU node (gets its NVIDIA devices)");
  run->add_option("--constraint", o.run.constraints, "Placement constraint, e.g. node.name==rpi-1 (repeatable)")
      ->allow_extra_args(false);
  run->add_option("--name", o.run.name, "Workload name (default: the image's)");
  run->add_option("--replicas", o.run.replicas, "Replicas, spread across nodes")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  run->add_option("--restart", o.run.restart, "never | on-failure[:N] | always | unless-stopped (always and unless-stopped also restart the workload when its node boots)")->capture_default_str();
  run->add_option("--user", o.run.user, "Run the image workload as UID[:GID] (numeric; default: the image's User)");
  run->add_flag("--privileged", o.run.privileged,
                "Image workload keeps every capability, with no seccomp filter and a writable image root");
  std::string run_image;
  run->add_option("IMAGE", run_image,
                  "NAME[:TAG] or NAME@sha256:... of an image on the GPU peer (stratoswarm image ls), or '-' to "
                  "run CMD on the node's host; everything after it is the workload's command (CMD..., "
                  "default: the image's Cmd)")
      ->required();
  run->prefix_command();  // everything after IMAGE belongs to the workload, flags included
  // ...so nothing after IMAGE may pass up to the program's options: run takes
  // the program-wide --state-dir itself, before IMAGE.
  run->fallthrough(false);
  run->add_option("--state-dir", g.state_dir, "State directory (program-wide option)");

  auto* image = app.add_subcommand("image", "The cluster's container images, kept on the GPU peer");
  image->require_subcommand(1);
  ImageArgs ia;
  auto* image_load = image->add_subcommand(
      "load", "Load a docker-archive (docker save), an oci-archive or an OCI image layout directory");
  image_load->add_option("FILE", ia.path, "Archive file or OCI layout directory")->required();
  image_load->add_option("--name", ia.name, "NAME[:TAG] for it (default: the name in the archive)");
  AddFormat(image_load, g, listings);
  auto* image_pull = image->add_subcommand("pull", "Pull an image (every platform) from a registry");
  image_pull->add_option("REF", ia.ref, "e.g. docker.io/library/alpine:3.19 or 127.0.0.1:5000/app:1")->required();
  image_pull->add_flag("--insecure", ia.insecure, "Plain HTTP or an unverified certificate (a local registry)");
  AddFormat(image_pull, g, listings);
  auto* image_ls = image->add_subcommand("ls", "List images (NAME, TAG, DIGEST, PLATFORMS, SIZE, NODES)");
  AddFormat(image_ls, g, listings);
  auto* image_inspect = image->add_subcommand("inspect", "Show an image's platforms and config as JSON");
  image_inspect->add_option("REF", ia.ref, "NAME[:TAG] or NAME@sha256:...")->required();
  auto* image_rm = image->add_subcommand("rm", "Remove an image from the GPU peer");
  image_rm->add_option("REF", ia.ref, "NAME[:TAG] or NAME@sha256:...")->required();

  auto* ps = app.add_subcommand("ps", "List workloads (ID, NAME, NODE, STATUS, CPU%, MEM, UPTIME)");
  ps->add_flag("--all-nodes", o.all_nodes, "Every node's workloads (the default; kept for the seed's scripts)");
  ps->add_flag("-a,--all", o.all, "Also exited, failed and stopped workloads");
  AddFormat(ps, g, listings);
  auto* logs = app.add_subcommand("logs", "Print a workload's output");
  logs->add_option("id", o.workload_id, "Workload ID")->required();
  auto* stop = app.add_subcommand("stop", "Stop a workload");
  stop->add_option("id", o.workload_id, "Workload ID")->required();

  auto* deploy = app.add_subcommand("deploy", "Deploy workloads from YAML (FILE or - for stdin)");
  deploy->add_option("file", o.deploy_file, "YAML file, or - for stdin")->required();
  deploy->add_flag("--measure-scheduling-time", o.measure_scheduling_time,
                   "Report per-workload scheduling time");
  deploy->add_option("--output", o.output, "Write results JSON here");
  AddFormat(deploy, g, listings);

  auto* migrate = app.add_subcommand("migrate", "Move a workload to another node");
  migrate->add_option("id", o.workload_id, "Workload ID")->required();
  migrate->add_option("--to", o.to_node, "Target node name")->required();
  migrate->add_flag("--stop-first", o.stop_first, "Stop before starting (cannot run twice)");
  AddFormat(migrate, g, listings);

  auto* timings = app.add_subcommand("timings", "Aggregate timing logs (p50/p95/p99 per event)");
  AddFormat(timings, g, listings);
  TimingsOptions to;
  AddTimingsOptions(timings, to);

  auto* bench = app.add_subcommand("bench", "Built-in benchmarks");
  bench->require_subcommand(1);
  auto* bench_consensus = bench->add_subcommand("consensus", "Seed-000 consensus benchmarks");
  bench_consensus->add_option("--output", o.output, "Write results JSON here");

  auto* selftest = app.add_subcommand("selftest", "Check the linked libraries");
  auto* version = app.add_subcommand("version", "Print the version and exit");

  if (int rc = swarmlet::ParseCommandLine(app, argc, argv); rc >= 0) return rc;
  if (const CLI::App& chosen = swarmlet::Deepest(app); g.format == "json" && !listings.contains(&chosen)) {
    return swarmlet::UsageError(chosen, "--format json: '" + chosen.get_name() + "' prints no listing");
  }

  if (*version) {
    out << VersionLine() << "\n";
    return swarmlet::kExitOk;
  }
  if (*selftest) {
    auto checks = swarmlet::RunSelfTest();
    checks.push_back(GpuSelfTest(kGpuCrossovers));  // which path serve would take, and parity
    return swarmlet::PrintSelfTest(checks, out);
  }
  if (*bench_consensus) return RunBenchConsensus(o.output, out);
  if (*serve) {
    so.state_dir = g.state_dir;
    so.mdns = !no_mdns;
    so.heartbeat = std::chrono::milliseconds(heartbeat_ms);
    so.gpu = *ParseGpuMode(gpu_mode);  // CLI::IsMember checked it
    auto grace = ParseDuration(restart_grace);
    if (!grace.ok()) return swarmlet::UsageError(*serve, "--restart-grace: " + grace.status().message());
    so.restart_grace = *grace;
    auto ttl = ParseDuration(cert_ttl);
    if (!ttl.ok()) return swarmlet::UsageError(*serve, "--cert-ttl: " + ttl.status().message());
    so.cert_ttl = *ttl;
    return CmdServe(so, out);
  }
  if (*create_token) return CmdCreateJoinToken(g.state_dir, o.ttl, o.role, out);
  if (*tokens) return CmdTokens(g.state_dir, g.format, out);
  if (*revoke) return CmdRevokeToken(g.state_dir, o.token, out);
  if (*nodes || *node_ls) return CmdNodes(g.state_dir, g.format, out);
  if (*mesh_status) return CmdMeshStatus(g.state_dir, g.format, out);
  if (*cluster_status) return CmdClusterStatus(g.state_dir, g.format, out);
  if (*node_rm) return CmdNodeRm(g.state_dir, o.node_name, o.force, g.format, out);
  if (*node_revoked) return CmdNodesRevoked(g.state_dir, g.format, out);
  if (*run) {
    o.run.image_and_command = {run_image};
    for (const auto& arg : run->remaining()) o.run.image_and_command.push_back(arg);
    return CmdRun(g.state_dir, o.run, out);
  }
  if (*image_load) return CmdImageLoad(g.state_dir, ia, g.format, out);
  if (*image_pull) return CmdImagePull(g.state_dir, ia, g.format, out);
  if (*image_ls) return CmdImageLs(g.state_dir, g.format, out);
  if (*image_inspect) return CmdImageInspect(g.state_dir, ia.ref, out);
  if (*image_rm) return CmdImageRm(g.state_dir, ia.ref, out);
  if (*ps) return CmdPs(g.state_dir, o.all, g.format, out);
  if (*logs) return CmdLogs(g.state_dir, o.workload_id, out);
  if (*stop) return CmdStop(g.state_dir, o.workload_id, out);
  if (*deploy) return CmdDeploy(g.state_dir, o.deploy_file, o.measure_scheduling_time, o.output, g.format, out);
  if (*migrate) return CmdMigrate(g.state_dir, o.workload_id, o.to_node, o.stop_first, g.format, out);
  if (*timings) {
    to.state_dir = g.state_dir;
    to.format = g.format;
    return RunTimingsCommand(to, out, std::cerr);
  }

  // The chain of selected subcommands, e.g. "cluster nodes".
  std::string chosen;
  for (const CLI::App* a = &app; !a->get_subcommands().empty();) {
    a = a->get_subcommands().front();
    chosen += (chosen.empty() ? "" : " ") + a->get_name();
  }
  return swarmlet::NotImplementedYet("stratoswarm", chosen);
}

}  // namespace gpu_node
