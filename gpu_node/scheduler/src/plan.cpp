#include "plan.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <string>

#include "scheduler/quantity.h"

namespace scheduler::internal {
namespace {

std::uint64_t Recip(std::uint64_t capacity) {
  return capacity == 0 ? 0 : (std::uint64_t{1} << kRecipShift) / capacity;
}

std::uint64_t Clamp(std::uint64_t q) { return q < kMaxQuantity ? q : kMaxQuantity; }

std::uint64_t FreeOf(std::uint64_t capacity, std::uint64_t allocated) {
  capacity = Clamp(capacity);
  return allocated >= capacity ? 0 : capacity - allocated;
}

void SetBit(std::uint64_t* mask, std::uint32_t n) { mask[n / 64] |= std::uint64_t{1} << (n % 64); }

// Bitmask of the nodes satisfying `c`, whatever their status.
void TermMask(const Constraint& c, std::span<const NodeInfo> nodes, std::uint64_t* mask) {
  const auto n = static_cast<std::uint32_t>(nodes.size());
  if (c.field == Constraint::Field::kType) {
    const NodeType type = *ParseNodeType(c.value);  // validated by ParseConstraint
    for (std::uint32_t i = 0; i < n; ++i) {
      if ((nodes[i].type == type) == c.equals) SetBit(mask, i);
    }
    return;
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    if (Matches(c, nodes[i])) SetBit(mask, i);
  }
}

}  // namespace

mesh::Status BuildPlan(std::span<const NodeInfo> nodes, std::span<const WorkloadSpec> workloads,
                       Plan* plan) {
  if (nodes.size() > kMaxNodes) {
    return mesh::Status::InvalidArgument("schedule", "more than 2^24 nodes");
  }
  std::uint64_t steps = 0;
  for (const WorkloadSpec& w : workloads) steps += w.replicas;
  if (steps > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    return mesh::Status::InvalidArgument("schedule", "more than 2^31 replicas in one batch");
  }
  const auto n = static_cast<std::uint32_t>(nodes.size());
  const std::uint32_t words = (n + 63) / 64;
  plan->num_nodes = n;
  plan->words = words;
  plan->steps = static_cast<std::uint32_t>(steps);

  const std::size_t padded = static_cast<std::size_t>(words) * 64;
  for (auto* v : {&plan->free_cpu, &plan->free_mem, &plan->free_gpu, &plan->recip_cpu,
                  &plan->recip_mem, &plan->base}) {
    v->assign(padded, 0);  // padding nodes: nothing free, never in a mask
  }
  plan->masks.assign(words, 0);  // set 0: every Ready node
  for (std::uint32_t i = 0; i < n; ++i) {
    const NodeInfo& node = nodes[i];
    plan->free_cpu[i] = FreeOf(node.capacity.cpu_millis, node.allocated.cpu_millis);
    plan->free_mem[i] = FreeOf(node.capacity.memory_bytes, node.allocated.memory_bytes);
    plan->free_gpu[i] = FreeOf(node.capacity.gpus, node.allocated.gpus);
    plan->recip_cpu[i] = Recip(Clamp(node.capacity.cpu_millis));
    plan->recip_mem[i] = Recip(Clamp(node.capacity.memory_bytes));
    plan->base[i] = NodeBase(node.capacity.gpus > 0, node.throttled, i);
    if (node.status == NodeStatus::kReady) SetBit(plan->masks.data(), i);
  }
  plan->num_sets = 1;

  plan->term_ids.clear();
  plan->term_masks.clear();
  plan->term_single_set.clear();
  plan->multi_sets.clear();
  plan->work.resize(workloads.size());

  // A term (one constraint) is interned by its canonical text; a set (a
  // workload's constraints) by its sorted term ids. Each distinct set gets
  // one mask row: the AND of its terms and of Ready.
  auto term_of = [&](const Constraint& c) -> std::uint32_t {
    auto [it, inserted] =
        plan->term_ids.emplace(c.text, static_cast<std::uint32_t>(plan->term_single_set.size()));
    if (inserted) {
      plan->term_single_set.push_back(UINT32_MAX);
      plan->term_masks.resize(plan->term_masks.size() + words, 0);
      TermMask(c, nodes, plan->term_masks.data() + static_cast<std::size_t>(it->second) * words);
    }
    return it->second;
  };
  auto new_set = [&](std::span<const std::uint32_t> terms) -> std::uint32_t {
    const std::uint32_t set = plan->num_sets++;
    plan->masks.resize(static_cast<std::size_t>(plan->num_sets) * words);
    std::uint64_t* row = plan->masks.data() + static_cast<std::size_t>(set) * words;
    const std::uint64_t* ready = plan->masks.data();
    for (std::uint32_t k = 0; k < words; ++k) row[k] = ready[k];
    for (std::uint32_t t : terms) {
      const std::uint64_t* tm = plan->term_masks.data() + static_cast<std::size_t>(t) * words;
      for (std::uint32_t k = 0; k < words; ++k) row[k] &= tm[k];
    }
    return set;
  };

  // Where every node enforces memory limits the implicit constraint is
  // true everywhere: left out, so such clusters compile as before.
  const bool some_without_memory_limits = std::any_of(
      nodes.begin(), nodes.end(), [](const NodeInfo& node) { return !node.memory_limits; });
  static const Constraint kMemoryLimits = MemoryLimitsConstraint();

  std::uint32_t first_step = 0;
  for (std::size_t w = 0; w < workloads.size(); ++w) {
    const WorkloadSpec& spec = workloads[w];
    WorkItem& item = plan->work[w];
    // A request above kMaxQuantity fits nowhere, as it should.
    item.cpu =
        spec.requests.cpu_millis <= kMaxQuantity ? spec.requests.cpu_millis : kMaxQuantity + 1;
    item.mem =
        spec.requests.memory_bytes <= kMaxQuantity ? spec.requests.memory_bytes : kMaxQuantity + 1;
    item.gpu = spec.requests.gpus;
    item.pref = WorkPref(spec.requests.gpus);
    item.replicas = spec.replicas;
    item.first_step = first_step;
    item.set = 0;
    first_step += spec.replicas;
    const bool needs_memory_limits = some_without_memory_limits && spec.requests.memory_bytes > 0;
    if (spec.constraints.empty() && !needs_memory_limits) {
      item.set = 0;
    } else if (spec.constraints.size() + (needs_memory_limits ? 1 : 0) == 1) {
      const std::uint32_t t = term_of(needs_memory_limits ? kMemoryLimits : spec.constraints[0]);
      if (plan->term_single_set[t] == UINT32_MAX) {
        plan->term_single_set[t] = new_set(std::span<const std::uint32_t>(&t, 1));
      }
      item.set = plan->term_single_set[t];
    } else {
      plan->set_key.clear();
      for (const Constraint& c : spec.constraints) plan->set_key.push_back(term_of(c));
      if (needs_memory_limits) plan->set_key.push_back(term_of(kMemoryLimits));
      std::sort(plan->set_key.begin(), plan->set_key.end());
      auto it = plan->multi_sets.find(plan->set_key);
      if (it == plan->multi_sets.end()) {
        it = plan->multi_sets.emplace(plan->set_key, new_set(plan->set_key)).first;
      }
      item.set = it->second;
    }
  }
  return mesh::Status::Ok();
}

namespace {

std::string Join(const std::vector<Constraint>& constraints) {
  std::string s;
  for (const Constraint& c : constraints) {
    if (!s.empty()) s += ", ";
    s += c.text;
  }
  return s;
}

// Why no node satisfies `c` on its own: "0 of 4 nodes are rpi".
std::string ExplainTerm(const Constraint& c, std::size_t total) {
  const std::string n = std::to_string(total);
  const bool one = total == 1;
  const std::string nodes = one ? " node" : " nodes";
  const std::string are = one ? " is " : " are ";
  const std::string have = one ? " has " : " have ";
  switch (c.field) {
    case Constraint::Field::kType:
      return (c.equals ? "0 of " : "all ") + n + nodes + are + c.value;
    case Constraint::Field::kName:
      return c.equals ? "none of the " + n + nodes + " is named " + c.value
                      : "the only node is named " + c.value;
    case Constraint::Field::kArch:
      return (c.equals ? "0 of " : "all ") + n + nodes + have + "arch " + c.value;
    case Constraint::Field::kLabel:
      return (c.equals ? "0 of " : "all ") + n + nodes + have + "label " + c.label_key + "=" +
             c.value;
    case Constraint::Field::kPlatforms:
      return "the image has no platform of any node";
    case Constraint::Field::kMemoryLimits:
      return "no node has the cgroup memory controller on";
  }
  return {};
}

// "alpine:3.19 has no linux/arm64 image": the architectures of the Ready
// nodes (all nodes when none is Ready) that the image lacks.
std::string ExplainPlatforms(const Constraint& c, std::span<const NodeInfo> nodes) {
  const bool any_ready = std::any_of(nodes.begin(), nodes.end(),
                                     [](const NodeInfo& n) { return n.status == NodeStatus::kReady; });
  std::vector<std::string> missing;
  for (const NodeInfo& node : nodes) {
    if (any_ready && node.status != NodeStatus::kReady) continue;
    const std::string p = "linux/" + OciArchOf(node.arch);
    if (!Matches(c, node) && std::find(missing.begin(), missing.end(), p) == missing.end()) missing.push_back(p);
  }
  std::sort(missing.begin(), missing.end());
  std::string list;
  for (std::size_t i = 0; i < missing.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == missing.size() ? " or " : ", ") + missing[i];
  }
  return c.label_key + " has no " + list + " image";
}

}  // namespace

NodeArrays Plan::EngineArrays() {
  engine_cpu.assign(free_cpu.begin(), free_cpu.end());
  engine_mem.assign(free_mem.begin(), free_mem.end());
  engine_gpu.assign(free_gpu.begin(), free_gpu.end());
  return {engine_cpu.data(), engine_mem.data(), engine_gpu.data(),
          recip_cpu.data(),  recip_mem.data(),  base.data()};
}

std::string ExplainPending(const WorkloadSpec& spec, std::span<const NodeInfo> nodes,
                           const NodeArrays& state) {
  if (nodes.empty()) return "no nodes in the cluster";
  for (const Constraint& c : spec.constraints) {
    const bool any = std::any_of(nodes.begin(), nodes.end(),
                                 [&](const NodeInfo& node) { return Matches(c, node); });
    if (c.field == Constraint::Field::kPlatforms &&
        std::none_of(nodes.begin(), nodes.end(), [&](const NodeInfo& node) {
          return node.status == NodeStatus::kReady && Matches(c, node);
        })) {
      return ExplainPlatforms(c, nodes);
    }
    if (!any) return "no node matches " + c.text + ": " + ExplainTerm(c, nodes.size());
  }
  std::size_t matching = 0;
  std::size_t ready = 0;
  std::size_t short_cpu = 0, short_mem = 0, short_gpu = 0;
  std::uint64_t best_cpu = 0, best_mem = 0, best_gpu = 0;
  // Ready matching nodes left out because they cannot enforce the memory limit.
  std::string no_memory_limits;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const bool all = std::all_of(spec.constraints.begin(), spec.constraints.end(),
                                 [&](const Constraint& c) { return Matches(c, nodes[i]); });
    if (!all) continue;
    ++matching;
    if (nodes[i].status != NodeStatus::kReady) continue;
    if (spec.requests.memory_bytes > 0 && !nodes[i].memory_limits) {
      no_memory_limits += (no_memory_limits.empty() ? "" : ", ") + nodes[i].name;
      continue;
    }
    ++ready;
    short_cpu += state.free_cpu[i] < spec.requests.cpu_millis;
    short_mem += state.free_mem[i] < spec.requests.memory_bytes;
    short_gpu += state.free_gpu[i] < spec.requests.gpus;
    best_cpu = std::max(best_cpu, state.free_cpu[i]);
    best_mem = std::max(best_mem, state.free_mem[i]);
    best_gpu = std::max(best_gpu, state.free_gpu[i]);
  }
  const std::string constraints = spec.constraints.empty() ? "" : " " + Join(spec.constraints);
  if (matching == 0) {
    return "no node matches all of " + Join(spec.constraints) + ": each matches some of the " +
           std::to_string(nodes.size()) + " nodes, none all";
  }
  const std::string memory_why =
      no_memory_limits.empty()
          ? std::string()
          : "memory limits unavailable on " + no_memory_limits + " (cgroup memory controller off)";
  if (ready == 0 && !memory_why.empty()) return memory_why;
  if (ready == 0) {
    return "no Ready node" + (constraints.empty() ? std::string() : " matches" + constraints) +
           ": all " + std::to_string(matching) + " matching nodes are Down";
  }
  std::string why = "insufficient resources on the " + std::to_string(ready) + " Ready node" +
                    (ready == 1 ? "" : "s") +
                    (constraints.empty() ? "" : " matching" + constraints) + ":";
  std::string sep = " ";
  if (short_cpu > 0) {
    why += sep + "cpu " + FormatCpu(spec.requests.cpu_millis) + " requested, " +
           std::to_string(short_cpu) + " have less free (most free " + FormatCpu(best_cpu) + ")";
    sep = "; ";
  }
  if (short_mem > 0) {
    why += sep + "memory " + FormatMemory(spec.requests.memory_bytes) + " requested, " +
           std::to_string(short_mem) + " have less free (most free " + FormatMemory(best_mem) + ")";
    sep = "; ";
  }
  if (short_gpu > 0) {
    why += sep + "gpu " + std::to_string(spec.requests.gpus) + " requested, " +
           std::to_string(short_gpu) + " have less free (most free " + std::to_string(best_gpu) +
           ")";
    sep = "; ";
  }
  if (sep == " ") why += " no single node has cpu, memory and gpu free together";
  if (!memory_why.empty()) why += "; " + memory_why;
  return why;
}

ScheduleResult Finish(Plan& plan, std::span<const NodeInfo> nodes,
                      std::span<const WorkloadSpec> workloads, std::span<const std::int32_t> out) {
  ScheduleResult result;
  result.placements.resize(plan.steps);
  result.allocated.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) result.allocated[i] = nodes[i].allocated;
  bool any_pending = false;
  for (std::uint32_t s = 0; s < plan.steps; ++s) any_pending = any_pending || out[s] == kPending;
  NodeArrays replay{};  // the engine's scratch, replayed only when something is Pending
  if (any_pending) replay = plan.EngineArrays();

  for (std::size_t w = 0; w < workloads.size(); ++w) {
    const WorkItem& item = plan.work[w];
    for (std::uint32_t r = 0; r < item.replicas; ++r) {
      const auto step = static_cast<std::uint32_t>(item.first_step + r);
      Placement& p = result.placements[step];
      p.workload = static_cast<std::uint32_t>(w);
      p.replica = r;
      p.node = out[step];
      if (p.node == kPending) {
        ++result.pending;
        // Later replicas meet the same state: one explanation serves them all.
        if (r > 0 && result.placements[step - 1].node == kPending) {
          p.reason = result.placements[step - 1].reason;
        } else {
          p.reason = ExplainPending(workloads[w], nodes, replay);
        }
        continue;
      }
      ++result.placed;
      Resources& a = result.allocated[static_cast<std::size_t>(p.node)];
      a.cpu_millis += item.cpu;
      a.memory_bytes += item.mem;
      a.gpus += item.gpu;
      if (any_pending) Commit(replay, static_cast<std::uint32_t>(p.node), item);
    }
  }
  return result;
}

}  // namespace scheduler::internal
