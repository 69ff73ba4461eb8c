// The per-route signals of DESIGN "Derived signals" 4–6: head-of-line blocking
// from canaries classified against the route's in-flight intervals, the
// service time, queue amplification and executor capacity from a closed-loop
// ramp against a pool of c = 40 workers, and the concurrency knee.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "exporter/signals/route_signals.hpp"
#include "exporter/signals/signals.hpp"
#include "exporter/signals/usl.hpp"
#include "timeline.hpp"

namespace {

using namespace loopcanary::exporter;
using namespace loopcanary::exporter::testing;

RouteSignals::Settings route_settings(std::optional<Duration> service_time = std::nullopt) {
  return {10s, 60s, service_time};
}

Sample heavy(TimePoint a, TimePoint c, Outcome outcome = Outcome::ok) {
  Sample s;
  s.intended = a;
  s.sent = a;
  s.first_byte = c;
  s.done = c;
  s.outcome = outcome;
  return s;
}

/// Events in time order; same-instant events keep the order they were added.
class Events {
 public:
  void at(TimePoint t, std::function<void()> f) { events_.emplace(t, std::move(f)); }
  void run() {
    for (auto& [t, f] : events_) f();
    events_.clear();
  }

 private:
  std::multimap<TimePoint, std::function<void()>> events_;
};

/// A scenario against a route that runs requests of 200 ms every 400 ms for
/// 10 s, while a canary probes every 10 ms (at +5 ms, never on a boundary).
/// `classify` says, for a canary at t (and whether a request covers t), its
/// excess and whether it counts as busy. Canaries are classified when they
/// settle, after their answer, as TargetSignals does.
struct HolRun {
  struct Canary {
    Duration e;
    bool busy;
  };
  std::function<Canary(TimePoint t, bool in_request, TimePoint request_start)> classify;
  Duration request = 200ms;
  Duration period = 400ms;
  TimePoint from = t0;
  TimePoint until = t0 + 10s;

  std::size_t h = 0, q = 0, h_busy = 0, q_busy = 0;
  Duration h_e{}, q_e{};

  void feed(RouteSignals& route) {
    Events events;
    std::uint64_t id = 0;
    for (TimePoint a = from; a + request <= until; a += period) {
      const std::uint64_t n = ++id;
      const TimePoint c = a + request;
      events.at(a, [&route, n, a] { route.started(n, a); });
      events.at(c, [&route, n, a, c] { route.finished(n, heavy(a, c)); });
    }
    for (TimePoint t = from + 5ms; t < until; t += 10ms) {
      const auto offset = (t - from) % period;
      const bool in_request = offset <= request;
      const Canary c = classify(t, in_request, t - offset);
      (in_request ? h : q) += 1;
      (in_request ? h_busy : q_busy) += c.busy;
      (in_request ? h_e : q_e) += c.e;
      events.at(t + 1ms + c.e, [&route, t, c] { route.classify(t, c.e, c.busy); });
    }
    events.run();
  }
};

}  // namespace

TEST_CASE(
    "HOL: a route that holds the loop ≈ 1, one that awaits I/O ≈ 0, one that blocks a "
    "quarter of its time ≈ 0.25",
    "[route_signals][hol]") {
  struct Case {
    const char* what;
    Duration blocking;  // of each 200 ms request, the loop is held this long from its start
    double hol;
  };
  const auto c = GENERATE(values<Case>({
      {"holds the loop", 200ms, 1.0},
      {"awaits I/O", 0ms, 0.0},
      {"blocks 50 ms of 200 ms", 50ms, 0.25},
      {"blocks 100 ms of 200 ms", 100ms, 0.5},
  }));
  CAPTURE(c.what);
  RouteSignals route(route_settings());
  HolRun run;
  run.classify = [&](TimePoint t, bool in_request, TimePoint a) -> HolRun::Canary {
    // A canary that arrives while the loop is held waits for it to be released.
    if (in_request && t < a + c.blocking) return {a + c.blocking - t, true};
    return {0ms, false};
  };
  run.feed(route);
  const RouteView v = route.view(run.until);
  REQUIRE(v.hol_ratio);
  CHECK(v.hol_h == run.h);
  CHECK(v.hol_q == run.q);
  CHECK(*v.hol_ratio == Approx(c.hol).margin(0.03));
  CHECK(v.u_h == Approx(static_cast<double>(run.h_busy) / static_cast<double>(run.h)));
  CHECK(v.u_q == 0);
  REQUIRE(v.hol_delay);
  CHECK(*v.hol_delay == run.h_e / static_cast<std::int64_t>(run.h));
}

TEST_CASE("HOL discounts what light requests suffer anyway: (u_H − u_Q) / (1 − u_Q)",
          "[route_signals][hol]") {
  // Background: every 10th canary is slow whether or not the route runs
  // (u_Q = 0.1). The route blocks the first 50 ms of its 200 ms (a quarter).
  RouteSignals route(route_settings());
  HolRun run;
  int n = 0;
  run.classify = [&](TimePoint t, bool in_request, TimePoint a) -> HolRun::Canary {
    const bool background = n++ % 10 == 0;
    if (in_request && t < a + 50ms) return {a + 50ms - t + (background ? 3ms : 0ms), true};
    if (background) return {3ms, true};
    return {0ms, false};
  };
  run.feed(route);
  const RouteView v = route.view(run.until);
  const double u_h = static_cast<double>(run.h_busy) / static_cast<double>(run.h);
  const double u_q = static_cast<double>(run.q_busy) / static_cast<double>(run.q);
  REQUIRE(v.hol_ratio);
  CHECK(v.u_h == Approx(u_h));
  CHECK(v.u_q == Approx(u_q));
  CHECK(u_q == Approx(0.1).margin(0.01));
  CHECK(*v.hol_ratio == Approx((u_h - u_q) / (1 - u_q)));
  CHECK(*v.hol_ratio == Approx(0.25).margin(0.03));
  // The delay a light request pays while the route is in flight: ē_H − ē_Q.
  REQUIRE(v.hol_delay);
  const Duration e_h = run.h_e / static_cast<std::int64_t>(run.h);
  const Duration e_q = run.q_e / static_cast<std::int64_t>(run.q);
  CHECK(*v.hol_delay == e_h - e_q);
}

TEST_CASE("HOL is clamped to [0, 1]", "[route_signals][hol]") {
  // Light requests are slower while the route is *not* in flight (half of
  // them then, none during it): no HOL, not a negative one.
  RouteSignals route(route_settings());
  HolRun run;
  int n = 0;
  run.classify = [&](TimePoint, bool in_request, TimePoint) -> HolRun::Canary {
    if (in_request || n++ % 2) return {0ms, false};
    return {5ms, true};
  };
  run.feed(route);
  const RouteView v = route.view(run.until);
  REQUIRE(v.hol_ratio);
  CHECK(v.u_q == Approx(0.5).margin(0.01));
  CHECK(*v.hol_ratio == 0);
  CHECK(*v.hol_delay == Duration::zero());
}

TEST_CASE("HOL is unknown until |H| ≥ 30 and 5 requests completed in W", "[route_signals][hol]") {
  // One long request covers `covered` canaries (every 10 ms at +5 ms); the
  // other requests are short ones between canaries, covering none.
  struct Case {
    int covered;
    int completed;
    bool known;
  };
  const auto c = GENERATE(values<Case>({
      {29, 5, false},
      {30, 5, true},
      {30, 4, false},
      {100, 4, false},
      {100, 5, true},
  }));
  CAPTURE(c.covered, c.completed);
  RouteSignals route(route_settings());
  const TimePoint a = t0;
  const TimePoint end = a + c.covered * 10ms;  // canaries at a+5 .. end−5 ms
  route.started(1, a);
  route.finished(1, heavy(a, end));
  for (int i = 1; i < c.completed; ++i) {
    const TimePoint s = end + i * 10ms + 6ms;  // between the canaries at +5 and +15
    route.started(1 + i, s);
    route.finished(1 + i, heavy(s, s + 2ms));
  }
  for (TimePoint t = a - 2s + 5ms; t < end + 1s; t += 10ms) route.classify(t, 0ms, false);
  const RouteView v = route.view(end + 1s);
  CHECK(v.hol_h == static_cast<std::size_t>(c.covered));
  CHECK(v.completed_in_window == static_cast<std::size_t>(c.completed));
  CHECK(v.hol_ratio.has_value() == c.known);
  CHECK(v.hol_delay.has_value() == c.known);
}

TEST_CASE("HOL forgets requests and canaries older than W", "[route_signals][hol]") {
  RouteSignals route(route_settings());
  HolRun run;
  run.classify = [](TimePoint t, bool in_request, TimePoint a) -> HolRun::Canary {
    if (in_request) return {a + 200ms - t, true};
    return {0ms, false};
  };
  run.feed(route);
  REQUIRE(route.view(run.until).hol_ratio);
  const RouteView later = route.view(run.until + 11s);
  CHECK(later.hol_h == 0);
  CHECK(later.completed_in_window == 0);
  CHECK_FALSE(later.hol_ratio);
  CHECK(later.hol_q > 0);  // Q keeps the baseline window
}

TEST_CASE(
    "HOL: a canary is in H when its t_i falls inside a request, whatever the order of "
    "reports",
    "[route_signals][hol]") {
  RouteSignals route(route_settings());
  // In flight and not yet finished: a request started at or before t counts.
  route.started(1, t0);
  route.classify(t0 - 1ms, 0ms, false);  // before it started: Q
  route.classify(t0, 5ms, true);         // at its start: H
  route.classify(t0 + 50ms, 5ms, true);  // during: H
  route.finished(1, heavy(t0, t0 + 100ms));
  route.classify(t0 + 100ms, 5ms, true);   // at its end (settled later): H
  route.classify(t0 + 101ms, 0ms, false);  // after it: Q
  // A request that started later than the canary does not claim it.
  route.started(2, t0 + 300ms);
  route.classify(t0 + 299ms, 0ms, false);  // Q
  const RouteView v = route.view(t0 + 1s);
  CHECK(v.hol_h == 3);
  CHECK(v.hol_q == 3);
  CHECK(v.in_flight == 1);
}

TEST_CASE("HOL end to end: a route that holds the loop 50 ms of its 200 ms reads ≈ 0.25",
          "[route_signals][hol][signals]") {
  // The same claim as above, through TargetSignals: the canaries' excess and
  // busy flags come from a loop that is really blocked, with ε learned from
  // healthy latency (DESIGN 3 and 4: "one that blocks 50 ms of its 200 ms
  // ≈ 0.25"). A minute of calm first, then 20 s of the route.
  const Duration blocking = GENERATE(as<Duration>{}, 50ms, 100ms);
  CAPTURE(ms(blocking));
  TargetSignals signals(settings(), 1, {route_settings()});
  Feed feed(signals);
  Loop loop;
  const TimePoint start = t0 + 60s;
  const TimePoint end = start + 20s;
  for (TimePoint a = start; a + 200ms <= end; a += 400ms) {
    loop.block(a, blocking);
    feed.request(0, a, a + 200ms);
  }
  feed.add(loop.probes(jittered(10ms, 0.2, t0, end, 9)));
  feed.at(t0);
  feed.run(start);
  std::vector<double> hol;
  feed.run(end, 25ms, [&](const TargetView& v) {
    if (v.at >= start + 2s && v.routes[0].hol_ratio) hol.push_back(*v.routes[0].hol_ratio);
  });
  REQUIRE(!hol.empty());
  const double expected = ms(blocking) / 200.0;
  CAPTURE(hol.front(), hol[hol.size() / 2], hol.back(), ms(feed.view().canaries[0].epsilon));
  CHECK(hol.front() == Approx(expected).margin(0.05));
  CHECK(hol.back() == Approx(expected).margin(0.05));  // and it stays there
}

namespace {

/// A closed-loop ramp against a pool of `workers` threads serving requests in
/// FIFO order, each taking S·(1 + U(−noise, noise)): N clients, each sending its
/// next request as soon as the last one is answered, for `step` per N.
struct PoolRamp {
  Duration service = 100ms;
  int workers = 40;
  double noise = 0.05;
  std::vector<int> steps{1, 2, 4, 8, 16, 32, 64};
  Duration step = 5s;
  std::uint64_t seed = 1;
  /// Serve the newest waiting request first, as a limiter that lets new
  /// arrivals overtake its waiters does: some requests starve.
  bool lifo = false;
  /// Called at the end of each step, before the next one starts.
  std::function<void(int n, TimePoint end)> at_step_end;

  struct Done {
    TimePoint a, c;
  };
  std::vector<Done> done;

  TimePoint run(RouteSignals& route, TimePoint start) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-noise, noise);
    struct Request {
      std::uint64_t id;
      TimePoint a;
    };
    std::deque<Request> queue;
    std::multimap<TimePoint, Request> serving;
    int idle_workers = workers;
    std::uint64_t ids = 0;
    auto submit = [&](TimePoint t) {
      const Request r{++ids, t};
      route.started(r.id, t);
      queue.push_back(r);
    };
    auto dispatch = [&](TimePoint t) {
      while (idle_workers > 0 && !queue.empty()) {
        --idle_workers;
        const auto s = std::chrono::duration_cast<Duration>(service * (1 + u(rng)));
        if (lifo) {
          serving.emplace(t + s, queue.back());
          queue.pop_back();
        } else {
          serving.emplace(t + s, queue.front());
          queue.pop_front();
        }
      }
    };
    auto complete_next = [&](bool resubmit) {
      auto node = serving.extract(serving.begin());
      const TimePoint c = node.key();
      ++idle_workers;
      route.finished(node.mapped().id, heavy(node.mapped().a, c));
      done.push_back({node.mapped().a, c});
      if (resubmit) submit(c);
      dispatch(c);
      return c;
    };
    int clients = 0;
    TimePoint t = start;
    for (int n : steps) {
      route.step(n, t);
      for (; clients < n; ++clients) submit(t);
      dispatch(t);
      const TimePoint step_end = t + step;
      while (!serving.empty() && serving.begin()->first < step_end) complete_next(true);
      if (at_step_end) at_step_end(n, step_end);
      t = step_end;
    }
    // The phase ends by letting its requests finish; then the route is idle.
    TimePoint last = t;
    while (!serving.empty()) last = complete_next(false);
    route.idle(last);
    return last;
  }
};

}  // namespace

TEST_CASE("S is learned as the p5 latency of the ramp's N = 1 step", "[route_signals][capacity]") {
  RouteSignals route(route_settings());
  PoolRamp ramp;
  std::optional<Duration> during_first_step;
  std::optional<Duration> after_first_step;
  std::vector<double> first_step;
  ramp.at_step_end = [&](int n, TimePoint end) {
    if (n == 1) {
      during_first_step = route.view(end).service_time;
      for (const auto& d : ramp.done) first_step.push_back(seconds(d.c - d.a));
    }
    if (n == 2) after_first_step = route.view(end).service_time;
  };
  ramp.run(route, t0);
  CHECK_FALSE(during_first_step);  // learned when that step closes
  REQUIRE(after_first_step);
  // Nearest rank p5 of the N = 1 latencies (each a bare service time).
  std::sort(first_step.begin(), first_step.end());
  const auto rank =
      static_cast<std::size_t>(std::ceil(0.05 * static_cast<double>(first_step.size()))) - 1;
  CHECK(seconds(*after_first_step) == Approx(first_step[rank]).margin(1e-9));
  CHECK(seconds(*after_first_step) == Approx(0.1 * 0.96).margin(0.005));
}

TEST_CASE("a configured S is used as is", "[route_signals][capacity]") {
  RouteSignals route(route_settings(120ms));
  PoolRamp ramp;
  ramp.run(route, t0);
  CHECK(route.view(t0 + 40s).service_time == 120ms);
}

TEST_CASE("executor capacity of a 40-thread pool comes out 40 ± 5", "[route_signals][capacity]") {
  const std::uint64_t seed = GENERATE(1u, 2u, 3u);
  const bool configured = GENERATE(false, true);
  CAPTURE(seed, configured);
  RouteSignals route(configured ? route_settings(100ms) : route_settings());
  PoolRamp ramp;
  ramp.seed = seed;
  const TimePoint end = ramp.run(route, t0);
  const RouteView v = route.view(end);
  REQUIRE(v.service_time);
  REQUIRE(v.capacity);
  CHECK(*v.capacity == Approx(40).margin(5));
  // Only N = 64 is saturated (R ≥ 1.25 S): below 40 clients nobody queues.
  const double s = seconds(*v.service_time);
  for (const UslPoint& p : v.steps) {
    CAPTURE(p.concurrency, p.latency / s);
    CHECK((p.latency >= 1.25 * s) == (p.concurrency > 40));
  }
  // Little's law: X(N)·R(N) is the mean number in flight, N in a closed loop
  // (the last step also holds its drain, which lowers it by under 2 %).
  for (const UslPoint& p : v.steps) {
    CAPTURE(p.concurrency);
    CHECK(p.throughput * p.latency == Approx(p.concurrency).epsilon(0.02));
  }
}

TEST_CASE("executor capacity on latency curves S·⌈N/c⌉ (c = 40)", "[route_signals][capacity]") {
  // The batch model: with N clients every request takes S·⌈N/c⌉ (±5 %), so
  // X(N)·S = N/⌈N/c⌉: 32 at N = 64, 40 at N = 80 and 120. The capacity is
  // the largest over saturated steps.
  const std::uint64_t seed = GENERATE(1u, 2u, 3u);
  CAPTURE(seed);
  RouteSignals route(route_settings());
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-0.05, 0.05);
  const Duration S = 100ms;
  const std::vector<int> steps{1, 2, 4, 8, 16, 32, 64, 80, 120};
  TimePoint t = t0;
  std::uint64_t id = 0;
  for (int n : steps) {
    route.step(n, t);
    const auto latency = S * static_cast<int>(std::ceil(n / 40.0));
    const TimePoint step_end = t + 5s;
    for (int client = 0; client < n; ++client) {
      for (TimePoint a = t;;) {
        const TimePoint c = a + std::chrono::duration_cast<Duration>(latency * (1 + u(rng)));
        if (c > step_end) break;
        route.started(++id, a);
        route.finished(id, heavy(a, c));
        a = c;
      }
    }
    t = step_end;
  }
  route.idle(t);
  const RouteView v = route.view(t);
  REQUIRE(v.capacity);
  CHECK(*v.capacity == Approx(40).margin(5));
  // Powers of two alone would have said 32: N = 64 is two rounds of 40.
  const auto at64 = std::find_if(v.steps.begin(), v.steps.end(),
                                 [](const UslPoint& p) { return p.concurrency == 64; });
  REQUIRE(at64 != v.steps.end());
  CHECK(at64->throughput * seconds(*v.service_time) == Approx(32).margin(3));
}

TEST_CASE("queue amplification at N = 64 against 40 workers is 64 / 40 · S̄ / S",
          "[route_signals][amplification]") {
  RouteSignals route(route_settings());
  PoolRamp ramp;
  std::optional<RouteView> at64;
  TimePoint step_start{};
  ramp.at_step_end = [&](int n, TimePoint end) {
    if (n == 32) step_start = end;
    if (n == 64) at64 = route.view(end);
  };
  ramp.run(route, t0);
  REQUIRE(at64);
  REQUIRE(at64->service_time);
  REQUIRE(at64->amplification);
  CHECK(at64->concurrency == 64);
  // W̄ since the step started (shorter than W): the requests sent in it,
  // answered by the end with their latency, then the ones still out at the
  // end for longer than that mean with their age.
  const TimePoint end = step_start + 5s;
  double sum = 0;
  int count = 0;
  for (const auto& d : ramp.done) {
    if (d.a >= step_start && d.c < end) {
      sum += seconds(d.c - d.a);
      ++count;
    }
  }
  const double answered = sum / count;
  for (const auto& d : ramp.done) {
    if (d.a >= step_start && d.a <= end && d.c >= end && seconds(end - d.a) > answered) {
      sum += seconds(end - d.a);
      ++count;
    }
  }
  const double mean = sum / count;
  REQUIRE(at64->mean_latency);
  CHECK(seconds(*at64->mean_latency) == Approx(mean).margin(1e-6));
  const double s = seconds(*at64->service_time);
  CHECK(*at64->amplification == Approx(mean / s));
  // Steady state: 64 clients share 40 workers, R = 64/40 · S̄ with S̄ = 100 ms.
  CHECK(*at64->amplification == Approx(64.0 / 40.0 * 0.1 / s).epsilon(0.05));
}

TEST_CASE("a pool that starves some of its waiters: amplification and capacity still hold",
          "[route_signals][amplification][capacity]") {
  // Served newest first, a few requests wait for the whole step while the
  // rest cycle at about S: the mean over completed requests alone says ~1.0·S,
  // yet 64 clients on 40 workers still wait 64/40·S on average.
  RouteSignals route(route_settings(100ms));
  PoolRamp ramp;
  ramp.lifo = true;
  std::optional<RouteView> at64;
  TimePoint step_start{};
  ramp.at_step_end = [&](int n, TimePoint end) {
    if (n == 32) step_start = end;
    if (n == 64) at64 = route.view(end);
  };
  const TimePoint last = ramp.run(route, t0);
  REQUIRE(at64);
  double sum = 0;
  int count = 0;
  for (const auto& d : ramp.done) {
    if (d.c >= step_start && d.c < step_start + 5s) {
      sum += seconds(d.c - d.a);
      ++count;
    }
  }
  CHECK(sum / count < 1.1 * 0.1);  // what a mean over completions would say
  REQUIRE(at64->amplification);
  CHECK(*at64->amplification == Approx(1.6).epsilon(0.05));
  const RouteView v = route.view(last);
  REQUIRE(v.capacity);
  CHECK(*v.capacity == Approx(40).margin(5));
}

TEST_CASE("queue amplification needs S and 5 completions", "[route_signals][amplification]") {
  SECTION("a ramp that skips N = 1 has no S (and no capacity)") {
    RouteSignals route(route_settings());
    PoolRamp ramp;
    ramp.steps = {2, 4, 8, 16};
    const TimePoint end = ramp.run(route, t0);
    const RouteView v = route.view(end);
    CHECK_FALSE(v.service_time);
    CHECK_FALSE(v.amplification);
    CHECK_FALSE(v.capacity);
    CHECK(v.mean_latency);  // the mean is known, just not relative to anything
  }
  SECTION("four completions are not enough, five are") {
    RouteSignals route(route_settings(100ms));
    for (int i = 0; i < 5; ++i) {
      const TimePoint a = t0 + i * 1s;
      route.started(i + 1, a);
      route.finished(i + 1, heavy(a, a + 300ms));
      const RouteView v = route.view(a + 500ms);
      CAPTURE(i);
      CHECK(v.amplification.has_value() == (i == 4));
    }
    CHECK(*route.view(t0 + 5s).amplification == Approx(3.0));
  }
  SECTION("failed requests that say nothing about latency are left out") {
    RouteSignals route(route_settings(100ms));
    for (int i = 0; i < 10; ++i) {
      const TimePoint a = t0 + i * 100ms;
      route.started(i + 1, a);
      route.finished(i + 1, heavy(a, a + 1ms, i % 2 ? Outcome::connect_error : Outcome::ok));
    }
    const RouteView v = route.view(t0 + 2s);
    CHECK(v.completed_in_window == 5);
    REQUIRE(v.amplification);
    CHECK(*v.amplification == Approx(0.01));
  }
}

TEST_CASE(
    "the knee: from 4 steps of at least 1 s, capped by the capacity, within the tested "
    "range",
    "[route_signals][knee]") {
  RouteSignals route(route_settings());
  PoolRamp ramp;
  std::map<int, RouteView> views;
  ramp.at_step_end = [&](int n, TimePoint end) { views.emplace(n, route.view(end)); };
  ramp.run(route, t0);
  CHECK(views.at(4).steps.size() == 3);
  CHECK_FALSE(views.at(4).knee);

  // Four steps, nothing saturated yet: the USL (or model-free) knee, if it
  // lies within the concurrency tested so far; extrapolation is not exported.
  const RouteView& at8 = views.at(8);
  REQUIRE(at8.steps.size() == 4);
  CHECK_FALSE(at8.capacity);
  const auto fitted8 = saturation_concurrency(at8.steps);
  if (fitted8 && *fitted8 <= 8) {
    CHECK(at8.knee == fitted8);
  } else {
    CHECK_FALSE(at8.knee);
  }

  // Saturated at 64 against 40 workers: a pool stops scaling at its size, so
  // the knee is no later than the capacity estimate.
  const RouteView& at64 = views.at(64);
  REQUIRE(at64.steps.size() == 7);
  REQUIRE(at64.capacity);
  REQUIRE(at64.knee);
  const auto fitted64 = saturation_concurrency(at64.steps);
  const int cap = static_cast<int>(*at64.capacity);
  CHECK(*at64.knee == (fitted64 ? std::min(*fitted64, cap) : cap));
  CHECK(*at64.knee <= 40);
  CHECK(*at64.knee >= 32);
}

TEST_CASE("steps shorter than 1 s do not count", "[route_signals][knee]") {
  RouteSignals route(route_settings());
  PoolRamp ramp;
  ramp.step = 900ms;
  const TimePoint end = ramp.run(route, t0);
  const RouteView v = route.view(end);
  // Every step but the last (which lasts until its drain ends) is too short.
  CHECK(v.steps.size() <= 1);
  CHECK_FALSE(v.knee);
}

TEST_CASE("a new ramp replaces the previous one", "[route_signals][knee]") {
  RouteSignals route(route_settings());
  PoolRamp first;
  TimePoint end = first.run(route, t0);
  REQUIRE(route.view(end).steps.size() == 7);
  PoolRamp second;
  second.steps = {1, 2};
  end = second.run(route, end + 10s);
  CHECK(route.view(end).steps.size() == 2);
}
