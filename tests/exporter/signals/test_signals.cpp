// The per-target signals of DESIGN "Derived signals", fed synthetic timelines
// with known answers: a target probed every T = 10 ms that answers in 1 ms
// when healthy, θ = 50 ms, W = 10 s.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <numeric>
#include <random>
#include <vector>

#include "exporter/signals/signals.hpp"
#include "timeline.hpp"

namespace {

using namespace loopcanary::exporter;
using namespace loopcanary::exporter::testing;

constexpr Duration T = 10ms;
constexpr Duration theta = 50ms;
constexpr Duration b = 1ms;  // the healthy latency, hence the baseline
/// Where blocks start: off the probes' phase, so no probe lands exactly on it.
const TimePoint B = t0 + 3s + 3ms;

/// A target probed every T from t0, with the baseline learned over the first
/// 3 s (healthy), evaluated every `tick` like the monitor does.
struct Target {
  explicit Target(Loop l, Duration tick_ = 25ms) : loop(std::move(l)), tick(tick_) {}

  void probe_until(TimePoint end, std::vector<TimePoint> times = {}) {
    if (times.empty()) times = every(T, t0, end);
    probe(loop.probes(times));
  }
  /// Probes with answers made by hand rather than by the loop.
  void probe(std::vector<Probe> given) {
    probes = std::move(given);
    feed.add(probes);
  }
  TargetView warm_up() {
    feed.at(t0);
    const TargetView v = feed.run(B - 3ms, tick);
    REQUIRE(v.has_baseline);
    REQUIRE(v.canaries.at(0).baseline == b);
    REQUIRE(v.stall_seconds_total == 0);
    REQUIRE(v.stalls_total == 0);
    return v;
  }
  TargetView run(TimePoint until, const std::function<void(const TargetView&)>& each = {}) {
    return feed.run(until, tick, each);
  }

  Loop loop;
  Duration tick;
  TargetSignals signals{settings(), 1, {}};
  Feed feed{signals};
  std::vector<Probe> probes;
};

double reference_stall(const std::vector<Probe>& probes) {
  return seconds(union_of_stalls(probes, b, theta));
}

}  // namespace

TEST_CASE("a block of D adds D ± (T + 2 ms) of stall and exactly one stall", "[signals][stall]") {
  const Duration D = GENERATE(as<Duration>{}, 100ms, 600ms, 3000ms);
  // The union does not depend on how often the signals are evaluated.
  const Duration tick = GENERATE(as<Duration>{}, 25ms, 1s);
  CAPTURE(ms(D), ms(tick));
  Target target(Loop{}.block(B, D), tick);
  target.probe_until(B + D + 3s);
  const TargetView before = target.warm_up();

  const TargetView after = target.run(B + D + 3s);
  CHECK(after.stalls_total - before.stalls_total == 1);
  CHECK(after.stall_seconds_total - before.stall_seconds_total ==
        Approx(seconds(D)).margin(seconds(T + 2ms)));
  CHECK(after.stall_seconds_total == Approx(reference_stall(target.probes)).margin(1e-9));

  // However many probes were stuck in it: D / T of them.
  const auto stuck = std::count_if(target.probes.begin(), target.probes.end(),
                                   [](const Probe& p) { return p.latency() - b > theta; });
  CHECK(stuck >= D / T - 6);
}

TEST_CASE("a block longer than the timeout still counts once, its probes ending at t_i + timeout",
          "[signals][stall]") {
  Loop loop;
  loop.timeout = 1s;
  loop.block(B, 3s);
  Target target(loop);
  target.probe_until(B + 6s);
  target.warm_up();

  const auto timeouts = std::count_if(target.probes.begin(), target.probes.end(),
                                      [](const Probe& p) { return p.outcome == Outcome::timeout; });
  REQUIRE(timeouts > 150);

  // In the middle of the block, well after the first timeouts: consecutive failures.
  const TargetView mid = target.run(B + 1500ms);
  CHECK(mid.consecutive_failures >= 3);
  CHECK(mid.stalls_total == 1);

  const TargetView after = target.run(B + 6s);
  CHECK(after.stalls_total == 1);
  CHECK(after.stall_seconds_total == Approx(3.0).margin(seconds(T + 2ms)));
  CHECK(after.stall_seconds_total == Approx(reference_stall(target.probes)).margin(1e-9));
  CHECK(after.consecutive_failures == 0);  // answers after the block reset it
}

TEST_CASE("overlapping and adjacent blocks are one stall; separate blocks are two",
          "[signals][stall]") {
  struct Case {
    const char* what;
    std::vector<std::pair<Duration, Duration>> blocks;  // (offset from B, length)
    Duration stalled;
    std::uint64_t stalls;
  };
  const auto c = GENERATE(values<Case>({
      {"overlapping", {{0ms, 600ms}, {300ms, 600ms}}, 900ms, 1},
      {"adjacent", {{0ms, 400ms}, {400ms, 300ms}}, 700ms, 1},
      {"one inside the other", {{0ms, 1000ms}, {200ms, 100ms}}, 1000ms, 1},
      {"separated by 1 s", {{0ms, 300ms}, {1300ms, 500ms}}, 800ms, 2},
      {"separated by 200 ms", {{0ms, 300ms}, {500ms, 300ms}}, 600ms, 2},
      {"three apart", {{0ms, 100ms}, {1s, 200ms}, {2s, 400ms}}, 700ms, 3},
  }));
  CAPTURE(c.what);
  Loop loop;
  for (const auto& [offset, length] : c.blocks) loop.block(B + offset, length);
  Target target(loop);
  target.probe_until(B + 6s);
  target.warm_up();
  const TargetView after = target.run(B + 6s);
  CHECK(after.stalls_total == c.stalls);
  CHECK(after.stall_seconds_total ==
        Approx(seconds(c.stalled)).margin(static_cast<double>(c.stalls) * seconds(T + 2ms)));
  CHECK(after.stall_seconds_total == Approx(reference_stall(target.probes)).margin(1e-9));
  CHECK(after.stalls_total == episodes_of_stalls(target.probes, b, theta));
}

TEST_CASE("blocks shorter than θ are no stall at all", "[signals][stall]") {
  const Duration D = GENERATE(as<Duration>{}, 10ms, 30ms, 45ms);
  CAPTURE(ms(D));
  Loop loop;
  for (int i = 0; i < 20; ++i) loop.block(B + i * 200ms, D);  // 20 of them
  Target target(loop);
  target.probe_until(B + 5s);
  target.warm_up();
  const TargetView after = target.run(B + 5s);
  CHECK(after.stall_seconds_total == 0);
  CHECK(after.stalls_total == 0);
  CHECK(after.stall_max == Duration::zero());
  // They are lag, though.
  REQUIRE(after.lag_p99);
  CHECK(*after.lag_p99 > Duration::zero());
  CHECK(*after.lag_p99 <= D + b);
}

TEST_CASE("jittered probes measure a block within D ± (T(1 + j) + 2 ms)", "[signals][stall]") {
  const Duration D = GENERATE(as<Duration>{}, 100ms, 600ms, 3000ms);
  const std::uint64_t seed = GENERATE(1u, 2u, 3u, 4u, 5u);
  CAPTURE(ms(D), seed);
  Target target(Loop{}.block(B, D));
  target.probe_until(B + D + 3s, jittered(T, 0.2, t0, B + D + 3s, seed));
  target.warm_up();
  const TargetView after = target.run(B + D + 3s);
  CHECK(after.stalls_total == 1);
  CHECK(after.stall_seconds_total == Approx(seconds(D)).margin(seconds(T * 12 / 10 + 2ms)));
  CHECK(after.stall_seconds_total == Approx(reference_stall(target.probes)).margin(1e-9));
}

TEST_CASE("dropped probes never count as stall", "[signals][stall]") {
  Loop loop;
  loop.block(B, 600ms);
  Target target(loop);
  std::vector<Probe> probes = loop.probes(every(T, t0, B + 3s));
  const bool keep_first = GENERATE(false, true);
  CAPTURE(keep_first);
  // Every probe intended in the block is dropped (max_in_flight reached). A
  // drop's latency is now − t_i when the prober got to it; here the prober got
  // to them only after the block, so they carry latencies up to D that are
  // *not* the target's answers. Optionally the first stuck probe was sent.
  bool first = true;
  std::size_t dropped = 0;
  for (Probe& p : probes) {
    if (p.intended < B || p.intended >= B + 600ms) continue;
    if (keep_first && first) {
      first = false;
      continue;
    }
    p.outcome = Outcome::dropped;
    ++dropped;
  }
  target.probe(probes);
  target.warm_up();
  const TargetView after = target.run(B + 3s);
  if (keep_first) {
    CHECK(after.stalls_total == 1);
    CHECK(after.stall_seconds_total == Approx(0.6).margin(seconds(T + 2ms)));
  } else {
    CHECK(after.stalls_total == 0);
    CHECK(after.stall_seconds_total == 0);
    CHECK(after.stall_max == Duration::zero());
  }
  CHECK(after.stall_seconds_total == Approx(reference_stall(probes)).margin(1e-9));
  // A drop is expected but is no evidence.
  CHECK(after.expected == probes.size());
  CHECK(after.evidence == probes.size() - dropped);
  CHECK(after.unreliable == 0);
}

TEST_CASE("completions out of order give the same union as in order", "[signals][stall]") {
  // The probes stuck in one 600 ms block are answered just after it over
  // several connections, in three different orders: oldest first, newest
  // first, shuffled. The same answer times are handed out in each order among
  // the probes stuck long enough to count, so the union is the same. The
  // probes intended in the block's last 100 ms are answered at its end + b,
  // before any of those: the target was serving again then, and the stall
  // ends there whatever order the older answers came in.
  const int order = GENERATE(0, 1, 2);
  CAPTURE(order);
  Loop loop;
  loop.block(B, 600ms);
  const TimePoint end = B + 600ms;
  std::vector<Probe> probes = loop.probes(every(T, t0, B + 3s));
  std::vector<std::size_t> stuck;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    if (probes[i].done == end + b && probes[i].intended < end - 100ms) stuck.push_back(i);
  }
  REQUIRE(stuck.size() >= 45);
  std::vector<Duration> offsets;
  for (int k = 0; k < static_cast<int>(stuck.size()); ++k) offsets.push_back(k * 100us);
  if (order == 1) std::reverse(offsets.begin(), offsets.end());
  if (order == 2) std::shuffle(offsets.begin(), offsets.end(), std::mt19937_64(11));
  for (std::size_t k = 0; k < stuck.size(); ++k) probes[stuck[k]].done += offsets[k];

  Target target(loop);
  target.probe(probes);
  target.warm_up();
  const TargetView after = target.run(B + 3s);
  // From the first stuck probe's t_i + b to the first answer after the block.
  const Duration expected = end + b - (probes[stuck.front()].intended + b);
  CHECK(after.stalls_total == 1);
  CHECK(after.stall_seconds_total == Approx(seconds(expected)).margin(1e-9));
  CHECK(after.stall_seconds_total == Approx(reference_stall(probes)).margin(1e-9));
}

TEST_CASE("a stall is visible while it lasts, and gone when it is over", "[signals][in_progress]") {
  const Duration D = 3s;
  Target target(Loop{}.block(B, D));
  target.probe_until(B + D + 2s);
  target.warm_up();
  const TimePoint first_stuck = B + 7ms;  // the first probe intended after B − b
  std::size_t checked = 0;
  target.run(B + D, [&](const TargetView& v) {
    if (v.at < B + 100ms) return;
    CAPTURE(ms(v.at - B));
    // in progress = now − (t_oldest_outstanding + b)
    REQUIRE(v.stall_in_progress == v.at - (first_stuck + b));
    REQUIRE(v.stall_max == v.stall_in_progress);  // nothing settled is larger
    REQUIRE(v.stall_seconds_total == 0);          // settled only when it ends
    REQUIRE(v.stall_ratio == Approx(seconds(v.stall_in_progress) / 10.0).margin(1e-9));
    ++checked;
  });
  CHECK(checked > 100);

  const TargetView after = target.run(B + D + 100ms);
  CHECK(after.stall_in_progress < b);
  CHECK(after.stall_seconds_total == Approx(seconds(D)).margin(seconds(T + 2ms)));
  // Stall max: the largest excess in W, that of the first stuck probe.
  CHECK(after.stall_max == B + D + b - first_stuck - b);
  CHECK(after.stall_ratio == Approx(after.stall_seconds_total / 10.0).margin(1e-9));
}

TEST_CASE("stall ratio and stall max forget a block once it leaves the window",
          "[signals][window]") {
  Target target(Loop{}.block(B, 1s), 100ms);
  target.probe_until(B + 13s);
  target.warm_up();
  const TargetView soon = target.run(B + 2s);
  CHECK(soon.stall_ratio == Approx(0.1).margin(0.002));
  CHECK(soon.stall_max > 900ms);
  const TargetView later = target.run(B + 12s);
  CHECK(later.stall_ratio == 0);
  CHECK(later.stall_max == Duration::zero());
  CHECK(later.stall_seconds_total == soon.stall_seconds_total);  // the counter stays
  CHECK(later.stalls_total == 1);
}

TEST_CASE("lag p99 and busy ratio on a known distribution", "[signals][lag]") {
  // 1000 probes in W. Every tenth one is slow, with excesses 159, 158, … 60 ms
  // (all above θ, so they do not widen ε); the rest answer at the baseline.
  // The slow ones are lag, not stalls: each was overtaken by the next probe,
  // answered T later, so the target was serving all along.
  SignalSettings s = settings();
  TargetSignals signals(s, 1, {});
  Feed feed(signals);
  Loop healthy;
  feed.add(healthy.probes(every(T, t0 - 5s, t0)));
  std::vector<Probe> probes;
  for (int i = 0; i < 1000; ++i) {
    const TimePoint t = t0 + i * T;
    const Duration e = i % 10 == 0 ? Duration(159ms) - (i / 10) * 1ms : 0ms;
    probes.push_back({t, t + b + e});
  }
  feed.add(probes);
  feed.at(t0 - 5s);
  feed.run(t0);
  const TargetView v = feed.run(t0 + 9995ms);  // W covers exactly the 1000 probes

  REQUIRE(v.canaries[0].baseline == b);
  CHECK(v.canaries[0].epsilon == 1ms);  // p99 − p5 of healthy = 0, floored at 1 ms
  CHECK(v.expected == 1000);
  CHECK(v.evidence == 1000);
  // Nearest rank: the 990th smallest of 900 zeros and 60..159 ms is 149 ms.
  REQUIRE(v.lag_p99);
  CHECK(ms(*v.lag_p99) == Approx(149).margin(1e-6));
  CHECK(v.busy_ratio == Approx(0.1));
  CHECK(v.stall_max == Duration::zero());
  CHECK(v.stall_seconds_total == 0);
}

TEST_CASE("a block of D makes the excess uniform on [0, D]: busy ratio ≈ D / W", "[signals][lag]") {
  // DESIGN 3: with random phases a loop blocked for D yields e roughly
  // uniform on [0, D], and busy_ratio estimates the share of time it could
  // not answer.
  const Duration D = GENERATE(as<Duration>{}, 1s, 2s, 4s);
  CAPTURE(ms(D));
  Target target(Loop{}.block(B, D));
  target.probe_until(B + 7s, jittered(T, 0.2, t0, B + 7s, 5));
  target.warm_up();
  std::vector<Duration> observed;
  const TargetView v = target.feed.run(B + 7s, 25ms, {}, &observed);
  // W = [B − 3 s, B + 7 s] holds the whole block.
  CHECK(v.busy_ratio == Approx(seconds(D) / 10.0).margin(0.01));
  // The top 1 % of all probes in W are the top (1 % · W / D) of the block's.
  REQUIRE(v.lag_p99);
  CHECK(seconds(*v.lag_p99) == Approx(seconds(D) * (1 - 0.01 * 10.0 / seconds(D))).margin(0.02));

  std::vector<double> stuck;
  for (Duration e : observed) {
    if (e > 1ms) stuck.push_back(seconds(e));
  }
  const double mean =
      std::accumulate(stuck.begin(), stuck.end(), 0.0) / static_cast<double>(stuck.size());
  CHECK(mean == Approx(seconds(D) / 2).margin(0.02));
  CHECK(*std::max_element(stuck.begin(), stuck.end()) <= seconds(D + b) + 1e-9);
}

TEST_CASE("the baseline is the p5 of ok latencies, known from 10 of them", "[signals][baseline]") {
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  // Latencies 1..100 ms in a shuffled order, one probe every 200 ms.
  std::vector<int> latency_ms(100);
  std::iota(latency_ms.begin(), latency_ms.end(), 1);
  std::shuffle(latency_ms.begin(), latency_ms.end(), std::mt19937_64(3));
  for (std::size_t i = 0; i < latency_ms.size(); ++i) {
    const TimePoint t = t0 + static_cast<int>(i) * 200ms;
    feed.add(Probe{t, t + latency_ms[i] * 1ms});
  }
  // Failures, however fast, are not healthy latency.
  for (int i = 0; i < 20; ++i) {
    const TimePoint t = t0 + i * 200ms + 100ms;
    feed.add(Probe{t, t + 100us, Outcome::bad_status});
    feed.add(Probe{t + 1ms, t + 1ms + 200us, Outcome::reset});
  }

  SECTION("nine ok latencies are not enough") {
    const TargetView v = feed.at(t0 + 1700ms);  // probes 0..8 answered
    CHECK_FALSE(v.has_baseline);
    CHECK_FALSE(v.canaries[0].baseline);
  }
  SECTION("ten are") {
    std::vector<int> first(latency_ms.begin(), latency_ms.begin() + 10);
    const auto sorted_first = [&] {
      std::sort(first.begin(), first.end());
      return first;
    }();
    const TargetView v = feed.at(t0 + 1800ms + 150ms);
    REQUIRE(v.has_baseline);
    // p5 of 10 by nearest rank is the smallest.
    CHECK(v.canaries[0].baseline == sorted_first[0] * 1ms);
  }
  SECTION("p5 of all 100 is the 5th smallest: 5 ms") {
    const TargetView v = feed.at(t0 + 21s);
    REQUIRE(v.canaries[0].baseline);
    CHECK(*v.canaries[0].baseline == 5ms);
  }
}

TEST_CASE("the baseline forgets latencies older than the baseline window", "[signals][baseline]") {
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(Loop{}.probes(every(100ms, t0, t0 + 10s)));
  Loop slower;
  slower.latency = 4ms;
  feed.add(slower.probes(every(100ms, t0 + 10s, t0 + 80s)));
  feed.at(t0);
  CHECK(feed.run(t0 + 12s, 500ms).canaries[0].baseline == 1ms);
  CHECK(feed.run(t0 + 75s, 500ms).canaries[0].baseline == 4ms);
}

TEST_CASE("ε is p99 − p5 of healthy latency: a stall does not widen it", "[signals][baseline]") {
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  // 1000 healthy answers spread over 1.0 .. 10.9 ms (each value 10 times) …
  for (int i = 0; i < 1000; ++i) {
    const TimePoint t = t0 + i * T;
    feed.add(Probe{t, t + 1ms + (i % 100) * 100us});
  }
  const bool with_stall = GENERATE(false, true);
  CAPTURE(with_stall);
  // … and, optionally, 50 answers that took half a second.
  if (with_stall) {
    for (int i = 0; i < 50; ++i) {
      const TimePoint t = t0 + i * T + 5ms;
      feed.add(Probe{t, t + 500ms});
    }
  }
  const TargetView v = feed.at(t0 + 11s);
  REQUIRE(v.canaries[0].baseline);
  // Nearest rank. Without the stall: p5 = 1.4 ms, p99 = 10.8 ms. With it the
  // 50 slow answers shift p5 to 1.5 ms but stay out of the p99 of healthy ones.
  const Duration p5 = with_stall ? 1500us : 1400us;
  CHECK(ms(*v.canaries[0].baseline) == Approx(ms(p5)).margin(1e-6));
  CHECK(ms(v.canaries[0].epsilon) == Approx(ms(10800us - p5)).margin(1e-5));
}

TEST_CASE("samples timed by a starved prober are unreliable: no stall, no blame",
          "[signals][prober_lag]") {
  // The prober froze for 100 ms at B (lateness 100 ms ≥ θ): the answers that
  // arrived meanwhile were read only when it woke. The target was healthy.
  const LagEpisode freeze{B, B + 100ms};
  std::vector<Probe> probes = Loop{}.probes(every(T, t0, B + 3s));
  std::size_t overlapping = 0;
  for (Probe& p : probes) {
    if (p.intended > B - b && p.intended <= freeze.woke) {
      p.done = freeze.woke + 100us;
      ++overlapping;
    }
  }
  REQUIRE(overlapping == 10);
  Target target(Loop{});
  target.probe(probes);
  target.feed.lag(freeze);
  target.warm_up();

  const TargetView v = target.run(B + 3s);
  CHECK(v.stall_seconds_total == 0);
  CHECK(v.stalls_total == 0);
  CHECK(v.stall_max == Duration::zero());
  CHECK(v.unreliable == overlapping);
  CHECK(v.evidence == v.expected - overlapping);
  CHECK(v.prober_lag_worst == 100ms);
  CHECK(v.prober_lag_in_window == 100ms);
  CHECK(v.prober_starved);
  REQUIRE(v.lag_p99);
  CHECK(*v.lag_p99 == Duration::zero());  // their latency is in no signal

  // Once the freeze has left W, the prober is trusted again.
  target.feed.add(Loop{}.probes(every(T, B + 3s, B + 11s)));
  const TargetView later = target.run(B + 11s);
  CHECK_FALSE(later.prober_starved);
  CHECK(later.unreliable == 0);
}

TEST_CASE("prober starved: one freeze ≥ θ, or lateness adding up to 1 % of W",
          "[signals][prober_lag]") {
  struct Case {
    int episodes;
    Duration each;
    bool starved;
  };
  const auto c = GENERATE(values<Case>({
      {1, 49ms, false},
      {1, 50ms, true},
      {10, 6ms, false},  // 60 ms in W: 0.6 %
      {16, 6ms, false},  // 96 ms
      {17, 6ms, true},   // 102 ms ≥ 1 % of 10 s
      {20, 6ms, true},
  }));
  CAPTURE(c.episodes, ms(c.each));
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(Loop{}.probes(every(T, t0, t0 + 8s)));
  for (int i = 0; i < c.episodes; ++i) {
    const TimePoint at = t0 + 1s + i * 300ms;
    feed.lag({at, at + c.each});
  }
  const TargetView v = feed.run(t0 + 8s, 100ms);
  CHECK(v.prober_lag_in_window == c.episodes * c.each);
  CHECK(v.prober_lag_worst == c.each);
  CHECK(v.prober_starved == c.starved);
}

TEST_CASE("one freeze that every canary's timer reports counts once", "[signals][prober_lag]") {
  // Fifty canaries: a 20 ms freeze of the prober makes each of their timers
  // wake late, each reporting its own episode of the same stretch.
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(Loop{}.probes(every(T, t0, t0 + 8s)));
  const TimePoint at = t0 + 2s;
  for (int i = 0; i < 50; ++i) feed.lag({at + i * 100us, at + 20ms});
  feed.lag({at + 5s, at + 5s + 6ms});        // and another, later, on its own
  feed.lag({at + 5s + 3ms, at + 5s + 8ms});  // overlapping it in part
  const TargetView v = feed.run(t0 + 8s, 100ms);
  CHECK(v.prober_lag_in_window == 28ms);
  CHECK(v.prober_lag_worst == 20ms);
  CHECK_FALSE(v.prober_starved);
}

TEST_CASE(
    "a stall in progress discounts the prober's own freezes, and starts after one that explains it",
    "[signals][prober_lag][in_progress]") {
  // The target blocks from just before the probe at B − 3 ms for 4 s, and
  // the prober froze just after sending that probe. A 20 ms freeze cannot
  // explain 2 s of waiting: the stall in progress is the wait less the
  // freeze. A 1.5 s freeze could explain most of it: we cannot tell, so the
  // stall in progress starts at the first probe intended after the prober
  // woke.
  std::vector<Probe> probes = Loop{}.block(B - 5ms, 4s).probes(every(T, t0, B + 5s));
  const Duration freeze = GENERATE(Duration::zero(), Duration{20ms}, Duration{1500ms});
  CAPTURE(freeze);
  Target target(Loop{});
  target.probe(probes);
  if (freeze > Duration::zero()) target.feed.lag({B, B + freeze});
  target.warm_up();
  const TargetView v = target.run(B + 2s);
  if (freeze == 1500ms) {
    // The first probe intended after B + 1.5 s is at B + 1507 ms.
    CHECK(v.stall_in_progress == B + 2s - (B + 1507ms + b));
  } else {
    CHECK(v.stall_in_progress == B + 2s - (B - 3ms + b) - freeze);
  }
}

TEST_CASE("a long stall keeps its evidence across a short prober hiccup", "[signals][prober_lag]") {
  // A 3 s block; the prober was late by 6 ms (a descheduled vCPU) 240 ms
  // into it. Every probe stuck in the block spans the hiccup, which explains
  // none of its 3 s: the stall is measured as without the hiccup, less at
  // most the hiccup, and no sample is lost to it.
  const Duration D = 3s;
  const Duration hiccup = GENERATE(Duration::zero(), Duration{6ms}, Duration{20ms});
  CAPTURE(hiccup);
  Target target(Loop{}.block(B, D));
  target.probe_until(B + 6s);
  if (hiccup > Duration::zero()) target.feed.lag({B + 240ms, B + 240ms + hiccup});
  target.warm_up();
  const TargetView v = target.run(B + 6s);
  CHECK(v.stalls_total == 1);
  CHECK(v.stall_seconds_total ==
        Approx(reference_stall(target.probes)).margin(seconds(hiccup) + 1e-9));
  CHECK(v.stall_seconds_total == Approx(seconds(D)).margin(seconds(T + 2ms + hiccup)));
  CHECK(v.unreliable == 0);
  CHECK(v.evidence == v.expected);
  CHECK(v.prober_starved == false);
}

TEST_CASE("an answer timed by the kernel loses only the lag before its send",
          "[signals][prober_lag]") {
  // A 3 s block; the prober froze for 100 ms 1.2 s into it, and once more
  // for 40 ms as the block ended. Answers timed by the kernel on arrival
  // (the polled path) were not read late: a probe stuck across the freezes
  // keeps its whole wait, and the stall is measured as without them. The
  // probes due during a freeze went out when it ended: that much of their
  // wait was the prober's, and they say so.
  const Duration D = 3s;
  const std::pair<TimePoint, TimePoint> freezes[] = {{B + 1200ms, B + 1300ms},
                                                     {B + D - 20ms, B + D + 20ms}};
  std::vector<Probe> probes = Loop{}.block(B, D).probes(every(T, t0, B + 6s));
  for (Probe& p : probes) {
    p.stamped = true;
    for (const auto& [from, to] : freezes) {
      if (p.intended >= from && p.intended < to) {
        p.sent = to;
        p.done = std::max(p.done, to + b);  // a block that had ended answers at once
      }
    }
  }
  Target target(Loop{});
  target.probe(probes);
  for (const auto& [from, to] : freezes) target.feed.lag({from, to});
  target.warm_up();
  const TargetView v = target.run(B + 6s);
  CHECK(v.stalls_total == 1);
  CHECK(v.stall_seconds_total == Approx(reference_stall(probes)).margin(1e-9));
  CHECK(v.stall_seconds_total == Approx(seconds(D)).margin(seconds(T + 2ms)));
  CHECK(v.prober_lag_in_window == 140ms);
  // Only the four sent late after the block, whose whole wait was the prober's.
  CHECK(v.unreliable == 4);
}

TEST_CASE("a short stall the prober's own freeze could explain is unreliable, not a stall",
          "[signals][prober_lag]") {
  // Probes waited 80 ms around a 30 ms freeze of the prober: more than θ,
  // but 30 ms of it may be ours, which leaves less than twice that above θ.
  // The prober cannot tell how much of the wait was the target's.
  std::vector<Probe> probes = Loop{}.probes(every(T, t0, B + 3s));
  std::size_t touched = 0;
  for (Probe& p : probes) {
    if (p.intended > B - 60ms && p.intended < B) {
      p.done = p.intended + 80ms;
      ++touched;
    }
  }
  REQUIRE(touched == 6);
  Target target(Loop{});
  target.probe(probes);
  target.feed.lag({B, B + 30ms});
  target.warm_up();
  const TargetView v = target.run(B + 3s);
  CHECK(v.stall_seconds_total == 0);
  CHECK(v.stalls_total == 0);
  CHECK(v.unreliable >= touched);
}

TEST_CASE("a probe overtaken by answered ones is not a stall in progress",
          "[signals][in_progress]") {
  // One probe is still outstanding 2 s later (a lost packet, a stuck
  // connection) while the target answers every later probe in 1 ms: the
  // target is serving, so this is no stall, in progress or settled.
  std::vector<Probe> probes = Loop{}.probes(every(T, t0, B + 5s));
  for (Probe& p : probes) {
    if (p.intended == B - 3ms) p.done = B + 4s;
  }
  Target target(Loop{});
  target.probe(probes);
  target.warm_up();
  const TargetView during = target.run(B + 2s);
  CHECK(during.stall_in_progress == Duration::zero());
  CHECK(during.stall_max == Duration::zero());
  const TargetView after = target.run(B + 5s);
  CHECK(after.stall_seconds_total == 0);
  CHECK(after.stalls_total == 0);
  CHECK(after.stall_max == Duration::zero());
}

TEST_CASE("consecutive failures count timeouts and connection errors, and reset on an answer",
          "[signals][failures]") {
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(Loop{}.probes(every(T, t0, t0 + 1s)));
  struct Step {
    Outcome outcome;
    int consecutive;
  };
  const std::vector<Step> steps{
      {Outcome::timeout, 1}, {Outcome::connect_error, 2},  {Outcome::tls_error, 3},
      {Outcome::reset, 3},   {Outcome::protocol_error, 3}, {Outcome::timeout, 4},
      {Outcome::ok, 0},      {Outcome::connect_error, 1},  {Outcome::bad_status, 0},
      {Outcome::timeout, 1}, {Outcome::bad_body, 0},       {Outcome::dropped, 0},
  };
  TimePoint t = t0 + 2s;
  feed.run(t0 + 1s);
  for (const Step& s : steps) {
    CAPTURE(static_cast<int>(s.outcome));
    const Duration latency = s.outcome == Outcome::timeout ? 5s : 2ms;
    feed.add(Probe{t, t + latency, s.outcome});
    const TargetView v = feed.at(t + latency);
    CHECK(v.consecutive_failures == s.consecutive);
    t += latency + 10ms;
  }
}

TEST_CASE("expected, evidence and unreliable count the probes intended in W",
          "[signals][evidence]") {
  std::vector<Probe> probes = Loop{}.probes(every(T, t0, t0 + 20s));
  const TimePoint now = t0 + 20s - 5ms;  // the window holds t0 + 10 s − 5 ms .. now
  std::size_t dropped = 0, unreliable = 0, outstanding = 0;
  for (Probe& p : probes) {
    if (p.intended < now - 10s) continue;
    const auto i = (p.intended - t0) / T;
    if (i % 100 == 7) {
      p.outcome = Outcome::dropped;
      p.done = p.intended;
      ++dropped;
    } else if (i >= 1997) {
      p.done = now + 1s;  // still on the wire at `now`
      ++outstanding;
    }
  }
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  // The prober froze for 30 ms: three probes overlapped it.
  const TimePoint f = t0 + 15s + 1ms;
  feed.lag({f, f + 30ms});
  for (const Probe& p : probes) unreliable += p.intended < f + 30ms && p.done > f;
  feed.at(t0);
  const TargetView v = feed.run(now, 100ms);
  CHECK(v.expected == 1000);
  CHECK(v.unreliable == unreliable);
  CHECK(v.evidence == 1000 - dropped - unreliable);
  CHECK(outstanding == 3);
}

TEST_CASE("a sample still waiting to settle is evidence too", "[signals][evidence]") {
  // One probe hangs for 4 s (a lost packet, a stuck connection) while the
  // target answers every other probe in 1 ms. Those answers wait to settle
  // behind it; they were reliably timed, so they are evidence for the status.
  std::vector<Probe> probes = Loop{}.probes(every(T, t0, t0 + 20s));
  const TimePoint hang = t0 + 14s;
  for (Probe& p : probes) {
    if (p.intended == hang) p.done = hang + 4s;
  }
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  feed.at(t0);
  const TargetView v = feed.run(hang + 3900ms, 100ms);
  CHECK(v.expected == 1001);                       // t0 + 7.9 s .. t0 + 17.9 s, both ends included
  CHECK(v.evidence == v.expected);                 // every one answered or outstanding
  CHECK(v.stall_in_progress == Duration::zero());  // overtaken: the target is serving
  CHECK(v.stall_seconds_total == 0);               // nothing settled behind it yet

  // A waiting sample that a known prober freeze overlaps is unreliable instead.
  TargetSignals frozen(settings(), 1, {});
  Feed feed2(frozen);
  feed2.add(probes);
  feed2.lag({hang + 1s + 2ms, hang + 1s + 12ms});  // overlaps the probe at hang + 1 s + 10 ms
  feed2.at(t0);
  const TargetView w = feed2.run(hang + 3900ms, 100ms);
  CHECK(w.unreliable == 1);
  CHECK(w.evidence == w.expected - 1);
}

TEST_CASE("failure ratio is the share of answered probes in W that failed", "[signals][failures]") {
  std::vector<Probe> probes = Loop{}.probes(every(T, t0, t0 + 20s));
  for (Probe& p : probes) {
    if ((p.intended - t0) / T % 10 == 3) p.outcome = Outcome::bad_status;
  }
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  feed.at(t0);
  const TargetView v = feed.run(t0 + 20s - 5ms, 100ms);
  CHECK(v.failure_ratio == Approx(0.1));
  CHECK(v.consecutive_failures == 0);
}

TEST_CASE("window statistics refreshed every 250 ms: stalls exact at once, the rest never staler",
          "[signals][window]") {
  // Two blocks, a failure-free healthy stretch between, evaluated every 25 ms
  // both exactly (window_refresh 0) and as the monitor does (250 ms).
  const Loop loop = Loop{}.block(B, 600ms).block(B + 4s, 120ms);
  const std::vector<Probe> probes = loop.probes(every(T, t0, B + 8s));
  auto views = [&](Duration refresh) {
    SignalSettings s = settings();
    s.window_refresh = refresh;
    TargetSignals signals(s, 1, {});
    Feed feed(signals);
    feed.add(probes);
    std::vector<TargetView> out;
    feed.at(t0);
    feed.run(B + 8s, 25ms, [&](const TargetView& v) { out.push_back(v); });
    return out;
  };
  const std::vector<TargetView> exact = views(Duration::zero());
  const std::vector<TargetView> cached = views(250ms);
  REQUIRE(exact.size() == cached.size());
  for (std::size_t i = 0; i < exact.size(); ++i) {
    CAPTURE(i, ms(exact[i].at - t0));
    // What decides a stall and its status is exact at every evaluation.
    CHECK(cached[i].stall_max == exact[i].stall_max);
    CHECK(cached[i].stall_in_progress == exact[i].stall_in_progress);
    CHECK(cached[i].stall_seconds_total == exact[i].stall_seconds_total);
    CHECK(cached[i].stalls_total == exact[i].stalls_total);
    CHECK(cached[i].stall_ratio == exact[i].stall_ratio);
    // The slow statistics equal an exact view of at most 250 ms before.
    bool seen = false;
    for (std::size_t k = i + 1; k-- > 0 && exact[i].at - exact[k].at <= 250ms;) {
      seen = seen ||
             (cached[i].lag_p99 == exact[k].lag_p99 && cached[i].busy_ratio == exact[k].busy_ratio);
    }
    CHECK(seen);
  }
  CHECK(exact.back().stalls_total == 2);
}

TEST_CASE("healthy answers a little slower than the baseline leave the window statistics cached",
          "[signals][window]") {
  // Half the answers of a healthy target are slower than its baseline by a
  // few µs: nothing the window statistics show changes, so they are
  // recomputed every 250 ms, not at each of the 40 evaluations a second.
  std::vector<Probe> probes = Loop{}.probes(every(T, t0, B + 10s));
  for (std::size_t i = 0; i < probes.size(); ++i)
    probes[i].done += std::chrono::microseconds(i % 7);
  SignalSettings s = settings();
  s.window_refresh = 250ms;
  TargetSignals signals(s, 1, {});
  Feed feed(signals);
  feed.add(probes);
  feed.at(t0);
  feed.run(B, 25ms);
  const std::size_t before = signals.window_recomputes();
  const TargetView v = feed.run(B + 10s, 25ms);
  CHECK(v.stalls_total == 0);
  CHECK(signals.window_recomputes() - before <= 10s / 250ms + 1);
}

TEST_CASE("a late prober's untimed samples and failures are counted exactly without a recompute",
          "[signals][window]") {
  // A prober late by 6 ms every 40 ms (what 50 targets did on two cores)
  // makes many samples unreliable, and a tenth of the answers fail. Neither
  // moves the largest stall, so the window statistics stay on their 250 ms
  // refresh; the counts that decide "missing evidence" and the failure ratio
  // are exact at every evaluation all the same.
  std::vector<Probe> probes = Loop{}.block(B + 3s, 300ms).probes(every(T, t0, B + 8s));
  for (Probe& p : probes) {
    if ((p.intended - t0) / T % 10 == 3) p.outcome = Outcome::bad_status;
  }
  std::vector<LagEpisode> lags;
  // Each 0.5 ms into a probe's 1 ms answer: that answer cannot be timed.
  for (TimePoint at = t0 + 3s + 500us; at < B + 8s; at += 40ms) lags.push_back({at, at + 6ms});
  auto run = [&](Duration refresh, std::size_t* recomputes) {
    SignalSettings s = settings();
    s.window_refresh = refresh;
    TargetSignals signals(s, 1, {});
    Feed feed(signals);
    feed.add(probes);
    for (const LagEpisode& ep : lags) feed.lag(ep);
    std::vector<TargetView> out;
    feed.at(t0);
    feed.run(B, 25ms);
    const std::size_t before = signals.window_recomputes();
    feed.run(B + 8s, 25ms, [&](const TargetView& v) { out.push_back(v); });
    *recomputes = signals.window_recomputes() - before;
    return out;
  };
  std::size_t exact_recomputes = 0, cached_recomputes = 0;
  const std::vector<TargetView> exact = run(Duration::zero(), &exact_recomputes);
  const std::vector<TargetView> cached = run(250ms, &cached_recomputes);
  REQUIRE(exact.size() == cached.size());
  std::size_t unreliable_seen = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    CAPTURE(i, ms(exact[i].at - t0));
    CHECK(cached[i].unreliable == exact[i].unreliable);
    CHECK(cached[i].evidence == exact[i].evidence);
    CHECK(cached[i].failure_ratio == exact[i].failure_ratio);
    CHECK(cached[i].stall_max == exact[i].stall_max);
    CHECK(cached[i].stalls_total == exact[i].stalls_total);
    unreliable_seen = std::max(unreliable_seen, exact[i].unreliable);
  }
  CHECK(unreliable_seen > 50);               // the premise: the lag did make samples untimed
  CHECK(exact.back().failure_ratio > 0.05);  // and failures were in the window
  CHECK(exact.back().stalls_total == 1);     // the block was seen through it
  CHECK(exact_recomputes == exact.size());   // refresh 0: every evaluation
  // 8 s / 250 ms = 32 refreshes, plus the block's samples entering (and
  // leaving none: W is 10 s), a handful of evaluations.
  CHECK(cached_recomputes <= 8s / 250ms + 1 + 15);
}
