// The dashboard's pure parts: SSE framing, timing record -> event JSON, and
// the feed that hands lists and events to the event streams (dashboard/feed.h).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "dashboard/feed.h"

namespace {

using gpu_node::dashboard::DashboardFeed;
using gpu_node::dashboard::SseComment;
using gpu_node::dashboard::SseFrame;
using gpu_node::dashboard::TimingEventJson;
using nlohmann::json;
using namespace std::chrono_literals;

// The messages of an SSE stream as a browser parses them: (event, id, data).
struct Message {
  std::string event, id, data;
};
std::vector<Message> ParseSse(const std::string& stream) {
  std::vector<Message> out;
  Message m;
  bool any = false, has_data = false;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    std::size_t end = stream.find('\n', pos);
    if (end == std::string::npos) end = stream.size();
    const std::string line = stream.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) {
      if (any) out.push_back(m);
      m = {};
      any = has_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    const std::size_t colon = line.find(':');
    const std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "event") m.event = value;
    if (field == "id") m.id = value;
    if (field == "data") {
      if (has_data) m.data += "\n";
      m.data += value;
      has_data = true;
    }
    any = true;
  }
  return out;
}

std::string Record(std::int64_t ts_ns, const std::string& event, const std::string& phase,
                   double ms, json extra = json::object()) {
  json j = {
      {"ts_ns", ts_ns}, {"node", "primary-gpu"}, {"event", event}, {"phase", phase}, {"ms", ms}};
  j.update(extra);
  return j.dump();
}

}  // namespace

TEST_CASE("SseFrame: id, event and one data line per line of the payload", "[dashboard]") {
  const std::string frame = SseFrame("timing", "{\"a\":1}", 7);
  CHECK(frame == "id: 7\nevent: timing\ndata: {\"a\":1}\n\n");
  const auto parsed = ParseSse(frame);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0].event == "timing");
  CHECK(parsed[0].id == "7");
  CHECK(parsed[0].data == "{\"a\":1}");
}

TEST_CASE("SseFrame: a newline or carriage return in the payload cannot end the message",
          "[dashboard]") {
  for (const std::string& data : std::vector<std::string>{"a\nb", "a\r\nb", "a\rb", "a\n\nb", "a\n"}) {
    INFO(json(data).dump());
    const auto parsed = ParseSse(SseFrame("nodes", data));
    REQUIRE(parsed.size() == 1);
    CHECK(parsed[0].event == "nodes");
    std::string want = data;  // the browser joins data lines with \n
    for (std::size_t p; (p = want.find("\r\n")) != std::string::npos;) want.replace(p, 2, "\n");
    for (char& c : want) c = c == '\r' ? '\n' : c;
    CHECK(parsed[0].data == want);
  }
}

TEST_CASE("SseComment: ignored by an SSE parser", "[dashboard]") {
  CHECK(ParseSse(SseComment("keep-alive")).empty());
  CHECK(ParseSse(SseComment("x") + SseFrame("hello", "{}")).size() == 1);
}

TEST_CASE("TimingEventJson: a timing.jsonl record with its extra fields", "[dashboard]") {
  const std::int64_t ts = 1764151200123456789;
  auto out = TimingEventJson(
      Record(ts, "failure_detection", "decided", 612.5, {{"name", "rpi-2"}, {"yes", 2}}), 42);
  REQUIRE(out.has_value());
  CHECK(out->find('\n') == std::string::npos);  // one SSE data line
  const json e = json::parse(*out);
  CHECK(e["seq"] == 42);
  CHECK(e["t"].get<double>() == Approx(ts / 1e9));
  CHECK(e["node"] == "primary-gpu");
  CHECK(e["event"] == "failure_detection");
  CHECK(e["phase"] == "decided");
  CHECK(e["key"] == "failure_detection.decided");
  CHECK(e["ms"].get<double>() == 612.5);
  CHECK(e["extra"] == json({{"name", "rpi-2"}, {"yes", 2}}));
}

TEST_CASE("TimingEventJson: an empty phase keys by the event alone", "[dashboard]") {
  auto out = TimingEventJson(Record(1, "deploy", "", 3), 1);
  REQUIRE(out.has_value());
  CHECK(json::parse(*out)["key"] == "deploy");
}

TEST_CASE("TimingEventJson: what is not a record is skipped", "[dashboard]") {
  for (const std::string& line :
       {std::string(""), std::string("not json"), std::string("[1,2]"),
        std::string("{\"ts_ns\":1,\"event\":\"join\""),
        std::string("{\"event\":\"join\",\"phase\":\"total\",\"ms\":1}"),
        std::string("{\"ts_ns\":\"1\",\"event\":\"join\",\"phase\":\"total\",\"ms\":1}"),
        std::string("{\"ts_ns\":1,\"event\":\"\",\"phase\":\"total\",\"ms\":1}"),
        std::string("{\"ts_ns\":1,\"event\":\"join\",\"phase\":\"total\",\"ms\":\"fast\"}")}) {
    INFO(line);
    CHECK_FALSE(TimingEventJson(line, 1).has_value());
  }
}

TEST_CASE(
    "DashboardFeed: a new stream gets hello, the lists and the buffered events, then only news",
    "[dashboard]") {
  DashboardFeed feed(3);
  feed.SetNodes(R"([{"name":"rpi-1"}])");
  feed.SetWorkloads("[]");
  for (int i = 1; i <= 5; ++i) REQUIRE(feed.AddTimingLine(Record(i, "join", "total", i)));
  CHECK_FALSE(feed.AddTimingLine("garbage"));

  DashboardFeed::Cursor c;
  auto first = ParseSse(feed.Next(c, 0ms));
  REQUIRE(first.size() == 6);  // hello, nodes, workloads, the last 3 of 5 events
  CHECK(first[0].event == "hello");
  CHECK(first[1].event == "nodes");
  CHECK(json::parse(first[1].data)[0]["name"] == "rpi-1");
  CHECK(first[2].event == "workloads");
  for (int i = 0; i < 3; ++i) {
    CHECK(first[3 + i].event == "timing");
    CHECK(first[3 + i].id == std::to_string(3 + i));
    CHECK(json::parse(first[3 + i].data)["seq"] == 3 + i);
  }
  CHECK(json::parse(feed.Events()).size() == 3);

  CHECK(feed.Next(c, 0ms).empty());        // nothing new
  feed.SetNodes(R"([{"name":"rpi-1"}])");  // the same list again is no news
  CHECK(feed.Next(c, 0ms).empty());
  feed.SetNodes(R"([{"name":"rpi-1"},{"name":"rpi-2"}])");
  REQUIRE(feed.AddTimingLine(Record(6, "failure_detection", "decided", 600)));
  auto news = ParseSse(feed.Next(c, 0ms));
  REQUIRE(news.size() == 2);
  CHECK(news[0].event == "nodes");
  CHECK(json::parse(news[0].data).size() == 2);
  CHECK(news[1].event == "timing");
  CHECK(json::parse(news[1].data)["key"] == "failure_detection.decided");
  CHECK(feed.Nodes() == R"([{"name":"rpi-1"},{"name":"rpi-2"}])");
}

TEST_CASE("DashboardFeed: Next wakes for news from another thread and ends on Close",
          "[dashboard]") {
  DashboardFeed feed;
  DashboardFeed::Cursor c;
  (void)feed.Next(c, 0ms);  // hello
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    feed.AddTimingLine(Record(1, "migration", "total", 80));
  });
  const auto started = std::chrono::steady_clock::now();
  auto frames = ParseSse(feed.Next(c, 10s));
  writer.join();
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  REQUIRE(frames.size() == 1);
  CHECK(json::parse(frames[0].data)["key"] == "migration.total");

  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    feed.Close();
  });
  CHECK(feed.Next(c, 10s).empty());
  closer.join();
  CHECK(feed.closed());
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}
