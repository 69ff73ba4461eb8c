#include "exporter/target_monitor.hpp"

#include <algorithm>

#include "exporter/log.hpp"

namespace loopcanary::exporter {

using probes::seconds;

namespace {

std::optional<double> seconds(const std::optional<Duration>& d) {
  if (!d) return std::nullopt;
  return probes::seconds(*d);
}

/// Sparkline length: five minutes at one point per second.
constexpr std::size_t kHistoryPoints = 300;

std::vector<RouteSignals::Settings> route_settings(const config::Config& config,
                                                   const config::Target& target) {
  std::vector<RouteSignals::Settings> out;
  for (const auto& r : target.routes) {
    RouteSignals::Settings s;
    s.window = std::chrono::duration_cast<Duration>(config.global.window);
    s.baseline_window = std::chrono::duration_cast<Duration>(config.global.baseline_window);
    if (r.service_time) s.service_time = std::chrono::duration_cast<Duration>(*r.service_time);
    out.push_back(s);
  }
  return out;
}

}  // namespace

TargetMonitor::TargetMonitor(const config::Config& config, const config::Target& target,
                             Metrics& metrics)
    : name_(target.name),
      url_(target.url.text),
      thresholds_(config.thresholds),
      metrics_(metrics),
      signals_(SignalSettings::from(config.global, target), target.canaries.size(),
               route_settings(config, target)),
      status_(config.thresholds.hold,
              std::chrono::duration_cast<Duration>(config.global.evaluation_interval)),
      target_metrics_(metrics, target.name, config.global.buckets) {
  canary_metrics_.reserve(target.canaries.size());
  for (const auto& c : target.canaries) {
    canary_names_.push_back(c.name);
    canary_metrics_.emplace_back(metrics, target.name, c.name, config.global.buckets);
  }
  route_metrics_.reserve(target.routes.size());
  for (const auto& r : target.routes) {
    route_names_.push_back(r.name);
    route_metrics_.emplace_back(metrics, target.name, r.name, config.global.buckets);
  }
  // The series of a target that survives a reload are reused: counters go on
  // from their value (published_* count what *these* signals added), and
  // in-flight gauges restart, since the old prober's requests were abandoned.
  for (auto& m : canary_metrics_) m.in_flight->Set(0);
  for (auto& m : route_metrics_) m.in_flight->Set(0);
}

void TargetMonitor::canary_scheduled(std::size_t canary, probes::TimePoint intended) {
  std::lock_guard lock(mutex_);
  signals_.canary_scheduled(canary, intended);
  canary_metrics_[canary].probes->Increment();
  canary_metrics_[canary].in_flight->Increment();
}

void TargetMonitor::canary_sample(std::size_t canary, const probes::Sample& sample) {
  std::lock_guard lock(mutex_);
  signals_.canary_sample(canary, sample);
  CanaryMetrics& m = canary_metrics_[canary];
  m.in_flight->Decrement();
  if (sample.outcome != probes::Outcome::ok) {
    m.failures[static_cast<std::size_t>(sample.outcome)]->Increment();
  }
  if (sample.outcome == probes::Outcome::dropped) m.dropped->Increment();
  if (sample.coalesced) m.coalesced->Increment();
  if (probes::latency_meaningful(sample.outcome)) {
    const double latency = seconds(sample.latency());
    m.duration->Observe(latency);
    second_latency_max_ = std::max(second_latency_max_, latency);
  }
}

void TargetMonitor::canary_error(std::size_t canary, probes::Outcome outcome,
                                 const std::string& detail) {
  constexpr auto kErrorLogEvery = std::chrono::seconds(10);
  const auto now = probes::Clock::now();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    ErrorLog& entry = error_logs_[{canary, outcome}];
    if (entry.last && now - *entry.last < kErrorLogEvery) {
      ++entry.suppressed;
      return;
    }
    entry.last = now;
    suppressed = std::exchange(entry.suppressed, 0);
  }
  log::warn("probe failed", {{"target", name_},
                             {"canary", canary_names_[canary]},
                             {"reason", std::string(probes::name(outcome))},
                             {"err", detail},
                             {"similar_since_last_log", std::to_string(suppressed)}});
}

void TargetMonitor::canary_sent(std::size_t canary, std::uint32_t connection,
                                probes::TimePoint oldest, probes::TimePoint /*newest*/) {
  std::lock_guard lock(mutex_);
  signals_.canary_sent(canary, connection, oldest);
}

void TargetMonitor::canary_worker(std::size_t canary, std::uint32_t connection,
                                  const std::string& worker) {
  std::lock_guard lock(mutex_);
  signals_.canary_worker(canary, connection, worker);
}

void TargetMonitor::canary_connection_closed(std::size_t canary, std::uint32_t connection) {
  std::lock_guard lock(mutex_);
  signals_.canary_connection_closed(canary, connection);
}

void TargetMonitor::route_started(std::size_t route, std::uint64_t request, probes::TimePoint at) {
  std::lock_guard lock(mutex_);
  signals_.route_started(route, request, at);
  route_metrics_[route].requests->Increment();
  route_metrics_[route].in_flight->Increment();
}

void TargetMonitor::route_sample(std::size_t route, std::uint64_t request,
                                 const probes::Sample& sample) {
  std::lock_guard lock(mutex_);
  signals_.route_sample(route, request, sample);
  RouteMetrics& m = route_metrics_[route];
  m.in_flight->Decrement();
  if (sample.outcome != probes::Outcome::ok) {
    m.failures[static_cast<std::size_t>(sample.outcome)]->Increment();
  }
  if (probes::latency_meaningful(sample.outcome)) m.duration->Observe(seconds(sample.latency()));
}

void TargetMonitor::route_cancelled(std::size_t route, std::uint64_t request) {
  std::lock_guard lock(mutex_);
  signals_.route_cancelled(route, request);
  route_metrics_[route].in_flight->Decrement();
}

void TargetMonitor::route_step(std::size_t route, int concurrency, probes::TimePoint at) {
  std::lock_guard lock(mutex_);
  signals_.route_step(route, concurrency, at);
}

void TargetMonitor::route_idle(std::size_t route, probes::TimePoint at) {
  std::lock_guard lock(mutex_);
  signals_.route_idle(route, at);
}

void TargetMonitor::set_canary_interval(std::size_t canary, config::Duration interval) {
  std::lock_guard lock(mutex_);
  canary_metrics_[canary].interval->Set(seconds(interval));
}

void TargetMonitor::tick(probes::TimePoint now,
                         const std::vector<probes::LagEpisode>& lag_episodes) {
  std::lock_guard lock(mutex_);
  for (const auto& ep : lag_episodes) signals_.prober_lag(ep);
  lag_observations_.clear();
  view_ = signals_.evaluate(now, &lag_observations_);
  assessment_ = assess(view_, thresholds_, route_names_);
  status_.update(now, assessment_);

  TargetMetrics& t = target_metrics_;
  for (Duration e : lag_observations_) t.lag->Observe(seconds(e));
  if (view_.stall_seconds_total > published_stall_total_) {
    t.stall_seconds->Increment(view_.stall_seconds_total - published_stall_total_);
    published_stall_total_ = view_.stall_seconds_total;
  }
  if (view_.stalls_total > published_stalls_) {
    t.stalls->Increment(static_cast<double>(view_.stalls_total - published_stalls_));
    published_stalls_ = view_.stalls_total;
  }
  if (view_.partial_stall_seconds_total > published_partial_total_) {
    t.partial_stall_seconds->Increment(view_.partial_stall_seconds_total -
                                       published_partial_total_);
    published_partial_total_ = view_.partial_stall_seconds_total;
  }
  if (view_.partial_stalls_total > published_partial_stalls_) {
    t.partial_stalls->Increment(
        static_cast<double>(view_.partial_stalls_total - published_partial_stalls_));
    published_partial_stalls_ = view_.partial_stalls_total;
  }
  t.partial_stall_in_progress->Set(seconds(view_.partial_stall_in_progress));
  t.partial_stall_max->Set(seconds(view_.partial_stall_max));
  t.probe_connections->Set(static_cast<double>(view_.connections_open));
  t.stalled_connections_ratio->Set(view_.connections_open
                                       ? static_cast<double>(view_.connections_stalled) /
                                             static_cast<double>(view_.connections_open)
                                       : 0.0);
  t.warming_up->Set(view_.warming_up ? 1 : 0);
  for (std::size_t i = 0; i < view_.workers.size(); ++i) {
    const WorkerView& w = view_.workers[i];
    if (i == worker_metrics_.size()) worker_metrics_.emplace_back(metrics_, name_, w.name);
    WorkerMetrics& m = worker_metrics_[i];
    const auto probes = static_cast<double>(w.probes);
    if (probes > m.published_probes) {
      m.probes->Increment(probes - m.published_probes);
      m.published_probes = probes;
    }
    if (w.partial_stall_seconds_total > m.published_partial) {
      m.partial_stall_seconds->Increment(w.partial_stall_seconds_total - m.published_partial);
      m.published_partial = w.partial_stall_seconds_total;
    }
    m.stalled->Set(w.stalled ? 1 : 0);
  }
  t.stall_in_progress->Set(seconds(view_.stall_in_progress));
  t.stall_max->Set(seconds(view_.stall_max));
  t.stall_ratio->Set(view_.stall_ratio);
  t.lag_p99.set(seconds(view_.lag_p99));
  t.busy_ratio->Set(view_.busy_ratio);
  t.status->Set(static_cast<double>(static_cast<int>(status_.level())));
  for (std::size_t i = 0; i < kFindingCount; ++i) t.findings[i]->Set(status_.findings()[i]);
  for (std::size_t i = 0; i < canary_metrics_.size(); ++i) {
    canary_metrics_[i].baseline.set(seconds(view_.canaries[i].baseline));
  }
  for (std::size_t i = 0; i < route_metrics_.size(); ++i) {
    const RouteView& r = view_.routes[i];
    RouteMetrics& m = route_metrics_[i];
    m.hol_ratio.set(r.hol_ratio);
    m.hol_delay.set(seconds(r.hol_delay));
    m.service_time.set(seconds(r.service_time));
    m.amplification.set(r.amplification);
    m.capacity.set(r.capacity);
    m.knee.set(r.knee ? std::optional<double>(*r.knee) : std::nullopt);
  }

  if (!second_start_) {
    second_start_ = now;
    second_stall_start_ = view_.stall_seconds_total;
  } else if (now - *second_start_ >= std::chrono::seconds(1)) {
    history_.push_back({std::chrono::system_clock::now(), second_latency_max_,
                        view_.stall_seconds_total - second_stall_start_,
                        static_cast<int>(status_.level())});
    if (history_.size() > kHistoryPoints) history_.pop_front();
    second_start_ = now;
    second_latency_max_ = 0;
    second_stall_start_ = view_.stall_seconds_total;
  }
}

TargetSnapshot TargetMonitor::snapshot() const {
  std::lock_guard lock(mutex_);
  TargetSnapshot s;
  s.name = name_;
  s.url = url_;
  s.level = status_.level();
  s.findings = status_.findings();
  s.view = view_;
  s.assessment = assessment_;
  s.canaries = canary_names_;
  s.routes = route_names_;
  s.history.assign(history_.begin(), history_.end());
  return s;
}

void TargetMonitor::remove_metrics(const config::Target* keep) {
  std::lock_guard lock(mutex_);
  if (!keep) {
    target_metrics_.remove(metrics_);
    for (auto& w : worker_metrics_) w.remove(metrics_);
    worker_metrics_.clear();
  }
  for (std::size_t i = 0; i < canary_metrics_.size(); ++i) {
    const bool kept = keep && std::any_of(keep->canaries.begin(), keep->canaries.end(),
                                          [&](auto& c) { return c.name == canary_names_[i]; });
    if (!kept) canary_metrics_[i].remove(metrics_);
  }
  for (std::size_t i = 0; i < route_metrics_.size(); ++i) {
    const bool kept = keep && std::any_of(keep->routes.begin(), keep->routes.end(),
                                          [&](auto& r) { return r.name == route_names_[i]; });
    if (!kept) route_metrics_[i].remove(metrics_);
  }
}

}  // namespace loopcanary::exporter
