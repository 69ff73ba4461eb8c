#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "exporter/signals/status.hpp"

namespace loopcanary::exporter {

struct AuditOptions {
  std::string scenario;
  Level fail_on = Level::critical;
  std::string report = "text";  ///< text, json or junit
  std::string output = "-";     ///< a file, or - for stdout
  /// Kept watching after the scenario ends, so late samples settle.
  std::chrono::milliseconds settle{2000};
};

/// `loopcanary audit`: warms up until the target's status is known, runs the
/// scenario, watches the status and findings throughout, prints the report.
/// Returns 1 when the worst status reached `fail_on`, 0 otherwise, 2 when the
/// audit could not run (unknown scenario, unwritable output).
int run_audit(std::shared_ptr<const config::Config> config, const AuditOptions& options);

}  // namespace loopcanary::exporter
