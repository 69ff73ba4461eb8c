// The runtime status of DESIGN "Runtime status": the pure rules (`assess`) on
// hand-made views, and the machine with memory (`StatusMachine`) fed the
// monitor's 25 ms ticks with a 1 s evaluation interval and hold = 3.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "exporter/signals/status.hpp"
#include "timeline.hpp"

namespace {

using namespace loopcanary::exporter;
using loopcanary::config::Thresholds;
using loopcanary::exporter::testing::t0;
using namespace std::chrono_literals;

const std::vector<std::string> kRoutes{"agent"};

/// A healthy target with plenty of evidence, a baseline, one route.
TargetView healthy() {
  TargetView v;
  v.at = t0;
  v.window = 10s;
  v.stall_threshold = 50ms;
  v.lag_p99 = 1ms;
  v.expected = 1000;
  v.evidence = 1000;
  v.has_baseline = true;
  v.canaries = {{1ms, 1ms}};
  v.routes.resize(1);
  return v;
}

std::size_t idx(Finding f) { return static_cast<std::size_t>(f); }

const Evidence* find(const Assessment& a, Finding f, const std::string& signal, double threshold) {
  for (const Evidence& e : a.evidence[idx(f)]) {
    if (e.signal == signal && e.threshold == Approx(threshold)) return &e;
  }
  return nullptr;
}

struct Rule {
  const char* what;
  std::function<void(TargetView&)> set;
  Level entry;
  std::vector<Finding> findings;
};

}  // namespace

TEST_CASE("each entry condition alone raises its level, and the one just below it does not",
          "[status][assess]") {
  const Thresholds t;
  const auto amp = t.degraded.queue_amplification;
  const auto rule = GENERATE_COPY(values<Rule>({
      {"healthy", [](TargetView&) {}, Level::healthy, {}},
      // 3 unresponsive
      {"stall in progress 2 s",
       [](TargetView& v) { v.stall_in_progress = 2s; },
       Level::unresponsive,
       {Finding::event_loop_starvation}},
      {"stall in progress 1.999 s",
       [](TargetView& v) { v.stall_in_progress = 1999ms; },
       Level::healthy,
       {}},
      {"3 consecutive failures",
       [](TargetView& v) { v.consecutive_failures = 3; },
       Level::unresponsive,
       {Finding::canary_failures}},
      {"2 consecutive failures",
       [](TargetView& v) { v.consecutive_failures = 2; },
       Level::healthy,
       {}},
      // 2 critical
      {"stall max 500 ms",
       [](TargetView& v) { v.stall_max = 500ms; },
       Level::critical,
       {Finding::event_loop_starvation}},
      {"stall max 499 ms", [](TargetView& v) { v.stall_max = 499ms; }, Level::healthy, {}},
      {"stall ratio 10 %",
       [](TargetView& v) { v.stall_ratio = 0.10; },
       Level::critical,
       {Finding::event_loop_starvation}},
      // 1 degraded
      {"stall ratio 9.99 %",
       [](TargetView& v) { v.stall_ratio = 0.0999; },
       Level::degraded,
       {Finding::event_loop_starvation}},
      {"stall ratio 1 %",
       [](TargetView& v) { v.stall_ratio = 0.01; },
       Level::degraded,
       {Finding::event_loop_starvation}},
      {"stall ratio 0.99 %", [](TargetView& v) { v.stall_ratio = 0.0099; }, Level::healthy, {}},
      {"lag p99 100 ms",
       [](TargetView& v) { v.lag_p99 = 100ms; },
       Level::degraded,
       {Finding::event_loop_starvation}},
      {"lag p99 99 ms", [](TargetView& v) { v.lag_p99 = 99ms; }, Level::healthy, {}},
      {"HOL 0.5",
       [](TargetView& v) { v.routes[0].hol_ratio = 0.5; },
       Level::degraded,
       {Finding::head_of_line_blocking}},
      {"HOL 0.49", [](TargetView& v) { v.routes[0].hol_ratio = 0.49; }, Level::healthy, {}},
      {"queue amplification at its threshold",
       [amp](TargetView& v) { v.routes[0].amplification = amp; },
       Level::degraded,
       {Finding::executor_queue_amplification}},
      {"queue amplification just below",
       [amp](TargetView& v) { v.routes[0].amplification = amp - 0.01; },
       Level::healthy,
       {}},
      // Findings that say why without raising a level by themselves.
      {"a ramp beyond its knee",
       [](TargetView& v) {
         v.routes[0].knee = 40;
         v.routes[0].concurrency = 64;
       },
       Level::healthy,
       {Finding::concurrency_saturation}},
      {"a ramp at its knee",
       [](TargetView& v) {
         v.routes[0].knee = 40;
         v.routes[0].concurrency = 40;
       },
       Level::healthy,
       {}},
      {"5 % of probes failed",
       [](TargetView& v) { v.failure_ratio = 0.05; },
       Level::healthy,
       {Finding::canary_failures}},
  }));
  CAPTURE(rule.what);
  TargetView v = healthy();
  rule.set(v);
  const Assessment a = assess(v, t, kRoutes);
  CHECK_FALSE(a.unknown);
  CHECK(static_cast<int>(a.entry) == static_cast<int>(rule.entry));
  for (std::size_t f = 0; f < kFindingCount; ++f) {
    CAPTURE(kFindingNames[f]);
    const bool want =
        std::find(rule.findings.begin(), rule.findings.end(), Finding(f)) != rule.findings.end();
    CHECK(a.finding_enter[f] == want);
  }

  // Entry is immediate: a machine at healthy jumps straight to the entry level.
  StatusMachine m(t.hold, 1s);
  m.update(t0, assess(healthy(), t, kRoutes));
  REQUIRE(m.level() == Level::healthy);
  m.update(t0 + 25ms, a);
  CHECK(static_cast<int>(m.level()) == static_cast<int>(rule.entry));
}

TEST_CASE("every finding lists the values and thresholds behind it", "[status][assess]") {
  const Thresholds t;
  TargetView v = healthy();
  v.stall_max = 600ms;
  v.stall_ratio = 0.02;
  v.lag_p99 = 120ms;
  v.routes[0].hol_ratio = 0.7;
  v.routes[0].amplification = 1.8;
  const Assessment a = assess(v, t, kRoutes);
  CHECK(a.entry == Level::critical);

  struct Want {
    Finding finding;
    const char* signal;
    double value;
    double threshold;
    bool holds;
  };
  const std::vector<Want> wants{
      {Finding::event_loop_starvation, "stall_in_progress_seconds", 0, 2, false},
      {Finding::event_loop_starvation, "stall_max_seconds", 0.6, 0.5, true},
      {Finding::event_loop_starvation, "stall_ratio", 0.02, 0.10, false},
      {Finding::event_loop_starvation, "stall_ratio", 0.02, 0.01, true},
      {Finding::event_loop_starvation, "lag_p99_seconds", 0.12, 0.1, true},
      {Finding::head_of_line_blocking, "hol_blocking_ratio{route=\"agent\"}", 0.7, 0.5, true},
      {Finding::executor_queue_amplification, "queue_amplification_ratio{route=\"agent\"}", 1.8,
       t.degraded.queue_amplification, true},
      {Finding::canary_failures, "consecutive_failures", 0, 3, false},
      {Finding::prober_starved, "prober_lag_worst_seconds", 0, 0.05, false},
  };
  for (const Want& w : wants) {
    CAPTURE(kFindingNames[idx(w.finding)], w.signal, w.threshold);
    const Evidence* e = find(a, w.finding, w.signal, w.threshold);
    REQUIRE(e);
    CHECK(e->value == Approx(w.value));
    CHECK(e->op == ">=");
    CHECK(e->holds == w.holds);
  }
}

TEST_CASE("an assessment written over the previous one is the fresh one", "[status][assess]") {
  // TargetMonitor reuses one Assessment (its strings and vectors) for every
  // evaluation: nothing of the previous one may show through.
  const Thresholds t;
  TargetView busy = healthy();
  busy.stall_max = 600ms;
  busy.stall_ratio = 0.02;
  busy.routes.resize(3);
  for (auto& r : busy.routes) {
    r.hol_ratio = 0.7;
    r.amplification = 1.8;
    r.knee = 4;
    r.concurrency = 8;
  }
  busy.connections_stalled = 1;
  busy.connections_open = 4;
  busy.partial_stall_in_progress = 300ms;
  busy.partial_stall_max = 300ms;
  busy.prober_starved = true;
  const std::vector<std::string> routes{"agent", "report", "export"};
  TargetView quiet = healthy();
  quiet.routes.clear();
  TargetView warming = healthy();
  warming.warming_up = true;
  warming.warmup_left = 2s;

  const auto same = [](const Assessment& a, const Assessment& b) {
    CHECK(a.unknown == b.unknown);
    CHECK(a.unknown_reason == b.unknown_reason);
    CHECK(a.entry == b.entry);
    CHECK(a.exit_holds == b.exit_holds);
    CHECK(a.finding_enter == b.finding_enter);
    CHECK(a.finding_exit == b.finding_exit);
    CHECK(a.summary == b.summary);
    for (std::size_t f = 0; f < kFindingCount; ++f) {
      CAPTURE(kFindingNames[f]);
      REQUIRE(a.evidence[f].size() == b.evidence[f].size());
      for (std::size_t i = 0; i < a.evidence[f].size(); ++i) {
        const Evidence &x = a.evidence[f][i], &y = b.evidence[f][i];
        CHECK(x.signal == y.signal);
        CHECK(x.value == y.value);
        CHECK(x.op == y.op);
        CHECK(x.threshold == y.threshold);
        CHECK(x.holds == y.holds);
        CHECK(x.level == y.level);
        CHECK(x.unit == y.unit);
      }
    }
  };
  Assessment reused;
  const std::vector<std::pair<const TargetView*, const std::vector<std::string>*>> order{
      {&busy, &routes},
      {&quiet, &kRoutes},
      {&busy, &routes},
      {&warming, &kRoutes},
      {&quiet, &kRoutes}};
  for (const auto& [view, names] : order) {
    assess(*view, t, *names, reused);
    same(reused, assess(*view, t, *names));
  }
  CHECK(reused.evidence[idx(Finding::head_of_line_blocking)].empty());  // quiet has no routes
}

TEST_CASE("exit conditions: each level leaves only when all of its exits hold",
          "[status][assess]") {
  const Thresholds t;
  const auto exits = [&](const std::function<void(TargetView&)>& set) {
    TargetView v = healthy();
    set(v);
    return assess(v, t, kRoutes).exit_holds;
  };
  auto level = [](Level l) { return static_cast<std::size_t>(l); };

  CHECK(exits([](TargetView&) {})[level(Level::unresponsive)]);
  CHECK(exits([](TargetView&) {})[level(Level::critical)]);
  CHECK(exits([](TargetView&) {})[level(Level::degraded)]);

  // Unresponsive: in progress < 1 s and a probe answered.
  CHECK(exits([](TargetView& v) { v.stall_in_progress = 999ms; })[level(Level::unresponsive)]);
  CHECK_FALSE(exits([](TargetView& v) { v.stall_in_progress = 1s; })[level(Level::unresponsive)]);
  CHECK_FALSE(exits([](TargetView& v) { v.consecutive_failures = 1; })[level(Level::unresponsive)]);
  // Critical: stall max < 250 ms and ratio < 5 %.
  CHECK(exits([](TargetView& v) { v.stall_max = 249ms; })[level(Level::critical)]);
  CHECK_FALSE(exits([](TargetView& v) { v.stall_max = 250ms; })[level(Level::critical)]);
  CHECK(exits([](TargetView& v) { v.stall_ratio = 0.0499; })[level(Level::critical)]);
  CHECK_FALSE(exits([](TargetView& v) { v.stall_ratio = 0.05; })[level(Level::critical)]);
  // Degraded: lag p99 < 50 ms, ratio < 0.5 %, HOL < 0.25, amplification below its exit.
  CHECK(exits([](TargetView& v) { v.lag_p99 = 49ms; })[level(Level::degraded)]);
  CHECK_FALSE(exits([](TargetView& v) { v.lag_p99 = 50ms; })[level(Level::degraded)]);
  CHECK_FALSE(exits([](TargetView& v) { v.stall_ratio = 0.005; })[level(Level::degraded)]);
  CHECK(exits([](TargetView& v) { v.routes[0].hol_ratio = 0.24; })[level(Level::degraded)]);
  CHECK_FALSE(exits([](TargetView& v) { v.routes[0].hol_ratio = 0.25; })[level(Level::degraded)]);
  const double amp_exit = t.degraded.exit_queue_amplification;
  CHECK(exits(
      [&](TargetView& v) { v.routes[0].amplification = amp_exit - 0.01; })[level(Level::degraded)]);
  CHECK_FALSE(
      exits([&](TargetView& v) { v.routes[0].amplification = amp_exit; })[level(Level::degraded)]);
}

TEST_CASE("unknown when loopcanary cannot vouch for the numbers", "[status][assess]") {
  const Thresholds t;
  SECTION("the prober was starved") {
    TargetView v = healthy();
    v.prober_starved = true;
    v.prober_lag_worst = 80ms;
    v.stall_max = 600ms;  // whatever the target seems to do
    const Assessment a = assess(v, t, kRoutes);
    CHECK(a.unknown);
    CHECK_THAT(a.unknown_reason, Catch::Contains("starved") && Catch::Contains("80 ms"));
    CHECK(a.finding_enter[idx(Finding::prober_starved)]);
  }
  SECTION("under half the expected probes were reliably timed") {
    TargetView v = healthy();
    v.evidence = 499;
    Assessment a = assess(v, t, kRoutes);
    CHECK(a.unknown);
    CHECK_THAT(a.unknown_reason, Catch::Contains("499 of 1000"));
    v.evidence = 500;
    CHECK_FALSE(assess(v, t, kRoutes).unknown);
  }
  SECTION("no probe expected at all") {
    TargetView v = healthy();
    v.expected = 0;
    v.evidence = 0;
    CHECK(assess(v, t, kRoutes).unknown);
  }
  SECTION("no baseline yet") {
    TargetView v = healthy();
    v.has_baseline = false;
    const Assessment a = assess(v, t, kRoutes);
    CHECK(a.unknown);
    CHECK_THAT(a.unknown_reason, Catch::Contains("baseline"));
  }
  SECTION("but consecutive failures still make a target without a baseline unresponsive") {
    TargetView v = healthy();
    v.has_baseline = false;
    v.consecutive_failures = 3;
    const Assessment a = assess(v, t, kRoutes);
    CHECK_FALSE(a.unknown);
    CHECK(a.entry == Level::unresponsive);
    StatusMachine m(t.hold, 1s);
    m.update(t0, a);
    CHECK(m.level() == Level::unresponsive);
  }
}

namespace {

/// Drives a StatusMachine with the monitor's 25 ms tick; `view_at` says what
/// the target looks like at each tick.
struct Ticks {
  Thresholds t;
  StatusMachine machine{t.hold, 1s};
  TimePoint now = t0;

  void run(Duration length, const std::function<void(TargetView&)>& set = {},
           const std::function<void(TimePoint, Level)>& each = {}) {
    const TimePoint end = now + length;
    while (now < end) {
      now += 25ms;
      TargetView v = healthy();
      if (set) set(v);
      machine.update(now, assess(v, t, kRoutes));
      if (each) each(now, machine.level());
    }
  }
  Level level() const { return machine.level(); }
};

auto stuck = [](TargetView& v) { v.stall_in_progress = 3s; };

}  // namespace

TEST_CASE("leaving steps down one level at a time, after `hold` evaluations 1 s apart",
          "[status][machine]") {
  Ticks ticks;
  ticks.run(100ms);
  REQUIRE(ticks.level() == Level::healthy);
  ticks.run(25ms, stuck);
  REQUIRE(ticks.level() == Level::unresponsive);
  const TimePoint entered = ticks.now;

  // Calm from now on: 3 evaluations per level, one level at a time.
  std::vector<std::pair<Duration, Level>> changes;
  Level last = ticks.level();
  ticks.run(12s, {}, [&](TimePoint now, Level l) {
    if (l != last) changes.emplace_back(now - entered, l);
    last = l;
  });
  REQUIRE(changes.size() == 3);
  CHECK(changes[0] == std::make_pair(Duration(3s), Level::critical));
  CHECK(changes[1] == std::make_pair(Duration(6s), Level::degraded));
  CHECK(changes[2] == std::make_pair(Duration(9s), Level::healthy));
}

TEST_CASE("a level holds while its exit conditions do not", "[status][machine]") {
  Ticks ticks;
  ticks.run(100ms);
  // Critical, then stall max settles between the exit (250 ms) and the entry (500 ms).
  ticks.run(25ms, [](TargetView& v) { v.stall_max = 600ms; });
  REQUIRE(ticks.level() == Level::critical);
  ticks.run(20s, [](TargetView& v) { v.stall_max = 300ms; });
  CHECK(ticks.level() == Level::critical);
  // Below the exit it steps down after three evaluations.
  ticks.run(3s, [](TargetView& v) { v.stall_max = 200ms; });
  CHECK(ticks.level() == Level::degraded);
}

TEST_CASE("a relapse during the hold starts the count again", "[status][machine]") {
  Ticks ticks;
  ticks.run(100ms);
  ticks.run(25ms, stuck);
  REQUIRE(ticks.level() == Level::unresponsive);
  const TimePoint entered = ticks.now;
  // Two calm evaluations (+1 s, +2 s) of the three needed.
  ticks.run(2s);
  REQUIRE(ticks.level() == Level::unresponsive);

  TimePoint expected_step;
  SECTION("a relapse seen at an evaluation") {
    ticks.run(1s, [](TargetView& v) { v.stall_in_progress = 2500ms; });  // seen at +3 s
    expected_step = entered + 6s;  // then calm at +4, +5, +6 s
  }
  SECTION("a relapse seen only between two evaluations (entries are checked on every tick)") {
    ticks.run(400ms);
    ticks.run(100ms, stuck);       // +2.425 .. +2.5 s
    expected_step = entered + 5s;  // then calm at +3, +4, +5 s
  }
  std::optional<TimePoint> stepped;
  ticks.run(5s, {}, [&](TimePoint now, Level l) {
    if (!stepped && l != Level::unresponsive) stepped = now;
  });
  REQUIRE(stepped);
  CHECK(*stepped - entered == expected_step - entered);
  CHECK(ticks.level() == Level::critical);
}

TEST_CASE("a worse entry during a step-down is immediate", "[status][machine]") {
  Ticks ticks;
  ticks.run(100ms);
  ticks.run(25ms, [](TargetView& v) { v.lag_p99 = 150ms; });
  REQUIRE(ticks.level() == Level::degraded);
  ticks.run(25ms, stuck);
  CHECK(ticks.level() == Level::unresponsive);
}

TEST_CASE("unknown replaces the level while it lasts; then the entry level is taken at once",
          "[status][machine]") {
  Ticks ticks;
  ticks.run(100ms, [](TargetView& v) { v.stall_max = 600ms; });
  REQUIRE(ticks.level() == Level::critical);
  ticks.run(1s, [](TargetView& v) { v.prober_starved = true; });
  CHECK(ticks.level() == Level::unknown);
  ticks.run(25ms, [](TargetView& v) { v.lag_p99 = 150ms; });
  CHECK(ticks.level() == Level::degraded);
}

TEST_CASE("a new machine is unknown until its first update", "[status][machine]") {
  StatusMachine m(3, 1s);
  CHECK(m.level() == Level::unknown);
  for (std::size_t f = 0; f < kFindingCount; ++f) CHECK_FALSE(m.findings()[f]);
}

TEST_CASE("findings have enter/exit hysteresis", "[status][findings]") {
  struct Case {
    const char* what;
    Finding finding;
    std::function<void(TargetView&, double)> set;
    double enter, between, exit;
  };
  const auto c = GENERATE(values<Case>({
      {"lag p99 (s)", Finding::event_loop_starvation,
       [](TargetView& v, double x) {
         v.lag_p99 = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(x));
       },
       0.120, 0.070, 0.040},
      {"HOL", Finding::head_of_line_blocking,
       [](TargetView& v, double x) { v.routes[0].hol_ratio = x; }, 0.6, 0.3, 0.2},
      {"amplification", Finding::executor_queue_amplification,
       [](TargetView& v, double x) { v.routes[0].amplification = x; }, 1.6, 1.3, 1.1},
      {"failure ratio", Finding::canary_failures,
       [](TargetView& v, double x) { v.failure_ratio = x; }, 0.06, 0.02, 0.005},
  }));
  CAPTURE(c.what);
  Ticks ticks;
  auto with = [&](double x) { return [&, x](TargetView& v) { c.set(v, x); }; };
  ticks.run(100ms);
  CHECK_FALSE(ticks.machine.finding(c.finding));
  ticks.run(25ms, with(c.enter));
  CHECK(ticks.machine.finding(c.finding));
  ticks.run(5s, with(c.between));
  CHECK(ticks.machine.finding(c.finding));
  ticks.run(25ms, with(c.exit));
  CHECK_FALSE(ticks.machine.finding(c.finding));
  // Rising to between the thresholds does not raise it again.
  ticks.run(1s, with(c.between));
  CHECK_FALSE(ticks.machine.finding(c.finding));
}

TEST_CASE("prober_starved is raised with the status unknown, and cleared with it",
          "[status][findings]") {
  Ticks ticks;
  ticks.run(100ms);
  ticks.run(25ms, [](TargetView& v) { v.prober_starved = true; });
  CHECK(ticks.level() == Level::unknown);
  CHECK(ticks.machine.finding(Finding::prober_starved));
  ticks.run(25ms);
  CHECK(ticks.level() == Level::healthy);
  CHECK_FALSE(ticks.machine.finding(Finding::prober_starved));
}

TEST_CASE("level and finding names", "[status]") {
  CHECK(name(Level::unknown) == "unknown");
  CHECK(name(Level::healthy) == "healthy");
  CHECK(name(Level::degraded) == "degraded");
  CHECK(name(Level::critical) == "critical");
  CHECK(name(Level::unresponsive) == "unresponsive");
  CHECK(static_cast<int>(Level::unknown) == -1);
  CHECK(static_cast<int>(Level::unresponsive) == 3);
  CHECK(name(Finding::event_loop_starvation) == "event_loop_starvation");
  CHECK(name(Finding::prober_starved) == "prober_starved");
}

TEST_CASE("evidence reads in a person's units and names the level it raises",
          "[status][evidence]") {
  CHECK(format_value(0.6, Unit::seconds) == "600 ms");
  CHECK(format_value(0.0035, Unit::seconds) == "3.5 ms");
  CHECK(format_value(3.0213, Unit::seconds) == "3.02 s");
  CHECK(format_value(19.53, Unit::seconds) == "19.5 s");
  CHECK(format_value(0.186, Unit::ratio) == "18.6 %");
  CHECK(format_value(290, Unit::count) == "290");
  CHECK(format_value(1.6234, Unit::count) == "1.623");

  TargetView v = healthy();
  v.stall_max = 600ms;
  v.stall_ratio = 0.186;
  const Assessment a = assess(v, Thresholds{}, kRoutes);
  const Evidence* critical = find(a, Finding::event_loop_starvation, "stall_ratio", 0.1);
  const Evidence* degraded = find(a, Finding::event_loop_starvation, "stall_ratio", 0.01);
  const Evidence* stall_max = find(a, Finding::event_loop_starvation, "stall_max_seconds", 0.5);
  REQUIRE(critical);
  REQUIRE(degraded);
  REQUIRE(stall_max);
  // The same signal against two levels' thresholds is told apart by its level.
  CHECK(critical->level == Level::critical);
  CHECK(degraded->level == Level::degraded);
  CHECK(describe(*critical) == "stall_ratio 18.6 % \u2265 10.0 % (critical)");
  CHECK(describe(*degraded) == "stall_ratio 18.6 % \u2265 1.0 % (degraded)");
  CHECK(describe(*stall_max) == "stall_max_seconds 600 ms \u2265 500 ms (critical)");
}
