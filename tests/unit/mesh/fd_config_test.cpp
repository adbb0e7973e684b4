// The numbers stated in failure_detector_config.h's comments, checked.
#include <catch2/catch.hpp>
#include <cmath>

#include "mesh/failure_detector_config.h"

using mesh::FailureDetectorConfig;
using std::chrono::milliseconds;

TEST_CASE("FdConfig: Lan preset has 100 ms heartbeats and a 300 ms detection bound", "[mesh][fd]") {
  const auto c = FailureDetectorConfig::Lan();
  REQUIRE(c.Validate().ok());
  CHECK(c.probe_interval == milliseconds(100));
  CHECK(c.probe_timeout == 2 * c.probe_interval);
  CHECK(c.indirect_nack_timeout * 10 == c.indirect_timeout * 8);
  CHECK(c.indirect_probes == 3);
  CHECK(c.DetectionBound() == milliseconds(300));
  CHECK(c.join_grace == milliseconds(1000));
  CHECK(c.join_grace + c.DetectionBound() == milliseconds(1300));
  // N = 6: min 400 ms, max 2.4 s, k = 2, 4 transmits per rumor.
  CHECK(c.SuspicionMin(6) == milliseconds(400));
  CHECK(c.SuspicionMax(6) == milliseconds(2400));
  CHECK(c.SuspicionConfirmationsWanted(6) == 2);
  CHECK(c.RumorTransmits(6) == 4);
}

TEST_CASE("FdConfig: derived values follow the stated formulas", "[mesh][fd]") {
  const auto c = FailureDetectorConfig::Lan();
  // min = mult × max(1, log10 N) × interval: log10 scaling starts above 10 members.
  CHECK(c.SuspicionMin(1) == milliseconds(400));
  CHECK(c.SuspicionMin(10) == milliseconds(400));
  CHECK(c.SuspicionMin(100) == milliseconds(800));
  CHECK(c.SuspicionMax(100) == milliseconds(4800));
  // k = mult − 2, or 0 when fewer than k other members could confirm.
  CHECK(c.SuspicionConfirmationsWanted(3) == 0);
  CHECK(c.SuspicionConfirmationsWanted(4) == 2);
  // transmits = retransmit_mult × ceil(log10(N + 1)).
  CHECK(c.RumorTransmits(2) == 4);
  CHECK(c.RumorTransmits(9) == 4);
  CHECK(c.RumorTransmits(10) == 8);
}

TEST_CASE("FdConfig: presets are edits of Base", "[mesh][fd]") {
  const auto base = FailureDetectorConfig::Base();
  REQUIRE(base.Validate().ok());
  CHECK(base.probe_interval == milliseconds(1000));
  CHECK(base.DetectionBound() == milliseconds(2500));
  const auto lan = FailureDetectorConfig::Lan();
  CHECK(lan.suspicion_mult == base.suspicion_mult);
  CHECK(lan.awareness_max_multiplier == base.awareness_max_multiplier);
  const auto t = FailureDetectorConfig::ForTests();
  REQUIRE(t.Validate().ok());
  CHECK(t.probe_interval == milliseconds(10));
  CHECK(t.DetectionBound() == milliseconds(30));
  CHECK(t.awareness_max_multiplier == 1);
  CHECK(t.join_grace == milliseconds(0));
  CHECK(t.indirect_probes == base.indirect_probes);
}

TEST_CASE("FdConfig: Validate names inconsistent fields", "[mesh][fd]") {
  auto c = FailureDetectorConfig::Lan();
  c.probe_timeout = milliseconds(50);
  CHECK(c.Validate().code() == mesh::StatusCode::kInvalidArgument);
  c = FailureDetectorConfig::Lan();
  c.indirect_nack_timeout = c.indirect_timeout;
  CHECK_FALSE(c.Validate().ok());
  c = FailureDetectorConfig::Lan();
  c.awareness_max_multiplier = 0;
  CHECK_FALSE(c.Validate().ok());
  c = FailureDetectorConfig::Lan();
  c.probe_interval = milliseconds(0);
  CHECK_FALSE(c.Validate().ok());
}

TEST_CASE("FdConfig: the loss arithmetic in the comments", "[mesh][fd]") {
  // probe_timeout: one interval without any word from a peer at 5% loss means
  // our ping or its ack was lost (1 − 0.95²) and its own ping was lost (0.05).
  const double loss = 0.05;
  const double silent_interval = (1 - (1 - loss) * (1 - loss)) * loss;
  CHECK(silent_interval == Approx(0.0975 * 0.05));
  CHECK(silent_interval * silent_interval == Approx(2.4e-5).epsilon(0.01));
  // indirect_probes: a 4-hop helper path fails with p ≈ 0.19; 3 of them ≈ 0.006.
  const double path_fails = 1 - std::pow(1 - loss, 4);
  CHECK(path_fails == Approx(0.19).epsilon(0.03));
  CHECK(std::pow(path_fails, 3) == Approx(0.006).epsilon(0.07));
}
