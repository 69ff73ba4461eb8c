#include "exporter/audit/reports.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "exporter/audit/advice.hpp"
#include "exporter/audit/judge.hpp"

namespace loopcanary::exporter::audit {

namespace {

using nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string unit_name(Unit u) {
  switch (u) {
    case Unit::seconds:
      return "seconds";
    case Unit::ratio:
      return "ratio";
    case Unit::count:
      return "count";
  }
  return "count";
}

std::string subject_title(const AuditReport& r, const SubjectResult& s) {
  if (r.mode == "scenario")
    return fmt::format("scenario {} on target {} ({})", r.scenario, s.name, s.url);
  if (r.mode == "observe") return fmt::format("watching target {} ({})", s.name, s.url);
  return s.name;
}

std::string held_text(const EvidenceTrack& e) {
  if (!e.held()) return "never held";
  return fmt::format("held {} (longest stretch {})", duration_text(e.held_seconds),
                     duration_text(e.longest_hold));
}

json nullable(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json evidence_json(const EvidenceTrack& e) {
  return {{"signal", e.signal},
          {"op", e.op},
          {"threshold", e.threshold},
          {"level", std::string(name(e.level))},
          {"unit", unit_name(e.unit)},
          {"worst", e.worst},
          {"worst_at_seconds", e.worst_at},
          {"held_seconds", e.held_seconds},
          {"longest_hold_seconds", e.longest_hold},
          {"text", describe_worst(e)}};
}

json latency_json(const LatencySummary& l) {
  return {{"count", l.count}, {"p50_seconds", nullable(l.p50)}, {"p99_seconds", nullable(l.p99)}};
}

json subject_json(const SubjectResult& s) {
  json findings = json::array();
  for (const FindingTrack& f : s.findings) {
    if (!f.seen) continue;
    json evidence = json::array();
    for (const EvidenceTrack& e : f.evidence) {
      if (e.seen) evidence.push_back(evidence_json(e));
    }
    const EvidenceTrack* worst = f.worst();
    findings.push_back({{"finding", f.name},
                        {"level", std::string(name(f.level()))},
                        {"first_at_seconds", f.first_at},
                        {"active_seconds", f.active_seconds},
                        {"worst", worst ? evidence_json(*worst) : json(nullptr)},
                        {"evidence", std::move(evidence)},
                        {"meaning", f.advice.meaning},
                        {"what_to_do", f.advice.what_to_do},
                        {"runbook", f.advice.runbook}});
  }
  json canaries = json::array();
  for (const CanarySummary& c : s.canaries) {
    canaries.push_back({{"name", c.name},
                        {"probes", c.probes},
                        {"failures", c.failures},
                        {"latency", latency_json(c.latency)},
                        {"baseline_seconds", nullable(c.baseline)}});
  }
  json routes = json::array();
  for (const RouteSummary& r : s.routes) {
    routes.push_back({{"name", r.name},
                      {"requests", r.requests},
                      {"failures", r.failures},
                      {"latency", latency_json(r.latency)},
                      {"hol_blocking_ratio_max", nullable(r.hol_max)},
                      {"hol_delay_seconds_max", nullable(r.hol_delay_max)},
                      {"queue_amplification_ratio_max", nullable(r.amplification_max)},
                      {"service_time_seconds", nullable(r.service_time)},
                      {"executor_capacity_estimate", nullable(r.capacity)},
                      {"saturation_concurrency", r.knee ? json(*r.knee) : json(nullptr)}});
  }
  json timeline = json::array();
  for (const Point& p : s.timeline) {
    json active = json::array();
    for (std::size_t i = 0; i < p.findings.size() && i < s.findings.size(); ++i) {
      if (p.findings[i]) active.push_back(s.findings[i].name);
    }
    json p50 = json::object(), p99 = json::object();
    for (std::size_t i = 0; i < s.routes.size(); ++i) {
      p50[s.routes[i].name] = i < p.route_p50.size() ? nullable(p.route_p50[i]) : json(nullptr);
      p99[s.routes[i].name] = i < p.route_p99.size() ? nullable(p.route_p99[i]) : json(nullptr);
    }
    timeline.push_back({{"t", p.t},
                        {"status", p.status},
                        {"warmup", p.warmup},
                        {"findings", std::move(active)},
                        {"canary_p99_seconds", nullable(p.canary_p99)},
                        {"canary_max_seconds", nullable(p.canary_max)},
                        {"route_p50_seconds", std::move(p50)},
                        {"route_p99_seconds", std::move(p99)},
                        {"stall_seconds", p.stall_seconds},
                        {"prober_lag_seconds", p.prober_lag},
                        {"concurrency", p.concurrency}});
  }
  json steps = json::array();
  for (const Step& st : s.steps) {
    steps.push_back({{"t", st.t}, {"route", st.route}, {"concurrency", st.concurrency}});
  }
  const ProberHealth& p = s.prober;
  return {{"name", s.name},
          {"labels", s.labels},
          {"url", s.url},
          {"verdict", lower(name(s.verdict))},
          {"reasons", s.reasons},
          {"worst_status", static_cast<int>(s.worst)},
          {"worst_status_name", std::string(name(s.worst))},
          {"worst_at_seconds", s.worst_at},
          {"final_status_name", std::string(name(s.final_level))},
          {"judged_seconds", s.judged_seconds},
          {"unknown_seconds", s.unknown_seconds},
          {"warmup_seconds", s.warmup_seconds},
          {"unknown_reason", s.unknown_reason},
          {"findings", std::move(findings)},
          {"signals",
           {{"stall_seconds", s.stall_seconds},
            {"stalls", s.stalls},
            {"stall_max_seconds", s.stall_max},
            {"lag_p99_max_seconds", s.lag_p99_max},
            {"busy_ratio_max", s.busy_ratio_max}}},
          {"canaries", std::move(canaries)},
          {"routes", std::move(routes)},
          {"prober",
           {{"lag_worst_seconds", p.lag_worst},
            {"starved_seconds", p.starved_seconds},
            {"audit_held_up_seconds", p.stalled_seconds},
            {"audit_held_up_worst_seconds", p.stalled_worst},
            {"cores", p.cores ? json(*p.cores) : json(nullptr)},
            {"load1", nullable(p.load1)},
            {"cpu_limit", p.cpu_limit},
            {"advice", starvation_text(s)}}},
          {"timeline", std::move(timeline)},
          {"steps", std::move(steps)}};
}

}  // namespace

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
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string duration_text(double seconds) {
  if (seconds >= 1 || seconds == 0) return fmt::format("{:.1f} s", seconds);
  return fmt::format("{:.0f} ms", seconds * 1000);
}

std::string optional_seconds(const std::optional<double>& s) {
  return s ? format_value(*s, Unit::seconds) : std::string("–");
}

std::string failures_text(const std::map<std::string, std::uint64_t>& failures) {
  if (failures.empty()) return "none";
  std::string out;
  for (const auto& [reason, n] : failures) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, reason);
  }
  return out;
}

std::string describe_worst(const EvidenceTrack& e) {
  Evidence ev;
  ev.signal = e.signal;
  ev.value = e.worst;
  ev.op = e.op;
  ev.threshold = e.threshold;
  ev.level = e.level;
  ev.unit = e.unit;
  return describe(ev);
}

std::string starvation_text(const SubjectResult& s) {
  const ProberHealth& p = s.prober;
  const bool starved = p.starved_seconds > 0 || p.stalled_seconds >= 0.1 ||
                       reason_kind(s.unknown_reason) == "starved";
  if (!starved) return "";
  std::string out = "loopcanary itself was starved of CPU";
  if (p.lag_worst > 0)
    out += fmt::format(": its timers fired up to {} late", duration_text(p.lag_worst));
  if (p.starved_seconds > 0) {
    out += fmt::format("; the prober_starved finding held {} of the {} judged",
                       duration_text(p.starved_seconds), duration_text(s.judged_seconds));
  }
  if (p.stalled_seconds > 0 && s.judged_seconds > 0) {
    out += fmt::format("; the audit's own thread lost {} ({:.0f} %, longest {})",
                       duration_text(p.stalled_seconds), 100 * p.stalled_seconds / s.judged_seconds,
                       duration_text(p.stalled_worst));
  }
  std::string machine;
  if (p.cores) machine += fmt::format("{} CPUs", *p.cores);
  if (p.load1)
    machine += fmt::format("{}load average {:.2f}", machine.empty() ? "" : ", ", *p.load1);
  if (!p.cpu_limit.empty())
    machine += fmt::format("{}limited to {}", machine.empty() ? "" : ", ", p.cpu_limit);
  if (!machine.empty()) out += " (" + machine + ")";
  out +=
      ". While it was starved it could not vouch for the target, so that time is unknown, "
      "never healthy. What to do: " +
      std::string(kStarvedAdvice) + ".";
  return out;
}

std::string text_report(const AuditReport& r) {
  std::string out =
      fmt::format("loopcanary audit: {} — {}\n", name(r.verdict),
                  r.mode == "prometheus"
                      ? fmt::format("from Prometheus {} {}", r.prometheus_url, r.selector)
                      : (r.subjects.empty() ? r.target : subject_title(r, r.subjects.front())));
  for (const std::string& reason : r.reasons) out += "  " + reason + "\n";
  out += fmt::format("fails on {}; inconclusive beyond {:.0f} % unknown; exit {}\n",
                     name(r.fail_on), r.max_unknown * 100, exit_code(r.verdict));
  for (const SubjectResult& s : r.subjects) {
    if (r.subjects.size() > 1 || r.mode == "prometheus") {
      out += fmt::format("\n== {} — {}\n", s.name, name(s.verdict));
      for (const std::string& reason : s.reasons) out += "  " + reason + "\n";
    }
    if (s.judged_seconds > 0) {
      out += fmt::format(
          "judged {} from {}{}; worst status {} ({}) at +{:.1f} s; unknown {} ({:.0f} %); final "
          "status {}\n",
          duration_text(s.judged_seconds), r.started_at,
          s.warmup_seconds > 0
              ? fmt::format(" after {} of warm-up (not judged)", duration_text(s.warmup_seconds))
              : std::string(),
          name(s.worst), static_cast<int>(s.worst), s.worst_at, duration_text(s.unknown_seconds),
          100 * s.unknown_seconds / s.judged_seconds, name(s.final_level));
    }
    if (!s.unknown_reason.empty()) out += "unknown because " + s.unknown_reason + "\n";

    out += "\nfindings (worst value over the run, when, how long the condition held):\n";
    bool any = false;
    for (const FindingTrack& f : s.findings) {
      if (!f.seen) continue;
      any = true;
      out += fmt::format("  {} — {}, active {} from +{:.1f} s\n", f.name, name(f.level()),
                         duration_text(f.active_seconds), f.first_at);
      const EvidenceTrack* worst = f.worst();
      if (worst) {
        out += fmt::format("    worst: {} at +{:.1f} s, {}\n", describe_worst(*worst),
                           worst->worst_at, held_text(*worst));
      }
      for (const EvidenceTrack& e : f.evidence) {
        if (&e == worst || !e.held()) continue;
        out += fmt::format("    also:  {} at +{:.1f} s, {}\n", describe_worst(e), e.worst_at,
                           held_text(e));
      }
      out += "    means: " + f.advice.meaning + "\n";
      out += "    do:    " + f.advice.what_to_do + "\n";
      if (!f.advice.runbook.empty()) out += "    runbook: " + f.advice.runbook + "\n";
    }
    if (!any) out += "  none\n";

    if (const std::string starved = starvation_text(s); !starved.empty()) {
      out += "\n" + starved + "\n";
    } else if (r.mode != "prometheus") {
      out += fmt::format("\nloopcanary itself: never starved (its timers at most {} late)\n",
                         duration_text(s.prober.lag_worst));
    }

    if (r.mode != "prometheus" || s.stall_seconds > 0 || s.lag_p99_max > 0) {
      out += fmt::format(
          "\nsignals over the judged run:\n"
          "  stalled            {} in {} stall(s); stall max (largest in a window) {}\n"
          "  lag p99 (max)      {}\n"
          "  busy ratio (max)   {:.1f} %\n"
          "  {}\n",
          duration_text(s.stall_seconds), s.stalls, format_value(s.stall_max, Unit::seconds),
          format_value(s.lag_p99_max, Unit::seconds), s.busy_ratio_max * 100, kLagVsStallExplained);
    }
    if (!s.canaries.empty()) {
      out += "\ncanaries (latency from the intended send time):\n";
      for (const CanarySummary& c : s.canaries) {
        out += fmt::format("  {:<12} {} probes, failures {}; p50 {}, p99 {}; baseline {}\n", c.name,
                           c.probes, failures_text(c.failures), optional_seconds(c.latency.p50),
                           optional_seconds(c.latency.p99), optional_seconds(c.baseline));
      }
    }
    if (!s.routes.empty()) {
      out += fmt::format(
          "\nroutes driven:\n  {:<12} {:>8} {:>9} {:>9} {:>8} {:>9} {:>13} {:>9} {:>5}  {}\n",
          "route", "requests", "p50", "p99", "HOL max", "HOL delay", "amplification", "capacity",
          "knee", "failures");
      for (const RouteSummary& rt : s.routes) {
        out += fmt::format(
            "  {:<12} {:>8} {:>9} {:>9} {:>8} {:>9} {:>13} {:>9} {:>5}  {}\n", rt.name, rt.requests,
            optional_seconds(rt.latency.p50), optional_seconds(rt.latency.p99),
            rt.hol_max ? fmt::format("{:.2f}", *rt.hol_max) : "–",
            optional_seconds(rt.hol_delay_max),
            rt.amplification_max ? fmt::format("{:.2f}", *rt.amplification_max) : "–",
            rt.capacity ? fmt::format("{:.1f}", *rt.capacity) : "–",
            rt.knee ? std::to_string(*rt.knee) : "–", failures_text(rt.failures));
      }
      out += "  " + std::string(kHolExplained) + "\n";
    }
  }
  return out;
}

std::string json_report(const AuditReport& r) {
  json subjects = json::array();
  for (const SubjectResult& s : r.subjects) subjects.push_back(subject_json(s));
  const json report{{"schema_version", kSchemaVersion},
                    {"loopcanary_version", r.version},
                    {"mode", r.mode},
                    {"verdict", lower(name(r.verdict))},
                    {"exit_code", exit_code(r.verdict)},
                    {"reasons", r.reasons},
                    {"scenario", r.scenario.empty() ? json(nullptr) : json(r.scenario)},
                    {"target", r.target.empty() ? json(nullptr) : json(r.target)},
                    {"prometheus", r.mode == "prometheus" ? json{{"url", r.prometheus_url},
                                                                 {"selector", r.selector},
                                                                 {"rules_file", r.rules_file}}
                                                          : json(nullptr)},
                    {"fail_on", std::string(name(r.fail_on))},
                    {"max_unknown", r.max_unknown},
                    {"warmup_seconds", r.warmup},
                    {"started_at", r.started_at},
                    {"ended_at", r.ended_at},
                    {"duration_seconds", r.duration},
                    {"subjects", std::move(subjects)}};
  return report.dump(2) + "\n";
}

std::string junit_report(const AuditReport& r) {
  std::string suites;
  int tests = 0, failures = 0, errors = 0;
  for (const SubjectResult& s : r.subjects) {
    std::string cases;
    int t = 0, f = 0, e = 0;
    const std::string details = xml_escape(text_report(r));
    const std::string reasons = xml_escape([&] {
      std::string out;
      for (const auto& reason : s.reasons) out += (out.empty() ? "" : "; ") + reason;
      return out;
    }());
    ++t;
    cases +=
        fmt::format("    <testcase classname=\"loopcanary.{}\" name=\"verdict\" time=\"{:.3f}\">\n",
                    xml_escape(s.name), s.judged_seconds);
    if (s.verdict == Verdict::fail) {
      ++f;
      cases += fmt::format("      <failure message=\"FAIL: {}\" type=\"verdict\">{}</failure>\n",
                           reasons, details);
    } else if (s.verdict == Verdict::inconclusive) {
      ++e;
      cases += fmt::format(
          "      <error message=\"INCONCLUSIVE: {}\" type=\"inconclusive\">{}</error>\n", reasons,
          details);
    }
    cases += fmt::format("      <system-out>{}</system-out>\n    </testcase>\n", details);
    for (const FindingTrack& finding : s.findings) {
      ++t;
      cases += fmt::format(
          "    <testcase classname=\"loopcanary.{}.finding\" name=\"{}\" time=\"{:.3f}\">\n",
          xml_escape(s.name), xml_escape(finding.name), finding.active_seconds);
      const EvidenceTrack* worst = finding.worst();
      std::string text;
      if (finding.seen) {
        text =
            fmt::format("{} — {}, active {} from +{:.1f} s\n", finding.name, name(finding.level()),
                        duration_text(finding.active_seconds), finding.first_at);
        if (worst) {
          text += fmt::format("worst: {} at +{:.1f} s, {}\n", describe_worst(*worst),
                              worst->worst_at, held_text(*worst));
        }
        text += "means: " + finding.advice.meaning + "\ndo: " + finding.advice.what_to_do + "\n";
        if (!finding.advice.runbook.empty()) text += "runbook: " + finding.advice.runbook + "\n";
      }
      if (finding.seen && finding.level() != Level::healthy && finding.level() >= r.fail_on) {
        ++f;
        cases += fmt::format("      <failure message=\"{}\" type=\"finding\">{}</failure>\n",
                             xml_escape(worst ? describe_worst(*worst) : finding.name),
                             xml_escape(text));
      }
      if (!text.empty())
        cases += fmt::format("      <system-out>{}</system-out>\n", xml_escape(text));
      cases += "    </testcase>\n";
    }
    suites += fmt::format(
        "  <testsuite name=\"loopcanary audit: {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" "
        "time=\"{:.3f}\" timestamp=\"{}\">\n{}  </testsuite>\n",
        xml_escape(s.name), t, f, e, s.judged_seconds, xml_escape(r.started_at), cases);
    tests += t;
    failures += f;
    errors += e;
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"loopcanary audit\" tests=\"{}\" failures=\"{}\" errors=\"{}\" "
      "time=\"{:.3f}\">\n{}</testsuites>\n",
      tests, failures, errors, r.duration, suites);
}

}  // namespace loopcanary::exporter::audit
