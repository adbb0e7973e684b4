#include "serve/node_health.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "state/store.h"
#include "swarmlet/node_health.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kNow = 1'700'000'000'000'000'000;

state::NodeRecord Pi() {
  state::NodeRecord n;
  n.id = "id-pi-2";
  n.name = "pi-2";
  n.role = "worker";
  n.type = "rpi";
  n.arch = "aarch64";
  return n;
}

struct TempStore {
  fs::path dir;
  std::unique_ptr<state::StateStore> store;
  TempStore() {
    char tmpl[] = "/tmp/node-health-store-XXXXXX";
    dir = mkdtemp(tmpl);
    store = std::move(*state::OpenSqliteStore((dir / "state.db").string()));
  }
  ~TempStore() { fs::remove_all(dir); }
};

}  // namespace

TEST_CASE("node health (GPU peer): clock skew from the node's wall clock and the RTT",
          "[gpu_node][node_health]") {
  // The node's clock is 3.2 h behind; the message took half of a 4 ms RTT.
  const std::int64_t behind = -11'520'000'000'000;
  const std::int64_t sent_at = kNow - 2'000'000;  // our clock when it was sent
  CHECK(gpu_node::ClockSkewNs(sent_at + behind, kNow, 4ms) == behind);
  CHECK(gpu_node::ClockSkewNs(kNow + 500, kNow, std::nullopt) == 500);  // no RTT yet: none taken off
  CHECK(gpu_node::FormatSkew(behind) == "3.2 h");
  CHECK(gpu_node::FormatSkew(45'000'000'000) == "45.0 s");
  CHECK(gpu_node::FormatSkew(750'000'000'000) == "12.5 min");
  CHECK(gpu_node::FormatSkew(400LL * 86400 * 1'000'000'000) == "400.0 d");
}

TEST_CASE("node health (GPU peer): condition strings", "[gpu_node][node_health]") {
  state::NodeRecord n = Pi();
  CHECK(gpu_node::NodeConditions(n).empty());  // nothing reported, memory assumed fine
  n.health.memory_controller = false;
  n.health.throttled = 0x50001;  // under-voltage now (and since boot)
  n.health.temperature_mc = 82'400;
  n.health.clock_skew_ns = -11'520'000'000'000;
  n.health.updated_ns = kNow;
  CHECK(gpu_node::NodeConditions(n) ==
        std::vector<std::string>{
            "memory limits unavailable: add cgroup_enable=memory cgroup_memory=1 to cmdline.txt",
            "throttled (under-voltage)", "hot 82°C", "clock skew 3.2 h (behind)"});
  n.health.throttled = 0x6;
  CHECK(gpu_node::NodeConditions(n)[1] == "throttled (frequency capped, cpu throttled)");
  // Only "has occurred" bits, a cool SoC, a small skew: no conditions.
  n.health = {};
  n.health.throttled = 0x50000;
  n.health.temperature_mc = 79'400;
  n.health.clock_skew_ns = 1'500'000'000;
  n.health.updated_ns = kNow;
  CHECK(gpu_node::NodeConditions(n).empty());
  n.health.clock_skew_ns = 3'000'000'000;
  CHECK(gpu_node::NodeConditions(n) == std::vector<std::string>{"clock skew 3.0 s (ahead)"});
}

TEST_CASE("node health (GPU peer): a message lands on the node record and in its JSON",
          "[gpu_node][node_health]") {
  TempStore t;
  REQUIRE(t.store->PutNode(Pi()).ok());
  swarmlet::NodeHealthMsg msg;
  msg.wall_ns = kNow - 3'600'000'000'000;  // an hour behind
  msg.temperature_mc = 85'000;
  msg.throttled = 0x4;
  msg.memory_controller = false;
  auto bytes = swarmlet::EncodeNodeHealth(msg);
  REQUIRE(bytes.ok());
  REQUIRE(gpu_node::ApplyNodeHealth(*t.store, "id-pi-2", *bytes, kNow, 2ms).ok());
  auto node = t.store->GetNode("id-pi-2");
  REQUIRE(node.ok());
  CHECK(node->health.temperature_mc == 85'000);
  CHECK(node->health.throttled == 0x4u);
  CHECK_FALSE(node->health.memory_controller);
  CHECK(node->health.clock_skew_ns == -3'600'000'000'000 + 1'000'000);
  CHECK(node->health.updated_ns == kNow);

  const auto j = gpu_node::NodeHealthJson(*node);
  CHECK(j.at("temperature_c").get<double>() == 85.0);
  CHECK(j.at("throttled").get<std::uint32_t>() == 4u);
  CHECK(j.at("throttle_reasons") == nlohmann::json::array({"throttled"}));
  CHECK_FALSE(j.at("memory_controller").get<bool>());
  CHECK(j.at("clock_skew_ms").get<double>() == -3'599'999.0);
  CHECK(j.at("conditions").size() == 4);
  CHECK(j.at("conditions")[3] == "clock skew 60.0 min (behind)");

  // Garbage and unknown nodes are refused; the record keeps what it had.
  CHECK(gpu_node::ApplyNodeHealth(*t.store, "id-pi-2", "\x95garbage", kNow, 2ms).code() ==
        mesh::StatusCode::kCorrupt);
  CHECK(gpu_node::ApplyNodeHealth(*t.store, "id-nope", *bytes, kNow, 2ms).code() ==
        mesh::StatusCode::kNotFound);
  CHECK(t.store->GetNode("id-pi-2")->health == node->health);

  // Before any message: nulls, no skew.
  const auto fresh = gpu_node::NodeHealthJson(Pi());
  CHECK(fresh.at("temperature_c").is_null());
  CHECK(fresh.at("throttled").is_null());
  CHECK(fresh.at("clock_skew_ms").is_null());
  CHECK(fresh.at("conditions").empty());
}
