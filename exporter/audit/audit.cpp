#include "exporter/audit/audit.hpp"

#include <fstream>
#include <iostream>
#include <thread>

#include "exporter/audit/reports.hpp"
#include "exporter/audit/result.hpp"
#include "exporter/log.hpp"
#include "exporter/metrics.hpp"
#include "exporter/monitor.hpp"
#include "exporter/rfc3339.hpp"

namespace loopcanary::exporter {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr auto kPoll = std::chrono::milliseconds(50);

const TargetSnapshot* find(const std::vector<TargetSnapshot>& all, const std::string& name) {
  for (const auto& t : all) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace

int run_audit(std::shared_ptr<const config::Config> config, const AuditOptions& options) {
  const config::Scenario* scenario = config->find_scenario(options.scenario);
  if (!scenario) {
    std::cerr << "loopcanary audit: unknown scenario \"" << options.scenario << "\" (known:";
    for (const auto& s : config->scenarios) std::cerr << ' ' << s.name;
    std::cerr << ")\n";
    return 2;
  }
  if (scenario->phases.empty()) {
    std::cerr << "loopcanary audit: scenario \"" << options.scenario
              << "\" is external (no phases); an audit needs a scenario that drives load\n";
    return 2;
  }
  const auto writer = audit::report_writers().find(options.report);
  if (writer == audit::report_writers().end()) {
    std::cerr << "loopcanary audit: unknown --report " << options.report << "\n";
    return 2;
  }
  std::ofstream file;
  if (options.output != "-") {
    file.open(options.output);
    if (!file) {
      std::cerr << "loopcanary audit: cannot write --output " << options.output << "\n";
      return 2;
    }
  }

  Metrics metrics;
  Monitor monitor(config, metrics);
  monitor.start();
  const config::Target& target = *config->find_target(scenario->target);
  const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(config->global.window);

  // Warm up: until the status is known (a baseline exists), at most one window.
  const auto warmup_deadline = SteadyClock::now() + window;
  TargetSnapshot before;
  for (;;) {
    before = *find(monitor.snapshot(), target.name);
    if (before.level != Level::unknown || SteadyClock::now() >= warmup_deadline) break;
    std::this_thread::sleep_for(kPoll);
  }
  log::info("audit warm-up done", {{"status", std::string(name(before.level))}});

  audit::AuditResult result;
  result.scenario = scenario->name;
  result.target = target.name;
  result.url = target.url.text;
  result.fail_on = options.fail_on;
  result.started_at = rfc3339(std::chrono::system_clock::now());
  const auto start = SteadyClock::now();
  const auto since = [&] {
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
  };
  monitor.start_scenario(scenario->name, false);
  result.observe(before, 0, before);
  for (;;) {
    std::this_thread::sleep_for(kPoll);
    result.observe(*find(monitor.snapshot(), target.name), since(), before);
    const auto state = monitor.scenario(scenario->name);
    if (!state || !state->running) break;
  }
  result.duration = since();
  const auto settle_end = SteadyClock::now() + options.settle;
  while (SteadyClock::now() < settle_end) {
    std::this_thread::sleep_for(kPoll);
    result.observe(*find(monitor.snapshot(), target.name), since(), before);
  }
  monitor.stop();

  const std::string report = writer->second(result);
  if (file.is_open()) {
    file << report;
    // A person watching the CI log still wants the verdict.
    std::cerr << audit::text_report(result);
  } else {
    std::cout << report << std::flush;
  }
  return result.failed() ? 1 : 0;
}

}  // namespace loopcanary::exporter
