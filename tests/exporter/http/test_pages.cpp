// What the HTTP room renders for people and tools: /api/v1/status JSON and the
// landing page (escaped; status timeline, findings with memory, failure
// reasons, time charts with log scales and gaps).

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
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
                      {"unit", "seconds"},
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
  s.memory[0].state = FindingState::holding;
  s.memory[0].evidence = {{s.assessment.evidence[0][0], 0.6, {}, {}}};
  s.failures = {{"<u>reason</u>", 1, 1, std::nullopt, "<em>refused</em>"}};
  ScenarioState sc;
  sc.name = "<svg onload=alert(1)>";
  sc.target = evil;
  const std::string html = landing_page({s}, {sc}, false);

  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("<svg onload") == std::string::npos);
  CHECK(html.find("<b>because") == std::string::npos);
  CHECK(html.find("<i>") == std::string::npos);
  CHECK(html.find("<u>") == std::string::npos);
  CHECK(html.find("<em>") == std::string::npos);
  CHECK_THAT(html, Catch::Contains("stall_max_seconds{route=&quot;&lt;i&gt;&quot;}"));
  CHECK_THAT(html, Catch::Contains("&lt;em&gt;refused&lt;/em&gt;"));
  CHECK_THAT(html, Catch::Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  CHECK_THAT(html, Catch::Contains("http://x/?a=1&amp;b=&quot;2&quot;"));
  CHECK_THAT(html, Catch::Contains("&lt;img src=x onerror=alert(1)&gt;"));
  CHECK_THAT(html, Catch::Contains("&lt;b&gt;because&lt;/b&gt;"));
  CHECK_THAT(html, Catch::Contains("&lt;svg onload=alert(1)&gt;"));
}

namespace {

/// The test snapshot taken at a fixed time, with a history of `n` seconds
/// ending then (healthy, 2 ms, unless `fill` says otherwise).
TargetSnapshot with_history(std::size_t n, std::function<void(std::size_t, HistoryPoint&)> fill) {
  TargetSnapshot s = snapshot();
  s.taken_at = SystemTime{} + 1'700'000'000s;
  s.history_span = 300s;
  s.step_down_after = 3s;
  for (std::size_t i = 0; i < n; ++i) {
    HistoryPoint p;
    p.at = s.taken_at - std::chrono::seconds(n - 1 - i);
    p.latency_max_seconds = 0.002;
    p.answered = 10;
    p.status = 0;
    fill(i, p);
    s.history.push_back(p);
  }
  return s;
}

/// The `d` of the path with class `series <id>` in `html` (after `from`).
std::string path_of(const std::string& html, const std::string& id, std::size_t from = 0) {
  const std::regex re("<path class=\"series " + id + "\" d=\"([^\"]*)\"");
  std::smatch m;
  const std::string rest = html.substr(from);
  if (!std::regex_search(rest, m, re)) return "<none>";
  return m[1];
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("the landing page: status with its meaning, evidence in human units, signals",
          "[landing]") {
  TargetSnapshot s = with_history(60, [](std::size_t, HistoryPoint&) {});
  s.level_since = s.taken_at - 7s;
  FindingMemory& m = s.memory[static_cast<std::size_t>(Finding::event_loop_starvation)];
  m.state = FindingState::holding;
  m.since = s.taken_at - 7s;
  m.last_held = s.taken_at;
  m.evidence = {{{"stall_max_seconds", 0.6, ">=", 0.5, true, Level::critical, Unit::seconds},
                 0.6,
                 s.taken_at - 7s,
                 s.taken_at}};
  const std::string html = landing_page({s}, {}, true);
  CHECK_THAT(html, Catch::Contains(R"(data-status="critical")"));
  CHECK_THAT(html, Catch::Contains(">critical</span>"));
  CHECK_THAT(html, Catch::Contains("since <time"));
  CHECK_THAT(html, Catch::Contains("(7 s ago)"));
  CHECK_THAT(html, Catch::Contains("the event loop stalls long or often"));
  CHECK_THAT(html, Catch::Contains(R"(data-finding="event_loop_starvation" data-state="holding")"));
  CHECK_THAT(html, Catch::Contains("stall_max_seconds 600 ms \u2265 500 ms (critical)"));
  CHECK_THAT(html, Catch::Contains("updated at <time id=\"updated\""));
  CHECK_THAT(html, Catch::Contains("22:13:20 UTC"));
  CHECK_THAT(html, Catch::Contains("HOL blocking · agent</td><td>80.0 %"));
  CHECK_THAT(html, Catch::Contains("executor capacity · agent</td><td>39.5"));
  CHECK_THAT(html, Catch::Contains("largest stall (last 10 s)</td><td>600 ms"));
  CHECK_THAT(html, !Catch::Contains("--web.enable-admin-api"));  // it is enabled
  CHECK_THAT(landing_page({}, {}, false), Catch::Contains("--web.enable-admin-api"));
  CHECK_THAT(landing_page({}, {}, false), Catch::EndsWith("</html>\n"));
  // Offline in a pod: nothing loaded from elsewhere, no script.
  CHECK_THAT(html, !Catch::Contains("<script"));
  CHECK_THAT(html, !Catch::Contains("src="));
  const std::regex link(R"~(href="([^"]*)")~");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), link); it != std::sregex_iterator();
       ++it) {
    CAPTURE((*it)[1].str());
    CHECK((*it)[1].str().rfind("/", 0) == 0);  // this server's own pages only
    CHECK((*it)[1].str().rfind("//", 0) != 0);
  }
}

TEST_CASE("every finding on the landing page says what it means", "[landing]") {
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    CAPTURE(kFindingNames[i]);
    TargetSnapshot s = with_history(10, [](std::size_t, HistoryPoint&) {});
    s.memory[i].state = FindingState::holding;
    s.memory[i].since = s.memory[i].last_held = s.taken_at;
    const std::string html = landing_page({s}, {}, true);
    const std::string row =
        fmt::format(R"(data-finding="{}" data-state="holding"><td><code>{}</code>)"
                    R"(<div class="muted">)",
                    kFindingNames[i], kFindingNames[i]);
    const auto at = html.find(row);
    REQUIRE(at != std::string::npos);
    CHECK(html.compare(at + row.size(), 6, "</div>") != 0);  // not an empty meaning
  }
}

TEST_CASE("a finding that stopped holding stays on the page, clearing, with its peak",
          "[landing]") {
  TargetSnapshot s = with_history(30, [](std::size_t, HistoryPoint&) {});
  s.level = Level::degraded;
  s.findings = {};  // the status machine let the finding go; the status steps down
  FindingMemory& m = s.memory[static_cast<std::size_t>(Finding::event_loop_starvation)];
  m.state = FindingState::clearing;
  m.since = s.taken_at - 20s;
  m.last_held = s.taken_at - 4s;
  m.evidence = {
      {{"stall_in_progress_seconds", 2.91, ">=", 2.0, false, Level::unresponsive, Unit::seconds},
       0,
       s.taken_at - 18s,
       s.taken_at - 17s},
      {{"stall_max_seconds", 3.02, ">=", 0.5, false, Level::critical, Unit::seconds},
       0,
       s.taken_at - 17s,
       s.taken_at - 4s}};
  const std::string html = landing_page({s}, {}, true);
  CHECK_THAT(html, Catch::Contains(R"(data-state="clearing")"));
  CHECK_THAT(html, Catch::Contains("<b>clearing</b>: stopped holding at"));
  CHECK_THAT(html, Catch::Contains("(4 s ago)"));
  CHECK_THAT(html, Catch::Contains("steps down one level after 3 s of calm"));
  CHECK_THAT(html,
             Catch::Contains("stall_in_progress_seconds 2.91 s \u2265 2.00 s (unresponsive)"));
  CHECK_THAT(html, Catch::Contains("stall_max_seconds 3.02 s \u2265 500 ms (critical)"));
  CHECK_THAT(html, Catch::Contains("— peak; held until"));
  CHECK_THAT(html, !Catch::Contains("no findings"));

  m.state = FindingState::cleared;
  m.cleared_at = s.taken_at - 2s;
  s.level = Level::healthy;
  const std::string later = landing_page({s}, {}, true);
  CHECK_THAT(later, Catch::Contains(R"(data-state="cleared")"));
  CHECK_THAT(later, Catch::Contains("cleared at"));

  m = FindingMemory{};
  CHECK_THAT(landing_page({s}, {}, true), Catch::Contains("no findings"));
}

TEST_CASE("failing probes: each reason with counts, the last error and when", "[landing]") {
  TargetSnapshot s = with_history(10, [](std::size_t i, HistoryPoint& p) {
    if (i >= 5) {
      p.latency_max_seconds.reset();
      p.answered = 0;
      p.failed = 10;
    }
  });
  s.level = Level::unresponsive;
  s.failures = {{"connect_error", 290, 1290, s.taken_at - 1s, "Connection refused"},
                {"timeout", 3, 3, s.taken_at - 60s, ""}};
  const std::string html = landing_page({s}, {}, true);
  CHECK_THAT(html, Catch::Contains(R"(data-reason="connect_error")"));
  CHECK_THAT(html, Catch::Contains("could not connect (refused, unreachable)"));
  CHECK_THAT(html, Catch::Contains("<td>290</td><td>1290</td><td>Connection refused</td>"));
  CHECK_THAT(html, Catch::Contains("(1 s ago)"));
  CHECK_THAT(html, Catch::Contains(R"(data-reason="timeout")"));
  CHECK_THAT(html, Catch::Contains("probes (last 5 min)"));
  // The seconds without an answer: a gap in the canary line, red marks.
  const std::string d = path_of(html, "canary");
  CHECK(count(d, "M") == 1);  // one run: the five answered seconds
  CHECK(count(d, "L") == 4);
  CHECK(count(html, R"(<rect class="no-answer")") == 5);
  CHECK_THAT(landing_page({with_history(3, [](std::size_t, HistoryPoint&) {})}, {}, true),
             !Catch::Contains("Failing probes"));
}

TEST_CASE("time charts: log scale over whole decades, a time axis to now, peaks marked",
          "[landing]") {
  SECTION("the scale covers the data in decades, at least floor to min_hi") {
    const LogScale a = log_scale({0.002, std::nullopt, 3.2}, 1e-3, 1);
    CHECK(a.lo == Approx(1e-3));
    CHECK(a.hi == Approx(10));
    const LogScale b = log_scale({}, 1e-2, 10);
    CHECK(b.lo == Approx(1e-2));
    CHECK(b.hi == Approx(10));
    const LogScale c = log_scale({0.0, 0.5}, 1e-3, 1);
    CHECK(c.hi == Approx(1));
  }
  SECTION("one 3 s spike does not flatten 1 ms and 800 ms") {
    TargetSnapshot s = with_history(120, [](std::size_t i, HistoryPoint& p) {
      p.latency_max_seconds = i == 30 ? 3.0 : (i >= 60 && i < 90 ? 0.8 : 0.001);
      if (i >= 60 && i < 90) {
        p.scenario = true;
        p.route_latency_max_seconds = 0.85;
      }
    });
    const std::string html = landing_page({s}, {}, true);
    // Decade labels of a log axis, the spike's value marked.
    for (const char* label : {">1 ms<", ">10 ms<", ">100 ms<", ">1 s<", ">10 s<"}) {
      CAPTURE(label);
      CHECK_THAT(html, Catch::Contains(label));
    }
    CHECK_THAT(html, Catch::Contains("peak 3.00 s"));
    CHECK_THAT(html, Catch::Contains("peak 850 ms"));  // the heavy route's line
    CHECK(path_of(html, "route") != "<none>");
    CHECK(count(html, R"(<rect class="scenario")") >= 30);
    // The y of 800 ms is far from the y of 1 ms: at least a third of the plot.
    const std::regex point(R"(L[0-9.]+,([0-9.]+))");
    double y_fast = 0, y_slow = 1e9;
    const std::string d = path_of(html, "canary");
    for (auto it = std::sregex_iterator(d.begin(), d.end(), point); it != std::sregex_iterator();
         ++it) {
      const double y = std::stod((*it)[1]);
      y_fast = std::max(y_fast, y);
      y_slow = std::min(y_slow, y);
    }
    CHECK(y_fast - y_slow > 50);
    // A time axis that ends at now, with the clock time.
    CHECK_THAT(html, Catch::Contains("now 22:13:20"));
    CHECK_THAT(html, Catch::Contains("\u22122 min"));
  }
  SECTION("a chart with one answered point still draws it") {
    TimeChart c;
    c.id = "x";
    c.now = SystemTime{} + 100s;
    c.times = {c.now - 10s, c.now - 9s, c.now - 8s};
    c.series = {{"canary", "c", "#000", {std::nullopt, 0.01, std::nullopt}}};
    c.scale = {1e-3, 1};
    const std::string svg = render_chart(c);
    CHECK_THAT(svg, Catch::Matches(R"(.*<path class="series canary" d="M[0-9.]+,[0-9.]+h0\.1".*)"));
  }
  SECTION("points before the span and holes in the history break the line") {
    TimeChart c;
    c.id = "x";
    c.now = SystemTime{} + 1000s;
    c.span = 300s;
    c.times = {c.now - 400s, c.now - 20s, c.now - 19s, c.now - 5s, c.now - 4s};
    c.series = {{"canary", "c", "#000", {0.5, 0.01, 0.01, 0.02, 0.02}}};
    c.scale = {1e-3, 1};
    const std::string d = path_of(render_chart(c), "canary");
    CHECK(count(d, "M") == 2);
    CHECK(count(d, "L") == 2);
  }
}

TEST_CASE("the status timeline: one band per run, a past critical stays visible", "[landing]") {
  TargetSnapshot s = with_history(60, [](std::size_t i, HistoryPoint& p) {
    if (i >= 10 && i < 13) p.status = 3;
    if (i >= 13 && i < 20) p.status = 2;
    if (i >= 20 && i < 23) p.status = 1;
  });
  const std::string html = landing_page({s}, {}, true);
  CHECK(count(html, R"(<rect class="band status-)") == 5);
  CHECK(count(html, R"(<rect class="band status-unresponsive")") == 1);
  CHECK(count(html, R"(<rect class="band status-critical")") == 1);
  CHECK(count(html, R"(<rect class="band status-healthy")") == 2);
  CHECK_THAT(html, Catch::Contains("<title>critical 22:12:33–22:12:40</title>"));
}

TEST_CASE("status changes are listed, the last eight", "[landing]") {
  TargetSnapshot s = with_history(5, [](std::size_t, HistoryPoint&) {});
  s.changes = {{s.taken_at - 20s, Level::unknown, Level::healthy},
               {s.taken_at - 10s, Level::healthy, Level::critical}};
  const std::string html = landing_page({s}, {}, true);
  CHECK_THAT(html, Catch::Contains("22:13:00 unknown → healthy · 22:13:10 healthy → critical"));
}

TEST_CASE("status JSON: findings with memory, failure reasons, status changes", "[status_json]") {
  TargetSnapshot s = snapshot();
  s.taken_at = SystemTime{} + 1'700'000'000s;
  s.level_since = s.taken_at - 5s;
  s.history_span = 300s;
  FindingMemory& m = s.memory[0];
  m.state = FindingState::clearing;
  m.since = s.taken_at - 20s;
  m.last_held = s.taken_at - 4s;
  m.evidence = {{{"stall_max_seconds", 3.02, ">=", 0.5, false, Level::critical, Unit::seconds},
                 0.001,
                 s.taken_at - 17s,
                 s.taken_at - 4s}};
  s.failures = {{"connect_error", 290, 1290, s.taken_at - 1s, "Connection refused"}};
  s.changes = {{s.taken_at - 5s, Level::healthy, Level::critical}};
  const json t = target_json(s);
  CHECK(t["status_since"] == "2023-11-14T22:13:15.000Z");
  const json& f = t["findings"][0];
  CHECK(f["state"] == "clearing");
  CHECK(f["since"] == "2023-11-14T22:13:00.000Z");
  CHECK(f["last_held_at"] == "2023-11-14T22:13:16.000Z");
  CHECK(f["cleared_at"].is_null());
  REQUIRE(f["remembered_evidence"].size() == 1);
  const json& r = f["remembered_evidence"][0];
  CHECK(r["signal"] == "stall_max_seconds");
  CHECK(r["level"] == "critical");
  CHECK(r["unit"] == "seconds");
  CHECK(r["peak"] == 3.02);
  CHECK(r["value"] == 0.001);
  CHECK(r["threshold"] == 0.5);
  CHECK(r["holds"] == false);
  CHECK(r["last_held_at"] == "2023-11-14T22:13:16.000Z");
  CHECK(r["text"] == "stall_max_seconds 3.02 s \u2265 500 ms (critical)");
  CHECK(t["findings"][1]["state"] == "inactive");
  CHECK(t["failures"] == json::array({{{"reason", "connect_error"},
                                       {"recent", 290},
                                       {"recent_seconds", 300},
                                       {"total", 1290},
                                       {"last_at", "2023-11-14T22:13:19.000Z"},
                                       {"last_error", "Connection refused"}}}));
  CHECK(t["status_changes"] == json::array({{{"at", "2023-11-14T22:13:15.000Z"},
                                             {"from", 0},
                                             {"from_name", "healthy"},
                                             {"to", 2},
                                             {"to_name", "critical"}}}));
}
