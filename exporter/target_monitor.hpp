#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "exporter/log.hpp"
#include "exporter/metrics.hpp"
#include "exporter/signals/signals.hpp"
#include "exporter/signals/status.hpp"
#include "exporter/snapshot.hpp"
#include "probes/sink.hpp"

namespace loopcanary::exporter {

/// Everything loopcanary knows about one target: receives the probes' reports
/// (ProbeSink), runs the signals and the status machine on `tick`, and keeps
/// the metrics in step. Thread-safe: canary calls come from the prober thread,
/// route calls from the scenario thread, snapshots from the HTTP server.
class TargetMonitor : public probes::ProbeSink {
 public:
  TargetMonitor(const config::Config& config, const config::Target& target, Metrics& metrics);

  void canary_scheduled(std::size_t canary, probes::TimePoint intended) override;
  void canary_sample(std::size_t canary, const probes::Sample& sample) override;
  void canary_error(std::size_t canary, probes::Outcome outcome,
                    const std::string& detail) override;
  void canary_sent(std::size_t canary, std::uint32_t connection, probes::TimePoint oldest,
                   probes::TimePoint newest) override;
  void canary_worker(std::size_t canary, std::uint32_t connection,
                     const std::string& worker) override;
  void canary_connection_closed(std::size_t canary, std::uint32_t connection) override;
  void route_started(std::size_t route, std::uint64_t request, probes::TimePoint at) override;
  void route_sample(std::size_t route, std::uint64_t request,
                    const probes::Sample& sample) override;
  void route_cancelled(std::size_t route, std::uint64_t request) override;
  void route_step(std::size_t route, int concurrency, probes::TimePoint at) override;
  void route_idle(std::size_t route, probes::TimePoint at) override;

  /// Settles samples, evaluates the signals and the status, updates metrics.
  void tick(probes::TimePoint now, const std::vector<probes::LagEpisode>& lag_episodes);
  void set_canary_interval(std::size_t canary, config::Duration interval);

  TargetSnapshot snapshot() const;
  const std::string& name() const { return name_; }
  /// Drops this target's series from /metrics (it left the configuration);
  /// `keep` names the canaries and routes of the target's new configuration.
  void remove_metrics(const config::Target* keep);

 private:
  std::string name_;
  std::string url_;
  config::Thresholds thresholds_;
  Duration evaluation_interval_;
  std::vector<std::string> canary_names_;
  std::vector<std::string> route_names_;
  Metrics& metrics_;

  mutable std::mutex mutex_;
  TargetSignals signals_;
  StatusMachine status_;
  TargetMetrics target_metrics_;
  std::vector<CanaryMetrics> canary_metrics_;
  std::vector<RouteMetrics> route_metrics_;
  std::vector<WorkerMetrics> worker_metrics_;  ///< by the signals' worker index
  double published_partial_total_ = 0;
  std::uint64_t published_partial_stalls_ = 0;
  std::uint64_t published_stalls_ = 0;
  double published_stall_total_ = 0;
  TargetView view_;
  Assessment assessment_;
  std::vector<Duration> lag_observations_;

  // Failure logs, at most one per (canary, reason) every kErrorLogEvery.
  struct ErrorLog {
    std::optional<probes::TimePoint> last;
    std::uint64_t suppressed = 0;
  };
  std::map<std::pair<std::size_t, probes::Outcome>, ErrorLog> error_logs_;

  // Chart history: one point a second, with the failures of that second by
  // reason alongside (for FailureReason::recent).
  static constexpr std::size_t kOutcomes = probes::kOutcomeNames.size();
  using ReasonCounts = std::array<std::uint32_t, kOutcomes>;
  std::deque<HistoryPoint> history_;
  std::deque<ReasonCounts> history_failures_;
  std::optional<double> second_latency_max_;
  double second_stall_start_ = 0;
  double second_stall_progress_max_ = 0;
  std::optional<double> second_route_latency_max_;
  bool second_scenario_ = false;
  std::uint32_t second_answered_ = 0;
  int second_status_worst_ = -1;
  ReasonCounts second_failures_{};
  std::optional<probes::TimePoint> second_start_;

  // What a person reads: findings with memory, failure reasons, status changes.
  void remember(SystemTime now);
  struct LogLine {
    log::Level level;
    std::vector<log::Field> fields;
  };
  /// Records a change of the status and returns its log line.
  LogLine status_change(SystemTime now, Level from, Level to);
  std::array<FindingMemory, kFindingCount> memory_;
  std::array<std::uint64_t, kOutcomes> failure_totals_{};
  std::array<std::uint64_t, kOutcomes> calm_failure_totals_{};  ///< at the last calm tick
  std::array<std::optional<SystemTime>, kOutcomes> failure_last_at_{};
  std::array<std::string, kOutcomes> failure_last_detail_{};
  std::deque<StatusChange> changes_;
  std::optional<SystemTime> level_since_;
  /// Since the status last left healthy: for the line that logs its return.
  struct Episode {
    SystemTime since;
    Level worst = Level::unknown;
    std::array<bool, kFindingCount> findings{};
    std::array<std::uint64_t, kOutcomes> failures_before{};
  };
  std::optional<Episode> episode_;
  /// A canary's failures since its last answer, for the line that logs its
  /// recovery (only when its failures were logged: at most one per warning).
  struct Streak {
    std::optional<SystemTime> since;
    std::array<std::uint64_t, kOutcomes> by_reason{};
    bool warned = false;
  };
  std::vector<Streak> streaks_;
};

}  // namespace loopcanary::exporter
