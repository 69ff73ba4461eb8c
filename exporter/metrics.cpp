#include "exporter/metrics.hpp"

#include "exporter/exposition.hpp"
#include "exporter/signals/status.hpp"

namespace loopcanary::exporter {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

template <typename Builder>
auto& make(Builder builder, prometheus::Registry& registry, const char* name, const char* help) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      probe_duration(make(BuildHistogram(), *registry_, "loopcanary_probe_duration_seconds",
                          "Canary latency measured from the probe's intended send time.")),
      probes(
          make(BuildCounter(), *registry_, "loopcanary_probes_total", "Canary probes scheduled.")),
      probe_failures(make(BuildCounter(), *registry_, "loopcanary_probe_failures_total",
                          "Failed canary probes by reason.")),
      probes_dropped(make(BuildCounter(), *registry_, "loopcanary_probes_dropped_total",
                          "Canary probes never sent because max_in_flight were outstanding.")),
      probes_coalesced(make(BuildCounter(), *registry_, "loopcanary_probes_coalesced_total",
                            "Canary probes that shared one request with other queued probes.")),
      probes_in_flight(make(BuildGauge(), *registry_, "loopcanary_probes_in_flight",
                            "Canary probes outstanding.")),
      canary_interval(make(BuildGauge(), *registry_, "loopcanary_canary_interval_seconds",
                           "The canary interval in force (interval during scenarios, "
                           "idle_interval otherwise).")),
      baseline(make(BuildGauge(), *registry_, "loopcanary_baseline_seconds",
                    "Baseline latency b: p5 of healthy canary latency.")),
      stall_seconds(make(BuildCounter(), *registry_, "loopcanary_stall_seconds_total",
                         "Time the target could not answer a light request, counted once.")),
      stalls(
          make(BuildCounter(), *registry_, "loopcanary_stalls_total", "Distinct stall episodes.")),
      stall_in_progress(make(BuildGauge(), *registry_, "loopcanary_stall_in_progress_seconds",
                             "Age of the stall happening now; 0 when none.")),
      stall_max(make(BuildGauge(), *registry_, "loopcanary_stall_max_seconds",
                     "Largest excess latency above the stall threshold in the window.")),
      stall_ratio(make(BuildGauge(), *registry_, "loopcanary_stall_ratio",
                       "Stall seconds in the window divided by the window.")),
      lag(make(BuildHistogram(), *registry_, "loopcanary_lag_seconds",
               "Outside-in event-loop lag: canary latency in excess of the baseline.")),
      lag_p99(make(BuildGauge(), *registry_, "loopcanary_lag_p99_seconds",
                   "p99 of the outside-in lag in the window.")),
      busy_ratio(make(BuildGauge(), *registry_, "loopcanary_busy_ratio",
                      "Share of canaries in the window slower than the healthy band.")),
      runtime_status(make(BuildGauge(), *registry_, "loopcanary_runtime_status",
                          "-1 unknown, 0 healthy, 1 degraded, 2 critical, 3 unresponsive.")),
      finding(make(BuildGauge(), *registry_, "loopcanary_finding",
                   "1 while the finding explains the runtime status.")),
      partial_stall_seconds(
          make(BuildCounter(), *registry_, "loopcanary_partial_stall_seconds_total",
               "Time at least one probe connection was stalled while others were answered "
               "(one worker of a pre-fork server), counted once.")),
      partial_stalls(make(BuildCounter(), *registry_, "loopcanary_partial_stalls_total",
                          "Distinct partial stall episodes.")),
      partial_stall_in_progress(
          make(BuildGauge(), *registry_, "loopcanary_partial_stall_in_progress_seconds",
               "Age of the longest partial stall happening now; 0 when none.")),
      partial_stall_max(make(BuildGauge(), *registry_, "loopcanary_partial_stall_max_seconds",
                             "Longest partial stall in the window, or the one in progress.")),
      stalled_connections_ratio(
          make(BuildGauge(), *registry_, "loopcanary_stalled_connections_ratio",
               "Share of the open probe connections stalled now while others answer.")),
      probe_connections(make(BuildGauge(), *registry_, "loopcanary_probe_connections",
                             "Open canary connections to the target.")),
      warming_up(make(BuildGauge(), *registry_, "loopcanary_warming_up",
                      "1 while the target warms up after a (re)start: status unknown, "
                      "stalls not counted.")),
      worker_probes(make(BuildCounter(), *registry_, "loopcanary_worker_probes_total",
                         "Answered canary probes by the worker that served them.")),
      worker_partial_stall_seconds(
          make(BuildCounter(), *registry_, "loopcanary_worker_partial_stall_seconds_total",
               "Partial stall seconds on the connections a worker served.")),
      worker_stalled(make(BuildGauge(), *registry_, "loopcanary_worker_stalled",
                          "1 while a connection to the worker is stalled.")),
      route_duration(make(BuildHistogram(), *registry_, "loopcanary_route_duration_seconds",
                          "Heavy-route latency measured from the intended send time.")),
      route_requests(make(BuildCounter(), *registry_, "loopcanary_route_requests_total",
                          "Heavy-route requests issued by scenarios.")),
      route_failures(make(BuildCounter(), *registry_, "loopcanary_route_failures_total",
                          "Failed heavy-route requests by reason.")),
      route_in_flight(make(BuildGauge(), *registry_, "loopcanary_route_requests_in_flight",
                           "Heavy-route requests outstanding.")),
      hol_ratio(make(BuildGauge(), *registry_, "loopcanary_hol_blocking_ratio",
                     "Share of the route's in-flight time during which a light request cannot "
                     "be served.")),
      hol_delay(make(BuildGauge(), *registry_, "loopcanary_hol_delay_seconds",
                     "Extra delay a light request pays while the route is in flight.")),
      service_time(make(BuildGauge(), *registry_, "loopcanary_route_service_time_seconds",
                        "Service time S of the route at concurrency 1.")),
      amplification(make(BuildGauge(), *registry_, "loopcanary_queue_amplification_ratio",
                         "Mean route latency now divided by its service time.")),
      capacity(make(BuildGauge(), *registry_, "loopcanary_executor_capacity_estimate",
                    "Estimated worker-pool size serving the route (X·S when saturated).")),
      knee(make(BuildGauge(), *registry_, "loopcanary_saturation_concurrency",
                "Concurrency beyond which the route stops scaling.")),
      scenario_running(make(BuildGauge(), *registry_, "loopcanary_scenario_running",
                            "1 while the scenario runs.")),
      scenario_concurrency(make(BuildGauge(), *registry_, "loopcanary_scenario_concurrency",
                                "Closed-loop concurrency the scenario drives now.")),
      prober_lag(make(BuildGauge(), *registry_, "loopcanary_prober_lag_seconds",
                      "Worst lateness of the prober's own timers over the last second.")),
      build_info(make(BuildGauge(), *registry_, "loopcanary_build_info",
                      "loopcanary build information; always 1.")),
      reload_successful(make(BuildGauge(), *registry_, "loopcanary_config_last_reload_successful",
                             "Whether the last configuration (re)load succeeded.")),
      reload_timestamp(make(BuildGauge(), *registry_,
                            "loopcanary_config_last_reload_success_timestamp_seconds",
                            "Unix time of the last successful configuration (re)load.")),
      prober_lag_gauge(prober_lag.Add({})),
      reload_successful_gauge(reload_successful.Add({})),
      reload_timestamp_gauge(reload_timestamp.Add({})) {
  build_info.Add({{"version", LOOPCANARY_VERSION}}).Set(1);
}

std::string Metrics::serialize() const {
  std::string out;
  // The exposition grows only with targets; last time's size saves the
  // string's reallocations and copies (258 KB at 50 targets).
  out.reserve(last_size_.load(std::memory_order_relaxed) + 4096);
  write_text(registry_->Collect(), out);
  last_size_.store(out.size(), std::memory_order_relaxed);
  return out;
}

OptionalGauge::OptionalGauge(Family<Gauge>& family, Labels labels)
    : family_(&family), labels_(std::move(labels)) {
  // A reload keeps the series of a target that stays: pick it up, so that an
  // unknown value removes it rather than leaving the old value behind.
  if (family_->Has(labels_)) gauge_ = &family_->Add(labels_);
}

void OptionalGauge::set(std::optional<double> value) {
  if (value) {
    if (!gauge_) gauge_ = &family_->Add(labels_);
    gauge_->Set(*value);
  } else {
    remove();
  }
}

void OptionalGauge::remove() {
  if (gauge_) family_->Remove(gauge_);
  gauge_ = nullptr;
}

namespace {

template <std::size_t N>
void add_failures(Family<Counter>& family, const Labels& base, std::array<Counter*, N>& failures) {
  for (std::size_t i = 0; i < N; ++i) {
    const auto outcome = static_cast<probes::Outcome>(i);
    if (outcome == probes::Outcome::ok) continue;
    Labels labels = base;
    labels["reason"] = std::string(probes::name(outcome));
    failures[i] = &family.Add(labels);
  }
}

template <std::size_t N>
void remove_failures(Family<Counter>& family, std::array<Counter*, N>& failures) {
  for (Counter*& c : failures) {
    if (c) family.Remove(c);
    c = nullptr;
  }
}

Histogram::BucketBoundaries bounds(const std::vector<double>& buckets) {
  return Histogram::BucketBoundaries(buckets.begin(), buckets.end());
}

}  // namespace

CanaryMetrics::CanaryMetrics(Metrics& m, const std::string& target, const std::string& canary,
                             const std::vector<double>& buckets)
    : duration(&m.probe_duration.Add({{"target", target}, {"canary", canary}}, bounds(buckets))),
      probes(&m.probes.Add({{"target", target}, {"canary", canary}})),
      dropped(&m.probes_dropped.Add({{"target", target}, {"canary", canary}})),
      coalesced(&m.probes_coalesced.Add({{"target", target}, {"canary", canary}})),
      in_flight(&m.probes_in_flight.Add({{"target", target}, {"canary", canary}})),
      interval(&m.canary_interval.Add({{"target", target}, {"canary", canary}})),
      baseline(m.baseline, {{"target", target}, {"canary", canary}}) {
  add_failures(m.probe_failures, {{"target", target}, {"canary", canary}}, failures);
}

void CanaryMetrics::remove(Metrics& m) {
  m.probe_duration.Remove(duration);
  m.probes.Remove(probes);
  m.probes_dropped.Remove(dropped);
  m.probes_coalesced.Remove(coalesced);
  m.probes_in_flight.Remove(in_flight);
  m.canary_interval.Remove(interval);
  baseline.remove();
  remove_failures(m.probe_failures, failures);
}

RouteMetrics::RouteMetrics(Metrics& m, const std::string& target, const std::string& route,
                           const std::vector<double>& buckets)
    : duration(&m.route_duration.Add({{"target", target}, {"route", route}}, bounds(buckets))),
      requests(&m.route_requests.Add({{"target", target}, {"route", route}})),
      in_flight(&m.route_in_flight.Add({{"target", target}, {"route", route}})),
      hol_ratio(m.hol_ratio, {{"target", target}, {"route", route}}),
      hol_delay(m.hol_delay, {{"target", target}, {"route", route}}),
      service_time(m.service_time, {{"target", target}, {"route", route}}),
      amplification(m.amplification, {{"target", target}, {"route", route}}),
      capacity(m.capacity, {{"target", target}, {"route", route}}),
      knee(m.knee, {{"target", target}, {"route", route}}) {
  add_failures(m.route_failures, {{"target", target}, {"route", route}}, failures);
}

void RouteMetrics::remove(Metrics& m) {
  m.route_duration.Remove(duration);
  m.route_requests.Remove(requests);
  m.route_in_flight.Remove(in_flight);
  for (OptionalGauge* g :
       {&hol_ratio, &hol_delay, &service_time, &amplification, &capacity, &knee}) {
    g->remove();
  }
  remove_failures(m.route_failures, failures);
}

TargetMetrics::TargetMetrics(Metrics& m, const std::string& target,
                             const std::vector<double>& buckets)
    : stall_seconds(&m.stall_seconds.Add({{"target", target}})),
      stalls(&m.stalls.Add({{"target", target}})),
      stall_in_progress(&m.stall_in_progress.Add({{"target", target}})),
      stall_max(&m.stall_max.Add({{"target", target}})),
      stall_ratio(&m.stall_ratio.Add({{"target", target}})),
      lag(&m.lag.Add({{"target", target}}, bounds(buckets))),
      lag_p99(m.lag_p99, {{"target", target}}),
      busy_ratio(&m.busy_ratio.Add({{"target", target}})),
      status(&m.runtime_status.Add({{"target", target}})),
      partial_stall_seconds(&m.partial_stall_seconds.Add({{"target", target}})),
      partial_stalls(&m.partial_stalls.Add({{"target", target}})),
      partial_stall_in_progress(&m.partial_stall_in_progress.Add({{"target", target}})),
      partial_stall_max(&m.partial_stall_max.Add({{"target", target}})),
      stalled_connections_ratio(&m.stalled_connections_ratio.Add({{"target", target}})),
      probe_connections(&m.probe_connections.Add({{"target", target}})),
      warming_up(&m.warming_up.Add({{"target", target}})) {
  status->Set(-1);
  for (auto f : kFindingNames) {
    findings.push_back(&m.finding.Add({{"target", target}, {"finding", std::string(f)}}));
  }
}

void TargetMetrics::remove(Metrics& m) {
  m.stall_seconds.Remove(stall_seconds);
  m.stalls.Remove(stalls);
  m.stall_in_progress.Remove(stall_in_progress);
  m.stall_max.Remove(stall_max);
  m.stall_ratio.Remove(stall_ratio);
  m.lag.Remove(lag);
  lag_p99.remove();
  m.busy_ratio.Remove(busy_ratio);
  m.runtime_status.Remove(status);
  for (Gauge* g : findings) m.finding.Remove(g);
  findings.clear();
  m.partial_stall_seconds.Remove(partial_stall_seconds);
  m.partial_stalls.Remove(partial_stalls);
  m.partial_stall_in_progress.Remove(partial_stall_in_progress);
  m.partial_stall_max.Remove(partial_stall_max);
  m.stalled_connections_ratio.Remove(stalled_connections_ratio);
  m.probe_connections.Remove(probe_connections);
  m.warming_up.Remove(warming_up);
}

WorkerMetrics::WorkerMetrics(Metrics& m, const std::string& target, const std::string& worker)
    : probes(&m.worker_probes.Add({{"target", target}, {"worker", worker}})),
      partial_stall_seconds(
          &m.worker_partial_stall_seconds.Add({{"target", target}, {"worker", worker}})),
      stalled(&m.worker_stalled.Add({{"target", target}, {"worker", worker}})) {}

void WorkerMetrics::remove(Metrics& m) {
  m.worker_probes.Remove(probes);
  m.worker_partial_stall_seconds.Remove(partial_stall_seconds);
  m.worker_stalled.Remove(stalled);
}

}  // namespace loopcanary::exporter
