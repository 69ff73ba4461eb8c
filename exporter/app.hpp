#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "exporter/http/router.hpp"
#include "exporter/metrics.hpp"
#include "exporter/monitor.hpp"

namespace loopcanary::exporter {

/// The running exporter: the metrics registry (for the life of the process),
/// the Monitor of the current configuration, and reloads that swap the whole
/// snapshot — or keep the old one running when the new file is bad.
/// Thread-safe.
class App : public Api {
 public:
  struct Options {
    std::string config_file;
    std::optional<std::string> scenario;  ///< started at start-up and after reloads
    bool scenario_repeat = false;
  };

  /// Builds the first Monitor; throws config::ConfigError or std::runtime_error.
  App(Options options, std::shared_ptr<const config::Config> config);
  ~App() override;

  void start();
  void stop();

  std::string metrics_text() override;
  std::vector<TargetSnapshot> targets() override;
  std::vector<ScenarioState> scenarios() override;
  std::optional<ScenarioState> scenario(const std::string& name) override;
  bool ready() override;
  ReloadResult reload() override;
  Monitor::StartResult start_scenario(const std::string& name, std::string* detail) override;
  Monitor::StopResult stop_scenario(const std::string& name) override;

 private:
  std::shared_ptr<Monitor> monitor() const;
  void start_cli_scenario(Monitor& monitor);

  Options options_;
  Metrics metrics_;
  std::mutex reload_mutex_;           // one reload at a time
  mutable std::mutex monitor_mutex_;  // guards the pointer swap
  std::shared_ptr<Monitor> monitor_;
  std::atomic<bool> started_{false};
};

}  // namespace loopcanary::exporter
