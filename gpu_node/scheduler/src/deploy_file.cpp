#include "scheduler/deploy_file.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <initializer_list>
#include <set>
#include <string>

#include "scheduler/quantity.h"

namespace scheduler {
namespace {

constexpr std::string_view kOp = "parse deploy file";

std::string Where(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) +
         ": ";
}

mesh::Status Error(const YAML::Node& at, std::string_view what) {
  return mesh::Status::InvalidArgument(kOp, Where(at.Mark()) + std::string(what));
}

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Rejects keys outside `allowed` (a typo must not be silently ignored).
mesh::Status CheckFields(const YAML::Node& map, std::string_view context,
                         std::initializer_list<std::string_view> allowed) {
  if (!map.IsMap()) return Error(map, std::string(context) + " must be a mapping");
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Error(kv.first, "unknown field " + Quoted(key) + " in " + std::string(context) +
                                 " (expected " + list + ")");
    }
  }
  return mesh::Status::Ok();
}

mesh::Result<std::string> Scalar(const YAML::Node& node, std::string_view field) {
  if (!node.IsScalar()) return Error(node, std::string(field) + " must be a scalar");
  return node.Scalar();
}

mesh::Status ParseRequirements(const YAML::Node& req, WorkloadSpec* spec) {
  MESH_RETURN_IF_ERROR(CheckFields(req, "requirements", {"cpu", "memory", "gpu", "arch"}));
  if (const YAML::Node cpu = req["cpu"]) {
    auto text = Scalar(cpu, "requirements.cpu");
    if (!text.ok()) return text.status();
    auto millis = ParseCpu(*text);
    if (!millis.ok()) return Error(cpu, millis.status().message());
    spec->requests.cpu_millis = *millis;
  }
  if (const YAML::Node memory = req["memory"]) {
    auto text = Scalar(memory, "requirements.memory");
    if (!text.ok()) return text.status();
    auto bytes = ParseMemory(*text);
    if (!bytes.ok()) return Error(memory, bytes.status().message());
    spec->requests.memory_bytes = *bytes;
  }
  if (const YAML::Node gpu = req["gpu"]) {
    auto text = Scalar(gpu, "requirements.gpu");
    if (!text.ok()) return text.status();
    if (*text == "true" || *text == "yes") {
      spec->requests.gpus = 1;
    } else if (*text == "false" || *text == "no") {
      spec->requests.gpus = 0;
    } else {
      char* end = nullptr;
      const long n = std::strtol(text->c_str(), &end, 10);
      if (text->empty() || *end != '\0' || n < 0 || n > 1024) {
        return Error(gpu, "requirements.gpu " + Quoted(*text) +
                              " must be true, false or a GPU count 0..1024");
      }
      spec->requests.gpus = static_cast<std::uint32_t>(n);
    }
  }
  if (const YAML::Node arch = req["arch"]) {
    auto text = Scalar(arch, "requirements.arch");
    if (!text.ok()) return text.status();
    auto c = ParseConstraint("node.arch == " + *text);
    if (!c.ok()) return Error(arch, c.status().message());
    spec->constraints.push_back(std::move(*c));
  }
  return mesh::Status::Ok();
}

mesh::Result<std::vector<std::string>> StringList(const YAML::Node& node, std::string_view field) {
  if (!node.IsSequence()) return Error(node, std::string(field) + " must be a list of strings");
  std::vector<std::string> out;
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) return Error(item, std::string(field) + " must be a list of strings");
    out.push_back(item.Scalar());
  }
  return out;
}

mesh::Result<WorkloadSpec> ParseWorkload(const YAML::Node& node) {
  const bool named = node.IsMap() && node["name"] && node["name"].IsScalar();
  MESH_RETURN_IF_ERROR(CheckFields(node,
                                   named ? "workload " + Quoted(node["name"].Scalar()) : "workload",
                                   {"name", "type", "replicas", "requirements", "placement", "spec",
                                    "expected_node", "expected_nodes"}));
  WorkloadSpec spec;
  const YAML::Node name = node["name"];
  if (!name) return Error(node, "workload without a name");
  auto name_text = Scalar(name, "name");
  if (!name_text.ok()) return name_text.status();
  if (name_text->empty()) return Error(name, "empty workload name");
  spec.name = *name_text;
  const std::string ctx = "workload " + Quoted(spec.name);

  if (const YAML::Node type = node["type"]) {
    auto text = Scalar(type, "type");
    if (!text.ok()) return text.status();
    spec.type = *text;
  }
  if (const YAML::Node replicas = node["replicas"]) {
    auto text = Scalar(replicas, "replicas");
    if (!text.ok()) return text.status();
    char* end = nullptr;
    const long long n = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0') {
      return Error(replicas, ctx + ": replicas " + Quoted(*text) + " is not an integer");
    }
    if (n < 0) return Error(replicas, ctx + ": replicas must not be negative (got " + *text + ")");
    if (n > 1'000'000) return Error(replicas, ctx + ": replicas above 1000000");
    spec.replicas = static_cast<std::uint32_t>(n);
  }
  if (const YAML::Node req = node["requirements"]) {
    MESH_RETURN_IF_ERROR(ParseRequirements(req, &spec));
  }
  if (const YAML::Node placement = node["placement"]) {
    MESH_RETURN_IF_ERROR(CheckFields(placement, "placement", {"constraints"}));
    if (const YAML::Node constraints = placement["constraints"]) {
      if (!constraints.IsSequence()) return Error(constraints, "constraints must be a list");
      for (const YAML::Node& c : constraints) {
        auto text = Scalar(c, "constraint");
        if (!text.ok()) return text.status();
        auto parsed = ParseConstraint(*text);
        if (!parsed.ok()) return Error(c, parsed.status().message());
        spec.constraints.push_back(std::move(*parsed));
      }
    }
  }
  if (const YAML::Node body = node["spec"]) {
    MESH_RETURN_IF_ERROR(CheckFields(body, "spec", {"image", "command", "user", "privileged"}));
    if (const YAML::Node user = body["user"]) {
      auto text = Scalar(user, "spec.user");
      if (!text.ok()) return text.status();
      spec.user = *text;
    }
    if (const YAML::Node privileged = body["privileged"]) {
      if (!privileged.IsScalar() || (privileged.Scalar() != "true" && privileged.Scalar() != "false")) {
        return Error(privileged, ctx + ": spec.privileged must be true or false");
      }
      spec.privileged = privileged.Scalar() == "true";
    }
    if (const YAML::Node image = body["image"]) {
      auto text = Scalar(image, "spec.image");
      if (!text.ok()) return text.status();
      spec.image = *text;
    }
    if (const YAML::Node command = body["command"]) {
      if (command.IsScalar()) {
        spec.command = {"sh", "-c", command.Scalar()};
      } else {
        auto list = StringList(command, "spec.command");
        if (!list.ok()) return list.status();
        spec.command = std::move(*list);
      }
    }
  }
  const YAML::Node one = node["expected_node"];
  const YAML::Node many = node["expected_nodes"];
  if (one && many) return Error(many, ctx + ": use expected_node or expected_nodes, not both");
  if (one) {
    auto text = Scalar(one, "expected_node");
    if (!text.ok()) return text.status();
    spec.expected_nodes = {*text};
  }
  if (many) {
    auto list = StringList(many, "expected_nodes");
    if (!list.ok()) return list.status();
    spec.expected_nodes = std::move(*list);
  }
  return spec;
}

mesh::Status ParseDocument(const YAML::Node& doc, std::vector<WorkloadSpec>* out) {
  if (doc.IsNull()) return mesh::Status::Ok();  // an empty document (trailing `---`)
  auto add_list = [&](const YAML::Node& list) -> mesh::Status {
    for (const YAML::Node& item : list) {
      auto w = ParseWorkload(item);
      if (!w.ok()) return w.status();
      out->push_back(std::move(*w));
    }
    return mesh::Status::Ok();
  };
  if (doc.IsSequence()) return add_list(doc);
  if (!doc.IsMap()) return Error(doc, "expected a mapping or a list of workloads");
  if (const YAML::Node list = doc["workloads"]) {
    MESH_RETURN_IF_ERROR(CheckFields(doc, "the top level", {"workloads"}));
    if (!list.IsSequence()) return Error(list, "workloads must be a list");
    return add_list(list);
  }
  auto w = ParseWorkload(doc);
  if (!w.ok()) return w.status();
  out->push_back(std::move(*w));
  return mesh::Status::Ok();
}

}  // namespace

mesh::Result<std::vector<WorkloadSpec>> ParseDeployFile(std::string_view yaml) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return mesh::Status::InvalidArgument(kOp, Where(e.mark) + e.msg);
  }
  std::vector<WorkloadSpec> workloads;
  try {
    for (const YAML::Node& doc : docs) MESH_RETURN_IF_ERROR(ParseDocument(doc, &workloads));
  } catch (const YAML::Exception& e) {  // yaml-cpp throws on some malformed accesses
    return mesh::Status::InvalidArgument(kOp, Where(e.mark) + e.msg);
  }
  if (workloads.empty()) return mesh::Status::InvalidArgument(kOp, "no workloads in the file");
  std::set<std::string> names;
  for (const WorkloadSpec& w : workloads) {
    if (!names.insert(w.name).second) {
      return mesh::Status::InvalidArgument(kOp, "workload " + Quoted(w.name) + " appears twice");
    }
  }
  return workloads;
}

}  // namespace scheduler
