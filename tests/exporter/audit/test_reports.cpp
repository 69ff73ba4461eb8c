// The report writers on a hand-made result: what a person and a machine read.

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "exporter/audit/advice.hpp"
#include "exporter/audit/judge.hpp"
#include "exporter/audit/reports.hpp"

using namespace loopcanary::exporter;
using namespace loopcanary::exporter::audit;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

/// A blocking run: starvation and HOL, one route driven, loopcanary starved for a while.
AuditReport blocking_report() {
  const std::vector<std::string> names(kFindingNames.begin(), kFindingNames.end());
  Judge judge({}, names);
  for (int i = 0; i < 20; ++i) {
    Observation o;
    o.at = i;
    o.dt = 1;
    o.level = i < 2 ? Level::healthy : Level::critical;
    o.findings.assign(names.size(), false);
    o.evidence.resize(names.size());
    if (i >= 2) {
      o.findings[0] = o.findings[1] = true;
      o.evidence[0] = {{"stall_max_seconds", 0.2 * i, ">=", 0.5, 0.2 * i >= 0.5, Level::critical,
                        Unit::seconds}};
      o.evidence[1] = {{"hol_blocking_ratio{route=\"agent\"}", 1.0, ">=", 0.5, true,
                        Level::degraded, Unit::ratio}};
    }
    judge.observe(o);
  }
  SubjectResult s;
  s.name = "demo";
  s.url = "http://127.0.0.1:8000";
  judge.conclude(s);
  for (FindingTrack& f : s.findings) f.advice = advice_for(f.name, f.level(), kDefaultRunbook);
  s.stall_seconds = 17.5;
  s.stalls = 3;
  s.stall_max = 3.8;
  s.lag_p99_max = 0.98;
  s.prober.lag_worst = 0.08;
  s.prober.starved_seconds = 4;
  s.prober.cores = 2;
  CanarySummary c;
  c.name = "health";
  c.probes = 1900;
  c.failures["timeout"] = 2;
  c.latency = {1900, 0.002, 0.38};
  s.canaries.push_back(c);
  RouteSummary r;
  r.name = "agent";
  r.requests = 96;
  r.latency = {96, 0.21, 0.41};
  r.hol_max = 1.0;
  r.amplification_max = 2.1;
  s.routes.push_back(r);
  for (int i = -3; i < 20; ++i) {
    Point p;
    p.t = i;
    p.warmup = i < 0;
    p.status = i < 0 ? -1 : (i < 2 ? 0 : 2);
    p.findings.assign(names.size(), i >= 2);
    p.canary_p99 = i >= 2 ? 0.4 : 0.002;
    p.canary_max = i >= 2 ? 0.45 : 0.003;
    p.route_p50 = {0.21};
    p.route_p99 = {0.41};
    p.stall_seconds = i >= 2 ? 0.9 : 0;
    p.prober_lag = i == 5 ? 0.08 : 0.001;
    p.concurrency = i >= 0 ? 2 : 0;
    s.timeline.push_back(p);
  }
  s.steps.push_back({0, 2, "agent"});
  AuditReport report;
  report.mode = "scenario";
  report.scenario = "agent-blocking";
  report.target = "demo";
  report.started_at = "2026-12-01T10:00:00.000Z";
  report.duration = 20;
  report.version = "0.0.0-test";
  report.subjects.push_back(s);
  conclude(report);
  return report;
}

}  // namespace

TEST_CASE("text: the verdict, each finding's worst evidence with meaning, what to do and runbook") {
  const AuditReport r = blocking_report();
  REQUIRE(r.verdict == Verdict::fail);
  const std::string t = text_report(r);
  CHECK_THAT(t,
             Catch::StartsWith("loopcanary audit: FAIL — scenario agent-blocking on target demo"));
  CHECK_THAT(t, Catch::Contains("worst: stall_max_seconds 3.80 s ≥ 500 ms (critical) at +19.0 s"));
  CHECK_THAT(t, Catch::Contains("head_of_line_blocking — degraded"));
  CHECK_THAT(t, Catch::Contains("runbook: "
                                "https://github.com/loopcanary/loopcanary/blob/main/docs/"
                                "runbook.md#loopcanaryruntimecritical"));
  CHECK_THAT(t, Catch::Contains("means: "));
  CHECK_THAT(t, Catch::Contains("do:    "));
  CHECK_THAT(t, Catch::Contains(
                    "loopcanary itself was starved of CPU: its timers fired up to 80 ms late"));
  CHECK_THAT(t, Catch::Contains("--cpus"));
  CHECK_THAT(t, Catch::Contains("HOL max:"));
  CHECK_THAT(t, Catch::Contains("Lag p99 can therefore exceed stall max"));
  CHECK_THAT(t, Catch::Contains("1900 probes, failures 2 timeout"));
  CHECK(count(t, "agent ") >= 1);
}

TEST_CASE("json: versioned, every finding with its worst evidence, only seen findings") {
  const auto j = nlohmann::json::parse(json_report(blocking_report()));
  CHECK(j["schema_version"] == kSchemaVersion);
  CHECK(j["verdict"] == "fail");
  CHECK(j["exit_code"] == 1);
  const auto& s = j["subjects"][0];
  REQUIRE(s["findings"].size() == 2);
  CHECK(s["findings"][0]["finding"] == "event_loop_starvation");
  CHECK(s["findings"][0]["worst"]["worst"] == Approx(3.8));
  CHECK(s["findings"][0]["worst"]["held_seconds"] == Approx(17));
  CHECK(s["routes"][0]["name"] == "agent");
  CHECK(s["timeline"].size() == 23);
  CHECK(s["timeline"][5]["route_p99_seconds"]["agent"] == Approx(0.41));
}

TEST_CASE("junit: one testcase for the verdict and one per finding") {
  const AuditReport r = blocking_report();
  const std::string x = junit_report(r);
  CHECK(count(x, "<testcase ") == 1 + kFindingCount);
  CHECK_THAT(x, Catch::Contains("name=\"verdict\""));
  CHECK_THAT(x, Catch::Contains("<failure message=\"FAIL: the runtime status reached critical"));
  // The critical finding fails its testcase; the degraded one (below --fail-on) does not.
  CHECK(count(x, "type=\"finding\"") == 1);
  CHECK_THAT(x, Catch::Contains(
                    fmt::format("tests=\"{}\" failures=\"2\" errors=\"0\"", 1 + kFindingCount)));
}

TEST_CASE("junit: an inconclusive verdict is an error, not a pass") {
  AuditReport r;
  SubjectResult s;
  s.name = "demo";
  s.verdict = Verdict::inconclusive;
  s.reasons = {"target unreachable: 127.0.0.1:9: connection refused"};
  r.subjects.push_back(s);
  conclude(r);
  const std::string x = junit_report(r);
  CHECK_THAT(
      x,
      Catch::Contains(
          "<error message=\"INCONCLUSIVE: target unreachable: 127.0.0.1:9: connection refused\""));
  CHECK_THAT(x, Catch::Contains("errors=\"1\""));
}

TEST_CASE("html: self-contained, the verdict, each finding and every plot") {
  const std::string h = html_report(blocking_report());
  CHECK_THAT(h, Catch::StartsWith("<!DOCTYPE html>"));
  CHECK_THAT(h, Catch::Contains("data-verdict=\"FAIL\""));
  CHECK(count(h, "<script") == 0);
  CHECK(count(h, "src=\"http") == 0);
  CHECK(count(h, "<link") == 0);
  for (const char* plot : {"status", "latency", "stall", "steps", "prober"}) {
    CHECK(count(h, std::string("data-plot=\"") + plot + "\"") == 1);
  }
  CHECK(count(h, "class=\"card finding\"") == 2);
  CHECK(count(h, "data-series=\"agent p99\"") == 1);
  CHECK(count(h, "data-series=\"canary p99\"") == 1);
  CHECK(count(h, "class=\"bar\"") == 18);
  CHECK_THAT(h, Catch::Contains("warm-up (not judged)"));
  CHECK_THAT(h, Catch::Contains("#loopcanaryruntimecritical"));
}
