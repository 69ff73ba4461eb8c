// The verdict rules: a fail seen at any moment stays a fail; unknown for too
// long, or too short a run, is inconclusive and never a pass.

#include <catch2/catch.hpp>

#include "exporter/audit/histogram.hpp"
#include "exporter/audit/judge.hpp"

using namespace loopcanary::exporter;
using namespace loopcanary::exporter::audit;

namespace {

const std::vector<std::string> kNames{"event_loop_starvation", "prober_starved"};

/// A run of 1 s observations with the given levels (-1 unknown).
SubjectResult run(const std::vector<int>& levels, VerdictRules rules = {},
                  std::optional<Level> trusted = std::nullopt, int warmup = 0) {
  Judge judge(rules, kNames);
  for (std::size_t i = 0; i < levels.size(); ++i) {
    Observation o;
    o.at = static_cast<double>(i) - warmup;
    o.dt = 1;
    o.warmup = static_cast<int>(i) < warmup;
    o.level = static_cast<Level>(levels[i]);
    if (o.level == Level::unknown) {
      o.unknown_reason = "loopcanary itself was starved: its timers fired up to 80 ms late";
      o.trusted_level = trusted;
    }
    judge.observe(o);
  }
  SubjectResult s;
  judge.conclude(s);
  return s;
}

std::vector<int> repeat(int level, int n) {
  return std::vector<int>(static_cast<std::size_t>(n), level);
}

}  // namespace

TEST_CASE("a healthy run passes") {
  const auto s = run(repeat(0, 20));
  CHECK(s.verdict == Verdict::pass);
  CHECK(s.worst == Level::healthy);
  CHECK(exit_code(s.verdict) == 0);
}

TEST_CASE("a fail seen at any moment stays a fail, even if loopcanary starved later") {
  auto levels = repeat(0, 5);
  levels.push_back(2);
  for (int i = 0; i < 14; ++i) levels.push_back(-1);
  const auto s = run(levels);
  CHECK(s.verdict == Verdict::fail);
  CHECK(s.worst == Level::critical);
  CHECK(s.worst_at == 5);
  REQUIRE(!s.reasons.empty());
  CHECK_THAT(s.reasons[0], Catch::Contains("reached critical at +5.0 s"));
  CHECK(exit_code(s.verdict) == 1);
}

TEST_CASE("unknown throughout is inconclusive, never a pass (unknown is -1, below every level)") {
  const auto s = run(repeat(-1, 20));
  CHECK(s.verdict == Verdict::inconclusive);
  CHECK(s.unknown_seconds == 20);
  REQUIRE(!s.reasons.empty());
  CHECK_THAT(s.reasons[0], Catch::Contains("unknown for 20.0 s of 20.0 s"));
  CHECK_THAT(s.reasons[0], Catch::Contains("starved"));
  CHECK(exit_code(s.verdict) == 3);
}

TEST_CASE("evidence still trusted while the status was unknown can fail the run") {
  const auto s = run(repeat(-1, 20), {}, Level::unresponsive);
  CHECK(s.verdict == Verdict::fail);
  CHECK_THAT(s.reasons[0],
             Catch::Contains("evidence loopcanary could still trust reached unresponsive"));
  // Below --fail-on it cannot, and the unknown time still makes it inconclusive.
  CHECK(run(repeat(-1, 20), {}, Level::degraded).verdict == Verdict::inconclusive);
}

TEST_CASE("the unknown share decides between pass and inconclusive") {
  VerdictRules rules;
  rules.max_unknown = 0.1;
  auto levels = repeat(0, 18);
  levels.push_back(-1);
  levels.push_back(-1);  // 2 of 20: 10 %, allowed
  CHECK(run(levels, rules).verdict == Verdict::pass);
  levels.push_back(-1);  // 3 of 21: beyond
  CHECK(run(levels, rules).verdict == Verdict::inconclusive);
  rules.max_unknown = 0.5;
  CHECK(run(levels, rules).verdict == Verdict::pass);
}

TEST_CASE("the warm-up is neither judged nor counted as unknown") {
  auto levels = repeat(-1, 10);  // loopcanary's own start-up: status unknown
  for (int i = 0; i < 15; ++i) levels.push_back(0);
  const auto s = run(levels, {}, std::nullopt, 10);
  CHECK(s.verdict == Verdict::pass);
  CHECK(s.unknown_seconds == 0);
  CHECK(s.warmup_seconds == 10);
  CHECK(s.judged_seconds == 15);
  // A critical moment during the warm-up does not fail the run.
  levels[3] = 2;
  CHECK(run(levels, {}, std::nullopt, 10).verdict == Verdict::pass);
}

TEST_CASE("a status never known is inconclusive, and says so") {
  const auto s = run(repeat(-1, 12), {}, std::nullopt, 12);
  CHECK(s.verdict == Verdict::inconclusive);
  CHECK(s.judged_seconds == 0);
  CHECK_THAT(s.reasons[0], Catch::Contains("never became known in 12.0 s"));
  CHECK_THAT(s.reasons[0], Catch::Contains("starved"));
}

TEST_CASE("too short a run is inconclusive") {
  VerdictRules rules;
  rules.min_judged = 10;
  const auto s = run(repeat(0, 4), rules);
  CHECK(s.verdict == Verdict::inconclusive);
  CHECK_THAT(s.reasons[0], Catch::Contains("too short"));
  // …unless it failed: a fail needs no minimum.
  CHECK(run({0, 3}, rules).verdict == Verdict::fail);
}

TEST_CASE("evidence keeps its worst value, when, and how long it held") {
  Judge judge({}, kNames);
  const std::vector<double> values{0.2, 0.6, 0.9, 0.7, 0.1, 0.8};
  for (std::size_t i = 0; i < values.size(); ++i) {
    Observation o;
    o.at = static_cast<double>(i);
    o.dt = 1;
    o.level = values[i] >= 0.5 ? Level::critical : Level::healthy;
    o.findings = {values[i] >= 0.5, false};
    Evidence e{"stall_max_seconds", values[i],       ">=",         0.5,
               values[i] >= 0.5,    Level::critical, Unit::seconds};
    o.evidence = {{e}, {}};
    judge.observe(o);
  }
  SubjectResult s;
  judge.conclude(s);
  const FindingTrack& f = s.findings[0];
  CHECK(f.seen);
  CHECK(f.first_at == 1);
  CHECK(f.active_seconds == 4);
  REQUIRE(f.worst() != nullptr);
  CHECK(f.worst()->worst == 0.9);
  CHECK(f.worst()->worst_at == 2);
  CHECK(f.worst()->held_seconds == 4);
  CHECK(f.worst()->longest_hold == 3);
  CHECK(f.level() == Level::critical);
  CHECK_FALSE(s.findings[1].seen);
}

TEST_CASE("the report's verdict: any fail fails, then any inconclusive, and none is never a pass") {
  AuditReport r;
  conclude(r);
  CHECK(r.verdict == Verdict::inconclusive);
  SubjectResult pass, fail, unsure;
  pass.verdict = Verdict::pass;
  fail.verdict = Verdict::fail;
  unsure.verdict = Verdict::inconclusive;
  r.subjects = {pass, unsure};
  conclude(r);
  CHECK(r.verdict == Verdict::inconclusive);
  r.subjects = {pass, unsure, fail};
  conclude(r);
  CHECK(r.verdict == Verdict::fail);
  r.subjects = {pass, pass};
  conclude(r);
  CHECK(r.verdict == Verdict::pass);
}

TEST_CASE("quantiles from buckets read as histogram_quantile does") {
  Buckets b;
  b.bounds = {0.1, 0.2, 0.4, INFINITY};
  b.cumulative = {0, 50, 100, 100};
  CHECK(quantile(b, 0.5) == Approx(0.2));
  CHECK(quantile(b, 0.25) == Approx(0.15));
  CHECK(quantile(b, 0.99) == Approx(0.396));
  Buckets later = b;
  later.cumulative = {0, 50, 100, 110};
  const Buckets d = since(later, b);
  CHECK(d.count() == 10);
  CHECK(quantile(d, 0.5) == Approx(0.4));  // beyond every finite bound: the highest one
  CHECK_FALSE(quantile(Buckets{}, 0.5));
}
