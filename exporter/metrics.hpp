#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "probes/sample.hpp"

namespace loopcanary::exporter {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

/// Every metric family loopcanary exports (docs/metrics.md), registered once
/// for the life of the process. Reloads add and remove children; families
/// never change. Thread-safe as prometheus-cpp is.
class Metrics {
 public:
  Metrics();

  /// The text exposition format (0.0.4) of everything registered.
  std::string serialize() const;

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::atomic<std::size_t> last_size_{0};

 public:
  // Per canary {target, canary}.
  Family<Histogram>& probe_duration;
  Family<Counter>& probes;
  Family<Counter>& probe_failures;  // + reason
  Family<Counter>& probes_dropped;
  Family<Counter>& probes_coalesced;
  Family<Gauge>& probes_in_flight;
  Family<Gauge>& canary_interval;
  Family<Gauge>& baseline;
  // Per target {target}.
  Family<Counter>& stall_seconds;
  Family<Counter>& stalls;
  Family<Gauge>& stall_in_progress;
  Family<Gauge>& stall_max;
  Family<Gauge>& stall_ratio;
  Family<Histogram>& lag;
  Family<Gauge>& lag_p99;
  Family<Gauge>& busy_ratio;
  Family<Gauge>& runtime_status;
  Family<Gauge>& finding;  // + finding
  Family<Counter>& partial_stall_seconds;
  Family<Counter>& partial_stalls;
  Family<Gauge>& partial_stall_in_progress;
  Family<Gauge>& partial_stall_max;
  Family<Gauge>& stalled_connections_ratio;
  Family<Gauge>& probe_connections;
  Family<Gauge>& warming_up;
  // Per worker {target, worker} (canary.worker_id).
  Family<Counter>& worker_probes;
  Family<Counter>& worker_partial_stall_seconds;
  Family<Gauge>& worker_stalled;
  // Per route {target, route}.
  Family<Histogram>& route_duration;
  Family<Counter>& route_requests;
  Family<Counter>& route_failures;  // + reason
  Family<Gauge>& route_in_flight;
  Family<Gauge>& hol_ratio;
  Family<Gauge>& hol_delay;
  Family<Gauge>& service_time;
  Family<Gauge>& amplification;
  Family<Gauge>& capacity;
  Family<Gauge>& knee;
  // Per scenario {target, scenario}.
  Family<Gauge>& scenario_running;
  Family<Gauge>& scenario_concurrency;
  // The exporter itself.
  Family<Gauge>& prober_lag;
  Family<Gauge>& build_info;
  Family<Gauge>& reload_successful;
  Family<Gauge>& reload_timestamp;

  Gauge& prober_lag_gauge;
  Gauge& reload_successful_gauge;
  Gauge& reload_timestamp_gauge;
};

/// A gauge that is absent from /metrics while its value is unknown.
class OptionalGauge {
 public:
  OptionalGauge(Family<Gauge>& family, Labels labels);
  void set(std::optional<double> value);
  void remove();

 private:
  Family<Gauge>* family_;
  Labels labels_;
  Gauge* gauge_ = nullptr;
};

/// The children of one canary, created once per (target, canary).
struct CanaryMetrics {
  CanaryMetrics(Metrics& m, const std::string& target, const std::string& canary,
                const std::vector<double>& buckets);
  void remove(Metrics& m);

  Histogram* duration;
  Counter* probes;
  std::array<Counter*, probes::kOutcomeNames.size()> failures{};  // [Outcome]; ok unused
  Counter* dropped;
  Counter* coalesced;
  Gauge* in_flight;
  Gauge* interval;
  OptionalGauge baseline;
};

/// The children of one heavy route.
struct RouteMetrics {
  RouteMetrics(Metrics& m, const std::string& target, const std::string& route,
               const std::vector<double>& buckets);
  void remove(Metrics& m);

  Histogram* duration;
  Counter* requests;
  std::array<Counter*, probes::kOutcomeNames.size()> failures{};
  Gauge* in_flight;
  OptionalGauge hol_ratio;
  OptionalGauge hol_delay;
  OptionalGauge service_time;
  OptionalGauge amplification;
  OptionalGauge capacity;
  OptionalGauge knee;
};

/// The per-target children.
struct TargetMetrics {
  TargetMetrics(Metrics& m, const std::string& target, const std::vector<double>& buckets);
  void remove(Metrics& m);

  Counter* stall_seconds;
  Counter* stalls;
  Gauge* stall_in_progress;
  Gauge* stall_max;
  Gauge* stall_ratio;
  Histogram* lag;
  OptionalGauge lag_p99;
  Gauge* busy_ratio;
  Gauge* status;
  std::vector<Gauge*> findings;  // [Finding]
  Counter* partial_stall_seconds;
  Counter* partial_stalls;
  Gauge* partial_stall_in_progress;
  Gauge* partial_stall_max;
  Gauge* stalled_connections_ratio;
  Gauge* probe_connections;
  Gauge* warming_up;
};

/// The children of one worker of a target, created when it is first named.
struct WorkerMetrics {
  WorkerMetrics(Metrics& m, const std::string& target, const std::string& worker);
  void remove(Metrics& m);

  Counter* probes;
  Counter* partial_stall_seconds;
  Gauge* stalled;
  double published_probes = 0;
  double published_partial = 0;
};

}  // namespace loopcanary::exporter
