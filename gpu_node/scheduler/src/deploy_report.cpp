#include "scheduler/deploy_report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

namespace scheduler {
namespace {

bool EntryMatches(std::string_view entry, const NodeInfo& node) {
  return entry == "any" || entry == "any-capable" || entry == node.name ||
         entry == NodeTypeName(node.type);
}

bool IsNodeName(std::string_view entry, std::span<const NodeInfo> nodes) {
  return std::any_of(nodes.begin(), nodes.end(),
                     [&](const NodeInfo& n) { return n.name == entry; });
}

std::string JoinComma(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& item : items) s += (s.empty() ? "" : ",") + item;
  return s;
}

// "rpi-1,rpi-2,rpi-3" or, when long, "rpi-1,rpi-2 +3".
std::string Abbrev(const std::vector<std::string>& items, std::size_t width) {
  std::string s = JoinComma(items);
  if (s.size() <= width) return s;
  std::string out;
  std::size_t shown = 0;
  for (const std::string& item : items) {
    const std::string next = (out.empty() ? "" : ",") + item;
    if (out.size() + next.size() + 5 > width) break;
    out += next;
    ++shown;
  }
  return out + " +" + std::to_string(items.size() - shown);
}

}  // namespace

std::optional<bool> MatchesExpectation(const WorkloadSpec& spec, std::span<const NodeInfo> nodes,
                                       std::span<const std::int32_t> placements) {
  if (spec.expected_nodes.empty()) return std::nullopt;
  std::map<std::int32_t, std::uint32_t> per_node;
  for (std::int32_t p : placements) {
    if (p == kPending) return false;
    const NodeInfo& node = nodes[static_cast<std::size_t>(p)];
    const bool ok = std::any_of(spec.expected_nodes.begin(), spec.expected_nodes.end(),
                                [&](const std::string& e) { return EntryMatches(e, node); });
    if (!ok) return false;
    ++per_node[p];
  }
  const bool name_list = spec.expected_nodes.size() > 1 &&
                         std::all_of(spec.expected_nodes.begin(), spec.expected_nodes.end(),
                                     [&](const std::string& e) { return IsNodeName(e, nodes); });
  if (name_list) {
    const std::size_t entries = spec.expected_nodes.size();
    const std::size_t cap = (placements.size() + entries - 1) / entries;
    for (const auto& [node, count] : per_node) {
      if (count > cap) return false;
    }
  }
  return placements.size() == spec.replicas;
}

mesh::Result<DeployReport> ScheduleDeployment(Scheduler& scheduler, std::vector<NodeInfo>& nodes,
                                              std::span<const WorkloadSpec> workloads,
                                              const mesh::Clock& clock) {
  DeployReport report;
  report.nodes = nodes.size();
  for (const WorkloadSpec& spec : workloads) {
    const mesh::MonoTime start = clock.Now();
    auto result = scheduler.Schedule(nodes, std::span<const WorkloadSpec>(&spec, 1));
    const mesh::MonoTime end = clock.Now();
    if (!result.ok()) return result.status();
    for (std::size_t i = 0; i < nodes.size(); ++i) nodes[i].allocated = result->allocated[i];

    WorkloadReport w;
    w.name = spec.name;
    w.type = spec.type;
    w.replicas = spec.replicas;
    w.expected = spec.expected_nodes;
    w.scheduling_time_us = std::chrono::duration<double, std::micro>(end - start).count();
    std::vector<std::int32_t> where;
    for (const Placement& p : result->placements) {
      where.push_back(p.node);
      if (p.node == kPending) {
        if (std::find(w.pending_reasons.begin(), w.pending_reasons.end(), p.reason) ==
            w.pending_reasons.end()) {
          w.pending_reasons.push_back(p.reason);
        }
        continue;
      }
      const NodeInfo& node = nodes[static_cast<std::size_t>(p.node)];
      w.nodes.push_back(node.name);
      w.node_types.emplace_back(NodeTypeName(node.type));
      ++w.placed;
    }
    w.matched = MatchesExpectation(spec, nodes, where);
    report.placed += result->placed;
    report.pending += result->pending;
    report.total_scheduling_time_us += w.scheduling_time_us;
    if (w.matched.has_value() && !*w.matched) report.all_matched = false;
    report.workloads.push_back(std::move(w));
  }
  // Read after the calls: a selecting scheduler (serve --gpu) names the
  // engine its latest call used.
  report.scheduler = std::string(scheduler.Name());
  return report;
}

std::string RenderTable(const DeployReport& report) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-26s %-13s %-7s %-30s %-22s %-6s %10s\n", "WORKLOAD", "TYPE",
                "PLACED", "NODES", "EXPECTED", "MATCH", "SCHED(us)");
  out += line;
  for (const WorkloadReport& w : report.workloads) {
    const std::string placed = std::to_string(w.placed) + "/" + std::to_string(w.replicas);
    const char* match = !w.matched.has_value() ? "-" : (*w.matched ? "yes" : "NO");
    std::snprintf(line, sizeof(line), "%-26s %-13s %-7s %-30s %-22s %-6s %10.1f\n", w.name.c_str(),
                  w.type.empty() ? "-" : w.type.c_str(), placed.c_str(),
                  w.nodes.empty() ? "-" : Abbrev(w.nodes, 30).c_str(),
                  w.expected.empty() ? "-" : Abbrev(w.expected, 22).c_str(), match,
                  w.scheduling_time_us);
    out += line;
    for (const std::string& reason : w.pending_reasons) out += "  Pending: " + reason + "\n";
  }
  std::snprintf(line, sizeof(line),
                "%zu placed, %zu pending on %zu nodes in %.1f us (%s scheduler); expectations %s\n",
                report.placed, report.pending, report.nodes, report.total_scheduling_time_us,
                report.scheduler.c_str(), report.all_matched ? "all met" : "NOT all met");
  out += line;
  return out;
}

std::string RenderJson(const DeployReport& report) {
  nlohmann::json doc;
  doc["scheduler"] = report.scheduler;
  doc["nodes"] = report.nodes;
  doc["placed"] = report.placed;
  doc["pending"] = report.pending;
  doc["total_scheduling_time_us"] = report.total_scheduling_time_us;
  doc["all_expectations_met"] = report.all_matched;
  doc["workloads"] = nlohmann::json::array();
  for (const WorkloadReport& w : report.workloads) {
    nlohmann::json j;
    j["name"] = w.name;
    j["type"] = w.type;
    j["replicas"] = w.replicas;
    j["placed"] = w.placed;
    j["nodes"] = w.nodes;
    j["node_types"] = w.node_types;
    j["pending_reasons"] = w.pending_reasons;
    j["expected"] = w.expected;
    j["matched"] = w.matched.has_value() ? nlohmann::json(*w.matched) : nlohmann::json(nullptr);
    j["scheduling_time_us"] = w.scheduling_time_us;
    doc["workloads"].push_back(std::move(j));
  }
  return doc.dump(2) + "\n";
}

}  // namespace scheduler
