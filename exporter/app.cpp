#include "exporter/app.hpp"

#include "config/load.hpp"
#include "exporter/log.hpp"

namespace loopcanary::exporter {

namespace {

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

App::App(Options options, std::shared_ptr<const config::Config> config)
    : options_(std::move(options)),
      monitor_(std::make_shared<Monitor>(std::move(config), metrics_)) {
  metrics_.reload_successful_gauge.Set(1);
  metrics_.reload_timestamp_gauge.Set(unix_seconds());
}

App::~App() { stop(); }

std::shared_ptr<Monitor> App::monitor() const {
  std::lock_guard lock(monitor_mutex_);
  return monitor_;
}

void App::start() {
  auto m = monitor();
  m->start();
  started_ = true;
  start_cli_scenario(*m);
}

void App::start_cli_scenario(Monitor& m) {
  if (!options_.scenario) return;
  std::string running;
  switch (m.start_scenario(*options_.scenario, options_.scenario_repeat, &running)) {
    case Monitor::StartResult::started:
      break;
    case Monitor::StartResult::unknown:
      log::error("scenario from --scenario is not in the configuration",
                 {{"scenario", *options_.scenario}});
      break;
    case Monitor::StartResult::conflict:
      log::warn("scenario not started: another one runs on its target",
                {{"scenario", *options_.scenario}, {"running", running}});
      break;
  }
}

void App::stop() {
  if (auto m = monitor()) m->stop();
}

std::string App::metrics_text() { return metrics_.serialize(); }

std::vector<TargetSnapshot> App::targets() { return monitor()->snapshot(); }

std::vector<ScenarioState> App::scenarios() { return monitor()->scenarios(); }

std::optional<ScenarioState> App::scenario(const std::string& name) {
  return monitor()->scenario(name);
}

bool App::ready() { return started_; }

App::ReloadResult App::reload() {
  std::lock_guard reload_lock(reload_mutex_);
  std::shared_ptr<const config::Config> next;
  std::shared_ptr<Monitor> next_monitor;
  try {
    next = std::make_shared<const config::Config>(config::load_file(options_.config_file));
    next_monitor = std::make_shared<Monitor>(next, metrics_);
  } catch (const config::ConfigError& e) {
    metrics_.reload_successful_gauge.Set(0);
    std::string message = "error reloading " + options_.config_file + "; keeping the old config:";
    for (const auto& err : e.errors()) {
      log::error("invalid configuration", {{"file", options_.config_file}, {"err", err}});
      message += "\n  " + err;
    }
    return {false, message};
  } catch (const std::exception& e) {
    metrics_.reload_successful_gauge.Set(0);
    log::error("cannot apply configuration", {{"file", options_.config_file}, {"err", e.what()}});
    return {false,
            "error reloading " + options_.config_file + "; keeping the old config: " + e.what()};
  }
  std::shared_ptr<Monitor> previous = monitor();
  previous->stop();
  previous->remove_metrics_not_in(*next);
  {
    std::lock_guard lock(monitor_mutex_);
    monitor_ = next_monitor;
  }
  if (started_) {
    next_monitor->start();
    start_cli_scenario(*next_monitor);
  }
  metrics_.reload_successful_gauge.Set(1);
  metrics_.reload_timestamp_gauge.Set(unix_seconds());
  log::info("configuration reloaded",
            {{"file", options_.config_file}, {"targets", next->targets.size()}});
  return {true, "configuration reloaded"};
}

Monitor::StartResult App::start_scenario(const std::string& name, std::string* detail) {
  return monitor()->start_scenario(name, false, detail);
}

Monitor::StopResult App::stop_scenario(const std::string& name) {
  return monitor()->stop_scenario(name);
}

}  // namespace loopcanary::exporter
