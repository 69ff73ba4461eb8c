#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "exporter/signals/usl.hpp"
#include "probes/sample.hpp"

namespace loopcanary::exporter {

using probes::Duration;
using probes::Sample;
using probes::TimePoint;

/// What one heavy route does to the runtime, as of one evaluation.
/// Optional values are unknown (not exported) until there is enough evidence.
struct RouteView {
  std::size_t in_flight = 0;
  std::size_t completed_in_window = 0;
  std::optional<int> concurrency;  ///< current closed-loop step, while one runs

  // Head-of-line blocking (DESIGN 4).
  std::optional<double> hol_ratio;
  std::optional<Duration> hol_delay;
  std::size_t hol_h = 0;  ///< canaries sent while the route was in flight (window)
  std::size_t hol_q = 0;  ///< canaries sent while it was not (baseline window)
  double u_h = 0;
  double u_q = 0;

  // Executor queue amplification (DESIGN 5).
  std::optional<Duration> service_time;
  std::optional<Duration> mean_latency;
  std::optional<double> amplification;
  std::optional<double> capacity;

  // Concurrency knee (DESIGN 6).
  std::optional<int> knee;
  std::vector<UslPoint> steps;  ///< the latest ramp: N, X(N), R(N)
};

/// The signals of one heavy route: fed the route's own requests (as intervals
/// [a_j, c_j] and step boundaries from the scenario driver) and every settled
/// canary sample of its target. Pure, single-threaded, time passed in.
class RouteSignals {
 public:
  struct Settings {
    Duration window;
    Duration baseline_window;
    std::optional<Duration> service_time;  ///< configured S, else learned at N = 1
  };

  explicit RouteSignals(Settings settings) : settings_(settings) {}

  void started(std::uint64_t request, TimePoint at);
  void finished(std::uint64_t request, const Sample& sample);
  void cancelled(std::uint64_t request) { in_flight_.erase(request); }
  /// A closed-loop step at `concurrency` begins (0 for an open-loop phase).
  void step(int concurrency, TimePoint at);
  /// The route's load stopped (phase or scenario ended).
  void idle(TimePoint at);
  /// A settled canary sample intended at `t` with excess `e`; `busy` when e > ε.
  void classify(TimePoint t, Duration e, bool busy);

  RouteView view(TimePoint now);
  /// Whether a request of this route was in flight at `t`.
  bool in_flight_at(TimePoint t) const;

  /// Requests with at least this many in flight count toward the HOL sets.
  static constexpr std::size_t kMinH = 30;
  static constexpr std::size_t kMinCompleted = 5;
  /// A step is saturated once its mean latency is this far above S.
  static constexpr double kSaturated = 1.25;

 private:
  struct Step {
    int concurrency = 0;
    TimePoint start{};
    std::optional<TimePoint> end;
    std::size_t completions = 0;
    /// Time the route's requests spent in flight inside the step (seconds),
    /// of those completed so far and, once it ended, of those still out then.
    double busy = 0;
    std::vector<double> latencies;  // kept for the N = 1 step only (S)
  };
  struct Completion {
    TimePoint start;
    TimePoint done;
  };
  struct Canary {
    TimePoint t;
    Duration e;
    bool busy;
  };
  /// Canaries of one HOL set with running totals, so a view costs O(1).
  struct CanarySet {
    std::deque<Canary> items;
    std::size_t busy = 0;
    Duration e_sum{};
    void push(const Canary& c);
    void drop_before(TimePoint t);
    double busy_share() const;
    Duration mean_e() const;
  };

  void prune(TimePoint now);
  /// Ends the current step at `at`, if one is open.
  void close_step(TimePoint at);
  /// Seconds the requests still in flight spent in flight in [since, until].
  double in_flight_seconds(TimePoint since, TimePoint until) const;
  /// The mean latency of the requests sent in [since, now], answered or
  /// overdue (still out longer than the answered mean).
  std::optional<double> mean_latency_since(TimePoint since, TimePoint now) const;
  std::optional<UslPoint> point(const Step& step, TimePoint now) const;

  Settings settings_;
  std::optional<Duration> learned_service_time_;
  std::map<std::uint64_t, TimePoint> in_flight_;
  std::vector<std::pair<TimePoint, TimePoint>> coverage_;  ///< merged [a, c], by start
  std::deque<Completion> completions_;
  CanarySet h_;
  CanarySet q_;
  std::vector<Step> ramp_;
  bool running_ = false;
};

}  // namespace loopcanary::exporter
