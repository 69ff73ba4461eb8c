#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/signals/signals.hpp"
#include "exporter/signals/status.hpp"

/// The process's plain data, as the HTTP pages and the audit see it: copies
/// taken under the monitors' locks, owned by the caller, no behaviour.
namespace loopcanary::exporter {

using SystemTime = std::chrono::system_clock::time_point;

/// One point of the landing page's charts and status timeline (one a second).
struct HistoryPoint {
  SystemTime at;  ///< the end of the second it describes
  /// The worst canary latency answered (or timed out) in that second; none
  /// when no probe got an answer: a gap on the chart, not a fast service.
  std::optional<double> latency_max_seconds;
  double stall_seconds = 0;  ///< stall seconds settled in that second
  /// The longest stall in progress seen in that second (grows while it lasts).
  double stall_in_progress_max_seconds = 0;
  /// The worst heavy-route latency completed in that second, while a scenario ran.
  std::optional<double> route_latency_max_seconds;
  bool scenario = false;       ///< a heavy request of the target was in flight
  std::uint32_t answered = 0;  ///< canary probes with a meaningful latency
  std::uint32_t failed = 0;    ///< canary probes that failed, for any reason
  int status = -1;             ///< the worst status of that second (−1: unknown throughout)
};

/// Where a finding is in its life, as a person reads it.
enum class FindingState {
  inactive,  ///< not raised in the history span
  holding,   ///< its entry conditions hold now
  clearing,  ///< they stopped holding; the finding or the status it raised has not let go yet
  cleared,   ///< it let go; kept for the history span so a past finding stays visible
};
constexpr std::string_view name(FindingState state) {
  switch (state) {
    case FindingState::holding:
      return "holding";
    case FindingState::clearing:
      return "clearing";
    case FindingState::cleared:
      return "cleared";
    case FindingState::inactive:
      break;
  }
  return "inactive";
}

/// One condition of a finding's evidence, remembered over one episode of the
/// finding: the worst value while it held, and when it held.
struct RememberedEvidence {
  Evidence peak;   ///< `value` is the worst while it held; `holds`: it holds now
  double now = 0;  ///< the value at the latest evaluation
  SystemTime first_held;
  SystemTime last_held;
};

/// A finding with memory: why the status went where it went, still shown while
/// the status steps down after its conditions stopped holding.
struct FindingMemory {
  FindingState state = FindingState::inactive;
  std::optional<SystemTime> since;           ///< its conditions first held (this episode)
  std::optional<SystemTime> last_held;       ///< they last held
  std::optional<SystemTime> cleared_at;      ///< it let go
  std::vector<RememberedEvidence> evidence;  ///< each condition that held this episode
};

/// Why canary probes failed: one entry per reason seen in the history span.
struct FailureReason {
  std::string reason;        ///< probes::Outcome name: connect_error, timeout, …
  std::uint64_t recent = 0;  ///< probes that failed so in the history span
  std::uint64_t total = 0;   ///< since this configuration started probing
  std::optional<SystemTime> last_at;
  std::string last_detail;  ///< the last error in words, e.g. "Connection refused"
};

/// One change of the runtime status.
struct StatusChange {
  SystemTime at;
  Level from = Level::unknown;
  Level to = Level::unknown;
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

  SystemTime taken_at;                    ///< when this copy was made
  std::optional<SystemTime> level_since;  ///< when the status became `level`
  std::chrono::seconds history_span{};    ///< how far back `history` and the memories reach
  /// How long calm must last before the status steps down one level
  /// (thresholds.hold × evaluation_interval).
  Duration step_down_after{};
  std::array<FindingMemory, kFindingCount> memory;
  std::vector<FailureReason> failures;  ///< reasons seen in the history span, most first
  std::vector<StatusChange> changes;    ///< status changes in the history span, oldest first
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
