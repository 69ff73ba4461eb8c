#include "exporter/audit/command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "config/units.hpp"
#include "exporter/audit/advice.hpp"
#include "exporter/audit/result.hpp"

namespace loopcanary::exporter::audit {

namespace {

bool parse_duration_flag(const std::string& flag, const std::string& text,
                         std::optional<std::chrono::milliseconds>& out) {
  if (text.empty()) return true;
  const auto d = config::parse_duration(text);
  if (!d) {
    std::cerr << "loopcanary audit: " << flag << " \"" << text
              << "\" is not a duration (like 30s, 2m, 1m30s)\n";
    return false;
  }
  out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  return true;
}

}  // namespace

AuditCommand::AuditCommand(CLI::App& cli, std::string& config_file)
    : app_(cli.add_subcommand(
          "audit",
          "A CI gate: run a scenario against the target (or watch it, or read loopcanary's series "
          "from Prometheus) and judge its event loop: PASS, FAIL or INCONCLUSIVE")),
      config_file_(config_file),
      runbook_url_(kDefaultRunbook) {
  CLI::App& a = *app_;
  a.footer(
      "Exit codes: 0 PASS, 1 FAIL (the status reached --fail-on at some moment), 2 bad input "
      "(flags, configuration, rules file, a query Prometheus rejects), 3 INCONCLUSIVE (the "
      "status was unknown for more than --max-unknown of the run, e.g. loopcanary itself "
      "starved of CPU; the run was too short; the target or Prometheus unreachable; no data).\n"
      "Examples:\n"
      "  loopcanary audit --config.file=lc.yaml --scenario=report-ramp --report=html=audit.html "
      "--report=junit=audit.xml\n"
      "  loopcanary audit --config.file=lc.yaml --duration=2m --warmup=30s   # observe mode\n"
      "  loopcanary audit --prometheus=http://prometheus:9090 --range=10m "
      "--selector='{namespace=\"shop\"}'\n"
      "More: docs/ci.md");
  a.add_option("--config.file", config_file_,
               "Configuration file (YAML); with --prometheus only for its thresholds")
      ->capture_default_str();
  a.add_option("--scenario", live_.scenario,
               "The scenario to run (an external one needs --duration)");
  a.add_option("--target", live_.target,
               "Observe mode: the target to watch (default: the only one)");
  a.add_option("--duration", duration_,
               "Observe mode: watch the target this long (e.g. 2m) while something else drives "
               "the load; no --scenario");
  a.add_option("--warmup", warmup_,
               "Do not judge the first D of the run (the service's warm-up, the first steps); in "
               "observe mode it comes before --duration");
  a.add_option("--fail-on", fail_on_, "FAIL when the status reaches this level at any moment")
      ->check(CLI::IsMember({"degraded", "critical", "unresponsive"}))
      ->capture_default_str();
  a.add_option("--max-unknown", max_unknown_,
               "INCONCLUSIVE when the status was unknown longer than this share of the judged "
               "run (0.1 or 10%)")
      ->capture_default_str();
  a.add_option("--min-duration", min_duration_,
               "INCONCLUSIVE when less than this was judged (default: the signal window W)");
  a.add_option("--report", reports_,
               "Report FORMAT or FORMAT=FILE, repeatable: text, json, junit, html (default: text "
               "to --output)");
  a.add_option("--output", output_, "Where a --report without =FILE goes (- for stdout)")
      ->capture_default_str();
  a.add_option("--wait", wait_,
               "Keep trying to reach the target this long before giving up (default: one try)");
  a.add_option("--runbook-url", runbook_url_, "The runbook the findings link to")
      ->capture_default_str();
  a.add_flag("--no-progress", no_progress_, "No progress line on stderr");
  a.add_option("--prometheus", prometheus_.url,
               "Judge from loopcanary's series in this Prometheus instead of probing");
  a.add_option("--range", range_, "With --prometheus: the last D (default 10m)");
  a.add_option("--start", prometheus_.start,
               "With --prometheus: range start (RFC 3339 or Unix seconds)");
  a.add_option("--end", prometheus_.end, "With --prometheus: range end (default now)");
  a.add_option("--selector", prometheus_.selector,
               "With --prometheus: label matchers every series must carry, e.g. "
               "'{namespace=\"x\",pod=~\"api-.*\"}'");
  a.add_option("--rules", prometheus_.rules_file,
               "With --prometheus: judge your own PromQL checks of this file instead (loopcanary "
               "init --rules writes a starter)");
  a.add_option("--step", step_, "With --rules: query_range resolution (default range/600, ≥ 1s)");
}

bool AuditCommand::parsed() const { return app_->parsed(); }

int AuditCommand::run(const Loader& load) {
  AuditCommon common;
  common.fail_on = fail_on_ == "degraded"   ? Level::degraded
                   : fail_on_ == "critical" ? Level::critical
                                            : Level::unresponsive;
  const auto ratio = config::parse_ratio(max_unknown_);
  if (!ratio) {
    std::cerr << "loopcanary audit: --max-unknown \"" << max_unknown_
              << "\" is not a share (like 0.1 or 10%)\n";
    return kExitBadInput;
  }
  common.max_unknown = *ratio;
  std::optional<std::chrono::milliseconds> warmup;
  if (!parse_duration_flag("--warmup", warmup_, warmup) ||
      !parse_duration_flag("--min-duration", min_duration_, common.min_duration)) {
    return kExitBadInput;
  }
  common.warmup = warmup.value_or(std::chrono::milliseconds(0));
  for (const std::string& r : reports_) {
    const auto eq = r.find('=');
    ReportSpec spec;
    spec.format = r.substr(0, eq);
    spec.output = eq == std::string::npos ? output_ : r.substr(eq + 1);
    if (spec.output.empty()) {
      std::cerr << "loopcanary audit: --report " << r << " names no file after '='\n";
      return kExitBadInput;
    }
    common.reports.push_back(spec);
  }
  if (common.reports.empty()) common.reports.push_back({"text", output_});
  common.runbook_url = runbook_url_;
  common.progress = !no_progress_;

  if (!prometheus_.url.empty() || !prometheus_.rules_file.empty()) {
    static_cast<AuditCommon&>(prometheus_) = common;
    if (!parse_duration_flag("--range", range_, prometheus_.range) ||
        !parse_duration_flag("--step", step_, prometheus_.step)) {
      return kExitBadInput;
    }
    if (!live_.scenario.empty() || !duration_.empty()) {
      std::cerr << "loopcanary audit: --prometheus judges what already ran; --scenario and "
                   "--duration are for a live audit\n";
      return kExitBadInput;
    }
    if (app_->count("--config.file")) {
      prometheus_.config = load(config_file_);
      if (!prometheus_.config) return kExitBadInput;
    }
    return run_prometheus_audit(prometheus_);
  }
  static_cast<AuditCommon&>(live_) = common;
  std::optional<std::chrono::milliseconds> wait;
  if (!parse_duration_flag("--duration", duration_, live_.duration) ||
      !parse_duration_flag("--wait", wait_, wait)) {
    return kExitBadInput;
  }
  live_.wait = wait.value_or(std::chrono::milliseconds(0));
  auto config = load(config_file_);
  if (!config) return kExitBadInput;
  return run_audit(config, live_);
}

}  // namespace loopcanary::exporter::audit
