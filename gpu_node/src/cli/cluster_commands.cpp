#include "cli/cluster_commands.h"

#include <iostream>
#include <sstream>

#include "api/api.h"
#include "cli/duration.h"
#include "cli/table.h"
#include "swarmlet/cli.h"

namespace gpu_node {
namespace {

using api::Json;

int Fail(const mesh::Status& st) {
  std::cerr << "stratoswarm: " << st.message() << "\n";
  return swarmlet::kExitFailure;
}

// Calls serve; prints the error and returns nullopt when that fails.
std::optional<Json> Ask(const std::string& state_dir, const Json& request) {
  auto r = api::CallApi(state_dir, request);
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
  return Print(*r, format,
               {{"ID", "id"}, {"NAME", "name"}, {"ARCH", "arch"}, {"TYPE", "type"},
                {"STATUS", "status"}, {"ROLE", "role"}, {"JOINED", "joined"}, {"JOIN MS", "join_ms"}},
               out);
}

int CmdMeshStatus(const std::string& state_dir, const std::string& format, std::ostream& out) {
  auto r = Ask(state_dir, {{"cmd", "mesh-status"}});
  if (!r) return swarmlet::kExitFailure;
  return Print(*r, format,
               {{"FROM", "from"}, {"TO", "to"}, {"STATE", "state"}, {"RTT MS", "rtt_ms"},
                {"LAST HEARD MS", "last_heard_ms"}},
               out);
}

}  // namespace gpu_node
