// `stratoswarm timings`: reads timing logs written by mesh::TimingLog (one
// JSON object per line, docs/timing_log.md), groups the records by
// (event, phase) and reports count, p50, p95, p99 and max in milliseconds,
// as an aligned table or JSON.
//
// Percentiles use the nearest-rank method: for N sorted values the p-th
// percentile is the value at 1-based rank ceil(p/100 * N) (rank 1 when that
// is 0). It is always one of the recorded values, never an interpolation, so
// p99 of 10 samples is the maximum.
//
// Garbage never stops a run: a line that is not a JSON object with a string
// "event" (non-empty), a string "node", an integer "ts_ns" (or the older
// "ts") and a finite, non-negative number "ms" is counted as malformed and
// skipped; "phase" may be missing (empty). Lines longer than
// kMaxTimingLineBytes are malformed without being parsed. Blank lines are
// ignored.
//
// Thread safety: all functions are reentrant; none keeps state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mesh/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace gpu_node {

inline constexpr std::size_t kMaxTimingLineBytes = 64 * 1024;

struct TimingRecord {
  std::int64_t ts_ns = 0;
  std::string node;
  std::string event;
  std::string phase;
  double ms = 0;
};

// One line (without its newline; a trailing '\r' is tolerated). Corrupt for
// anything the rules above reject.
mesh::Result<TimingRecord> ParseTimingLine(std::string_view line);

struct TimingFilter {
  std::string event;          // empty: any
  std::string node;           // empty: any
  std::int64_t since_ns = 0;  // keep records with ts_ns >= since_ns; 0: all
  bool Matches(const TimingRecord& r) const;
};

struct TimingFileStats {
  std::string path;
  std::size_t records = 0;  // well-formed lines (before filtering)
  std::size_t kept = 0;     // well-formed lines that passed the filter
  std::size_t malformed = 0;
  std::size_t first_malformed_line = 0;  // 1-based; 0 when none
};

// Appends the records of `path` that pass `filter` to `out`. NotFound /
// PermissionDenied / IoError when the file cannot be read; malformed lines
// are only counted in `stats`.
mesh::Status ReadTimingFile(const std::string& path, const TimingFilter& filter,
                            std::vector<TimingRecord>& out, TimingFileStats& stats);
// The same, handing each kept record to `sink` instead of storing it.
mesh::Status ReadTimingFile(const std::string& path, const TimingFilter& filter,
                            const std::function<void(TimingRecord&&)>& sink,
                            TimingFileStats& stats);

// Nearest-rank percentile of `sorted` (ascending, non-empty); p in [0, 100].
double NearestRankPercentile(const std::vector<double>& sorted, double p);

struct TimingSummary {
  std::string event;
  std::string phase;
  std::size_t count = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0, min_ms = 0, mean_ms = 0;
};

// Streaming aggregation: keeps only the durations per (event, phase)
// (8 bytes a record), so a long log is summarized in little memory.
class TimingAggregator {
 public:
  void Add(const TimingRecord& r);
  std::size_t records() const { return records_; }
  // One summary per (event, phase): events in name order, phases in the
  // order they first appear (so a join's phases read in the order they ran).
  std::vector<TimingSummary> Summaries() const;

 private:
  std::map<std::string, std::vector<std::pair<std::string, std::vector<double>>>> groups_;
  std::size_t records_ = 0;
};

// The same as feeding every record to a TimingAggregator.
std::vector<TimingSummary> SummarizeTimings(const std::vector<TimingRecord>& records);

// "--since": a duration back from `now_ns` ("90s", "30m", "24h", "7d"), an
// RFC 3339 UTC time ("2026-11-26T15:00:00Z", fractional seconds allowed), or
// an integer of nanoseconds since the Unix epoch. InvalidArgument otherwise.
mesh::Result<std::int64_t> ParseSince(std::string_view text, std::int64_t now_ns);

struct TimingsOptions {
  std::vector<std::string> files;  // timing logs; empty: <state_dir>/timing.jsonl
  std::string state_dir = "/var/lib/stratoswarm";
  std::string format = "table";  // "table" or "json"
  std::string event;             // --event
  std::string node;              // --node
  std::string since;             // --since (see ParseSince); empty: all
  std::int64_t now_ns = 0;       // "now" for --since durations; 0: the system clock
};

// Adds --event, --node, --since and --file (repeatable) to `cmd`, bound to
// `options`; --format and --state-dir stay with the caller's global options
// (copy them into `options` before running).
void AddTimingsOptions(CLI::App* cmd, TimingsOptions& options);

// The command: prints the summary to `out`, warnings (malformed lines per
// file, unreadable files) and errors to `err`. Returns 0 when at least one
// file was read (even with no matching records), 1 when none could be read,
// 2 for a bad --format or --since.
int RunTimingsCommand(const TimingsOptions& options, std::ostream& out, std::ostream& err);

}  // namespace gpu_node
