#include "exporter/audit/audit.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "exporter/log.hpp"
#include "exporter/metrics.hpp"
#include "exporter/monitor.hpp"
#include "exporter/rfc3339.hpp"

namespace loopcanary::exporter {

using probes::seconds;

namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kPoll = std::chrono::milliseconds(50);

struct RouteSummary {
  std::string name;
  std::optional<double> hol_max;
  std::optional<double> amplification_max;
  std::optional<double> capacity;
  std::optional<int> knee;
};

/// What the audit saw, built while it watches and printed at the end.
struct AuditResult {
  std::string scenario;
  std::string target;
  std::string url;
  Level fail_on = Level::critical;
  std::string started_at;
  double duration = 0;  ///< seconds the scenario ran
  Level worst = Level::unknown;
  double worst_at = 0;  ///< seconds after the start
  Level final_level = Level::unknown;
  std::string unknown_reason;
  std::array<bool, kFindingCount> seen{};
  std::array<double, kFindingCount> first_at{};
  std::array<std::vector<Evidence>, kFindingCount> evidence;
  double stall_seconds = 0;
  std::uint64_t stalls = 0;
  double stall_max = 0;
  double lag_p99_max = 0;
  double busy_ratio_max = 0;
  std::vector<RouteSummary> routes;

  bool failed() const { return worst >= fail_on; }

  void observe(const TargetSnapshot& t, double at, const TargetSnapshot& before) {
    if (t.level > worst) {
      worst = t.level;
      worst_at = at;
    }
    final_level = t.level;
    unknown_reason = t.assessment.unknown ? t.assessment.unknown_reason : "";
    for (std::size_t i = 0; i < kFindingCount; ++i) {
      if (t.findings[i] && !seen[i]) {
        seen[i] = true;
        first_at[i] = at;
        for (const Evidence& e : t.assessment.evidence[i]) {
          if (e.holds) evidence[i].push_back(e);
        }
      }
    }
    stall_seconds = t.view.stall_seconds_total - before.view.stall_seconds_total;
    stalls = t.view.stalls_total - before.view.stalls_total;
    stall_max = std::max(stall_max, seconds(t.view.stall_max));
    if (t.view.lag_p99) lag_p99_max = std::max(lag_p99_max, seconds(*t.view.lag_p99));
    busy_ratio_max = std::max(busy_ratio_max, t.view.busy_ratio);
    routes.resize(t.view.routes.size());
    for (std::size_t i = 0; i < t.view.routes.size(); ++i) {
      const RouteView& r = t.view.routes[i];
      RouteSummary& s = routes[i];
      s.name = i < t.routes.size() ? t.routes[i] : std::to_string(i);
      if (r.hol_ratio) s.hol_max = std::max(s.hol_max.value_or(0), *r.hol_ratio);
      if (r.amplification) {
        s.amplification_max = std::max(s.amplification_max.value_or(0), *r.amplification);
      }
      if (r.capacity) s.capacity = r.capacity;
      if (r.knee) s.knee = r.knee;
    }
  }
};

std::string opt(const std::optional<double>& v, const char* format) {
  return v ? fmt::format(fmt::runtime(format), *v) : std::string("–");
}

std::string text_report(const AuditResult& r) {
  std::string out = fmt::format(
      "loopcanary audit: scenario {} on target {} ({})\n"
      "result: {} — worst status {} ({}) at +{:.1f}s; fails on {}; final status {}\n"
      "scenario ran {:.1f}s from {}\n",
      r.scenario, r.target, r.url, r.failed() ? "FAIL" : "PASS", name(r.worst),
      static_cast<int>(r.worst), r.worst_at, name(r.fail_on), name(r.final_level), r.duration,
      r.started_at);
  if (!r.unknown_reason.empty())
    out += fmt::format("note: status unknown because {}\n", r.unknown_reason);
  out += "\nfindings:\n";
  bool any = false;
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    if (!r.seen[i]) continue;
    any = true;
    out += fmt::format("  {} (first at +{:.1f}s)\n", kFindingNames[i], r.first_at[i]);
    for (const Evidence& e : r.evidence[i]) {
      out += fmt::format("    {} = {:.4g} {} {:.4g}\n", e.signal, e.value, e.op, e.threshold);
    }
  }
  if (!any) out += "  none\n";
  out += fmt::format(
      "\nsignals (during the audit):\n"
      "  stall seconds      {:.3f} s in {} stall(s)\n"
      "  stall max          {:.1f} ms\n"
      "  lag p99 (max)      {:.1f} ms\n"
      "  busy ratio (max)   {:.1f} %\n",
      r.stall_seconds, r.stalls, r.stall_max * 1000, r.lag_p99_max * 1000, r.busy_ratio_max * 100);
  if (!r.routes.empty()) {
    out += fmt::format("\n  {:<16} {:>8} {:>14} {:>10} {:>6}\n", "route", "HOL max",
                       "amplification", "capacity", "knee");
    for (const RouteSummary& s : r.routes) {
      out += fmt::format("  {:<16} {:>8} {:>14} {:>10} {:>6}\n", s.name, opt(s.hol_max, "{:.2f}"),
                         opt(s.amplification_max, "{:.2f}"), opt(s.capacity, "{:.1f}"),
                         s.knee ? std::to_string(*s.knee) : std::string("–"));
    }
  }
  return out;
}

json json_report(const AuditResult& r) {
  json findings = json::array();
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    if (!r.seen[i]) continue;
    json evidence = json::array();
    for (const Evidence& e : r.evidence[i]) {
      evidence.push_back(
          {{"signal", e.signal}, {"value", e.value}, {"op", e.op}, {"threshold", e.threshold}});
    }
    findings.push_back({{"finding", kFindingNames[i]},
                        {"first_at_seconds", r.first_at[i]},
                        {"evidence", std::move(evidence)}});
  }
  json routes = json::array();
  const auto nullable = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  for (const RouteSummary& s : r.routes) {
    routes.push_back({{"name", s.name},
                      {"hol_blocking_ratio_max", nullable(s.hol_max)},
                      {"queue_amplification_ratio_max", nullable(s.amplification_max)},
                      {"executor_capacity_estimate", nullable(s.capacity)},
                      {"saturation_concurrency", nullable(s.knee)}});
  }
  return {{"scenario", r.scenario},
          {"target", r.target},
          {"url", r.url},
          {"result", r.failed() ? "fail" : "pass"},
          {"fail_on", name(r.fail_on)},
          {"worst_status", static_cast<int>(r.worst)},
          {"worst_status_name", name(r.worst)},
          {"worst_at_seconds", r.worst_at},
          {"final_status_name", name(r.final_level)},
          {"started_at", r.started_at},
          {"duration_seconds", r.duration},
          {"findings", std::move(findings)},
          {"signals",
           {{"stall_seconds", r.stall_seconds},
            {"stalls", r.stalls},
            {"stall_max_seconds", r.stall_max},
            {"lag_p99_max_seconds", r.lag_p99_max},
            {"busy_ratio_max", r.busy_ratio_max}}},
          {"routes", std::move(routes)}};
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string junit_report(const AuditResult& r) {
  const std::string details = xml_escape(text_report(r));
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"loopcanary audit\" tests=\"1\" failures=\"{0}\" time=\"{1:.3f}\">\n"
      "  <testsuite name=\"loopcanary audit\" tests=\"1\" failures=\"{0}\" errors=\"0\" "
      "time=\"{1:.3f}\" timestamp=\"{2}\">\n"
      "    <testcase classname=\"loopcanary.{3}\" name=\"scenario {4}\" time=\"{1:.3f}\">\n",
      r.failed() ? 1 : 0, r.duration, xml_escape(r.started_at), xml_escape(r.target),
      xml_escape(r.scenario));
  if (r.failed()) {
    out += fmt::format(
        "      <failure message=\"runtime status reached {} (fails on {})\" "
        "type=\"runtime_status\">{}</failure>\n",
        name(r.worst), name(r.fail_on), details);
  }
  out += fmt::format("      <system-out>{}</system-out>\n", details);
  out += "    </testcase>\n  </testsuite>\n</testsuites>\n";
  return out;
}

const TargetSnapshot* find(const std::vector<TargetSnapshot>& all, const std::string& name) {
  for (const auto& t : all) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace

int run_audit(std::shared_ptr<const config::Config> config, const AuditOptions& options) {
  const config::Scenario* scenario = config->find_scenario(options.scenario);
  if (!scenario) {
    std::cerr << "loopcanary audit: unknown scenario \"" << options.scenario << "\" (known:";
    for (const auto& s : config->scenarios) std::cerr << ' ' << s.name;
    std::cerr << ")\n";
    return 2;
  }
  if (scenario->phases.empty()) {
    std::cerr << "loopcanary audit: scenario \"" << options.scenario
              << "\" is external (no phases); an audit needs a scenario that drives load\n";
    return 2;
  }
  std::ofstream file;
  if (options.output != "-") {
    file.open(options.output);
    if (!file) {
      std::cerr << "loopcanary audit: cannot write --output " << options.output << "\n";
      return 2;
    }
  }

  Metrics metrics;
  Monitor monitor(config, metrics);
  monitor.start();
  const config::Target& target = *config->find_target(scenario->target);
  const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(config->global.window);

  // Warm up: until the status is known (a baseline exists), at most one window.
  const auto warmup_deadline = SteadyClock::now() + window;
  TargetSnapshot before;
  for (;;) {
    before = *find(monitor.snapshot(), target.name);
    if (before.level != Level::unknown || SteadyClock::now() >= warmup_deadline) break;
    std::this_thread::sleep_for(kPoll);
  }
  log::info("audit warm-up done", {{"status", std::string(name(before.level))}});

  AuditResult result;
  result.scenario = scenario->name;
  result.target = target.name;
  result.url = target.url.text;
  result.fail_on = options.fail_on;
  result.started_at = rfc3339(std::chrono::system_clock::now());
  const auto start = SteadyClock::now();
  const auto since = [&] {
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
  };
  monitor.start_scenario(scenario->name, false);
  result.observe(before, 0, before);
  for (;;) {
    std::this_thread::sleep_for(kPoll);
    result.observe(*find(monitor.snapshot(), target.name), since(), before);
    const auto state = monitor.scenario(scenario->name);
    if (!state || !state->running) break;
  }
  result.duration = since();
  const auto settle_end = SteadyClock::now() + options.settle;
  while (SteadyClock::now() < settle_end) {
    std::this_thread::sleep_for(kPoll);
    result.observe(*find(monitor.snapshot(), target.name), since(), before);
  }
  monitor.stop();

  std::string report;
  if (options.report == "json") {
    report = json_report(result).dump(2) + "\n";
  } else if (options.report == "junit") {
    report = junit_report(result);
  } else {
    report = text_report(result);
  }
  if (file.is_open()) {
    file << report;
    // A person watching the CI log still wants the verdict.
    std::cerr << text_report(result);
  } else {
    std::cout << report << std::flush;
  }
  return result.failed() ? 1 : 0;
}

}  // namespace loopcanary::exporter
