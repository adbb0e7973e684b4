#include "swarmlet/node_health.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <msgpack.hpp>
#include <sstream>

#include "mesh/clock.h"
#include "mesh/envelope.h"
#include "mesh/timing_log.h"
#include "swarmlet/metrics.h"

#include "fake_root.h"

using swarmlet::NodeHealthMsg;

namespace {

constexpr char kTemp[] = "/sys/class/thermal/thermal_zone0/temp";
constexpr char kThrottled[] = "/sys/devices/platform/soc/soc:firmware/get_throttled";

std::string Pack(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& f) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  f(pk);
  return {buf.data(), buf.size()};
}

NodeHealthMsg Hot() {
  NodeHealthMsg m;
  m.wall_ns = 1'700'000'000'000'000'000;
  m.temperature_mc = 82'345;
  m.throttled = 0x50005;
  m.memory_controller = false;
  return m;
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("node health: thermal readings from a fake Pi tree", "[swarmlet][node_health]") {
  FakeRoot pi;
  pi.Write(kTemp, "82345\n");
  pi.Write(kThrottled, "0x50005\n");
  const auto r = swarmlet::ReadThermal(pi.root());
  REQUIRE(r.temperature_mc);
  CHECK(*r.temperature_mc == 82345);
  REQUIRE(r.throttled);
  CHECK(*r.throttled == 0x50005u);
  CHECK(swarmlet::ThrottlingNow(*r.throttled));
  CHECK(swarmlet::ThrottleReasons(*r.throttled) ==
        std::vector<std::string_view>{"under_voltage", "throttled"});
  CHECK(swarmlet::ThrottleReasonTexts(0x2) == std::vector<std::string_view>{"frequency capped"});
  // Only "has occurred" bits: not throttling now.
  CHECK_FALSE(swarmlet::ThrottlingNow(0x50000));
}

TEST_CASE("node health: get_throttled absent or garbage, temperature garbage", "[swarmlet][node_health]") {
  FakeRoot pc;
  pc.Write(kTemp, "45000\n");
  auto r = swarmlet::ReadThermal(pc.root());
  CHECK(r.temperature_mc == 45000);
  CHECK_FALSE(r.throttled);  // not a Pi: no firmware file

  FakeRoot bad;
  bad.Write(kTemp, "hot\n");
  bad.Write(kThrottled, "0xZZ\n");
  r = swarmlet::ReadThermal(bad.root());
  CHECK_FALSE(r.temperature_mc);
  CHECK_FALSE(r.throttled);

  CHECK_FALSE(swarmlet::ReadThermal("/nonexistent-root").temperature_mc);
  CHECK(swarmlet::ParseThrottled("0") == 0u);
  CHECK(swarmlet::ParseThrottled("50005") == 0x50005u);
  CHECK_FALSE(swarmlet::ParseThrottled("0x1ffffffff"));  // more than 32 bits
  CHECK_FALSE(swarmlet::ParseThrottled(""));
  CHECK_FALSE(swarmlet::ParseThrottled("-1"));
  CHECK(swarmlet::ParseMillidegrees("-5000") == -5000);
  CHECK_FALSE(swarmlet::ParseMillidegrees("999999999"));  // no SoC runs at 1 MK
  CHECK_FALSE(swarmlet::ParseMillidegrees("12.5"));
}

TEST_CASE("node health: codec round trip", "[swarmlet][node_health]") {
  for (const NodeHealthMsg& m : {Hot(), NodeHealthMsg{1, std::nullopt, std::nullopt, true}}) {
    auto bytes = swarmlet::EncodeNodeHealth(m);
    REQUIRE(bytes.ok());
    CHECK(bytes->size() <= swarmlet::kMaxNodeHealthBytes);
    auto back = swarmlet::DecodeNodeHealth(*bytes);
    REQUIRE(back.ok());
    CHECK(*back == m);
  }
}

TEST_CASE("node health: the encoder refuses what the decoder would", "[swarmlet][node_health]") {
  NodeHealthMsg m = Hot();
  m.wall_ns = 0;
  CHECK(swarmlet::EncodeNodeHealth(m).status().code() == mesh::StatusCode::kInvalidArgument);
  m = Hot();
  m.temperature_mc = 500'000;
  CHECK(swarmlet::EncodeNodeHealth(m).status().code() == mesh::StatusCode::kInvalidArgument);
}

TEST_CASE("node health: malformed, truncated and oversized input is refused", "[swarmlet][node_health]") {
  const std::string good = *swarmlet::EncodeNodeHealth(Hot());
  // Every truncation.
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = swarmlet::DecodeNodeHealth(good.substr(0, n));
    CHECK_FALSE(r.ok());
  }
  CHECK(swarmlet::DecodeNodeHealth(good + "x").status().code() == mesh::StatusCode::kCorrupt);
  CHECK(swarmlet::DecodeNodeHealth(std::string(100, '\x90')).status().code() ==
        mesh::StatusCode::kCorrupt);  // over the 64-byte limit
  CHECK_FALSE(swarmlet::DecodeNodeHealth("\xc1").ok());  // never-used type byte

  auto decode = [](const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& f) {
    return swarmlet::DecodeNodeHealth(Pack(f));
  };
  // Unknown version.
  auto r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(2), pk.pack(1), pk.pack_nil(), pk.pack_nil(), pk.pack(true);
  });
  CHECK(r.status().code() == mesh::StatusCode::kUnsupported);
  // Wrong field count.
  r = decode([](auto& pk) { pk.pack_array(4), pk.pack(1), pk.pack(1), pk.pack_nil(), pk.pack_nil(); });
  CHECK(r.status().code() == mesh::StatusCode::kCorrupt);
  // Not an array.
  r = decode([](auto& pk) { pk.pack(1); });
  CHECK(r.status().code() == mesh::StatusCode::kCorrupt);
  // Wrong types and bounds, field by field.
  r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(1), pk.pack("now"), pk.pack_nil(), pk.pack_nil(), pk.pack(true);
  });
  CHECK(r.status().code() == mesh::StatusCode::kCorrupt);  // no strings at all in this message
  r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(1), pk.pack(1.5), pk.pack_nil(), pk.pack_nil(), pk.pack(true);
  });
  CHECK(r.status().message().find("wall_ns") != std::string::npos);
  r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(1), pk.pack(-5), pk.pack_nil(), pk.pack_nil(), pk.pack(true);
  });
  CHECK(r.status().message().find("wall_ns") != std::string::npos);
  r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(1), pk.pack(1), pk.pack(900000), pk.pack_nil(), pk.pack(true);
  });
  CHECK(r.status().message().find("temperature_mc") != std::string::npos);
  r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(1), pk.pack(1), pk.pack_nil(), pk.pack(std::uint64_t{1} << 40),
        pk.pack(true);
  });
  CHECK(r.status().message().find("throttled") != std::string::npos);
  r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(1), pk.pack(1), pk.pack_nil(), pk.pack(-1), pk.pack(true);
  });
  CHECK(r.status().message().find("throttled") != std::string::npos);
  r = decode([](auto& pk) {
    pk.pack_array(5), pk.pack(1), pk.pack(1), pk.pack_nil(), pk.pack_nil(), pk.pack(1);
  });
  CHECK(r.status().message().find("memory_controller") != std::string::npos);
}

TEST_CASE("node health: the message type is known to the envelope", "[swarmlet][node_health]") {
  CHECK(static_cast<int>(mesh::MsgType::kNodeHealth) == 18);
  CHECK(mesh::IsKnownMsgType(18));
  CHECK(mesh::MsgTypeName(mesh::MsgType::kNodeHealth) == "node_health");
}

TEST_CASE("node health: reporter sends at once, every 10 s, and on throttle start/end",
          "[swarmlet][node_health]") {
  FakeRoot pi;
  pi.Write(kTemp, "60000\n");
  pi.Write(kThrottled, "0x0\n");
  mesh::FakeClock clock;
  const std::string log_path = pi.root() + "/timing.jsonl";
  auto log = mesh::TimingLog::Open(log_path, "rpi-1", clock, {});
  REQUIRE(log.ok());
  swarmlet::HealthReporter reporter(pi.root(), **log);

  auto first = reporter.Poll();
  REQUIRE(first);  // right after joining
  auto msg = swarmlet::DecodeNodeHealth(*first);
  REQUIRE(msg.ok());
  CHECK(msg->temperature_mc == 60000);
  CHECK(msg->throttled == 0u);
  CHECK(msg->wall_ns == clock.WallNs());
  CHECK_FALSE(msg->memory_controller);  // the fake tree has no cgroupfs
  CHECK_FALSE(reporter.Poll());         // not due yet

  clock.Advance(std::chrono::seconds(3));
  CHECK_FALSE(reporter.Poll());
  // Throttling starts: sent at the next read (within a second), not at 10 s.
  pi.Write(kTemp, "83000\n");
  pi.Write(kThrottled, "0x50005\n");
  clock.Advance(std::chrono::seconds(1));
  auto hot = reporter.Poll();
  REQUIRE(hot);
  CHECK(swarmlet::DecodeNodeHealth(*hot)->throttled == 0x50005u);
  clock.Advance(std::chrono::seconds(1));
  CHECK_FALSE(reporter.Poll());  // still throttled: no change, not due
  clock.Advance(std::chrono::seconds(10));
  CHECK(reporter.Poll());  // the periodic one

  // Throttling ends (the "has occurred" bits stay).
  pi.Write(kThrottled, "0x50000\n");
  clock.Advance(std::chrono::milliseconds(1500));
  auto cool = reporter.Poll();
  REQUIRE(cool);
  CHECK(swarmlet::DecodeNodeHealth(*cool)->throttled == 0x50000u);

  const auto lines = Lines(log_path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(R"("event":"throttle","phase":"start")") != std::string::npos);
  CHECK(lines[0].find(R"("reasons":"under_voltage,throttled")") != std::string::npos);
  CHECK(lines[0].find(R"("temperature_mc":83000)") != std::string::npos);
  CHECK(lines[1].find(R"("event":"throttle","phase":"end","ms":12500.000)") != std::string::npos);
}

TEST_CASE("node health: /metrics carries temperature and throttling gauges", "[swarmlet][node_health]") {
  FakeRoot pi;
  pi.Write(kTemp, "82345\n");
  pi.Write(kThrottled, "0x50004\n");
  auto text = swarmlet::NodeMetricsText(pi.root(), "");
  REQUIRE(text.ok());
  CHECK(text->find("stratoswarm_node_temperature_celsius 82.345\n") != std::string::npos);
  CHECK(text->find("stratoswarm_node_throttled{reason=\"throttled\"} 1\n") != std::string::npos);
  CHECK(text->find("stratoswarm_node_throttled{reason=\"under_voltage\"} 0\n") != std::string::npos);
  CHECK(text->find("stratoswarm_node_throttled_since_boot{reason=\"under_voltage\"} 1\n") !=
        std::string::npos);

  FakeRoot none;  // no thermal zone, no firmware: no families at all
  auto bare = swarmlet::NodeMetricsText(none.root(), "");
  REQUIRE(bare.ok());
  CHECK(bare->find("stratoswarm_node_temperature_celsius") == std::string::npos);
  CHECK(bare->find("stratoswarm_node_throttled") == std::string::npos);
}
