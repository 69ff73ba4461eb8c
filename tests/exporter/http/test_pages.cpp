// What the HTTP room renders for people and tools: /api/v1/status JSON and the
// landing page (escaped, with sparklines).

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "exporter/http/landing.hpp"
#include "exporter/http/status_json.hpp"

namespace {

using namespace loopcanary::exporter;
using nlohmann::json;
using namespace std::chrono_literals;

TargetSnapshot snapshot() {
  TargetSnapshot s;
  s.name = "api";
  s.url = "http://127.0.0.1:8000";
  s.level = Level::critical;
  s.canaries = {"health"};
  s.routes = {"agent"};
  TargetView& v = s.view;
  v.window = 10s;
  v.stall_threshold = 50ms;
  v.stall_seconds_total = 1.25;
  v.stalls_total = 2;
  v.stall_in_progress = 0ms;
  v.stall_max = 600ms;
  v.stall_ratio = 0.06;
  v.lag_p99 = 120ms;
  v.busy_ratio = 0.07;
  v.expected = 1000;
  v.evidence = 990;
  v.unreliable = 10;
  v.canaries = {{1ms, 2ms}};
  RouteView r;
  r.in_flight = 3;
  r.completed_in_window = 40;
  r.concurrency = 64;
  r.hol_ratio = 0.8;
  r.hol_delay = 150ms;
  r.service_time = 100ms;
  r.amplification = 1.6;
  r.capacity = 39.5;
  r.knee = 48;
  r.steps = {{1, 10, 0.1}, {64, 400, 0.16}};
  v.routes = {r};
  s.findings[static_cast<std::size_t>(Finding::event_loop_starvation)] = true;
  s.assessment.evidence[static_cast<std::size_t>(Finding::event_loop_starvation)] = {
      {"stall_max_seconds", 0.6, ">=", 0.5, true, Level::critical, Unit::seconds},
      {"stall_in_progress_seconds", 0, ">=", 2, false, Level::unresponsive, Unit::seconds},
  };
  return s;
}

}  // namespace

TEST_CASE("status JSON: the status, every finding with evidence, the signals", "[status_json]") {
  const json t = target_json(snapshot());
  CHECK(t["name"] == "api");
  CHECK(t["url"] == "http://127.0.0.1:8000");
  CHECK(t["status"] == 2);
  CHECK(t["status_name"] == "critical");
  CHECK_FALSE(t.contains("unknown_reason"));

  REQUIRE(t["findings"].size() == kFindingCount);
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    CHECK(t["findings"][i]["finding"] == kFindingNames[i]);
    CHECK(t["findings"][i]["active"] == (i == 0));
  }
  const json& ev = t["findings"][0]["evidence"];
  REQUIRE(ev.size() == 2);
  CHECK(ev[0] == json{{"signal", "stall_max_seconds"},
                      {"value", 0.6},
                      {"op", ">="},
                      {"threshold", 0.5},
                      {"holds", true},
                      {"level", "critical"},
                      {"text", "stall_max_seconds 600 ms \u2265 500 ms (critical)"}});
  CHECK(ev[1]["holds"] == false);

  const json& s = t["signals"];
  CHECK(s["window_seconds"] == 10.0);
  CHECK(s["stall_threshold_seconds"] == 0.05);
  CHECK(s["stall_seconds_total"] == 1.25);
  CHECK(s["stalls_total"] == 2);
  CHECK(s["stall_max_seconds"] == 0.6);
  CHECK(s["stall_ratio"] == 0.06);
  CHECK(s["lag_p99_seconds"] == 0.12);
  CHECK(s["busy_ratio"] == 0.07);
  CHECK(s["probes_expected"] == 1000);
  CHECK(s["probes_evidence"] == 990);
  CHECK(s["probes_unreliable"] == 10);
  CHECK(s["prober_starved"] == false);

  CHECK(
      t["canaries"] ==
      json::array({{{"name", "health"}, {"baseline_seconds", 0.001}, {"epsilon_seconds", 0.002}}}));
  const json& r = t["routes"][0];
  CHECK(r["name"] == "agent");
  CHECK(r["concurrency"] == 64);
  CHECK(r["hol_blocking_ratio"] == 0.8);
  CHECK(r["hol_delay_seconds"] == 0.15);
  CHECK(r["service_time_seconds"] == 0.1);
  CHECK(r["queue_amplification_ratio"] == 1.6);
  CHECK(r["executor_capacity_estimate"] == 39.5);
  CHECK(r["saturation_concurrency"] == 48);
  REQUIRE(r["steps"].size() == 2);
  CHECK(r["steps"][1] ==
        json{{"concurrency", 64.0}, {"throughput_per_second", 400.0}, {"latency_seconds", 0.16}});
}

TEST_CASE("status JSON: unknown values are null, and an unknown status says why", "[status_json]") {
  TargetSnapshot s;
  s.name = "api";
  s.level = Level::unknown;
  s.assessment.unknown = true;
  s.assessment.unknown_reason = "no baseline latency yet (too few successful probes)";
  s.view.window = 10s;
  s.view.canaries = {{std::nullopt, 0ms}};
  s.view.routes.resize(1);
  const json t = target_json(s);
  CHECK(t["status"] == -1);
  CHECK(t["status_name"] == "unknown");
  CHECK(t["unknown_reason"] == s.assessment.unknown_reason);
  CHECK(t["signals"]["lag_p99_seconds"].is_null());
  CHECK(t["canaries"][0]["baseline_seconds"].is_null());
  CHECK(t["canaries"][0]["name"] == "0");  // no name configured: the index
  for (const char* key :
       {"concurrency", "hol_blocking_ratio", "hol_delay_seconds", "service_time_seconds",
        "mean_latency_seconds", "queue_amplification_ratio", "executor_capacity_estimate",
        "saturation_concurrency"}) {
    CAPTURE(key);
    CHECK(t["routes"][0][key].is_null());
  }
}

TEST_CASE("status JSON: the document lists every target with a timestamp", "[status_json]") {
  const json j = status_json({snapshot(), snapshot()});
  CHECK(j["targets"].size() == 2);
  const std::string at = j["generated_at"];
  CHECK(std::regex_match(at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  CHECK(status_json({})["targets"] == json::array());
}

TEST_CASE("scenario JSON: state, runs, times", "[status_json]") {
  ScenarioState s;
  s.name = "ramp";
  s.target = "api";
  json j = scenario_json(s);
  CHECK(j["state"] == "idle");
  CHECK(j["started_at"].is_null());
  CHECK(j["ended_at"].is_null());
  CHECK(j["last_result"].is_null());
  s.running = true;
  s.runs = 1;
  s.concurrency = 8;
  s.started_at = std::chrono::system_clock::time_point{} + 1'700'000'000s + 250ms;
  j = scenario_json(s);
  CHECK(j["state"] == "running");
  CHECK(j["concurrency"] == 8);
  CHECK(j["started_at"] == "2023-11-14T22:13:20.250Z");
  s.stopping = true;
  CHECK(scenario_json(s)["state"] == "stopping");
  s.running = false;
  s.stopping = false;
  s.last_result = "stopped";
  CHECK(scenario_json(s)["last_result"] == "stopped");
  CHECK(scenarios_json({s, s})["scenarios"].size() == 2);
}

TEST_CASE("the landing page escapes every name it shows", "[landing]") {
  const std::string evil = "<script>alert('x')</script>";
  TargetSnapshot s = snapshot();
  s.name = evil;
  s.url = "http://x/?a=1&b=\"2\"";
  s.routes = {"<img src=x onerror=alert(1)>"};
  s.assessment.unknown = true;
  s.assessment.unknown_reason = "<b>because</b>";
  s.assessment.evidence[0][0].signal = "stall_max_seconds{route=\"<i>\"}";
  ScenarioState sc;
  sc.name = "<svg onload=alert(1)>";
  sc.target = evil;
  const std::string html = landing_page({s}, {sc}, false);

  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("<svg onload") == std::string::npos);
  CHECK(html.find("<b>because") == std::string::npos);
  CHECK(html.find("<i>") == std::string::npos);
  CHECK_THAT(html, Catch::Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  CHECK_THAT(html, Catch::Contains("http://x/?a=1&amp;b=&quot;2&quot;"));
  CHECK_THAT(html, Catch::Contains("&lt;img src=x onerror=alert(1)&gt;"));
  CHECK_THAT(html, Catch::Contains("&lt;b&gt;because&lt;/b&gt;"));
  CHECK_THAT(html, Catch::Contains("&lt;svg onload=alert(1)&gt;"));
}

TEST_CASE("the landing page shows status, active findings with evidence, and signals",
          "[landing]") {
  const std::string html = landing_page({snapshot()}, {}, true);
  CHECK_THAT(html, Catch::Contains(">critical</span>"));
  CHECK_THAT(html, Catch::Contains("event_loop_starvation"));
  CHECK_THAT(html, Catch::Contains("stall_max_seconds = 0.6"));
  // Evidence that does not hold is not shown as a reason.
  CHECK_THAT(html, !Catch::Contains("stall_in_progress_seconds ="));
  CHECK_THAT(html, Catch::Contains("HOL blocking · agent"));
  CHECK_THAT(html, Catch::Contains("executor capacity · agent</td><td>39.5"));
  CHECK_THAT(html, !Catch::Contains("--web.enable-admin-api"));  // it is enabled
  CHECK_THAT(landing_page({}, {}, false), Catch::Contains("--web.enable-admin-api"));
  CHECK_THAT(landing_page({}, {}, false), Catch::EndsWith("</html>\n"));
}

TEST_CASE("sparklines with 0, 1 and n points", "[landing]") {
  SECTION("no points: a flat line along the bottom") {
    const std::string svg = sparkline({}, 360, 40, "#123456");
    CHECK_THAT(svg, Catch::Contains(R"(points="0,39 360,39")"));
    CHECK_THAT(svg, Catch::Contains(R"(width="360" height="40")"));
    CHECK_THAT(svg, Catch::Contains(R"(stroke="#123456")"));
  }
  SECTION("one point: a flat line too (a polyline needs two)") {
    CHECK_THAT(sparkline({5.0}, 360, 40, "red"), Catch::Contains(R"(points="0,39 360,39")"));
  }
  SECTION("n points: spread over the width, the largest at the top") {
    const std::string svg = sparkline({0, 2, 4, 1}, 300, 40, "red");
    CHECK_THAT(svg, Catch::Contains(R"(points="0.0,39.0 100.0,20.0 200.0,1.0 300.0,29.5 ")"));
  }
  SECTION("all zero: along the bottom, no division by zero") {
    CHECK_THAT(sparkline({0, 0, 0}, 100, 20, "red"),
               Catch::Contains(R"(points="0.0,19.0 50.0,19.0 100.0,19.0 ")"));
  }
}
