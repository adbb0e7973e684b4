#include "dashboard/feed.h"

#include <nlohmann/json.hpp>

namespace gpu_node::dashboard {
namespace {

using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string SseFrame(std::string_view event, std::string_view data,
                     std::optional<std::uint64_t> id) {
  std::string out;
  out.reserve(data.size() + event.size() + 32);
  if (id) out += "id: " + std::to_string(*id) + "\n";
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  std::size_t start = 0;
  while (true) {
    const std::size_t end = data.find_first_of("\r\n", start);
    out.append("data: ")
        .append(data.substr(start, end == std::string_view::npos ? end : end - start))
        .append("\n");
    if (end == std::string_view::npos) break;
    // "\r\n" is one line break, as the SSE parser reads it.
    start = end + (data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n' ? 2 : 1);
  }
  out += "\n";
  return out;
}

std::string SseComment(std::string_view text) { return ": " + std::string(text) + "\n\n"; }

std::optional<std::string> TimingEventJson(std::string_view line, std::uint64_t seq) {
  const json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) return std::nullopt;
  const auto ts = record.find("ts_ns");
  const auto event = record.find("event");
  const auto phase = record.find("phase");
  const auto ms = record.find("ms");
  if (ts == record.end() || !ts->is_number_integer() || event == record.end() ||
      !event->is_string() || event->get_ref<const std::string&>().empty() ||
      phase == record.end() || !phase->is_string() || ms == record.end() || !ms->is_number()) {
    return std::nullopt;
  }
  const auto node = record.find("node");
  json extra = json::object();
  for (const auto& [key, value] : record.items()) {
    if (key != "ts_ns" && key != "node" && key != "event" && key != "phase" && key != "ms")
      extra[key] = value;
  }
  const std::string& e = event->get_ref<const std::string&>();
  const std::string& p = phase->get_ref<const std::string&>();
  return Dump({{"seq", seq},
               {"t", static_cast<double>(ts->get<std::int64_t>()) / 1e9},
               {"node", node != record.end() && node->is_string() ? node->get<std::string>() : ""},
               {"event", e},
               {"phase", p},
               {"key", p.empty() ? e : e + "." + p},
               {"ms", ms->get<double>()},
               {"extra", std::move(extra)}});
}

DashboardFeed::DashboardFeed(std::size_t max_events)
    : max_events_(max_events == 0 ? 1 : max_events) {}

void DashboardFeed::SetNodes(std::string json) { SetSnapshot(nodes_, nodes_version_, std::move(json)); }

void DashboardFeed::SetWorkloads(std::string json) {
  SetSnapshot(workloads_, workloads_version_, std::move(json));
}

void DashboardFeed::SetSnapshot(std::string& slot, std::uint64_t& version, std::string json) {
  std::lock_guard lock(mu_);
  if (json == slot && version != 0) return;
  slot = std::move(json);
  ++version;
  changed_.notify_all();
}

bool DashboardFeed::AddTimingLine(std::string_view line) {
  std::lock_guard lock(mu_);
  auto event = TimingEventJson(line, last_seq_ + 1);
  if (!event) return false;
  events_.push_back({++last_seq_, std::move(*event)});
  while (events_.size() > max_events_) events_.pop_front();
  changed_.notify_all();
  return true;
}

std::string DashboardFeed::Nodes() const {
  std::lock_guard lock(mu_);
  return nodes_;
}

std::string DashboardFeed::Workloads() const {
  std::lock_guard lock(mu_);
  return workloads_;
}

std::string DashboardFeed::Events() const {
  std::lock_guard lock(mu_);
  std::string out = "[";
  for (const Event& e : events_) {
    if (out.size() > 1) out += ",";
    out += e.json;
  }
  return out + "]";
}

bool DashboardFeed::HasNewLocked(const Cursor& c) const {
  return !c.hello_sent || c.nodes_version != nodes_version_ ||
         c.workloads_version != workloads_version_ || c.seq != last_seq_;
}

std::string DashboardFeed::Next(Cursor& cursor, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, wait, [&] { return closed_ || HasNewLocked(cursor); });
  if (closed_) return {};
  std::string out;
  if (!cursor.hello_sent) {
    out += SseFrame("hello", "{}");
    cursor.hello_sent = true;
  }
  if (cursor.nodes_version != nodes_version_) {
    out += SseFrame("nodes", nodes_);
    cursor.nodes_version = nodes_version_;
  }
  if (cursor.workloads_version != workloads_version_) {
    out += SseFrame("workloads", workloads_);
    cursor.workloads_version = workloads_version_;
  }
  for (const Event& e : events_) {
    if (e.seq > cursor.seq) out += SseFrame("timing", e.json, e.seq);
  }
  cursor.seq = last_seq_;
  return out;
}

void DashboardFeed::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  changed_.notify_all();
}

bool DashboardFeed::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

}  // namespace gpu_node::dashboard
