#include "cli/cluster_commands.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "api/api.h"
#include "cli/duration.h"
#include "cli/table.h"
#include "scheduler/quantity.h"
#include "swarmlet/cli.h"

namespace gpu_node {
namespace {

using api::Json;

int Fail(const mesh::Status& st) {
  std::cerr << "stratoswarm: " << st.message() << "\n";
  return swarmlet::kExitFailure;
}

// Calls serve; prints the error and returns nullopt when that fails.
std::optional<Json> Ask(const std::string& state_dir, const Json& request,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto r = api::CallApi(state_dir, request, timeout);
  if (!r.ok()) {
    Fail(r.status());
    return std::nullopt;
  }
  return *r;
}

std::string Cell(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  if (v.is_number_float()) {
    std::ostringstream s;
    s.precision(1);
    s << std::fixed << v.get<double>();
    return s.str();
  }
  return v.dump();
}

// Prints `rows` (a JSON array of objects) as JSON, or as a table of `columns`
// (header text, JSON key).
int Print(const Json& rows, const std::string& format,
          const std::vector<std::pair<std::string, std::string>>& columns, std::ostream& out) {
  if (format == "json") {
    out << rows.dump(2) << "\n";
    return swarmlet::kExitOk;
  }
  std::vector<std::string> header;
  for (const auto& [title, key] : columns) header.push_back(title);
  std::vector<std::vector<std::string>> table;
  for (const auto& row : rows) {
    std::vector<std::string> cells;
    for (const auto& [title, key] : columns) cells.push_back(Cell(row.value(key, Json(nullptr))));
    table.push_back(std::move(cells));
  }
  PrintTable(out, header, table);
  return swarmlet::kExitOk;
}

}  // namespace

int CmdServe(const ServeOptions& options, std::ostream& out) {
  return RunServe(options, swarmlet::StopFlagOnSignals(), out);
}

int CmdCreateJoinToken(const std::string& state_dir, const std::string& ttl, const std::string& role,
                       std::ostream& out) {
  auto seconds = ParseDuration(ttl);
  if (!seconds.ok()) return Fail(seconds.status());
  auto r = Ask(state_dir, {{"cmd", "create-join-token"}, {"ttl_s", seconds->count()}, {"role", role}});
  if (!r) return swarmlet::kExitFailure;
  out << (*r)["token"].get<std::string>() << "\n";  // only the token: scripts capture it
  return swarmlet::kExitOk;
}

int CmdTokens(const std::string& state_dir, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "tokens"}});
  if (!r) return swarmlet::kExitFailure;
  return Print(*r, format,
               {{"ID", "id"}, {"ROLE", "role"}, {"STATE", "state"}, {"USES", "uses"},
                {"CREATED", "created"}, {"EXPIRES", "expires"}},
               out);
}

int CmdRevokeToken(const std::string& state_dir, const std::string& token, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "revoke-token"}, {"token", token}});
  if (!r) return swarmlet::kExitFailure;
  out << "revoked " << (*r)["id"].get<std::string>() << "\n";
  return swarmlet::kExitOk;
}

int CmdNodes(const std::string& state_dir, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "nodes"}});
  if (!r) return swarmlet::kExitFailure;
  if (format != "json") {
    if (auto s = Ask(state_dir, {{"cmd", "cluster-status"}}); s && s->value("isolated", false)) {
      out << "WARNING: " << s->value("name", "") << " is isolated: " << s->value("hearing", "")
          << "; no failure is decided until it hears a majority\n";
    }
    // One cell for the node's conditions (docs/node_health.md), "-" when none.
    for (auto& row : *r) {
      std::string text;
      for (const auto& c : row.value("conditions", Json::array())) {
        text += (text.empty() ? "" : "; ") + c.get<std::string>();
      }
      row["conditions_text"] = text.empty() ? "-" : text;
    }
  }
  return Print(*r, format,
               {{"ID", "id"}, {"NAME", "name"}, {"ARCH", "arch"}, {"TYPE", "type"},
                {"STATUS", "status"}, {"ROLE", "role"}, {"JOINED", "joined"}, {"JOIN MS", "join_ms"},
                {"CONDITIONS", "conditions_text"}},
               out);
}

int CmdClusterStatus(const std::string& state_dir, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "cluster-status"}});
  if (!r) return swarmlet::kExitFailure;
  if (format == "json") {
    out << r->dump(2) << "\n";
    return swarmlet::kExitOk;
  }
  out << r->value("name", "") << ": " << (r->value("isolated", false) ? "isolated: " : "")
      << r->value("hearing", "")
      << (r->value("isolated", false) ? "; no failure is decided until it hears a majority" : "") << "\n";
  return swarmlet::kExitOk;
}

int CmdNodeRm(const std::string& state_dir, const std::string& name, bool force, const std::string& format,
              std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "node-rm"}, {"name", name}, {"force", force}});
  if (!r) return swarmlet::kExitFailure;
  if (format == "json") {
    out << r->dump(2) << "\n";
    return swarmlet::kExitOk;
  }
  out << "removed " << (*r)["name"].get<std::string>() << " (" << (*r)["id"].get<std::string>()
      << "): certificate revoked, " << (*r)["workloads"].get<std::int64_t>() << " workload(s) moving to other nodes"
      << ((*r)["told"].get<bool>() ? "; the node was told" : "; the node was not reachable and was not told")
      << "\n";
  return swarmlet::kExitOk;
}

int CmdNodesRevoked(const std::string& state_dir, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "nodes-revoked"}});
  if (!r) return swarmlet::kExitFailure;
  return Print(*r, format, {{"ID", "id"}, {"NAME", "name"}, {"REVOKED", "revoked"}, {"REASON", "reason"}}, out);
}

int CmdMeshStatus(const std::string& state_dir, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "mesh-status"}});
  if (!r) return swarmlet::kExitFailure;
  return Print(*r, format,
               {{"FROM", "from"}, {"TO", "to"}, {"STATE", "state"}, {"RTT MS", "rtt_ms"},
                {"LAST HEARD MS", "last_heard_ms"}},
               out);
}

namespace {

std::string Uptime(std::int64_t s) {
  if (s < 0) return "-";
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

// ps rows with the table's display columns added.
Json PsRows(const Json& rows) {
  Json out = rows;
  for (auto& w : out) {
    const std::string status = w["status"].get<std::string>();
    w["status_text"] = w["detail"].get<std::string>().empty() ? status : status + " (" + w["detail"].get<std::string>() + ")";
    const auto mem = w["memory_bytes"].get<std::int64_t>();
    w["mem"] = status == "Running" && mem > 0 ? scheduler::FormatMemory(static_cast<std::uint64_t>(mem)) : "-";
    w["uptime"] = Uptime(w["uptime_s"].get<std::int64_t>());
    if (w["node"].get<std::string>().empty()) w["node"] = "-";
  }
  return out;
}

int PrintWorkloads(const Json& rows, const std::string& format, std::ostream& out) {
  return Print(PsRows(rows), format,
               {{"ID", "id"}, {"NAME", "name"}, {"NODE", "node"}, {"STATUS", "status_text"},
                {"CPU%", "cpu_percent"}, {"MEM", "mem"}, {"UPTIME", "uptime"}},
               out);
}

}  // namespace

int CmdRun(const std::string& state_dir, const RunArgs& a, std::ostream& out) {
  if (a.image_and_command.empty()) return Fail(mesh::Status::InvalidArgument("run", "missing IMAGE"));
  std::string image = a.image_and_command[0];
  std::vector<std::string> command(a.image_and_command.begin() + 1, a.image_and_command.end());
  if (!command.empty() && command.front() == "--") command.erase(command.begin());  // run IMAGE -- CMD...
  if (image == "-") image.clear();  // a host command
  Json req{{"cmd", "run"},          {"image", image},     {"command", command},
           {"cpu", a.cpu},          {"memory", a.memory}, {"gpu", a.gpu},
           {"constraints", a.constraints}, {"name", a.name}, {"restart", a.restart},
           {"replicas", a.replicas}, {"user", a.user}, {"privileged", a.privileged}};
  auto r = Ask(state_dir, req);
  if (!r) return swarmlet::kExitFailure;
  int rc = swarmlet::kExitOk;
  for (const auto& w : *r) {
    out << w["id"].get<std::string>() << "\n";  // only the IDs: scripts capture them
    const std::string status = w["status"].get<std::string>();
    if (status == "Running" || status == "Exited") continue;
    std::cerr << "stratoswarm: " << w["name"].get<std::string>() << " is " << status
              << (w["detail"].get<std::string>().empty() ? "" : ": " + w["detail"].get<std::string>()) << "\n";
    if (status == "Failed" || status == "Pending") rc = swarmlet::kExitFailure;
  }
  return rc;
}

int CmdPs(const std::string& state_dir, bool all, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "ps"}, {"all", all}});
  if (!r) return swarmlet::kExitFailure;
  return PrintWorkloads(*r, format, out);
}

int CmdLogs(const std::string& state_dir, const std::string& id, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "logs"}, {"id", id}});
  if (!r) return swarmlet::kExitFailure;
  out << (*r)["logs"].get<std::string>();
  out.flush();
  return swarmlet::kExitOk;
}

int CmdStop(const std::string& state_dir, const std::string& id, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "stop"}, {"id", id}});
  if (!r) return swarmlet::kExitFailure;
  for (const auto& w : *r) out << w["id"].get<std::string>() << " " << w["status"].get<std::string>() << "\n";
  return swarmlet::kExitOk;
}

int CmdDeploy(const std::string& state_dir, const std::string& file, bool measure, const std::string& output,
              const std::string& format, std::ostream& out) {
  std::string yaml;
  if (file == "-") {
    yaml.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream f(file);
    if (!f) return Fail(mesh::Status::NotFound("deploy", "cannot read " + file));
    yaml.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  auto r = Ask(state_dir, {{"cmd", "deploy"}, {"yaml", yaml}});
  if (!r) return swarmlet::kExitFailure;
  Json report = *r;
  const std::string table = report["table"].get<std::string>();
  report.erase("table");
  if (!output.empty()) {
    std::ofstream f(output);
    f << report.dump(2) << "\n";
    if (!f) return Fail(mesh::Status::IoError("deploy", "cannot write " + output));
  }
  if (format == "json") {
    out << report.dump(2) << "\n";
  } else {
    if (measure) out << table;
    PrintWorkloads(report["workload_records"], "table", out);
    char line[160];
    std::snprintf(line, sizeof line, "%zu of %zu replicas Running %.1f ms after the deploy request\n",
                  report["running"].get<std::size_t>(), report["workload_records"].size(),
                  report["all_running_ms"].get<double>());
    out << line;
  }
  for (const auto& w : report["workload_records"]) {
    if (w["status"] == "Failed") return swarmlet::kExitFailure;
  }
  return swarmlet::kExitOk;
}

int CmdMigrate(const std::string& state_dir, const std::string& id, const std::string& to, bool stop_first,
               const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "migrate"}, {"id", id}, {"to", to}, {"stop_first", stop_first}});
  if (!r) return swarmlet::kExitFailure;
  if (format == "json") {
    out << r->dump(2) << "\n";
    return swarmlet::kExitOk;
  }
  const Json& p = (*r)["phases_ms"];
  char line[200];
  std::snprintf(line, sizeof line, "Migrated %s from %s to %s in %.1f ms (start on target %.1f ms, stop on source %.1f ms)\n",
                (*r)["name"].get<std::string>().c_str(), (*r)["from"].get<std::string>().c_str(), to.c_str(),
                p.value("total", 0.0), p.value("start_target", 0.0), p.value("stop_source", 0.0));
  out << line;
  return swarmlet::kExitOk;
}

}  // namespace gpu_node

namespace gpu_node {
namespace {

// Loads and pulls copy, verify and build a squashfs per platform: minutes
// for a large image on a slow disk.
constexpr std::chrono::minutes kImageImportTimeout{30};

std::string ImagePlatforms(const Json& image) {
  std::string out;
  for (const auto& p : image.value("platforms", Json::array())) {
    out += (out.empty() ? "" : ",") + p.value("platform", std::string());
  }
  return out;
}

Json ImageRows(const Json& images) {
  Json rows = Json::array();
  for (const auto& i : images) {
    std::string nodes;
    for (const auto& n : i.value("nodes", Json::array())) nodes += (nodes.empty() ? "" : ",") + n.get<std::string>();
    rows.push_back({{"name", i.value("name", "")}, {"tag", i.value("tag", "")},
                    {"digest", i.value("digest", "").substr(0, 19)}, {"platforms", ImagePlatforms(i)},
                    {"size", i.value("size", "")}, {"nodes", nodes.empty() ? "-" : nodes}});
  }
  return rows;
}

const std::vector<std::pair<std::string, std::string>> kImageColumns = {
    {"NAME", "name"}, {"TAG", "tag"}, {"DIGEST", "digest"}, {"PLATFORMS", "platforms"},
    {"SIZE", "size"}, {"NODES", "nodes"}};

int PrintImported(const Json& image, const std::string& format, std::ostream& out) {
  if (format == "json") {
    out << image.dump(2) << "\n";
    return swarmlet::kExitOk;
  }
  out << "Loaded " << image.value("ref", "") << " (" << image.value("digest", "").substr(0, 19) << ", "
      << ImagePlatforms(image) << ", " << image.value("size", "") << ")\n";
  return swarmlet::kExitOk;
}

}  // namespace

int CmdImageLoad(const std::string& state_dir, const ImageArgs& a, const std::string& format, std::ostream& out) {
  char buf[PATH_MAX];
  const std::string path = ::realpath(a.path.c_str(), buf) != nullptr ? std::string(buf) : a.path;
  if (::access(path.c_str(), R_OK) != 0) return Fail(mesh::Status::NotFound("image load " + a.path, "no such file or directory"));
  std::cerr << "Loading " << path << " (verifying digests, building one squashfs per platform)...\n";
  auto r = Ask(state_dir, Json{{"cmd", "image-load"}, {"path", path}, {"name", a.name}}, kImageImportTimeout);
  if (!r) return swarmlet::kExitFailure;
  return PrintImported(*r, format, out);
}

int CmdImagePull(const std::string& state_dir, const ImageArgs& a, const std::string& format, std::ostream& out) {
  std::cerr << "Pulling " << a.ref << " (every platform) through skopeo...\n";
  auto r = Ask(state_dir, Json{{"cmd", "image-pull"}, {"ref", a.ref}, {"tls_verify", !a.insecure}},
               kImageImportTimeout);
  if (!r) return swarmlet::kExitFailure;
  return PrintImported(*r, format, out);
}

int CmdImageLs(const std::string& state_dir, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, Json{{"cmd", "image-ls"}});
  if (!r) return swarmlet::kExitFailure;
  if (format == "json") return Print(*r, format, {}, out);
  return Print(ImageRows(*r), format, kImageColumns, out);
}

int CmdImageInspect(const std::string& state_dir, const std::string& ref, std::ostream& out) {
  auto r = Ask(state_dir, Json{{"cmd", "image-inspect"}, {"ref", ref}});
  if (!r) return swarmlet::kExitFailure;
  out << r->dump(2) << "\n";
  return swarmlet::kExitOk;
}

int CmdImageRm(const std::string& state_dir, const std::string& ref, std::ostream& out) {
  auto r = Ask(state_dir, Json{{"cmd", "image-rm"}, {"ref", ref}});
  if (!r) return swarmlet::kExitFailure;
  out << "Removed " << r->value("ref", "") << " (" << r->value("digest", "").substr(0, 19) << ")\n";
  return swarmlet::kExitOk;
}

}  // namespace gpu_node
