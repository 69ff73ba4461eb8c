// The open-loop schedule (DESIGN "Probing model"): t_{i+1} = t_i + T·(1 + U(-j, j)),
// the first probe at a random phase within one interval, planned from the
// previous intended time so that lateness never turns into drift.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

#include "probes/schedule.hpp"

namespace {

using loopcanary::probes::Duration;
using loopcanary::probes::Schedule;
using loopcanary::probes::TimePoint;
using namespace std::chrono_literals;

const TimePoint kStart = TimePoint{} + 1h;

std::vector<TimePoint> take(Schedule& s, std::size_t n) {
  std::vector<TimePoint> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(s.take());
  return out;
}

double ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

TEST_CASE("every gap lies within T(1 - j) .. T(1 + j) and they average to T", "[schedule]") {
  const double jitter = GENERATE(0.05, 0.2, 0.5);
  const std::uint64_t seed = GENERATE(1u, 42u, 20240601u);
  CAPTURE(jitter, seed);
  const Duration interval = 10ms;
  Schedule schedule(interval, jitter, kStart, seed);

  constexpr std::size_t n = 10'000;
  const auto times = take(schedule, n + 1);
  const auto lo = std::chrono::duration_cast<Duration>(interval * (1 - jitter));
  const auto hi = std::chrono::duration_cast<Duration>(interval * (1 + jitter));
  double sum_ms = 0;
  for (std::size_t i = 1; i < times.size(); ++i) {
    const Duration gap = times[i] - times[i - 1];
    CAPTURE(i, ms(gap));
    REQUIRE(gap >= lo);
    REQUIRE(gap <= hi);
    sum_ms += ms(gap);
  }
  const double mean_ms = sum_ms / static_cast<double>(n);
  CHECK(mean_ms == Approx(ms(interval)).epsilon(0.01));

  // No drift: t_n − t_0 is n·T plus a sum of n independent U(−jT, jT), whose
  // standard deviation is jT·sqrt(n/3). Five of them is a one-in-a-million miss.
  const double sd_ms = jitter * ms(interval) * std::sqrt(static_cast<double>(n) / 3.0);
  const double span_ms = ms(times.back() - times.front());
  CAPTURE(span_ms, sd_ms);
  CHECK(std::abs(span_ms - static_cast<double>(n) * ms(interval)) <= 5 * sd_ms);
}

TEST_CASE("without jitter every gap is exactly T", "[schedule]") {
  const Duration interval = GENERATE(as<Duration>{}, 1ms, 10ms, 100ms, 3333333ns);
  Schedule schedule(interval, 0.0, kStart, 7);
  const auto times = take(schedule, 10'001);
  for (std::size_t i = 1; i < times.size(); ++i) REQUIRE(times[i] - times[i - 1] == interval);
  CHECK(times.back() - times.front() == 10'000 * interval);
}

TEST_CASE("the first probe goes out at a random phase within one interval", "[schedule]") {
  const Duration interval = 100ms;
  std::vector<Duration> phases;
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    Schedule schedule(interval, 0.2, kStart, seed);
    const TimePoint first = schedule.peek();
    REQUIRE(first >= kStart);
    REQUIRE(first < kStart + interval);
    REQUIRE(schedule.take() == first);  // peek shows what take issues
    phases.push_back(first - kStart);
  }
  // Canaries started together do not probe in lockstep.
  std::sort(phases.begin(), phases.end());
  CHECK(std::unique(phases.begin(), phases.end()) == phases.end());
  CHECK(phases.back() - phases.front() > interval / 2);
}

TEST_CASE("a seed determines the whole schedule", "[schedule]") {
  Schedule a(10ms, 0.2, kStart, 99);
  Schedule b(10ms, 0.2, kStart, 99);
  Schedule c(10ms, 0.2, kStart, 100);
  const auto ta = take(a, 1000);
  CHECK(ta == take(b, 1000));
  CHECK(ta != take(c, 1000));
}

TEST_CASE("set_interval re-plans from the last issued time", "[schedule]") {
  Schedule schedule(100ms, 0.0, kStart, 3);
  const auto before = take(schedule, 5);
  const TimePoint last = before.back();
  REQUIRE(schedule.peek() == last + 100ms);

  SECTION("a shorter interval takes effect from the last issued time, not after the old gap") {
    schedule.set_interval(10ms, last + 3ms);
    CHECK(schedule.interval() == 10ms);
    CHECK(schedule.peek() == last + 10ms);
    const auto after = take(schedule, 3);
    CHECK(after == std::vector<TimePoint>{last + 10ms, last + 20ms, last + 30ms});
  }

  SECTION("never before now: a switch noticed late starts at now, not in the past") {
    schedule.set_interval(10ms, last + 55ms);
    CHECK(schedule.peek() == last + 55ms);
    const auto after = take(schedule, 3);
    CHECK(after == std::vector<TimePoint>{last + 55ms, last + 65ms, last + 75ms});
  }

  SECTION("a longer interval is planned from the last issued time too") {
    schedule.set_interval(1s, last + 1ms);
    CHECK(schedule.peek() == last + 1s);
  }

  SECTION("the same interval changes nothing") {
    schedule.set_interval(100ms, last + 50ms);
    CHECK(schedule.peek() == last + 100ms);
  }
}

TEST_CASE("set_interval with jitter keeps the new gap within its bounds", "[schedule]") {
  const std::uint64_t seed = GENERATE(range<std::uint64_t>(1, 21));
  Schedule schedule(100ms, 0.2, kStart, seed);
  const auto before = take(schedule, 3);
  const TimePoint last = before.back();
  schedule.set_interval(10ms, last);
  CHECK(schedule.peek() >= last + 8ms);
  CHECK(schedule.peek() <= last + 12ms);
  TimePoint previous = schedule.take();
  for (int i = 0; i < 100; ++i) {
    const TimePoint t = schedule.take();
    REQUIRE(t - previous >= 8ms);
    REQUIRE(t - previous <= 12ms);
    previous = t;
  }
}
