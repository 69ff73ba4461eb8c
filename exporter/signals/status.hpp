#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "exporter/signals/signals.hpp"

namespace loopcanary::exporter {

/// loopcanary_runtime_status values.
enum class Level : int { unknown = -1, healthy = 0, degraded = 1, critical = 2, unresponsive = 3 };

std::string_view name(Level level);

/// Why the status is what it is: loopcanary_finding{finding}.
enum class Finding : std::size_t {
  event_loop_starvation,
  head_of_line_blocking,
  executor_queue_amplification,
  concurrency_saturation,
  canary_failures,
  prober_starved,
  worker_stall,  ///< part of the service (one worker of a pre-fork server) stalled
};
inline constexpr std::size_t kFindingCount = 7;
inline constexpr std::array<std::string_view, kFindingCount> kFindingNames{
    "event_loop_starvation",
    "head_of_line_blocking",
    "executor_queue_amplification",
    "concurrency_saturation",
    "canary_failures",
    "prober_starved",
    "worker_stall"};
constexpr std::string_view name(Finding f) { return kFindingNames[static_cast<std::size_t>(f)]; }

/// How a value of evidence reads for a person.
enum class Unit { seconds, ratio, count };

/// One value set against one threshold: the evidence behind a finding.
struct Evidence {
  std::string signal;  ///< e.g. "stall_max_seconds" or "hol_blocking_ratio{route=agent}"
  double value = 0;
  std::string op;  ///< ">=" for an entry condition
  double threshold = 0;
  bool holds = false;
  /// The status level this condition raises when it holds (healthy: it
  /// raises none, e.g. the knee; unknown: it makes the status unknown).
  Level level = Level::healthy;
  Unit unit = Unit::count;
};

/// A value in the units a person reads: "600 ms", "3.02 s", "18.6 %", "290".
std::string format_value(double value, Unit unit);

/// One line of evidence for a person: "stall_max_seconds 600 ms ≥ 500 ms
/// (critical)"; the level is left out when the condition raises none.
std::string describe(const Evidence& evidence);

/// The rules of DESIGN "Runtime status" applied to one view, without memory:
/// which level's entry conditions hold, which levels' exit conditions hold,
/// and each finding's entry/exit state with its evidence. Pure.
struct Assessment {
  bool unknown = false;
  std::string unknown_reason;
  Level entry = Level::healthy;      ///< the highest level whose entry holds
  std::array<bool, 4> exit_holds{};  ///< [level]: all exit conditions of that level hold
  std::array<bool, kFindingCount> finding_enter{};
  std::array<bool, kFindingCount> finding_exit{};
  std::array<std::vector<Evidence>, kFindingCount> evidence;
  /// A sentence for a person where the evidence alone does not say it, e.g.
  /// "1 of 4 probe connections stalled 3.02 s while the others answered".
  std::array<std::string, kFindingCount> summary;
};

Assessment assess(const TargetView& view, const config::Thresholds& thresholds,
                  const std::vector<std::string>& route_names);
/// The same, written over `into` (the previous assessment), reusing its
/// storage: the evaluation of every target calls this 40 times a second.
void assess(const TargetView& view, const config::Thresholds& thresholds,
            const std::vector<std::string>& route_names, Assessment& into);

/// The status with memory: entering a level is immediate; leaving steps down
/// one level at a time, after the exit conditions held for `hold` consecutive
/// evaluations, which happen every `evaluation_interval` (entries are checked
/// on every update). Findings have the same enter/exit hysteresis.
class StatusMachine {
 public:
  StatusMachine(int hold, Duration evaluation_interval)
      : hold_(hold), evaluation_interval_(evaluation_interval) {}

  void update(TimePoint now, const Assessment& assessment);
  Level level() const { return level_; }
  bool finding(Finding f) const { return findings_[static_cast<std::size_t>(f)]; }
  const std::array<bool, kFindingCount>& findings() const { return findings_; }

 private:
  int hold_;
  Duration evaluation_interval_;
  Level level_ = Level::unknown;
  int exits_held_ = 0;
  std::optional<TimePoint> last_evaluation_;
  std::array<bool, kFindingCount> findings_{};
};

}  // namespace loopcanary::exporter
