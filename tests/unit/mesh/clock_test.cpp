#include "mesh/clock.h"

#include <catch2/catch.hpp>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("FakeClock: moves only when advanced, monotonic and wall together", "[mesh][clock]") {
  mesh::FakeClock clock(1'000);
  const auto t0 = clock.Now();
  CHECK(clock.WallNs() == 1'000);
  CHECK(clock.Now() == t0);

  clock.Advance(250ms);
  CHECK(clock.Now() - t0 == 250ms);
  CHECK(clock.WallNs() == 1'000 + 250'000'000);

  clock.Advance(-5s);  // ignored: monotonic time never goes back
  CHECK(clock.Now() - t0 == 250ms);
}

TEST_CASE("FakeClock: safe to advance from several threads", "[mesh][clock]") {
  mesh::FakeClock clock;
  const auto t0 = clock.Now();
  std::thread a([&] { for (int i = 0; i < 1000; ++i) clock.Advance(1us); });
  std::thread b([&] { for (int i = 0; i < 1000; ++i) clock.Advance(1us); });
  a.join();
  b.join();
  CHECK(clock.Now() - t0 == 2ms);
}

TEST_CASE("SystemClock: monotonic reading does not go back, wall is near now", "[mesh][clock]") {
  auto& clock = mesh::SystemClock::Get();
  const auto a = clock.Now();
  const auto b = clock.Now();
  CHECK(b >= a);
  // 2020-01-01 < wall < 2100-01-01: catches unit mix-ups (s vs ns).
  CHECK(clock.WallNs() > 1'577'836'800'000'000'000);
  CHECK(clock.WallNs() < 4'102'444'800'000'000'000);
}
