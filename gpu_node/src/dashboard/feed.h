// DashboardFeed: what the dashboard shows, handed from serve to the HTTP
// threads. A refresher (dashboard.h) puts in the latest nodes and workloads
// (as `stratoswarm node ls` / `ps -a` JSON) and each new timing record; each
// server-sent-events client takes what is newer than its Cursor, already
// framed. Nothing here blocks a writer on a reader: both take one mutex for
// a copy.
//
// SSE events (docs/dashboard.md):
//   event: hello      data: {}                 first on every connection (the
//                                              page clears what it had)
//   event: nodes      data: [node, ...]        when the node list changes
//   event: workloads  data: [workload, ...]    when the workload list changes
//   id: N / event: timing  data: {timing event} each record (TimingEventJson)
//
// Thread safety: every member may be called from any thread at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpu_node::dashboard {

// One SSE message: optional "id:", "event:", then one "data:" line per line
// of `data` (so a newline in it cannot end the message early), then a blank
// line. A '\r' in data starts a new line too (the SSE spec splits on it).
std::string SseFrame(std::string_view event, std::string_view data,
                     std::optional<std::uint64_t> id = {});
// A comment line the browser ignores (keeps idle connections open).
std::string SseComment(std::string_view text);

// A timing.jsonl line ({"ts_ns":…,"node":…,"event":…,"phase":…,"ms":…,
// extra fields}) as the dashboard's event JSON, one line:
//   {"seq":N,"t":<seconds since the epoch>,"node":…,"event":…,"phase":…,
//    "key":"event.phase","ms":…,"extra":{the other fields}}
// nullopt for a line that is not such a record (torn, foreign, empty).
std::optional<std::string> TimingEventJson(std::string_view line, std::uint64_t seq);

class DashboardFeed {
 public:
  // Keeps the last `max_events` timing events for new connections.
  explicit DashboardFeed(std::size_t max_events = 1000);

  // Replace the JSON arrays served as /api/nodes and /api/workloads (and
  // pushed to SSE clients when they differ from the last).
  void SetNodes(std::string json);
  void SetWorkloads(std::string json);
  // Adds one timing.jsonl line (TimingEventJson); false if it was not a record.
  bool AddTimingLine(std::string_view line);

  std::string Nodes() const;
  std::string Workloads() const;
  // The buffered timing events as one JSON array.
  std::string Events() const;

  // Where one SSE client is. A new Cursor gets everything.
  struct Cursor {
    bool hello_sent = false;
    std::uint64_t nodes_version = 0;
    std::uint64_t workloads_version = 0;
    std::uint64_t seq = 0;  // last timing event sent
  };
  // The SSE frames for what is newer than `cursor` (and advances it),
  // waiting up to `wait` for something new. Empty after `wait` with nothing
  // new, or once closed.
  std::string Next(Cursor& cursor, std::chrono::milliseconds wait);

  // Wakes every Next() and makes later ones return at once with nothing.
  void Close();
  bool closed() const;

 private:
  // Replaces a snapshot (nodes_ or workloads_) and wakes the streams, unless unchanged.
  void SetSnapshot(std::string& slot, std::uint64_t& version, std::string json);
  bool HasNewLocked(const Cursor& c) const;

  const std::size_t max_events_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool closed_ = false;                  // guarded by mu_
  std::string nodes_ = "[]";             // guarded by mu_
  std::string workloads_ = "[]";         // guarded by mu_
  std::uint64_t nodes_version_ = 0;      // guarded by mu_
  std::uint64_t workloads_version_ = 0;  // guarded by mu_
  std::uint64_t last_seq_ = 0;           // guarded by mu_
  struct Event {
    std::uint64_t seq;
    std::string json;
  };
  std::deque<Event> events_;  // guarded by mu_; oldest first
};

}  // namespace gpu_node::dashboard
