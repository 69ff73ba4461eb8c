#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "exporter/audit/result.hpp"
#include "exporter/signals/status.hpp"

namespace loopcanary::exporter {

/// One report to write: a format of reports.hpp's table and where to.
struct ReportSpec {
  std::string format = "text";
  std::string output = "-";  ///< a file, or - for stdout
};

/// What every audit mode shares.
struct AuditCommon {
  Level fail_on = Level::critical;
  /// INCONCLUSIVE when the status was unknown for more than this share of the judged run.
  double max_unknown = 0.1;
  /// Not judged at the start (the service's own warm-up; the scenario's first steps).
  std::chrono::milliseconds warmup{0};
  /// INCONCLUSIVE when less was judged; unset: the signal window W.
  std::optional<std::chrono::milliseconds> min_duration;
  std::vector<ReportSpec> reports;
  std::string runbook_url;
  /// Progress on stderr: one line updated in place on a TTY, plain lines otherwise.
  bool progress = true;
};

struct AuditOptions : AuditCommon {
  std::string scenario;  ///< empty: observe mode
  std::string target;    ///< observe mode: the target to watch (default: the only one)
  /// Observe mode (or an external scenario): how long to watch after the warm-up.
  std::optional<std::chrono::milliseconds> duration;
  /// Kept watching after the scenario ends, so late samples settle.
  std::chrono::milliseconds settle{2000};
  /// How long to keep trying to reach the target before giving up (0: one try).
  std::chrono::milliseconds wait{0};
};

/// `loopcanary audit` against a live target: reaches the target (or says
/// why it cannot, at once), warms up until loopcanary's status is known,
/// runs the scenario or watches for --duration, judges the run
/// (audit/judge.hpp) and writes the reports. Returns the exit code:
/// 0 PASS, 1 FAIL, 2 bad input, 3 INCONCLUSIVE.
int run_audit(std::shared_ptr<const config::Config> config, const AuditOptions& options);

/// Checks that every report's format exists and its file can be written;
/// prints why not and returns false.
bool check_reports(const std::vector<ReportSpec>& reports);

/// Writes every report (a short text summary on stderr when no report goes
/// to stdout) and returns the report's exit code.
int deliver(const audit::AuditReport& report, const std::vector<ReportSpec>& reports);

}  // namespace loopcanary::exporter
