#include "swarmlet/selftest.h"

#include <catch2/catch.hpp>
#include <sstream>

namespace {
const swarmlet::SelfTestCheck* Find(const std::vector<swarmlet::SelfTestCheck>& checks,
                                    const std::string& name) {
  for (const auto& c : checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}
}  // namespace

TEST_CASE("selftest: every linked library answers", "[swarmlet][selftest]") {
  const auto checks = swarmlet::RunSelfTest();
  for (const char* name : {"libzmq", "libsodium", "msgpack", "cgroup", "avahi"}) {
    INFO(name);
    const auto* c = Find(checks, name);
    REQUIRE(c != nullptr);
    CHECK(c->ok);
  }
  CHECK_THAT(Find(checks, "libzmq")->detail, Catch::StartsWith("4.3.4, has curve: yes"));
  CHECK_THAT(Find(checks, "libsodium")->detail, Catch::EndsWith("round trip: ok"));
  CHECK_THAT(Find(checks, "msgpack")->detail, Catch::EndsWith(": ok"));
  CHECK_THAT(Find(checks, "cgroup")->detail, Catch::StartsWith("mode "));
}

TEST_CASE("selftest: a failed check fails the exit code and is marked", "[swarmlet][selftest]") {
  std::ostringstream out;
  CHECK(swarmlet::PrintSelfTest({{"libzmq", true, "fine"}}, out) == 0);
  CHECK_THAT(out.str(), Catch::EndsWith("selftest: ok\n"));
  out.str("");
  CHECK(swarmlet::PrintSelfTest({{"libzmq", true, "fine"}, {"avahi", false, "broken"}}, out) == 1);
  CHECK_THAT(out.str(), Catch::Contains("avahi: broken  [FAILED]"));
  CHECK_THAT(out.str(), Catch::EndsWith("selftest: FAILED\n"));
}
