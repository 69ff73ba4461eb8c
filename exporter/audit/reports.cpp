#include "exporter/audit/reports.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace loopcanary::exporter::audit {

namespace {

using nlohmann::json;

std::string opt(const std::optional<double>& v, const char* format) {
  return v ? fmt::format(fmt::runtime(format), *v) : std::string("–");
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

}  // namespace

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

std::string json_report(const AuditResult& r) {
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
  const json report{{"scenario", r.scenario},
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
  return report.dump(2) + "\n";
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

}  // namespace loopcanary::exporter::audit
