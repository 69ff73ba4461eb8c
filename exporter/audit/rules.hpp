#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporter/signals/status.hpp"

/// `--rules=FILE`: your own runtime checks in PromQL with thresholds, for
/// services that expose their own runtime metrics (event-loop lag, executor
/// queue), in the shape of async-runtime-auditor's metrics.yaml: `queries`
/// (name → PromQL) and `thresholds` (name → levels). Read with config's
/// strict YAML reader: unknown keys, missing halves and bad numbers are
/// errors naming the rule and its line.
namespace loopcanary::exporter::audit {

struct Rule {
  std::string name;
  std::string query;
  int line = 0;           ///< where the query is written
  std::string op = ">=";  ///< ">=": higher is worse; "<=": lower is worse
  Unit unit = Unit::count;
  std::vector<std::pair<Level, double>> thresholds;  ///< increasing level
  std::string meaning;
  std::string what_to_do;
  std::string runbook;
};

struct RulesFile {
  std::string prometheus;  ///< `target:`, the Prometheus URL; --prometheus wins
  std::vector<Rule> rules;
};

/// Reads a rules file; throws config::ConfigError with every error
/// ("thresholds.event_loop_lag.critical (line 12): …").
RulesFile load_rules(const std::string& path);
RulesFile parse_rules(const std::string& text);

/// What `loopcanary init --rules` writes: a commented starter file.
extern const std::string_view kStarterRules;

}  // namespace loopcanary::exporter::audit
