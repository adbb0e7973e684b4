#include "mesh/timing_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>
#include <vector>

#include "identity_fixtures.h"

using mesh::FakeClock;
using mesh::StatusCode;
using mesh::TimingLog;
using mesh_test::TempDir;
using nlohmann::json;

namespace {

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

struct Captured {
  std::vector<std::string> lines;
  mesh::TimingSink Sink() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};

std::unique_ptr<TimingLog> OpenLog(const std::string& path, const FakeClock& clock, Captured* human,
                                   std::string node = "rpi-1") {
  auto log = TimingLog::Open(path, std::move(node), clock,
                             human != nullptr ? human->Sink() : mesh::TimingSink());
  REQUIRE(log.ok());
  return std::move(*log);
}

}  // namespace

TEST_CASE("TimingLog: one JSON line and one human line per record", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock(1'764'151'200'123'456'789);
  Captured human;
  auto log = OpenLog(dir / "timing.jsonl", clock, &human);
  REQUIRE(log->Record("join", "discovery", 12.3456).ok());

  const auto lines = Lines(dir / "timing.jsonl");
  REQUIRE(lines.size() == 1);
  CHECK(
      lines[0] ==
      R"({"ts_ns":1764151200123456789,"node":"rpi-1","event":"join","phase":"discovery","ms":12.346})");
  const json j = json::parse(lines[0]);
  CHECK(j["ts_ns"].get<std::int64_t>() == clock.WallNs());
  CHECK(j["ms"].get<double>() == Approx(12.346));
  REQUIRE(human.lines.size() == 1);
  CHECK(human.lines[0] == "[timing] join.discovery 12.3 ms\n");
}

TEST_CASE("TimingLog: extra fields, types and the human line", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  Captured human;
  auto log = OpenLog(dir / "t.jsonl", clock, &human);
  REQUIRE(log->Record(
                 "failure_detection", "suspect", 240.0,
                 {{"peer", "rpi-3"}, {"probes", 3}, {"loss", 0.05}, {"big", std::int64_t{1} << 53}})
              .ok());
  const json j = json::parse(Lines(dir / "t.jsonl").at(0));
  CHECK(j["peer"] == "rpi-3");
  CHECK(j["probes"].get<int>() == 3);
  CHECK(j["loss"].get<double>() == 0.05);
  CHECK(j["big"].get<std::int64_t>() == (std::int64_t{1} << 53));
  CHECK(j["phase"] == "suspect");
  CHECK(human.lines.at(0) ==
        "[timing] failure_detection.suspect 240.0 ms peer=rpi-3 probes=3 loss=0.05 "
        "big=9007199254740992\n");
  // An empty phase is allowed and left out of the human name.
  REQUIRE(log->Record("mesh_formation", "", 98.0).ok());
  CHECK(human.lines.at(1) == "[timing] mesh_formation 98.0 ms\n");
  CHECK(json::parse(Lines(dir / "t.jsonl").at(1))["phase"] == "");
}

TEST_CASE("TimingLog: strings are escaped into valid JSON", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  const std::string nasty = "q\"uote \\back\nnew\ttab\x01\x1f ctl \xc3\xa9t\xc3\xa9 \xe2\x82\xac";
  auto log = OpenLog(dir / "t.jsonl", clock, nullptr, nasty);
  REQUIRE(log->Record(nasty, "phase\r", 1.0, {{"note", "bad utf8 \xff\xc3 end"}, {"k\"ey", nasty}})
              .ok());
  const auto lines = Lines(dir / "t.jsonl");
  REQUIRE(lines.size() == 1);  // no raw newline leaked into the line
  const json j = json::parse(lines[0]);
  CHECK(j["node"] == nasty);
  CHECK(j["event"] == nasty);
  CHECK(j["phase"] == "phase\r");
  CHECK(j["k\"ey"] == nasty);
  // Invalid UTF-8 becomes U+FFFD rather than breaking the line.
  CHECK(j["note"] == "bad utf8 \xef\xbf\xbd\xef\xbf\xbd end");
  CHECK(mesh::JsonEscape("\x7f/") == "\x7f/");
  CHECK(mesh::JsonEscape("\xed\xa0\x80") ==
        "\\ufffd\\ufffd\\ufffd");  // a UTF-16 surrogate is not UTF-8
  CHECK(mesh::JsonEscape("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");
}

TEST_CASE("TimingLog: bad records are refused and write nothing", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  Captured human;
  auto log = OpenLog(dir / "t.jsonl", clock, &human);
  CHECK(log->Record("", "x", 1.0).code() == StatusCode::kInvalidArgument);
  CHECK(log->Record("e", "x", std::nan("")).code() == StatusCode::kInvalidArgument);
  CHECK(log->Record("e", "x", 1.0 / 0.0).code() == StatusCode::kInvalidArgument);
  CHECK(log->Record("e", "x", 1.0, {{"ms", 2}}).code() == StatusCode::kInvalidArgument);
  CHECK(log->Record("e", "x", 1.0, {{"ts_ns", 2}}).code() == StatusCode::kInvalidArgument);
  CHECK(log->Record("e", "x", 1.0, {{"a", 1}, {"a", 2}}).code() == StatusCode::kInvalidArgument);
  CHECK(log->Record("e", "x", 1.0, {{"a", std::nan("")}}).code() == StatusCode::kInvalidArgument);
  CHECK(Lines(dir / "t.jsonl").empty());
  CHECK(human.lines.empty());
  CHECK(TimingLog::Open(dir / "missing/t.jsonl", "n", clock).status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("TimingLog: phase timers measure with the injected clock", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  Captured human;
  auto log = OpenLog(dir / "t.jsonl", clock, &human);
  {
    auto timer = log->StartPhase("join", "cert_exchange");
    clock.Advance(std::chrono::microseconds(12'345));
    CHECK(timer.ElapsedMs() == Approx(12.345));
    REQUIRE(timer.Stop({{"attempt", 1}}).ok());
    CHECK(timer.Stop().code() == StatusCode::kInvalidArgument);  // once only
  }
  {
    auto cancelled = log->StartPhase("join", "never");
    clock.Advance(std::chrono::milliseconds(5));
    cancelled.Cancel();
  }
  {
    auto scoped = log->StartPhase("join", "total");
    clock.Advance(std::chrono::milliseconds(250));
  }  // records on scope exit
  const auto lines = Lines(dir / "t.jsonl");
  REQUIRE(lines.size() == 2);
  const json a = json::parse(lines[0]);
  CHECK(a["phase"] == "cert_exchange");
  CHECK(a["ms"].get<double>() == Approx(12.345));
  CHECK(a["attempt"] == 1);
  const json b = json::parse(lines[1]);
  CHECK(b["phase"] == "total");
  CHECK(b["ms"].get<double>() == Approx(250.0));
  CHECK(b["ts_ns"].get<std::int64_t>() == clock.WallNs());
}

TEST_CASE("TimingLog: the observer sees every record, phase timers included", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  auto log = OpenLog(dir / "t.jsonl", clock, nullptr);
  REQUIRE(log->Record("join", "before", 1.0).ok());  // no observer yet
  std::vector<std::tuple<std::string, std::string, double>> seen;
  log->SetObserver([&](std::string_view event, std::string_view phase, double ms) {
    seen.emplace_back(std::string(event), std::string(phase), ms);
  });
  REQUIRE(log->Record("mesh", "formation", 42.5, {{"members", 3}}).ok());
  {
    auto timer = log->StartPhase("join", "discovery");
    clock.Advance(std::chrono::milliseconds(7));
  }
  CHECK(log->Record("", "x", 1.0).code() == StatusCode::kInvalidArgument);  // refused: not observed
  log->SetObserver({});
  REQUIRE(log->Record("join", "after", 1.0).ok());
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::make_tuple(std::string("mesh"), std::string("formation"), 42.5));
  CHECK(std::get<1>(seen[1]) == "discovery");
  CHECK(std::get<2>(seen[1]) == Approx(7.0));
}

TEST_CASE("TimingLog: appends across reopen and SetNode renames", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  {
    auto log = OpenLog(dir / "t.jsonl", clock, nullptr, "unnamed");
    REQUIRE(log->Record("join", "hw_profile", 3.0).ok());
  }
  auto log = OpenLog(dir / "t.jsonl", clock, nullptr, "unnamed");
  log->SetNode("rpi-7");
  REQUIRE(log->Record("join", "total", 80.0).ok());
  const auto lines = Lines(dir / "t.jsonl");
  REQUIRE(lines.size() == 2);
  CHECK(json::parse(lines[0])["node"] == "unnamed");
  CHECK(json::parse(lines[1])["node"] == "rpi-7");
}

TEST_CASE("TimingLog: concurrent records never interleave", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  auto log = OpenLog(dir / "t.jsonl", clock, nullptr);
  constexpr int kThreads = 4;
  constexpr int kEach = 250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Long enough that a torn write would show.
        (void)log->Record("stress", "t" + std::to_string(t), i,
                          {{"pad", std::string(300, 'a' + t)}});
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto lines = Lines(dir / "t.jsonl");
  REQUIRE(lines.size() == kThreads * kEach);
  std::vector<int> per_thread(kThreads, 0);
  for (const auto& l : lines) {
    const json j = json::parse(l);
    const int t = std::stoi(j["phase"].get<std::string>().substr(1));
    CHECK(j["pad"] == std::string(300, static_cast<char>('a' + t)));
    ++per_thread[t];
  }
  for (int n : per_thread) CHECK(n == kEach);
}

TEST_CASE("TimingLog: the file descriptor is close-on-exec", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  auto log = OpenLog(dir / "t.jsonl", clock, nullptr);
  int found = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target != dir / "t.jsonl") continue;
    const int fd = std::stoi(e.path().filename().string());
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(fd, F_GETFL) & O_APPEND) != 0);
    ++found;
  }
  CHECK(found == 1);
}

TEST_CASE("TimingLog: rotated by size, and a second writer follows the rotation", "[mesh][timing]") {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir / "timing.jsonl";
  auto a = OpenLog(path, clock, nullptr, "a");
  auto b = OpenLog(path, clock, nullptr, "b");
  a->SetMaxBytes(1000);
  b->SetMaxBytes(1000);
  for (int i = 0; i < 40; ++i) REQUIRE((i % 2 == 0 ? a : b)->Record("join", "refused", 1.0, {{"i", i}}).ok());
  const auto current = Lines(path);
  const auto previous = Lines(path + ".1");
  REQUIRE_FALSE(previous.empty());
  CHECK(std::filesystem::file_size(path) < 1000 + 200);
  CHECK(std::filesystem::file_size(path + ".1") < 1000 + 200);
  CHECK_FALSE(std::filesystem::exists(path + ".2"));
  // The newest records are in the current file, from both writers; nothing
  // newer went to the rotated one.
  const json last = json::parse(current.back());
  CHECK(last["i"].get<int>() == 39);
  CHECK(json::parse(previous.back())["i"].get<int>() < json::parse(current.front())["i"].get<int>());
  bool from_a = false, from_b = false;
  for (const auto& l : current) (json::parse(l)["node"] == "a" ? from_a : from_b) = true;
  CHECK(from_a);
  CHECK(from_b);
}
