#include "exporter/target_monitor.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "exporter/log.hpp"

namespace loopcanary::exporter {

using probes::seconds;

namespace {

std::optional<double> seconds(const std::optional<Duration>& d) {
  if (!d) return std::nullopt;
  return probes::seconds(*d);
}

/// Chart length: five minutes at one point per second. Findings that
/// cleared, failure reasons and status changes are kept as long.
constexpr std::size_t kHistoryPoints = 300;
constexpr std::chrono::seconds kHistorySpan{kHistoryPoints};

/// "connect_error: 290", most first, for a log line.
template <typename Counts>
std::vector<std::string> reason_counts(const Counts& counts) {
  std::vector<std::pair<std::uint64_t, std::size_t>> order;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) order.emplace_back(counts[i], i);
  }
  std::sort(order.begin(), order.end(), std::greater<>());
  std::vector<std::string> out;
  for (const auto& [count, i] : order) {
    out.push_back(fmt::format("{}: {}", probes::kOutcomeNames[i], count));
  }
  return out;
}

double round_to(double value, double step) { return std::round(value / step) * step; }

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
      evaluation_interval_(std::chrono::duration_cast<Duration>(config.global.evaluation_interval)),
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
  streaks_.resize(target.canaries.size());
}

void TargetMonitor::canary_scheduled(std::size_t canary, probes::TimePoint intended) {
  std::lock_guard lock(mutex_);
  signals_.canary_scheduled(canary, intended);
  canary_metrics_[canary].probes->Increment();
  canary_metrics_[canary].in_flight->Increment();
}

void TargetMonitor::canary_sample(std::size_t canary, const probes::Sample& sample) {
  std::vector<log::Field> recovered;
  {
    std::lock_guard lock(mutex_);
    signals_.canary_sample(canary, sample);
    CanaryMetrics& m = canary_metrics_[canary];
    m.in_flight->Decrement();
    const auto reason = static_cast<std::size_t>(sample.outcome);
    Streak& streak = streaks_[canary];
    if (sample.outcome != probes::Outcome::ok) {
      m.failures[reason]->Increment();
      ++second_failures_[reason];
      ++failure_totals_[reason];
      failure_last_at_[reason] = std::chrono::system_clock::now();
      if (!streak.since) streak.since = failure_last_at_[reason];
      ++streak.by_reason[reason];
    } else if (streak.since) {
      // Answering again: say what failed meanwhile, with what the rate limit
      // of "probe failed" held back since the last warning.
      if (streak.warned) {
        std::uint64_t failures = 0, suppressed = 0;
        for (std::uint64_t n : streak.by_reason) failures += n;
        for (auto& [key, entry] : error_logs_) {
          if (key.first == canary) suppressed += std::exchange(entry.suppressed, 0);
        }
        const auto failed_for = std::chrono::system_clock::now() - *streak.since;
        recovered = {{"target", name_},
                     {"canary", canary_names_[canary]},
                     {"failures", failures},
                     {"reasons", reason_counts(streak.by_reason)},
                     {"failing_for_seconds",
                      round_to(std::chrono::duration<double>(failed_for).count(), 0.001)},
                     {"similar_since_last_log", suppressed}};
      }
      streak = Streak{};
    }
    if (sample.outcome == probes::Outcome::dropped) m.dropped->Increment();
    if (sample.coalesced) m.coalesced->Increment();
    if (probes::latency_meaningful(sample.outcome)) {
      const double latency = seconds(sample.latency());
      m.duration->Observe(latency);
      second_latency_max_ = std::max(second_latency_max_.value_or(0), latency);
      ++second_answered_;
    }
  }
  if (!recovered.empty()) log::write(log::Level::info, "probes answered again", recovered);
}

void TargetMonitor::canary_error(std::size_t canary, probes::Outcome outcome,
                                 const std::string& detail) {
  constexpr auto kErrorLogEvery = std::chrono::seconds(10);
  const auto now = probes::Clock::now();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    ErrorLog& entry = error_logs_[{canary, outcome}];
    failure_last_detail_[static_cast<std::size_t>(outcome)] = detail;
    if (entry.last && now - *entry.last < kErrorLogEvery) {
      ++entry.suppressed;
      return;
    }
    entry.last = now;
    suppressed = std::exchange(entry.suppressed, 0);
    Streak& streak = streaks_[canary];
    if (!streak.since) streak.since = std::chrono::system_clock::now();
    streak.warned = true;
  }
  log::warn("probe failed", {{"target", name_},
                             {"canary", canary_names_[canary]},
                             {"reason", probes::name(outcome)},
                             {"err", detail},
                             {"similar_since_last_log", suppressed}});
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
  second_scenario_ = true;
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
  if (probes::latency_meaningful(sample.outcome)) {
    const double latency = seconds(sample.latency());
    m.duration->Observe(latency);
    second_route_latency_max_ = std::max(second_route_latency_max_.value_or(0), latency);
  }
  second_scenario_ = true;
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
  std::unique_lock lock(mutex_);
  std::optional<LogLine> status_line;  // written once the lock is released
  const SystemTime wall = std::chrono::system_clock::now();
  for (const auto& ep : lag_episodes) signals_.prober_lag(ep);
  lag_observations_.clear();
  view_ = signals_.evaluate(now, &lag_observations_);
  assess(view_, thresholds_, route_names_, assessment_);
  const Level before = status_.level();
  status_.update(now, assessment_);
  remember(wall);
  if (status_.level() == Level::healthy && view_.consecutive_failures == 0) {
    calm_failure_totals_ = failure_totals_;  // the failures that raise a status come after
  }
  if (status_.level() != before || !level_since_) {
    level_since_ = wall;
    if (status_.level() != before) status_line = status_change(wall, before, status_.level());
  }

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

  second_stall_progress_max_ =
      std::max(second_stall_progress_max_, seconds(view_.stall_in_progress));
  second_status_worst_ = std::max(second_status_worst_, static_cast<int>(status_.level()));
  for (const RouteView& r : view_.routes) second_scenario_ = second_scenario_ || r.in_flight > 0;
  if (!second_start_) {
    second_start_ = now;
    second_stall_start_ = view_.stall_seconds_total;
  } else if (now - *second_start_ >= std::chrono::seconds(1)) {
    HistoryPoint p;
    p.at = wall;
    p.latency_max_seconds = second_latency_max_;
    p.stall_seconds = view_.stall_seconds_total - second_stall_start_;
    p.stall_in_progress_max_seconds = second_stall_progress_max_;
    p.route_latency_max_seconds = second_route_latency_max_;
    p.scenario = second_scenario_;
    p.answered = second_answered_;
    for (std::uint32_t n : second_failures_) p.failed += n;
    p.status = second_status_worst_;
    history_.push_back(p);
    history_failures_.push_back(second_failures_);
    if (history_.size() > kHistoryPoints) {
      history_.pop_front();
      history_failures_.pop_front();
    }
    second_start_ = now;
    second_latency_max_.reset();
    second_stall_start_ = view_.stall_seconds_total;
    second_stall_progress_max_ = 0;
    second_route_latency_max_.reset();
    second_scenario_ = false;
    second_answered_ = 0;
    second_failures_ = {};
    second_status_worst_ = static_cast<int>(status_.level());
  }
  lock.unlock();
  if (status_line) log::write(status_line->level, "status changed", status_line->fields);
}

void TargetMonitor::remember(SystemTime now) {
  const Level level = status_.level();
  // A finding lets go of the page once the status it raised has stepped all
  // the way down (or loopcanary can no longer vouch for any status).
  const bool status_calm = level == Level::healthy || level == Level::unknown;
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    FindingMemory& m = memory_[i];
    const std::vector<Evidence>& current = assessment_.evidence[i];
    if (assessment_.finding_enter[i]) {
      if (m.state == FindingState::inactive || m.state == FindingState::cleared) {
        m = FindingMemory{};
        m.since = now;
      }
      m.state = FindingState::holding;
      m.last_held = now;
      m.cleared_at.reset();
      for (const Evidence& e : current) {
        if (!e.holds) continue;
        auto it = std::find_if(m.evidence.begin(), m.evidence.end(), [&](const auto& r) {
          return r.peak.signal == e.signal && r.peak.level == e.level;
        });
        if (it == m.evidence.end()) {
          m.evidence.push_back({e, e.value, now, now});
          continue;
        }
        if (e.value > it->peak.value) {
          it->peak.value = e.value;
          it->peak.threshold = e.threshold;
        }
        it->last_held = now;
      }
    } else if (m.state == FindingState::holding || m.state == FindingState::clearing) {
      if (status_.findings()[i] || !status_calm) {
        m.state = FindingState::clearing;
      } else {
        m.state = FindingState::cleared;
        m.cleared_at = now;
      }
    } else if (m.state == FindingState::cleared && now - *m.cleared_at > kHistorySpan) {
      m = FindingMemory{};
    }
    for (RememberedEvidence& r : m.evidence) {
      auto it = std::find_if(current.begin(), current.end(), [&](const Evidence& e) {
        return e.signal == r.peak.signal && e.level == r.peak.level;
      });
      r.peak.holds = it != current.end() && it->holds;
      if (it != current.end()) r.now = it->value;
    }
  }
  while (!changes_.empty() && now - changes_.front().at > kHistorySpan) changes_.pop_front();
}

TargetMonitor::LogLine TargetMonitor::status_change(SystemTime now, Level from, Level to) {
  changes_.push_back({now, from, to});
  std::vector<std::string> holding, clearing, evidence;
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    if (memory_[i].state == FindingState::holding) holding.emplace_back(kFindingNames[i]);
    if (memory_[i].state == FindingState::clearing) clearing.emplace_back(kFindingNames[i]);
    for (const Evidence& e : assessment_.evidence[i]) {
      if (e.holds) evidence.push_back(describe(e));
    }
  }
  std::vector<log::Field> fields{{"target", name_},
                                 {"from", exporter::name(from)},
                                 {"to", exporter::name(to)},
                                 {"findings", holding},
                                 {"evidence", evidence}};
  if (!clearing.empty()) fields.emplace_back("clearing", clearing);
  if (to == Level::unknown && assessment_.unknown) {
    fields.emplace_back("reason", assessment_.unknown_reason);
  }

  // The episode away from healthy: opened when the status leaves healthy,
  // closed (and told) when it gets back.
  if (to > Level::healthy) {
    if (!episode_) episode_ = Episode{now, to, {}, calm_failure_totals_};
    episode_->worst = std::max(episode_->worst, to);
  }
  if (episode_) {
    for (std::size_t i = 0; i < kFindingCount; ++i) {
      if (memory_[i].state != FindingState::inactive && memory_[i].last_held &&
          *memory_[i].last_held >= episode_->since) {
        episode_->findings[i] = true;
      }
    }
  }
  if (to == Level::healthy && episode_) {
    std::vector<std::string> findings;
    for (std::size_t i = 0; i < kFindingCount; ++i) {
      if (episode_->findings[i]) findings.emplace_back(kFindingNames[i]);
    }
    std::array<std::uint64_t, kOutcomes> failed{};
    for (std::size_t i = 0; i < kOutcomes; ++i) {
      failed[i] = failure_totals_[i] - episode_->failures_before[i];
    }
    fields.emplace_back(
        "unhealthy_for_seconds",
        round_to(std::chrono::duration<double>(now - episode_->since).count(), 0.001));
    fields.emplace_back("worst", exporter::name(episode_->worst));
    fields.emplace_back("findings_meanwhile", findings);
    fields.emplace_back("failures_meanwhile", reason_counts(failed));
    episode_.reset();
  }
  const bool worse = to > from && to > Level::healthy;
  return {worse ? log::Level::warn : log::Level::info, std::move(fields)};
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
  s.taken_at = std::chrono::system_clock::now();
  // The second in progress, when it has something to show: a stall growing
  // now is drawn up to "now", not a second later.
  if (second_start_ && (second_answered_ > 0 || second_stall_progress_max_ > 0 ||
                        std::any_of(second_failures_.begin(), second_failures_.end(),
                                    [](std::uint32_t n) { return n > 0; }))) {
    HistoryPoint p;
    p.at = s.taken_at;
    p.latency_max_seconds = second_latency_max_;
    p.stall_seconds = view_.stall_seconds_total - second_stall_start_;
    p.stall_in_progress_max_seconds = second_stall_progress_max_;
    p.route_latency_max_seconds = second_route_latency_max_;
    p.scenario = second_scenario_;
    p.answered = second_answered_;
    for (std::uint32_t n : second_failures_) p.failed += n;
    p.status = second_status_worst_;
    s.history.push_back(p);
  }
  s.level_since = level_since_;
  s.history_span = kHistorySpan;
  s.step_down_after = thresholds_.hold * evaluation_interval_;
  s.memory = memory_;
  std::array<std::uint64_t, kOutcomes> recent{};
  for (const ReasonCounts& second : history_failures_) {
    for (std::size_t i = 0; i < kOutcomes; ++i) recent[i] += second[i];
  }
  for (std::size_t i = 0; i < kOutcomes; ++i) recent[i] += second_failures_[i];
  for (std::size_t i = 0; i < kOutcomes; ++i) {
    if (recent[i] == 0) continue;
    s.failures.push_back({std::string(probes::kOutcomeNames[i]), recent[i], failure_totals_[i],
                          failure_last_at_[i], failure_last_detail_[i]});
  }
  std::stable_sort(s.failures.begin(), s.failures.end(),
                   [](const auto& a, const auto& b) { return a.recent > b.recent; });
  s.changes.assign(changes_.begin(), changes_.end());
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
