#include "swarmlet/commands.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <string>
#include <string_view>
#include <vector>

#include "swarmlet/agent.h"
#include "swarmlet/bandwidth.h"
#include "swarmlet/build_info.h"
#include "swarmlet/cli.h"
#include "swarmlet/metrics.h"
#include "swarmlet/executor/exec_command.h"
#include "swarmlet/selftest.h"
#include "swarmlet/token_source.h"
#include "read_text.h"

namespace swarmlet {
namespace {


// Where the command word is: after the program-wide options given before it
// (--state-dir DIR or --state-dir=DIR).
int CommandIndex(int argc, const char* const* argv) {
  int i = 1;
  while (i < argc) {
    const std::string_view a = argv[i];
    if (a == "--state-dir") {
      i += 2;
    } else if (a.starts_with("--state-dir=")) {
      i += 1;
    } else {
      break;
    }
  }
  return i;
}

std::string VersionLine(std::string_view program) {
  return std::string(program) + " " + std::string(Version()) + " (" +
         std::string(Revision()) + ", " + std::string(Arch()) +
         (StaticallyLinked() ? ", static)" : ")");
}

int MetricsMain(int argc, const char* const* argv) {
  CLI::App app{"Prints this node's metrics (Prometheus text format with --prometheus-format).",
               "stratoswarm-metrics"};
  app.set_version_flag("--version", VersionLine("stratoswarm-metrics"));
  MetricsToolOptions options;
  if (const char* env = std::getenv("STRATOSWARM_STATE_DIR"); env != nullptr && *env != '\0') {
    options.state_dir = env;
  }
  app.add_flag("--prometheus-format", options.prometheus_format, "Prometheus text exposition format");
  app.add_option("--state-dir", options.state_dir,
                 "The swarmlet's state dir: its swarmlet.pid picks the process to meter")
      ->capture_default_str();
  if (int rc = ParseCommandLine(app, argc, argv); rc >= 0) return rc;
  return RunMetricsTool(options, std::cout);
}

int TestToolMain(int argc, const char* const* argv) {
  CLI::App app{"Network tests between this node and the cluster.", "stratoswarm-test"};
  app.set_version_flag("--version", VersionLine("stratoswarm-test"));
  app.require_subcommand(1);
  auto* bandwidth = app.add_subcommand("bandwidth", "Measure throughput to the GPU peer");
  BandwidthToolOptions options;
  if (const char* env = std::getenv("STRATOSWARM_STATE_DIR"); env != nullptr && *env != '\0') {
    options.state_dir = env;
  }
  bandwidth->add_option("--duration", options.duration_s, "Seconds to measure (per direction)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  bandwidth->add_option("--state-dir", options.state_dir,
                        "The joined swarmlet's state dir: its identity and member list "
                        "(env STRATOSWARM_STATE_DIR)")
      ->capture_default_str();
  bandwidth->add_option("--cluster", options.cluster,
                        "The GPU peer's bandwidth endpoint IP[:PORT] (default: the primary of the "
                        "saved member list, its mesh port + 3)");
  bandwidth->add_option("--direction", options.direction, "GPU peer -> node, node -> GPU peer, or both")
      ->check(CLI::IsMember({"download", "upload", "both"}))
      ->capture_default_str();
  std::string format = "text";
  bandwidth->add_option("--format", format, "text, or json (one object per direction and line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  auto* stress = app.add_subcommand("stress", "Send many small messages to the GPU peer, counting loss");
  options.messages = 10'000;
  stress->add_option("--messages", options.messages, "How many")->check(CLI::Range(1, 10'000'000))->capture_default_str();
  stress->add_option("--size", options.message_bytes, "Bytes each (1..65536)")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  stress->add_option("--state-dir", options.state_dir, "The joined swarmlet's state dir (env STRATOSWARM_STATE_DIR)")
      ->capture_default_str();
  stress->add_option("--cluster", options.cluster, "The GPU peer's bandwidth endpoint IP[:PORT]");
  stress->add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  if (int rc = ParseCommandLine(app, argc, argv); rc >= 0) return rc;
  options.json = format == "json";
  if (!*stress) options.messages = 0;
  return RunBandwidthTool(options, std::cout);
}

// `swarmlet leave`: asks the swarmlet running on `state_dir` (its pid file)
// to leave (SIGUSR1) and waits for it to end; the identity file tells
// whether the GPU peer confirmed.
int LeaveCommand(const std::string& state_dir, std::ostream& out) {
  const std::string text = internal::ReadText(state_dir + "/swarmlet.pid");
  const int pid = std::atoi(text.c_str());
  if (pid <= 1 || ::kill(pid, 0) != 0) {
    std::cerr << "swarmlet: leave: no swarmlet runs on " << state_dir
              << " (start it with 'swarmlet join' first; leaving needs the GPU peer)\n";
    return kExitFailure;
  }
  if (::kill(pid, SIGUSR1) != 0) {
    std::cerr << "swarmlet: leave: cannot signal swarmlet " << pid << " (run as its user or root)\n";
    return kExitFailure;
  }
  out << "Asked swarmlet " << pid << " to leave; waiting for the GPU peer to move its workloads" << std::endl;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (::kill(pid, 0) == 0) {
    std::cerr << "swarmlet: leave: swarmlet " << pid << " is still running after 30 s\n";
    return kExitFailure;
  }
  if (::access((state_dir + "/node.identity").c_str(), F_OK) == 0) {
    std::cerr << "swarmlet: leave: the swarmlet stopped without leaving (see its log); this node is "
                 "still a member\n";
    return kExitFailure;
  }
  out << "Left the cluster; this node's identity is gone (joining again needs a new token)" << std::endl;
  return kExitOk;
}

int SwarmletMain(int argc, const char* const* argv, std::ostream& out) {
  CLI::App app{"swarmlet: the StratoSwarm edge agent. Joins a cluster, runs workloads under "
               "cgroup limits and reports its own timings.",
               "swarmlet"};
  app.set_version_flag("--version", VersionLine("swarmlet"));
  app.require_subcommand(1);
  // --state-dir belongs to the whole program: accepted before or after the
  // command (subcommands pass options they do not know up to the root).
  std::string global_state_dir;
  auto* global_state_opt =
      app.add_option("--state-dir", global_state_dir,
                     "State directory of join, leave and exec (env STRATOSWARM_STATE_DIR; each "
                     "command's own --state-dir says its default)");
  app.fallthrough();
  app.footer("Program-wide options, before or after the command: --state-dir DIR");

  auto* selftest = app.add_subcommand(
      "selftest", "Check the linked libraries (libzmq+CURVE, libsodium, msgpack, libcgroup, Avahi)");
  auto* version = app.add_subcommand("version", "Print the version and exit");

  auto* join = app.add_subcommand("join", "Join a cluster and run as its node agent");
  AgentOptions agent;
  if (const char* env = std::getenv("STRATOSWARM_STATE_DIR"); env != nullptr && *env != '\0') {
    agent.state_dir = env;
  }
  auto* leave = app.add_subcommand(
      "leave", "Leave the cluster for good: the GPU peer moves this node's workloads, then the "
               "running swarmlet ends them here, forgets its identity and stops");
  std::string leave_state_dir = agent.state_dir;
  auto* leave_state_opt = leave->add_option("--state-dir", leave_state_dir, "The running swarmlet's state directory")
      ->capture_default_str();
  double discovery_timeout_s = 10;
  std::string token_flag;
  join->add_option("--token", token_flag,
                   "Join token from 'stratoswarm cluster create-join-token' (not needed to rejoin "
                   "with a saved identity); visible to local users: prefer --token-file or the "
                   "environment variable STRATOSWARM_JOIN_TOKEN");
  join->add_option("--token-file", agent.token_file,
                   "Read the join token from this file (mode 0600); a missing file is fine when "
                   "the node rejoins with its saved identity");
  join->add_flag("--remove-token-file", agent.remove_token_file,
                 "Delete the --token-file once the join succeeded (install.sh's unit does)");
  join->add_option("--cluster", agent.cluster,
                   "GPU peer's bootstrap address IP[:PORT] (default port 7948); skips mDNS");
  join->add_option("--name", agent.name, "Node name (default: the host name)");
  auto* join_state_opt = join->add_option("--state-dir", agent.state_dir,
                                          "Identity, member list and timing.jsonl (env STRATOSWARM_STATE_DIR)")
      ->capture_default_str();
  join->add_option("--labels", agent.labels, "Node labels k=v,...");
  join->add_option("--membership", agent.membership,
                   "How this node watches its peers: swim (the GPU peer every 100 ms, one other "
                   "member every 500 ms: cost independent of the cluster's size) or all (a "
                   "heartbeat to every member each 100 ms)")
      ->check(CLI::IsMember({"all", "swim"}))
      ->capture_default_str();
  join->add_option("--discovery-timeout", discovery_timeout_s, "Seconds to wait for mDNS")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  join->add_option("--mesh-port", agent.mesh_port, "Mesh port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  join->add_option("--advertise", agent.advertise,
                   "IPv4 address peers reach this node at (default: the route to the GPU peer)");
  join->add_option("--metrics-port", agent.metrics_port,
                   "Serve Prometheus /metrics over HTTP on this port (0: off)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  join->add_option("--metrics-address", agent.metrics_address,
                   "IPv4 address to serve /metrics on (0.0.0.0: every interface)")
      ->capture_default_str();
  join->add_option("--image-cache", agent.image_cache_mb,
                   "MB of images to keep from the GPU peer; the least recently used unused "
                   "images go above it")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  join->add_option("--hw-root", agent.hw_root,
                   "Read the hardware profile (/proc, /sys) under this root (testbeds); "
                   "/metrics usage stays the real host's")
      ->group("");

  auto* exec = app.add_subcommand(
      "exec", "Run one command in the foreground under cgroup limits (no cluster needed)");
  executor::ExecCommandArgs exec_args;
  exec->add_option("--cpu", exec_args.cpu, "CPU cores, e.g. 0.5 or 500m");
  exec->add_option("--memory", exec_args.memory, "Memory limit, e.g. 128M, 1G (swap off)");
  exec->add_option("--pids", exec_args.pids, "Most processes + threads");
  exec->add_option("--cpuset", exec_args.cpuset, "CPUs it may use, e.g. 0-1");
  exec->add_option("--restart", exec_args.restart, "never | on-failure[:N] | always | unless-stopped")
      ->capture_default_str();
  exec->add_option("--name", exec_args.name, "Workload name (default: the command)");
  exec->add_option("--image", exec_args.image,
                   "Run inside a local image (name under --images-dir, or a rootfs path)");
  exec->add_option("--volume", exec_args.volumes, "HOST:PATH bind mount into the image (repeatable)")
      ->allow_extra_args(false);
  exec->add_option("--user", exec_args.user, "UID[:GID] to run an image workload as (numeric)");
  exec->add_flag("--privileged", exec_args.privileged,
                 "Image workload keeps every capability, no seccomp, writes the image in place");
  exec->add_option("--images-dir", exec_args.images_dir, "Where local images live")
      ->capture_default_str();
  auto* exec_state_opt = exec->add_option("--state-dir", exec_args.state_dir, "Workload records and logs")
      ->capture_default_str();
  exec->add_option("command", exec_args.command, "The command and its arguments (after --)");

  // `swarmlet exec [options] -- CMD ARGS...`: everything after the first
  // "--" is the workload's, never parsed as our options.
  std::vector<std::string> after_dashes;
  if (const int at = CommandIndex(argc, argv); at < argc && std::string_view(argv[at]) == "exec") {
    for (int i = at + 1; i < argc; ++i) {
      if (std::string_view(argv[i]) != "--") continue;
      after_dashes.assign(argv + i + 1, argv + argc);
      argc = i;
      break;
    }
  }
  if (int rc = ParseCommandLine(app, argc, argv); rc >= 0) return rc;
  if (global_state_opt->count() > 0) {
    if (join_state_opt->count() == 0) agent.state_dir = global_state_dir;
    if (leave_state_opt->count() == 0) leave_state_dir = global_state_dir;
    if (exec_state_opt->count() == 0) exec_args.state_dir = global_state_dir;
  }

  if (*exec) {
    exec_args.command.insert(exec_args.command.end(), after_dashes.begin(), after_dashes.end());
    return executor::RunExecCommand(exec_args, out, [exec](const std::string& message) {
      return UsageError(*exec, message);
    });
  }
  if (*selftest) return PrintSelfTest(RunSelfTest(), out);
  if (*version) {
    out << VersionLine("swarmlet") << "\n";
    return kExitOk;
  }
  if (*leave) return LeaveCommand(leave_state_dir, out);
  auto token = ChooseJoinToken(token_flag, agent.token_file, std::getenv(kJoinTokenEnv));
  if (!token.ok()) {
    std::cerr << "swarmlet: " << token.status().message() << "\n";
    return kExitFailure;
  }
  if (token->warn) std::cerr << "swarmlet: " << kTokenOnCommandLineWarning << "\n";
  agent.token = token->token;
  agent.discovery_timeout = std::chrono::milliseconds(static_cast<long>(discovery_timeout_s * 1000));
  const std::atomic<bool>& stop = StopFlagOnSignals();
  agent.leave = &LeaveFlag();
  return RunAgent(agent, stop, out);
}

std::string_view BaseName(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

int RunMultiCall(int argc, const char* const* argv, std::ostream& out) {
  const std::string_view program = argc > 0 ? BaseName(argv[0]) : "swarmlet";
  if (program == "stratoswarm-metrics") return MetricsMain(argc, argv);
  if (program == "stratoswarm-test") return TestToolMain(argc, argv);
  return SwarmletMain(argc, argv, out);
}

}  // namespace swarmlet
