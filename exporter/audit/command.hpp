#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "exporter/audit/audit.hpp"
#include "exporter/audit/prometheus.hpp"

namespace CLI {
class App;
}

namespace loopcanary::exporter::audit {

/// `loopcanary audit`'s command line: its flags on a CLI11 subcommand, and
/// the audit they ask for once parsed, so main.cpp only adds it and runs it.
/// Flags bind to members: construct in place, never copy or move.
class AuditCommand {
 public:
  /// Reads --config.file, printing every error; nullptr when it is not valid.
  using Loader = std::function<std::shared_ptr<const config::Config>(const std::string&)>;

  /// Adds `audit` to `cli`; `config_file` is the main command's --config.file.
  AuditCommand(CLI::App& cli, std::string& config_file);
  AuditCommand(const AuditCommand&) = delete;
  AuditCommand& operator=(const AuditCommand&) = delete;

  bool parsed() const;
  /// Checks the flags and runs the audit; returns the exit code (2 for bad flags).
  int run(const Loader& load);

 private:
  CLI::App* app_;
  std::string& config_file_;
  AuditOptions live_;
  PrometheusOptions prometheus_;
  std::string fail_on_ = "critical";
  std::string max_unknown_ = "10%";
  std::string duration_, warmup_, min_duration_, wait_, range_, step_;
  std::vector<std::string> reports_;
  std::string output_ = "-";
  std::string runbook_url_;
  bool no_progress_ = false;
};

}  // namespace loopcanary::exporter::audit
