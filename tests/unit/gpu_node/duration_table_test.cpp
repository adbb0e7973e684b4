#include <catch2/catch.hpp>
#include <sstream>

#include "cli/duration.h"
#include "cli/table.h"

TEST_CASE("durations as users type them", "[gpu_node][cli]") {
  using std::chrono::seconds;
  CHECK(*gpu_node::ParseDuration("90s") == seconds(90));
  CHECK(*gpu_node::ParseDuration("30m") == seconds(1800));
  CHECK(*gpu_node::ParseDuration("24h") == seconds(86400));
  CHECK(*gpu_node::ParseDuration("7d") == seconds(7 * 86400));
  for (const char* bad : {"", "h", "0h", "-1h", "1.5h", "10", "5w", "99999999999d", "1hh"}) {
    INFO(bad);
    CHECK_FALSE(gpu_node::ParseDuration(bad).ok());
  }
}

TEST_CASE("tables fit their columns", "[gpu_node][cli]") {
  std::ostringstream out;
  gpu_node::PrintTable(out, {"NAME", "STATUS"}, {{"rpi-1", "Ready"}, {"primary-gpu", "Down"}});
  CHECK(out.str() ==
        "NAME          STATUS\n"
        "rpi-1         Ready\n"
        "primary-gpu   Down\n");
}
