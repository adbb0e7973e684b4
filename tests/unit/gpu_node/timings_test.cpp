#include "timings/timings.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "mesh/clock.h"
#include "mesh/timing_log.h"

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    char tmpl[] = "/tmp/timings-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string Write(const std::string& name, const std::string& content) {
    std::ofstream(dir / name, std::ios::binary) << content;
    return (dir / name).string();
  }
};

std::string Line(std::int64_t ts, const std::string& node, const std::string& event,
                 const std::string& phase, double ms) {
  nlohmann::json j = {
      {"ts_ns", ts}, {"node", node}, {"event", event}, {"phase", phase}, {"ms", ms}};
  return j.dump() + "\n";
}

struct Run {
  int code;
  std::string out, err;
};

Run Timings(gpu_node::TimingsOptions o) {
  std::ostringstream out, err;
  const int code = gpu_node::RunTimingsCommand(o, out, err);
  return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("timings: nearest-rank percentiles", "[gpu_node][timings]") {
  using gpu_node::NearestRankPercentile;
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  CHECK(NearestRankPercentile(hundred, 50) == 50);
  CHECK(NearestRankPercentile(hundred, 95) == 95);
  CHECK(NearestRankPercentile(hundred, 99) == 99);
  CHECK(NearestRankPercentile(hundred, 100) == 100);
  CHECK(NearestRankPercentile(hundred, 0) == 1);
  // Ten values: p50 is rank 5, p95 and p99 round up to rank 10 (the maximum).
  const std::vector<double> ten = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  CHECK(NearestRankPercentile(ten, 50) == 5);
  CHECK(NearestRankPercentile(ten, 95) == 10);
  CHECK(NearestRankPercentile(ten, 99) == 10);
  // The classic example (Wikipedia, nearest-rank): 15 20 35 40 50.
  const std::vector<double> five = {15, 20, 35, 40, 50};
  CHECK(NearestRankPercentile(five, 5) == 15);
  CHECK(NearestRankPercentile(five, 30) == 20);
  CHECK(NearestRankPercentile(five, 40) == 20);
  CHECK(NearestRankPercentile(five, 50) == 35);
  CHECK(NearestRankPercentile({7}, 99) == 7);
  CHECK(NearestRankPercentile({}, 50) == 0);
}

TEST_CASE("timings: a TimingLog line parses and garbage is Corrupt", "[gpu_node][timings]") {
  auto r = gpu_node::ParseTimingLine(
      R"({"ts_ns":1764151200123456789,"node":"rpi-1","event":"join","phase":"discovery","ms":12.346,"peer":"x","probes":3})");
  REQUIRE(r.ok());
  CHECK(r->ts_ns == 1764151200123456789);
  CHECK(r->node == "rpi-1");
  CHECK(r->event == "join");
  CHECK(r->phase == "discovery");
  CHECK(r->ms == 12.346);
  // The older "ts" spelling, no phase, CRLF ending.
  auto old = gpu_node::ParseTimingLine("{\"ts\":5,\"node\":\"a\",\"event\":\"e\",\"ms\":1}\r");
  REQUIRE(old.ok());
  CHECK(old->ts_ns == 5);
  CHECK(old->phase.empty());

  // Only top-level keys count; nested objects and arrays are skipped whole.
  auto nested = gpu_node::ParseTimingLine(
      R"({"extra":{"ms":-1,"event":"","a":[1,{"event":""}]},"ts_ns":1,"node":"a","event":"e","ms":2,"z":[[]]})");
  REQUIRE(nested.ok());
  CHECK(nested->event == "e");
  CHECK(nested->ms == 2);
  // Of repeated keys the last counts.
  auto repeated =
      gpu_node::ParseTimingLine(R"({"ts_ns":1,"node":"a","event":"x","event":"y","ms":1})");
  REQUIRE(repeated.ok());
  CHECK(repeated->event == "y");

  for (const char* bad : {
           R"({"x":{"event":"e"},"ts_ns":1,"node":"a","ms":1})",  // event only nested
           R"({"ts_ns":1,"node":"a","event":{"event":"e"},"ms":1})",
           R"({"ts_ns":1,"node":"a","event":["e"],"ms":1})",
           R"({"ts_ns":1,"node":"a","event":"e","ms":null})",
           R"({"ts_ns":1,"node":"a","event":"e","event":7,"ms":1})",
           "",
           "not json",
           "{",
           "[]",
           "42",
           "null",
           "\"s\"",
           R"({"node":"a","event":"e","ms":1})",           // no ts
           R"({"ts_ns":1,"node":"a","ms":1})",             // no event
           R"({"ts_ns":1,"node":"a","event":"","ms":1})",  // empty event
           R"({"ts_ns":1,"node":"a","event":7,"ms":1})",
           R"({"ts_ns":1,"event":"e","ms":1})",      // no node
           R"({"ts_ns":1,"node":"a","event":"e"})",  // no ms
           R"({"ts_ns":1,"node":"a","event":"e","ms":"1"})",
           R"({"ts_ns":1,"node":"a","event":"e","ms":-1})",
           R"({"ts_ns":1,"node":"a","event":"e","ms":1e999})",
           R"({"ts_ns":1.5,"node":"a","event":"e","ms":1})",
           R"({"ts_ns":18446744073709551615,"node":"a","event":"e","ms":1})",
           R"({"ts_ns":1,"node":"a","event":"e","phase":3,"ms":1})",
           R"({"ts_ns":1,"node":"a","event":"e","ms":1} trailing)",
           "{\"ts_ns\":1,\"node\":\"\xff\xfe\",\"event\":\"e\",\"ms\":1}",  // invalid UTF-8
       }) {
    INFO(bad);
    auto b = gpu_node::ParseTimingLine(bad);
    REQUIRE_FALSE(b.ok());
    CHECK(b.status().code() == mesh::StatusCode::kCorrupt);
  }
  // Deep nesting and overlong lines: rejected, not a stack overflow.
  CHECK_FALSE(gpu_node::ParseTimingLine(std::string(60000, '[')).ok());
  CHECK_FALSE(gpu_node::ParseTimingLine(std::string(gpu_node::kMaxTimingLineBytes + 1, ' ')).ok());
}

TEST_CASE("timings: groups by event and phase with counts and percentiles", "[gpu_node][timings]") {
  TempDir d;
  std::string log;
  // join phases in the order they run; 100 joins with known durations.
  for (int i = 1; i <= 100; ++i) {
    const std::string node = "rpi-" + std::to_string(i % 5);
    log += Line(1000 + i, node, "join", "hw_profile", i * 0.1);
    log += Line(1000 + i, node, "join", "discovery", i);
    log += Line(1000 + i, node, "join", "total", 10.0 * i);
  }
  log += Line(2000, "gpu", "failure_detection", "suspect", 1500);
  const auto path = d.Write("timing.jsonl", log);

  std::vector<gpu_node::TimingRecord> records;
  gpu_node::TimingFileStats stats;
  REQUIRE(gpu_node::ReadTimingFile(path, {}, records, stats).ok());
  CHECK(stats.records == 301);
  CHECK(stats.malformed == 0);
  const auto s = gpu_node::SummarizeTimings(records);
  REQUIRE(s.size() == 4);
  CHECK(s[0].event == "failure_detection");  // events sorted by name
  CHECK(s[1].phase == "hw_profile");         // phases in first-seen order
  CHECK(s[2].phase == "discovery");
  CHECK(s[3].phase == "total");
  CHECK(s[2].count == 100);
  CHECK(s[2].p50_ms == 50);
  CHECK(s[2].p95_ms == 95);
  CHECK(s[2].p99_ms == 99);
  CHECK(s[2].max_ms == 100);
  CHECK(s[2].min_ms == 1);
  CHECK(s[2].mean_ms == Approx(50.5));
  CHECK(s[3].p99_ms == 990);

  gpu_node::TimingsOptions o;
  o.state_dir = d.dir.string();
  auto run = Timings(o);
  REQUIRE(run.code == 0);
  INFO(run.out);
  CHECK(run.err.empty());
  std::istringstream lines(run.out);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  CHECK(header ==
        "EVENT               PHASE        COUNT   P50 MS     P95 MS     P99 MS     MAX MS");
  CHECK(first ==
        "failure_detection   suspect      1       1500.000   1500.000   1500.000   1500.000");
  CHECK(second ==
        "join                hw_profile   100     5.000      9.500      9.900      10.000");
}

TEST_CASE("timings: filters by event, node and since", "[gpu_node][timings]") {
  TempDir d;
  const std::int64_t base = 1'764'151'200'000'000'000;  // 2025-11-26T10:00:00Z
  std::string log;
  log += Line(base, "rpi-1", "join", "total", 100);
  log += Line(base + 3'600'000'000'000, "rpi-2", "join", "total", 200);       // +1 h
  log += Line(base + 7'200'000'000'000, "rpi-1", "mesh_formation", "", 300);  // +2 h
  const auto path = d.Write("t.jsonl", log);

  gpu_node::TimingsOptions o;
  o.files = {path};
  o.format = "json";
  auto all = nlohmann::json::parse(Timings(o).out);
  CHECK(all["records"] == 3);
  CHECK(all["timings"].size() == 2);

  o.event = "join";
  auto join = nlohmann::json::parse(Timings(o).out);
  REQUIRE(join["timings"].size() == 1);
  CHECK(join["timings"][0]["count"] == 2);
  CHECK(join["timings"][0]["p50_ms"] == 100.0);
  CHECK(join["timings"][0]["max_ms"] == 200.0);

  o.node = "rpi-2";
  auto one = nlohmann::json::parse(Timings(o).out);
  CHECK(one["timings"][0]["count"] == 1);
  CHECK(one["filter"]["node"] == "rpi-2");

  o.event.clear();
  o.node.clear();
  o.since = "2025-11-26T10:30:00Z";
  CHECK(nlohmann::json::parse(Timings(o).out)["records"] == 2);
  o.since = "2025-11-26T12:30:00+02:00";  // 10:30 UTC
  CHECK(nlohmann::json::parse(Timings(o).out)["records"] == 2);
  o.since = std::to_string(base + 7'200'000'000'000);
  CHECK(nlohmann::json::parse(Timings(o).out)["records"] == 1);
  o.since = "90m";  // back from now = base + 2 h 30 min: keeps +1 h and +2 h
  o.now_ns = base + 9'000'000'000'000;
  CHECK(nlohmann::json::parse(Timings(o).out)["records"] == 2);

  for (const char* bad : {"yesterday", "-5m", "2025-13-01T00:00:00Z", "2025-11-26T10:00:00",
                          "2025-11-26T10:00:00Zjunk", "99999999999999999999999"}) {
    INFO(bad);
    o.since = bad;
    const auto r = Timings(o);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("--since") != std::string::npos);
  }
}

TEST_CASE("timings: garbage lines are counted and skipped", "[gpu_node][timings]") {
  TempDir d;
  std::string log = Line(1, "a", "join", "total", 5);
  log += "garbage\n";
  log += "\n";  // blank: ignored, not malformed
  log += std::string("\x00\x01\x02\xff\n", 5);
  log += Line(2, "a", "join", "total", 7);
  log += R"({"ts_ns":3,"node":"a","event":"join","phase":"total","ms":)";  // torn last line
  const auto path = d.Write("timing.jsonl", log);
  gpu_node::TimingsOptions o;
  o.files = {path};
  auto run = Timings(o);
  CHECK(run.code == 0);
  CHECK(run.err ==
        "stratoswarm timings: " + path + ": skipped 3 malformed lines (first at line 2)\n");
  CHECK(run.out.find("join    total   2       5.000") != std::string::npos);

  o.format = "json";
  auto j = nlohmann::json::parse(Timings(o).out);
  CHECK(j["malformed_lines"] == 3);
  CHECK(j["records"] == 2);
  CHECK(j["files"][0]["malformed_lines"] == 3);
}

TEST_CASE("timings: random bytes never crash the reader", "[gpu_node][timings]") {
  TempDir d;
  std::mt19937 rng(12345);
  std::string junk;
  for (int i = 0; i < 200000; ++i) {
    // Mostly JSON-ish characters so the parser goes deep, plus raw bytes.
    static const char kAlphabet[] = "{}[]\":,0123456789.eE-+ntrufals\\\n \x01\xff";
    junk += kAlphabet[rng() % (sizeof kAlphabet - 1)];
  }
  junk += "\n" + Line(1, "a", "join", "total", 5);
  gpu_node::TimingsOptions o;
  o.files = {d.Write("junk.jsonl", junk)};
  auto run = Timings(o);
  CHECK(run.code == 0);
  CHECK(run.err.find("malformed") != std::string::npos);
  CHECK(run.out.find("join") != std::string::npos);
}

TEST_CASE("timings: several files, missing files and bad options", "[gpu_node][timings]") {
  TempDir d;
  const auto a = d.Write("a.jsonl", Line(1, "rpi-1", "join", "total", 10));
  const auto b = d.Write("b.jsonl", Line(2, "rpi-2", "join", "total", 30));
  gpu_node::TimingsOptions o;
  o.files = {a, b, (d.dir / "missing.jsonl").string()};
  o.format = "json";
  auto run = Timings(o);
  CHECK(run.code == 0);  // two of three were read
  CHECK(run.err.find("missing.jsonl") != std::string::npos);
  auto j = nlohmann::json::parse(run.out);
  CHECK(j["timings"][0]["count"] == 2);
  CHECK(j["files"].size() == 2);

  o.files = {(d.dir / "missing.jsonl").string()};
  run = Timings(o);
  CHECK(run.code == 1);
  CHECK(run.out.empty());

  o.files.clear();
  o.state_dir = (d.dir / "nowhere").string();
  run = Timings(o);
  CHECK(run.code == 1);
  CHECK(run.err.find("nowhere/timing.jsonl") != std::string::npos);

  o.files = {a};
  o.format = "yaml";
  CHECK(Timings(o).code == 2);

  // An empty log: the header alone, and a note on err.
  o.format = "table";
  o.files = {d.Write("empty.jsonl", "")};
  run = Timings(o);
  CHECK(run.code == 0);
  CHECK(run.out.rfind("EVENT", 0) == 0);
  CHECK(run.err.find("no matching timing records") != std::string::npos);
}

TEST_CASE("timings: reads what mesh::TimingLog writes", "[gpu_node][timings]") {
  TempDir d;
  mesh::FakeClock clock;
  const auto path = (d.dir / "timing.jsonl").string();
  {
    auto log = mesh::TimingLog::Open(path, "rpi-\"1\"\n", clock, {});
    REQUIRE(log.ok());
    for (int i = 0; i < 20; ++i) {
      auto t = (*log)->StartPhase("join", "cert_exchange");
      clock.Advance(std::chrono::milliseconds(i + 1));
      REQUIRE(t.Stop({{"peer", "gpu"}, {"tries", 1}}).ok());
    }
  }
  gpu_node::TimingsOptions o;
  o.files = {path};
  o.node = "rpi-\"1\"\n";
  o.format = "json";
  const auto run = Timings(o);
  INFO(run.out << run.err);
  REQUIRE(run.code == 0);
  auto j = nlohmann::json::parse(run.out);
  REQUIRE(j["timings"].size() == 1);
  CHECK(j["timings"][0]["count"] == 20);
  CHECK(j["timings"][0]["p50_ms"] == 10.0);
  CHECK(j["timings"][0]["p95_ms"] == 19.0);
  CHECK(j["timings"][0]["max_ms"] == 20.0);
  CHECK(j["malformed_lines"] == 0);
}

TEST_CASE("timings: the CLI options bind to TimingsOptions", "[gpu_node][timings]") {
  CLI::App app{"test"};
  auto* cmd = app.add_subcommand("timings");
  gpu_node::TimingsOptions o;
  gpu_node::AddTimingsOptions(cmd, o);
  const char* argv[] = {"stratoswarm", "timings", "--event", "join",    "--node", "rpi-1",
                        "--since",     "30m",     "--file",  "a.jsonl", "--file", "b.jsonl"};
  REQUIRE_NOTHROW(app.parse(static_cast<int>(std::size(argv)), argv));
  CHECK(o.event == "join");
  CHECK(o.node == "rpi-1");
  CHECK(o.since == "30m");
  CHECK(o.files == std::vector<std::string>{"a.jsonl", "b.jsonl"});
}
