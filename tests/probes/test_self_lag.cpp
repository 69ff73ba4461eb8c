// The prober's own timer lateness (DESIGN "Self-lag"): episodes beyond the
// limit mark the samples of that moment unreliable; several timers waking
// together after one freeze are one episode.

#include <catch2/catch.hpp>
#include <chrono>

#include "probes/self_lag.hpp"

namespace {

using loopcanary::probes::Duration;
using loopcanary::probes::LagEpisode;
using loopcanary::probes::SelfLagMeter;
using loopcanary::probes::TimePoint;
using namespace std::chrono_literals;

const TimePoint t0 = TimePoint{} + 1h;

}  // namespace

TEST_CASE("lateness up to the limit is no episode, but counts toward the maximum", "[self_lag]") {
  SelfLagMeter meter(5ms);
  CHECK(meter.limit() == 5ms);
  meter.record(t0, t0 + 1ms);
  meter.record(t0 + 10ms, t0 + 15ms);  // exactly at the limit: still on time
  meter.record(t0 + 20ms, t0 + 20ms);
  CHECK(meter.take_episodes().empty());
  CHECK(meter.take_max() == 5ms);
  CHECK(meter.take_max() == 0ms);  // reset by take
}

TEST_CASE("lateness beyond the limit is an episode from the deadline to the wake-up",
          "[self_lag]") {
  SelfLagMeter meter(5ms);
  meter.record(t0, t0 + 5ms + 1ns);
  meter.record(t0 + 100ms, t0 + 180ms);
  const auto episodes = meter.take_episodes();
  REQUIRE(episodes.size() == 2);
  CHECK(episodes[0].expected == t0);
  CHECK(episodes[0].woke == t0 + 5ms + 1ns);
  CHECK(episodes[1].expected == t0 + 100ms);
  CHECK(episodes[1].woke == t0 + 180ms);
  CHECK(episodes[1].lateness() == 80ms);
  CHECK(meter.take_max() == 80ms);
  CHECK(meter.take_episodes().empty());  // handed out once
}

TEST_CASE("timers waking together after one freeze make one episode", "[self_lag]") {
  SelfLagMeter meter(5ms);
  // The loop froze from t0 to t0 + 200ms; three timers due inside it fire late.
  meter.record(t0, t0 + 200ms);
  meter.record(t0 + 50ms, t0 + 200ms);
  meter.record(t0 + 120ms, t0 + 201ms);
  // One due before the first (reported after it) still joins the same freeze.
  meter.record(t0 - 10ms, t0 + 201ms);
  const auto episodes = meter.take_episodes();
  REQUIRE(episodes.size() == 1);
  CHECK(episodes[0].expected == t0 - 10ms);
  CHECK(episodes[0].woke == t0 + 201ms);
  CHECK(meter.take_max() == 211ms);
}

TEST_CASE("adjacent freezes merge, separate freezes do not", "[self_lag]") {
  SelfLagMeter meter(5ms);
  meter.record(t0, t0 + 20ms);
  meter.record(t0 + 20ms, t0 + 40ms);  // starts exactly when the last one ended
  meter.record(t0 + 41ms, t0 + 60ms);  // starts after: a new freeze
  const auto episodes = meter.take_episodes();
  REQUIRE(episodes.size() == 2);
  CHECK(episodes[0].expected == t0);
  CHECK(episodes[0].woke == t0 + 40ms);
  CHECK(episodes[1].expected == t0 + 41ms);
  CHECK(episodes[1].woke == t0 + 60ms);
}

TEST_CASE("an on-time wake-up between freezes does not join them", "[self_lag]") {
  SelfLagMeter meter(5ms);
  meter.record(t0, t0 + 20ms);
  meter.record(t0 + 25ms, t0 + 26ms);  // on time
  meter.record(t0 + 30ms, t0 + 50ms);
  CHECK(meter.take_episodes().size() == 2);
}
