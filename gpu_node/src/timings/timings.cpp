#include "timings/timings.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/duration.h"
#include "cli/table.h"
#include "mesh/clock.h"
#include "swarmlet/cli.h"

namespace gpu_node {
namespace {

using nlohmann::json;

mesh::Status Malformed(std::string_view why) { return mesh::Status::Corrupt("timing line", why); }

std::string Ms(double ms) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3f", ms);
  return buf;
}

// Log strings go to a terminal: control characters become '?'.
std::string Printable(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Reads `n` digits at `pos` as a number; false when they are not all digits.
bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  const auto part = s.substr(pos, n);
  if (!AllDigits(part)) return false;
  std::from_chars(part.data(), part.data() + n, out);
  return true;
}

mesh::Result<std::int64_t> ParseRfc3339(std::string_view s) {
  const auto bad = mesh::Status::InvalidArgument(
      "--since", "'" + std::string(s) +
                     "' is not a duration (30m), an RFC 3339 time (2026-11-26T15:00:00Z) or "
                     "nanoseconds since the epoch");
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (s.size() < 20 || !Digits(s, 0, 4, year) || s[4] != '-' || !Digits(s, 5, 2, mon) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, hour) || s[13] != ':' || !Digits(s, 14, 2, min) || s[16] != ':' ||
      !Digits(s, 17, 2, sec)) {
    return bad;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return bad;
  std::size_t pos = 19;
  std::int64_t frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t scale = 100'000'000;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad;
  }
  int offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad;
    }
    offset_s = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad;
  }
  if (pos != s.size()) return bad;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::time_t t = timegm(&tm);
  return (static_cast<std::int64_t>(t) - offset_s) * 1'000'000'000 + frac_ns;
}

}  // namespace

namespace {

// Collects the top-level fields of one line without building a DOM (about
// three times faster than json::parse on TimingLog lines). Nested values are
// walked and ignored; the first error stops the parse.
class LineSax final : public nlohmann::json_sax<json> {
 public:
  enum class Kind { kNone, kString, kInt, kUint, kFloat, kOther };
  struct Field {
    Kind kind = Kind::kNone;
    std::string text;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    double d = 0;
  };
  Field event, node, phase, ts_ns, ts, ms;
  bool top_is_object = false;

  bool null() override { return Set(Kind::kOther); }
  bool boolean(bool) override { return Set(Kind::kOther); }
  bool number_integer(number_integer_t v) override {
    if (Field* f = Current()) *f = {Kind::kInt, {}, v, 0, static_cast<double>(v)};
    return true;
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (Field* f = Current()) *f = {Kind::kUint, {}, 0, v, static_cast<double>(v)};
    return true;
  }
  bool number_float(number_float_t v, const string_t&) override {
    if (Field* f = Current()) *f = {Kind::kFloat, {}, 0, 0, v};
    return true;
  }
  bool string(string_t& v) override {
    if (Field* f = Current()) *f = {Kind::kString, std::move(v), 0, 0, 0};
    return true;
  }
  bool binary(binary_t&) override { return Set(Kind::kOther); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) top_is_object = true;
    Set(Kind::kOther);
    ++depth_;
    key_ = nullptr;
    return true;
  }
  bool end_object() override { return End(); }
  bool start_array(std::size_t) override {
    Set(Kind::kOther);
    ++depth_;
    return true;
  }
  bool end_array() override { return End(); }
  bool key(string_t& k) override {
    if (depth_ != 1) return true;
    if (k == "event")
      key_ = &event;
    else if (k == "node")
      key_ = &node;
    else if (k == "phase")
      key_ = &phase;
    else if (k == "ts_ns")
      key_ = &ts_ns;
    else if (k == "ts")
      key_ = &ts;
    else if (k == "ms")
      key_ = &ms;
    else
      key_ = nullptr;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  // The field a scalar at this point fills: one of ours, at depth 1.
  Field* Current() const { return depth_ == 1 ? key_ : nullptr; }
  bool Set(Kind kind) {
    if (Field* f = Current()) *f = {kind, {}, 0, 0, 0};
    return true;
  }
  bool End() {
    --depth_;
    if (depth_ == 1) key_ = nullptr;
    return true;
  }
  int depth_ = 0;
  Field* key_ = nullptr;
};

}  // namespace

mesh::Result<TimingRecord> ParseTimingLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxTimingLineBytes) return Malformed("line too long");
  LineSax sax;
  if (!json::sax_parse(line.begin(), line.end(), &sax, nlohmann::json::input_format_t::json,
                       /*strict=*/true)) {
    return Malformed("not JSON");
  }
  if (!sax.top_is_object) return Malformed("not a JSON object");
  using Kind = LineSax::Kind;

  TimingRecord r;
  if (sax.event.kind != Kind::kString) return Malformed("no string \"event\"");
  r.event = std::move(sax.event.text);
  if (r.event.empty()) return Malformed("empty \"event\"");

  if (sax.node.kind != Kind::kString) return Malformed("no string \"node\"");
  r.node = std::move(sax.node.text);

  if (sax.phase.kind != Kind::kNone) {
    if (sax.phase.kind != Kind::kString) return Malformed("\"phase\" is not a string");
    r.phase = std::move(sax.phase.text);
  }

  // "ts" is the design note's older spelling.
  const auto& ts = sax.ts_ns.kind != Kind::kNone ? sax.ts_ns : sax.ts;
  if (ts.kind == Kind::kNone) return Malformed("no \"ts_ns\"");
  if (ts.kind == Kind::kUint) {
    if (ts.u > static_cast<std::uint64_t>(INT64_MAX)) return Malformed("\"ts_ns\" out of range");
    r.ts_ns = static_cast<std::int64_t>(ts.u);
  } else if (ts.kind == Kind::kInt) {
    r.ts_ns = ts.i;
  } else {
    return Malformed("\"ts_ns\" is not an integer");
  }

  if (sax.ms.kind != Kind::kInt && sax.ms.kind != Kind::kUint && sax.ms.kind != Kind::kFloat) {
    return Malformed("no number \"ms\"");
  }
  r.ms = sax.ms.d;
  if (!std::isfinite(r.ms) || r.ms < 0) return Malformed("\"ms\" is negative or not finite");
  return r;
}

bool TimingFilter::Matches(const TimingRecord& r) const {
  return (event.empty() || r.event == event) && (node.empty() || r.node == node) &&
         r.ts_ns >= since_ns;
}

mesh::Status ReadTimingFile(const std::string& path, const TimingFilter& filter,
                            std::vector<TimingRecord>& out, TimingFileStats& stats) {
  return ReadTimingFile(
      path, filter, [&](TimingRecord&& r) { out.push_back(std::move(r)); }, stats);
}

mesh::Status ReadTimingFile(const std::string& path, const TimingFilter& filter,
                            const std::function<void(TimingRecord&&)>& sink,
                            TimingFileStats& stats) {
  stats.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return mesh::Status::FromErrno("read timing log " + path, errno);
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto r = ParseTimingLine(line);
    if (!r.ok()) {
      if (stats.malformed++ == 0) stats.first_malformed_line = number;
      continue;
    }
    ++stats.records;
    if (!filter.Matches(*r)) continue;
    ++stats.kept;
    sink(std::move(*r));
  }
  if (in.bad()) return mesh::Status::IoError("read timing log " + path, "read failed");
  return mesh::Status::Ok();
}

double NearestRankPercentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void TimingAggregator::Add(const TimingRecord& r) {
  auto& phases = groups_[r.event];
  auto it =
      std::find_if(phases.begin(), phases.end(), [&](const auto& p) { return p.first == r.phase; });
  if (it == phases.end()) {
    phases.emplace_back(r.phase, std::vector<double>{});
    it = phases.end() - 1;
  }
  it->second.push_back(r.ms);
  ++records_;
}

std::vector<TimingSummary> TimingAggregator::Summaries() const {
  std::vector<TimingSummary> out;
  for (const auto& [event, phases] : groups_) {
    for (const auto& [phase, unsorted] : phases) {
      std::vector<double> ms = unsorted;
      std::sort(ms.begin(), ms.end());
      TimingSummary s;
      s.event = event;
      s.phase = phase;
      s.count = ms.size();
      s.p50_ms = NearestRankPercentile(ms, 50);
      s.p95_ms = NearestRankPercentile(ms, 95);
      s.p99_ms = NearestRankPercentile(ms, 99);
      s.min_ms = ms.front();
      s.max_ms = ms.back();
      double sum = 0;
      for (double v : ms) sum += v;
      s.mean_ms = sum / static_cast<double>(ms.size());
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::vector<TimingSummary> SummarizeTimings(const std::vector<TimingRecord>& records) {
  TimingAggregator a;
  for (const auto& r : records) a.Add(r);
  return a.Summaries();
}

mesh::Result<std::int64_t> ParseSince(std::string_view text, std::int64_t now_ns) {
  if (AllDigits(text)) {
    std::int64_t ns = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ns);
    if (ec != std::errc()) return mesh::Status::InvalidArgument("--since", "number out of range");
    return ns;
  }
  if (text.size() >= 20 && text[4] == '-') return ParseRfc3339(text);
  auto d = ParseDuration(text);
  if (!d.ok()) return ParseRfc3339(text);  // its message lists every accepted form
  return now_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(*d).count();
}

void AddTimingsOptions(CLI::App* cmd, TimingsOptions& options) {
  cmd->add_option("--event", options.event, "Only this event (join, mesh_formation, ...)");
  cmd->add_option("--node", options.node, "Only records from this node");
  cmd->add_option("--since", options.since,
                  "Only records since: a duration back from now (30m, 24h), an RFC 3339 time "
                  "or ns since the epoch");
  cmd->add_option("--file", options.files,
                  "Timing log to read (repeatable; default <state-dir>/timing.jsonl)");
}

int RunTimingsCommand(const TimingsOptions& options, std::ostream& out, std::ostream& err) {
  if (options.format != "table" && options.format != "json") {
    err << "stratoswarm timings: --format must be table or json, not '" << options.format << "'\n";
    return swarmlet::kExitUsage;
  }
  TimingFilter filter;
  filter.event = options.event;
  filter.node = options.node;
  if (!options.since.empty()) {
    const std::int64_t now =
        options.now_ns != 0 ? options.now_ns : mesh::SystemClock::Get().WallNs();
    auto since = ParseSince(options.since, now);
    if (!since.ok()) {
      err << "stratoswarm timings: " << since.status().message() << "\n";
      return swarmlet::kExitUsage;
    }
    filter.since_ns = *since;
  }

  std::vector<std::string> files = options.files;
  if (files.empty()) files.push_back(options.state_dir + "/timing.jsonl");

  TimingAggregator aggregator;
  const auto add = [&](TimingRecord&& r) { aggregator.Add(r); };
  std::vector<TimingFileStats> stats;
  std::size_t read = 0, malformed = 0;
  for (const auto& path : files) {
    TimingFileStats s;
    if (auto st = ReadTimingFile(path, filter, add, s); !st.ok()) {
      err << "stratoswarm timings: " << st.message() << "\n";
      continue;
    }
    ++read;
    malformed += s.malformed;
    if (s.malformed > 0) {
      err << "stratoswarm timings: " << path << ": skipped " << s.malformed << " malformed line"
          << (s.malformed == 1 ? "" : "s") << " (first at line " << s.first_malformed_line << ")\n";
    }
    stats.push_back(std::move(s));
  }
  if (read == 0) return swarmlet::kExitFailure;

  const auto summaries = aggregator.Summaries();
  if (options.format == "json") {
    json j;
    j["files"] = json::array();
    for (const auto& s : stats) {
      j["files"].push_back({{"path", s.path},
                            {"records", s.records},
                            {"kept", s.kept},
                            {"malformed_lines", s.malformed}});
    }
    j["records"] = aggregator.records();
    j["malformed_lines"] = malformed;
    j["filter"] = {{"event", filter.event}, {"node", filter.node}, {"since_ns", filter.since_ns}};
    j["percentiles"] = "nearest-rank";
    j["timings"] = json::array();
    for (const auto& s : summaries) {
      j["timings"].push_back({{"event", s.event},
                              {"phase", s.phase},
                              {"count", s.count},
                              {"p50_ms", s.p50_ms},
                              {"p95_ms", s.p95_ms},
                              {"p99_ms", s.p99_ms},
                              {"max_ms", s.max_ms},
                              {"min_ms", s.min_ms},
                              {"mean_ms", s.mean_ms}});
    }
    // Strings from the logs may hold invalid UTF-8; replace rather than throw.
    out << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return swarmlet::kExitOk;
  }

  std::vector<std::vector<std::string>> rows;
  for (const auto& s : summaries) {
    rows.push_back({Printable(s.event), s.phase.empty() ? "-" : Printable(s.phase),
                    std::to_string(s.count), Ms(s.p50_ms), Ms(s.p95_ms), Ms(s.p99_ms),
                    Ms(s.max_ms)});
  }
  PrintTable(out, {"EVENT", "PHASE", "COUNT", "P50 MS", "P95 MS", "P99 MS", "MAX MS"}, rows);
  if (aggregator.records() == 0) err << "stratoswarm timings: no matching timing records\n";
  return swarmlet::kExitOk;
}

}  // namespace gpu_node
