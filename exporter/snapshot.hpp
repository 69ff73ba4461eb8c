#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "exporter/signals/signals.hpp"
#include "exporter/signals/status.hpp"

/// The process's plain data, as the HTTP pages and the audit see it: copies
/// taken under the monitors' locks, owned by the caller, no behaviour.
namespace loopcanary::exporter {

/// One point of the landing page's sparklines (one per second).
struct HistoryPoint {
  std::chrono::system_clock::time_point at;
  double latency_max_seconds = 0;  ///< worst canary latency completed in that second
  double stall_seconds = 0;        ///< stall seconds added in that second
  int status = -1;
};

/// A consistent copy of one target's state, for /api/v1/status, the landing
/// page and the audit report.
struct TargetSnapshot {
  std::string name;
  std::string url;
  Level level = Level::unknown;
  std::array<bool, kFindingCount> findings{};
  TargetView view;
  Assessment assessment;
  std::vector<std::string> canaries;
  std::vector<std::string> routes;
  std::vector<HistoryPoint> history;
};

/// The state of one scenario, for GET /api/v1/scenarios and the audit.
struct ScenarioState {
  std::string name;
  std::string target;
  bool external = false;
  bool running = false;
  bool stopping = false;
  int concurrency = 0;
  std::uint64_t runs = 0;
  std::optional<std::chrono::system_clock::time_point> started_at;
  std::optional<std::chrono::system_clock::time_point> ended_at;
  std::string last_result;  ///< "completed" or "stopped" after a run
};

/// What starting or stopping a scenario did (POST /api/v1/scenarios/{name}/…).
enum class ScenarioStartResult { started, unknown, conflict };
enum class ScenarioStopResult { stopping, unknown, not_running };

}  // namespace loopcanary::exporter
