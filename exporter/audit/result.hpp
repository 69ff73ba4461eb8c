#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/signals/status.hpp"

/// What an audit concluded, as plain data: built by the live audit
/// (audit.cpp) or from Prometheus (prometheus.cpp), written by a report
/// (reports.*). Times are seconds from the start of the judged run (negative
/// during the warm-up), values in base units (seconds, ratios 0..1).
namespace loopcanary::exporter::audit {

/// The JSON report's `schema_version` (docs/audit-report.schema.json). Bump it
/// when a field changes meaning or goes away; adding a field does not.
inline constexpr int kSchemaVersion = 1;

enum class Verdict { pass, fail, inconclusive };

/// "PASS", "FAIL", "INCONCLUSIVE".
std::string_view name(Verdict verdict);

/// The process's exit codes (README, --help).
inline constexpr int kExitPass = 0;
inline constexpr int kExitFail = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInconclusive = 3;
int exit_code(Verdict verdict);

/// One condition behind a finding, followed over the run: its worst value,
/// when that was, and how long the condition held.
struct EvidenceTrack {
  std::string signal;  ///< e.g. "stall_max_seconds" or "hol_blocking_ratio{route=\"agent\"}"
  std::string op;      ///< ">=" or "<="
  double threshold = 0;
  Level level = Level::healthy;  ///< the level the condition raises
  Unit unit = Unit::count;
  bool seen = false;  ///< a value was seen at all
  double worst = 0;
  double worst_at = 0;
  double held_seconds = 0;  ///< total time the condition held
  double longest_hold = 0;  ///< its longest unbroken stretch
  double hold_since = -1;   ///< start of the current stretch (-1: not holding)

  bool held() const { return held_seconds > 0 || hold_since >= 0; }
};

/// How to act on a finding: one line of meaning, one of what to do, a runbook link.
struct Advice {
  std::string meaning;
  std::string what_to_do;
  std::string runbook;  ///< a URL, or empty
};

/// A finding (loopcanary_finding{finding}, or a rule of a --rules file) over the run.
struct FindingTrack {
  std::string name;
  bool seen = false;  ///< active at some moment of the judged run
  double first_at = 0;
  double active_seconds = 0;
  std::vector<EvidenceTrack> evidence;
  Advice advice;

  /// The evidence that tells most: the highest level that held, then the
  /// value furthest beyond its threshold. Null when no condition held.
  const EvidenceTrack* worst() const;
  /// The level the finding's conditions raised (healthy when none held).
  Level level() const;
};

/// Latency from bucket counts (as histogram_quantile does); seconds.
struct LatencySummary {
  std::uint64_t count = 0;
  std::optional<double> p50;
  std::optional<double> p99;
};

struct CanarySummary {
  std::string name;
  std::uint64_t probes = 0;
  std::map<std::string, std::uint64_t> failures;  ///< by reason
  LatencySummary latency;
  std::optional<double> baseline;
};

struct RouteSummary {
  std::string name;
  std::uint64_t requests = 0;
  std::map<std::string, std::uint64_t> failures;  ///< by reason
  LatencySummary latency;
  std::optional<double> hol_max;
  std::optional<double> hol_delay_max;
  std::optional<double> amplification_max;
  std::optional<double> service_time;
  std::optional<double> capacity;
  std::optional<int> knee;
};

/// How well loopcanary itself could measure: its timers' lateness and the
/// machine it ran on. A starved prober cannot vouch for a healthy target.
struct ProberHealth {
  double lag_worst = 0;         ///< worst lateness of the prober's timers (s)
  double starved_seconds = 0;   ///< judged time with the prober_starved finding on
  double stalled_seconds = 0;   ///< time the audit's own thread was held up (live mode)
  double stalled_worst = 0;     ///< its longest single hold-up (live mode)
  std::optional<int> cores;     ///< CPUs this process may use (live mode)
  std::optional<double> load1;  ///< load average at the end (live mode)
  std::string cpu_limit;        ///< the cgroup's cpu.max, when limited (live mode)
};

/// One second (live) or one scrape (Prometheus) of the run, for the plots.
struct Point {
  double t = 0;
  int status = -1;             ///< worst known level in the interval, -1 when unknown throughout
  bool warmup = false;         ///< before the judged run
  std::vector<bool> findings;  ///< parallel to the subject's findings: active in the interval
  std::optional<double> canary_p99;
  std::optional<double> canary_max;
  std::vector<std::optional<double>> route_p50;  ///< parallel to the subject's routes
  std::vector<std::optional<double>> route_p99;
  double stall_seconds = 0;  ///< stall seconds added in the interval
  double prober_lag = 0;     ///< worst prober lateness in the interval
  int concurrency = 0;       ///< the scenario's closed-loop concurrency (0: none or open loop)
};

/// A scenario step: from `t`, `concurrency` clients (or an open-loop phase, 0).
struct Step {
  double t = 0;
  int concurrency = 0;
  std::string route;
};

/// Everything about one audited subject: a target (live), or a target on one
/// instance/pod (Prometheus), or one label set of --rules results.
struct SubjectResult {
  std::string name;
  std::map<std::string, std::string> labels;  ///< Prometheus mode: the series' labels
  std::string url;
  Verdict verdict = Verdict::inconclusive;
  std::vector<std::string> reasons;  ///< why this verdict, for a person
  Level worst = Level::unknown;      ///< worst known status in the judged run
  double worst_at = 0;
  Level final_level = Level::unknown;
  double judged_seconds = 0;
  double unknown_seconds = 0;
  double warmup_seconds = 0;
  std::string unknown_reason;  ///< the longest-standing reason the status was unknown
  std::vector<FindingTrack> findings;
  double stall_seconds = 0;
  std::uint64_t stalls = 0;
  double stall_max = 0;
  double lag_p99_max = 0;
  double busy_ratio_max = 0;
  std::vector<CanarySummary> canaries;
  std::vector<RouteSummary> routes;  ///< only the routes that were driven or seen
  ProberHealth prober;
  std::vector<Point> timeline;
  std::vector<Step> steps;
};

/// The whole audit: its inputs, the overall verdict and each subject.
struct AuditReport {
  std::string mode;  ///< "scenario", "observe" or "prometheus"
  std::string scenario;
  std::string target;
  std::string prometheus_url;
  std::string selector;
  std::string rules_file;
  Level fail_on = Level::critical;
  double max_unknown = 0.1;
  double warmup = 0;
  std::string started_at;  ///< RFC 3339 (the judged run's start)
  std::string ended_at;
  double duration = 0;  ///< seconds judged
  Verdict verdict = Verdict::inconclusive;
  std::vector<std::string> reasons;
  std::vector<SubjectResult> subjects;
  std::string version;  ///< loopcanary's
};

/// FAIL if any subject failed, else INCONCLUSIVE if any was inconclusive or
/// there is none, else PASS; with the reasons that decided it.
void conclude(AuditReport& report);

}  // namespace loopcanary::exporter::audit
