#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "exporter/audit/audit.hpp"

namespace loopcanary::exporter {

/// `loopcanary audit --prometheus=URL`: the same verdict, findings and
/// evidence, judged from loopcanary's series already in Prometheus (every
/// scraped sample of the range, per target and instance/pod), or from the
/// PromQL checks of a --rules file.
struct PrometheusOptions : AuditCommon {
  std::string url;
  /// The range: the last `range` up to now, or [start, end] (RFC 3339 or Unix seconds).
  std::optional<std::chrono::milliseconds> range;
  std::string start;
  std::string end;
  /// Label matchers every series must carry: `{namespace="x",pod=~"api-.*"}`.
  std::string selector;
  std::string rules_file;
  /// --rules: query_range resolution (default: range / 600, at least 1 s).
  std::optional<std::chrono::milliseconds> step;
  /// Thresholds and window when given (--config.file); the defaults otherwise.
  std::shared_ptr<const config::Config> config;
  std::chrono::milliseconds timeout{30000};
};

/// Returns the exit code: 0 PASS, 1 FAIL, 2 bad input (flags, rules file, a
/// query Prometheus rejects), 3 INCONCLUSIVE (Prometheus unreachable or
/// failing, no data, too much unknown).
int run_prometheus_audit(const PrometheusOptions& options);

}  // namespace loopcanary::exporter
