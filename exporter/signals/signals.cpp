#include "exporter/signals/signals.hpp"

#include <algorithm>
#include <functional>

#include "exporter/signals/stats.hpp"

namespace loopcanary::exporter {

using probes::from_seconds;
using probes::seconds;

namespace {

using probes::Outcome;

/// Below this, latency differences on loopback are scheduling noise.
constexpr Duration kMinEpsilon = std::chrono::milliseconds(1);

Duration overlap(TimePoint a0, TimePoint a1, TimePoint b0, TimePoint b1) {
  const TimePoint lo = std::max(a0, b0);
  const TimePoint hi = std::min(a1, b1);
  return hi > lo ? hi - lo : Duration::zero();
}

}  // namespace

SignalSettings SignalSettings::from(const config::Global& global, const config::Target& target) {
  SignalSettings s;
  s.window = std::chrono::duration_cast<Duration>(global.window);
  s.stall_threshold = std::chrono::duration_cast<Duration>(global.stall_threshold);
  s.baseline_window = std::chrono::duration_cast<Duration>(global.baseline_window);
  s.baseline_refresh = std::chrono::duration_cast<Duration>(global.evaluation_interval);
  s.warmup = std::chrono::duration_cast<Duration>(global.warmup);
  s.window_refresh = std::chrono::milliseconds(250);
  // Each target refreshes its baselines at its own moment of the second:
  // fifty targets refreshing in one evaluation kept the prober busy 3–18 ms
  // once a second, and it called itself late for it.
  s.baseline_phase =
      s.baseline_refresh * static_cast<long>(std::hash<std::string>{}(target.name) % 1000) / 1000;
  s.max_workers = 0;
  for (const auto& c : target.canaries) {
    if (c.worker_id.configured()) s.max_workers = std::max(s.max_workers, c.worker_id.max_workers);
  }
  if (s.max_workers == 0) s.max_workers = config::Canary::WorkerId{}.max_workers;
  return s;
}

TargetSignals::TargetSignals(SignalSettings settings, std::size_t canaries,
                             std::vector<RouteSignals::Settings> routes)
    : settings_(settings), history_(canaries) {
  for (auto& r : routes) routes_.emplace_back(r);
}

void TargetSignals::canary_scheduled(std::size_t canary, TimePoint intended) {
  outstanding_.insert({intended, canary});
  scheduled_.push_back(intended);
}

void TargetSignals::canary_sample(std::size_t canary, const Sample& sample) {
  if (auto it = outstanding_.find({sample.intended, canary}); it != outstanding_.end()) {
    outstanding_.erase(it);
  }
  std::size_t worker = kNoWorker;
  if (sample.connection_id != 0) {
    // The request on this connection ended (every probe it carried reports now).
    if (auto c = connections_.find(connection_key(canary, sample.connection_id));
        c != connections_.end()) {
      c->second.busy_since.reset();
      worker = c->second.worker;
    }
  }
  pending_.emplace(sample.intended, Pending{canary, sample, worker});
  const bool answered = probes::answered(sample.outcome);
  if (answered && (!last_answered_ || sample.intended > *last_answered_)) {
    last_answered_ = sample.intended;
  }
  if (answered) {
    worker = known_worker(worker);
    if (worker != kNoWorker && last_answered_by_.size() <= worker) {
      last_answered_by_.resize(worker + 1);
    }
    auto& last = worker == kNoWorker ? last_answered_unknown_ : last_answered_by_[worker];
    if (!last || sample.intended > *last) last = sample.intended;
  }
  // Warm-up: from the first probe after a (re)start until `warmup` after the
  // first answer. A refused connection means nothing listened: a restart.
  if (sample.outcome == Outcome::connect_error && !restart_from_) {
    restart_from_ = sample.intended;
  } else if (answered && restart_from_) {
    if (settings_.warmup > Duration::zero()) {
      warmups_.emplace_back(*restart_from_, sample.done + settings_.warmup);
    }
    restart_from_.reset();
  }
}

std::optional<TimePoint> TargetSignals::last_answered_elsewhere(std::size_t worker) const {
  worker = known_worker(worker);
  if (worker == kNoWorker) return last_answered_;
  std::optional<TimePoint> latest = last_answered_unknown_;
  for (std::size_t v = 0; v < last_answered_by_.size(); ++v) {
    const auto& t = last_answered_by_[v];
    if (v != worker && t && (!latest || *t > *latest)) latest = t;
  }
  return latest;
}

void TargetSignals::canary_sent(std::size_t canary, std::uint32_t connection, TimePoint oldest) {
  Connection& c = connections_[connection_key(canary, connection)];
  if (!c.busy_since || oldest < *c.busy_since) c.busy_since = oldest;
}

std::size_t TargetSignals::worker_index(const std::string& name) {
  if (const auto it = worker_names_.find(name); it != worker_names_.end()) return it->second;
  const bool full = workers_.size() >= settings_.max_workers;
  const std::string label = full ? "other" : name;
  if (const auto it = worker_names_.find(label); it != worker_names_.end()) return it->second;
  workers_.push_back(Worker{WorkerView{label}});
  worker_names_.emplace(label, workers_.size() - 1);
  if (full) overflow_worker_ = workers_.size() - 1;
  return workers_.size() - 1;
}

void TargetSignals::canary_worker(std::size_t canary, std::uint32_t connection,
                                  const std::string& worker) {
  const std::size_t index = worker_index(worker);
  connections_[connection_key(canary, connection)].worker = index;
  // Its answer is still to come: attribute it too.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->second.canary == canary && it->second.sample.connection_id == connection &&
        it->second.worker == kNoWorker) {
      it->second.worker = index;
    }
  }
}

void TargetSignals::canary_connection_closed(std::size_t canary, std::uint32_t connection) {
  connections_.erase(connection_key(canary, connection));
}

bool TargetSignals::in_warmup(TimePoint t) const {
  if (settings_.warmup <= Duration::zero()) return false;
  if (restart_from_ && t >= *restart_from_) return true;
  return std::any_of(warmups_.begin(), warmups_.end(),
                     [t](const auto& w) { return t >= w.first && t < w.second; });
}

TimePoint TargetSignals::after_warmup(TimePoint from) const {
  for (const auto& [start, until] : warmups_) {
    if (from >= start && from < until) from = until;
  }
  return from;
}

bool TargetSignals::add_to_union(TimePoint from, TimePoint to, std::optional<TimePoint>& covered,
                                 std::deque<std::pair<TimePoint, TimePoint>>& segments,
                                 double& total) {
  const TimePoint start = covered ? std::max(from, *covered) : from;
  if (to > start) total += seconds(to - start);
  const bool episode = !covered || from > *covered;
  if (episode || segments.empty()) {
    segments.push_back({from, to});
  } else {
    segments.back().second = std::max(segments.back().second, to);
  }
  covered = covered ? std::max(*covered, to) : to;
  return episode;
}

void TargetSignals::route_started(std::size_t route, std::uint64_t request, TimePoint at) {
  routes_.at(route).started(request, at);
}

void TargetSignals::route_sample(std::size_t route, std::uint64_t request, const Sample& sample) {
  routes_.at(route).finished(request, sample);
}

void TargetSignals::route_cancelled(std::size_t route, std::uint64_t request) {
  routes_.at(route).cancelled(request);
}

void TargetSignals::route_step(std::size_t route, int concurrency, TimePoint at) {
  routes_.at(route).step(concurrency, at);
}

void TargetSignals::route_idle(std::size_t route, TimePoint at) { routes_.at(route).idle(at); }

void TargetSignals::prober_lag(const LagEpisode& episode) {
  // Every timer that woke late reports its own episode. The meter merges
  // those it collects between two evaluations; a freeze whose late timers
  // are reported across evaluations (fifty canaries' timers, with fifty
  // targets) was summed here, and the prober called itself starved for a
  // window. Kept as a union, disjoint and in order, so that a freeze counts
  // once and lag_within() looks only at the episodes that ended after `from`.
  LagEpisode merged = episode;
  auto first =
      std::partition_point(lag_episodes_.begin(), lag_episodes_.end(),
                           [&](const LagEpisode& ep) { return ep.woke < merged.expected; });
  auto last = first;
  for (; last != lag_episodes_.end() && last->expected <= episode.woke; ++last) {
    merged.expected = std::min(merged.expected, last->expected);
    merged.woke = std::max(merged.woke, last->woke);
  }
  lag_episodes_.insert(lag_episodes_.erase(first, last), merged);
}

std::deque<LagEpisode>::const_iterator TargetSignals::episodes_after(TimePoint from) const {
  // A baseline window's worth of episodes is too many to walk for every
  // sample settled; they are disjoint and in order.
  return std::partition_point(lag_episodes_.begin(), lag_episodes_.end(),
                              [from](const LagEpisode& ep) { return ep.woke <= from; });
}

Duration TargetSignals::lag_within(TimePoint from, TimePoint to) const {
  Duration lag{};
  for (auto it = episodes_after(from); it != lag_episodes_.end(); ++it) {
    lag += overlap(it->expected, it->woke, from, to);
  }
  return lag;
}

Duration TargetSignals::lag_of(const Sample& s) const {
  // The prober's own lag within [t_i, r_i] may have delayed the send or the
  // reading of the answer by as much. An answer the kernel timed on arrival
  // was not read late: only the lag before its send counts.
  return lag_within(s.intended, s.stamped ? s.sent : s.done);
}

bool TargetSignals::outlasts_lag(Duration took, Duration b, Duration lag) const {
  return lag <= Duration::zero() || took - b - settings_.stall_threshold > 2 * lag;
}

Duration TargetSignals::baseline_of(std::size_t canary) const {
  const History& h = history_[canary];
  if (h.baseline) return *h.baseline;
  // Until there is a baseline, the fastest answer seen is the best guess.
  double best = -1;
  for (const Healthy& x : h.ok) best = best < 0 ? x.latency : std::min(best, x.latency);
  return best < 0 ? Duration::zero() : from_seconds(best);
}

void TargetSignals::settle(const Pending& p, std::optional<TimePoint> overtaken_at,
                           std::optional<TimePoint> elsewhere_at,
                           std::vector<Duration>* lag_observations) {
  const Sample& s = p.sample;
  Settled w{s.intended,
            Duration::zero(),
            Duration::zero(),
            Duration::zero(),
            p.canary,
            false,
            false,
            false,
            false,
            false};
  w.warmup = in_warmup(s.intended);
  w.dropped = s.outcome == Outcome::dropped;
  w.failed = !w.dropped && s.outcome != Outcome::ok;
  // A sample its prober's lag could explain is unreliable; one that outlasts
  // it (a 3 s stall across a 6 ms hiccup) keeps its evidence, with the lag
  // taken off its latency.
  const Duration b = baseline_of(p.canary);
  const Duration lag = lag_of(s);
  w.reliable = !w.dropped && outlasts_lag(s.done - s.intended, b, lag);
  if (!w.reliable) {
    window_push(w);
    return;
  }

  if (probes::answered(s.outcome)) {
    consecutive_failures_ = 0;
  } else if (s.outcome == Outcome::timeout || s.outcome == Outcome::connect_error ||
             s.outcome == Outcome::tls_error) {
    ++consecutive_failures_;
  }

  History& h = history_[p.canary];
  const Duration latency = s.done - s.intended - lag;
  if (p.worker != kNoWorker && probes::answered(s.outcome)) {
    WorkerView& worker = workers_[p.worker].view;
    if (worker.probes++ == 0) worker.first_seen = s.done;
  }
  if (s.outcome == Outcome::ok && lag == Duration::zero()) {
    // A warming-up worker's first answers are slow once: not what decides ε.
    const bool quiet =
        !w.warmup && std::none_of(routes_.begin(), routes_.end(), [&](const RouteSignals& r) {
          return r.in_flight_at(s.intended);
        });
    h.ok.push_back({s.intended, seconds(latency), quiet});
  }

  if (probes::latency_meaningful(s.outcome)) {
    const Duration e = std::max(Duration::zero(), latency - b);
    w.e = e;
    w.meaningful = true;
    if (lag_observations) lag_observations->push_back(e);

    // A probe overtaken by a later one that was answered was not waiting for
    // the target to become free (it was answering): its stall ends there. A
    // single lost request is not a stall; a blocked loop answers no later
    // probe before the block ends, so real stalls are not shortened.
    const TimePoint answered = overtaken_at ? std::min(s.done, *overtaken_at) : s.done;
    const bool own_stamp = s.stamped && answered == s.done;
    const TimePoint end = answered - (own_stamp ? lag : lag_within(s.intended, answered));
    w.stall_e = std::max(Duration::zero(), end - s.intended - b);
    const bool stalled = w.stall_e > settings_.stall_threshold;
    if (stalled) {
      // The union of [t_i + b, r_i]: a block counts once, however many probes
      // were stuck in it (samples settle in intended order). Not what a
      // warm-up shows: a block still going when it ends counts from there.
      const TimePoint start = after_warmup(s.intended + b);
      if (end > start &&
          add_to_union(start, end, covered_until_, stall_segments_, stall_seconds_total_)) {
        ++stalls_total_;
      }
    }

    // Part of the service stalled: a later probe was answered (on another
    // connection: another worker) while this one waited on, past θ, from
    // where its whole-service stall ended (or t_i + b) to its own answer.
    // Only that remainder: a single loop freed from a block answers the
    // requests it queued in its own order, and every older probe answered
    // a hair after a newer one is no stall of a part. And only when the
    // answer that overtook it may come from another worker: when both are
    // known and the same, one loop served out of order (it ran a newer
    // request between two blocks: the agent route of the demo).
    const TimePoint own_end = s.done - lag;
    const TimePoint part_from = stalled ? end : s.intended + b;
    if (elsewhere_at && *elsewhere_at < s.done && own_end - part_from > settings_.stall_threshold) {
      w.partial_e = own_end - part_from;
      const TimePoint from = after_warmup(part_from);
      if (own_end > from) {
        const double before = partial_stall_seconds_total_;
        if (add_to_union(from, own_end, partial_covered_until_, partial_segments_,
                         partial_stall_seconds_total_)) {
          ++partial_stalls_total_;
        }
        if (p.worker != kNoWorker) {
          workers_[p.worker].view.partial_stall_seconds_total +=
              partial_stall_seconds_total_ - before;
        }
      }
    }

    const bool busy = e > (h.baseline ? h.epsilon : settings_.stall_threshold);
    if (!w.warmup) {
      for (auto& route : routes_) route.classify(s.intended, e, busy);
    }
  }
  window_push(w);
}

void TargetSignals::WindowCounts::add(const Settled& w, int sign) {
  if (w.dropped) return;
  const auto step = [sign](std::size_t& n) { n = sign > 0 ? n + 1 : n - 1; };
  if (!w.reliable) {
    step(unreliable);
    return;
  }
  step(answered);
  if (w.failed) step(failed);
}

void TargetSignals::window_push(const Settled& w) {
  window_counts_.add(w, +1);
  window_dirty_ = window_dirty_ || notable(w);
  window_.push_back(w);
}

bool TargetSignals::notable(const Settled& w) const {
  // What the window statistics report that must move at once: the largest
  // stall and partial stall. stall_e is above zero for every answer slower
  // than the baseline (half of them), so only a stall (> θ) counts. Samples
  // a starved prober could not time, failures and drops leave the busy ratio
  // and lag p99 only by being absent; their counts are exact anyway
  // (window_counts_): recomputing at once for them made an overloaded prober
  // sort each target's window at every evaluation (18 % of its CPU at 50
  // targets), which made it later still.
  return w.partial_e > Duration::zero() || w.stall_e > settings_.stall_threshold;
}

void TargetSignals::refresh_baselines(TimePoint now) {
  last_baseline_refresh_ = last_baseline_refresh_ ? now : now - settings_.baseline_phase;
  window_dirty_ = true;  // what counts as busy depends on ε
  for (History& h : history_) {
    if (h.ok.size() < kMinBaselineSamples) continue;
    std::vector<double> values;
    values.reserve(h.ok.size());
    for (const Healthy& x : h.ok) values.push_back(x.latency);
    const double b = *quantile(values, 0.05);
    h.baseline = from_seconds(b);
    // ε comes from healthy answers of a quiet target only: neither a stall nor
    // a heavy route in flight may widen the band that decides what counts as
    // slow (a route blocking 50 ms of each request widened it to 37 ms within
    // 20 s, and its HOL faded from 0.24 to 0.09). Without enough quiet answers
    // (a long scenario), the last ε stands.
    std::vector<double> healthy;
    healthy.reserve(values.size());
    const double theta = seconds(settings_.stall_threshold);
    for (const Healthy& x : h.ok) {
      if (x.quiet && x.latency - b <= theta) healthy.push_back(x.latency);
    }
    if (healthy.size() >= kMinBaselineSamples || h.epsilon == Duration::zero()) {
      const double p99 = quantile(healthy, 0.99).value_or(b);
      h.epsilon = std::max(kMinEpsilon, from_seconds(p99 - b));
    }
  }
}

void TargetSignals::prune(TimePoint now) {
  const TimePoint window_start = now - settings_.window;
  const TimePoint history_start = now - settings_.baseline_window;
  while (!scheduled_.empty() && scheduled_.front() < window_start) scheduled_.pop_front();
  while (!window_.empty() && window_.front().t < window_start) {
    window_dirty_ = window_dirty_ || notable(window_.front());
    window_counts_.add(window_.front(), -1);
    window_.pop_front();
  }
  // Samples settle in intended order (see evaluate), so window_ is sorted.
  while (!stall_segments_.empty() && stall_segments_.front().second < window_start) {
    stall_segments_.pop_front();
  }
  while (!partial_segments_.empty() && partial_segments_.front().second < window_start) {
    partial_segments_.pop_front();
  }
  while (!warmups_.empty() && warmups_.front().second < history_start) warmups_.pop_front();
  while (!lag_episodes_.empty() && lag_episodes_.front().woke < history_start) {
    lag_episodes_.pop_front();
  }
  for (History& h : history_) {
    while (!h.ok.empty() && h.ok.front().t < history_start) h.ok.pop_front();
  }
}

TargetView TargetSignals::evaluate(TimePoint now, std::vector<Duration>* lag_observations) {
  // Settle every sample older than the oldest probe still outstanding, each
  // with the earliest completion of an answered probe intended after it.
  const TimePoint horizon = outstanding_.empty() ? TimePoint::max() : outstanding_.begin()->first;
  std::size_t settling = 0;
  for (auto it = pending_.begin(); it != pending_.end() && it->first < horizon; ++it) ++settling;
  if (settling > 0) {
    std::vector<std::optional<TimePoint>> overtaken(pending_.size()), elsewhere_at(pending_.size());
    std::optional<TimePoint> later, later_unknown;
    std::vector<std::optional<TimePoint>> later_by(workers_.size());
    auto earliest = [](std::optional<TimePoint>& a, std::optional<TimePoint> b) {
      if (b && (!a || *b < *a)) a = b;
    };
    std::size_t i = pending_.size();
    for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
      const std::size_t worker = known_worker(it->second.worker);
      overtaken[--i] = later;
      if (worker == kNoWorker) {
        elsewhere_at[i] = later;
      } else {
        earliest(elsewhere_at[i], later_unknown);
        for (std::size_t v = 0; v < later_by.size(); ++v) {
          if (v != worker) earliest(elsewhere_at[i], later_by[v]);
        }
      }
      const Sample& s = it->second.sample;
      if (!probes::answered(s.outcome)) continue;
      earliest(later, s.done);
      earliest(worker == kNoWorker ? later_unknown : later_by[worker], s.done);
    }
    for (std::size_t k = 0; k < settling; ++k) {
      settle(pending_.begin()->second, overtaken[k], elsewhere_at[k], lag_observations);
      pending_.erase(pending_.begin());
    }
  }
  if (!last_baseline_refresh_ || now - *last_baseline_refresh_ >= settings_.baseline_refresh) {
    refresh_baselines(now);
  }
  prune(now);

  TargetView v;
  v.at = now;
  v.window = settings_.window;
  v.stall_threshold = settings_.stall_threshold;
  v.stall_seconds_total = stall_seconds_total_;
  v.stalls_total = stalls_total_;
  v.consecutive_failures = consecutive_failures_;
  const TimePoint window_start = now - settings_.window;

  v.canaries.reserve(history_.size());
  v.has_baseline = !history_.empty();
  for (const History& h : history_) {
    v.canaries.push_back({h.baseline, h.epsilon});
    v.has_baseline = v.has_baseline && h.baseline.has_value();
  }

  // The prober's own lateness in the window.
  v.prober_lag_in_window = lag_within(window_start, now);
  for (auto it = episodes_after(window_start); it != lag_episodes_.end(); ++it) {
    if (it->expected < now) v.prober_lag_worst = std::max(v.prober_lag_worst, it->lateness());
  }
  v.prober_starved = v.prober_lag_worst >= settings_.stall_threshold ||
                     seconds(v.prober_lag_in_window) >= kProberLagRatio * seconds(settings_.window);

  // A stall in progress: the oldest probe still outstanding that was not
  // overtaken by an answered one (the target was serving then), less the
  // prober's own lag since it was due. If that lag could explain the wait,
  // we cannot tell, and the stall in progress starts after the last freeze.
  const TimePoint answered_from = last_answered_ ? *last_answered_ + Duration{1} : TimePoint::min();
  auto oldest = outstanding_.lower_bound({answered_from, 0});
  if (oldest != outstanding_.end() && !lag_episodes_.empty() &&
      !outlasts_lag(now - oldest->first, baseline_of(oldest->second),
                    lag_within(oldest->first, now))) {
    oldest = outstanding_.lower_bound({std::max(answered_from, lag_episodes_.back().woke), 0});
  }
  std::optional<TimePoint> in_progress_start;
  if (oldest != outstanding_.end()) {
    const TimePoint start =
        oldest->first + baseline_of(oldest->second) + lag_within(oldest->first, now);
    if (now > start) {
      v.stall_in_progress = now - start;
      in_progress_start = start;
    }
  }
  const bool stalling = v.stall_in_progress > settings_.stall_threshold;

  // Connections stalled now: a request out on one while a probe intended
  // after it was answered (on another connection, by another worker).
  std::optional<TimePoint> partial_start;
  for (auto& w : workers_) {
    w.view.connections = 0;
    w.view.stalled = false;
  }
  v.connections_open = connections_.size();
  for (const auto& [key, c] : connections_) {
    if (c.worker != kNoWorker) ++workers_[c.worker].view.connections;
    // A connection not yet answered on, once workers are named, may be the
    // same loop as the one that answered: its stall is judged when its
    // answer names the worker (settling). A renewed connection stuck in a
    // single loop's block read as a stalled part of the service.
    if (c.worker == kNoWorker && !workers_.empty()) continue;
    const std::optional<TimePoint> answered_elsewhere = last_answered_elsewhere(c.worker);
    if (!c.busy_since || !answered_elsewhere || *c.busy_since >= *answered_elsewhere) continue;
    const std::size_t canary = static_cast<std::size_t>(key >> 32);
    const Duration b = baseline_of(canary);
    const Duration lag = lag_within(*c.busy_since, now);
    if (!outlasts_lag(now - *c.busy_since, b, lag)) continue;
    const TimePoint start = *c.busy_since + b + lag;
    if (now - start <= settings_.stall_threshold) continue;
    ++v.connections_stalled;
    if (c.worker != kNoWorker) workers_[c.worker].view.stalled = true;
    if (now - start > v.partial_stall_in_progress) {
      v.partial_stall_in_progress = now - start;
      partial_start = start;
    }
  }
  v.partial_stall_seconds_total = partial_stall_seconds_total_;
  v.partial_stalls_total = partial_stalls_total_;
  for (const Worker& w : workers_) v.workers.push_back(w.view);

  for (const auto& [from, until] : warmups_) {
    if (now >= from && now < until) {
      v.warming_up = true;
      v.warmup_left = until - now;
    }
  }

  // Windowed statistics of settled samples: recomputed when something
  // notable entered or left the window, else at most every window_refresh
  // (healthy samples move them slowly; this loop is the evaluation's cost).
  // Until every canary has a baseline, at each evaluation: what is busy
  // depends on the fastest answer so far.
  if (window_dirty_ || !v.has_baseline || !window_stats_at_ ||
      now - *window_stats_at_ >= settings_.window_refresh) {
    window_dirty_ = false;
    window_stats_at_ = now;
    ++window_recomputes_;
    WindowStats st;
    std::vector<double> excess;
    excess.reserve(window_.size());
    for (const Settled& w : window_) {
      if (w.t < window_start) continue;
      if (w.dropped || !w.reliable || !w.meaningful || w.warmup) continue;
      excess.push_back(seconds(w.e));
      if (w.stall_e > settings_.stall_threshold) st.stall_max = std::max(st.stall_max, w.stall_e);
      st.partial_stall_max = std::max(st.partial_stall_max, w.partial_e);
      const CanaryView& c = v.canaries[w.canary];
      st.busy += w.e > (c.baseline ? c.epsilon : settings_.stall_threshold);
    }
    st.meaningful = excess.size();
    if (!excess.empty()) st.lag_p99 = from_seconds(*quantile(excess, 0.99));
    window_stats_ = st;
  }
  const WindowStats& st = window_stats_;
  v.unreliable += window_counts_.unreliable;
  v.evidence += window_counts_.answered;
  v.stall_max = st.stall_max;
  v.partial_stall_max = st.partial_stall_max;
  const std::size_t answered = window_counts_.answered, failed = window_counts_.failed;
  if (stalling) v.stall_max = std::max(v.stall_max, v.stall_in_progress);
  v.partial_stall_max = std::max(v.partial_stall_max, v.partial_stall_in_progress);
  if (st.meaningful > 0) {
    v.busy_ratio = static_cast<double>(st.busy) / static_cast<double>(st.meaningful);
    v.lag_p99 = *st.lag_p99;
  }
  if (answered) v.failure_ratio = static_cast<double>(failed) / static_cast<double>(answered);
  v.expected = scheduled_.size();
  for (auto it = outstanding_.lower_bound({window_start, 0}); it != outstanding_.end(); ++it) {
    ++v.evidence;
  }
  // Probes that ended but wait to settle behind an older outstanding one were
  // timed all the same: without them one hung probe would make most of W look
  // like missing evidence (and the status unknown).
  for (auto it = pending_.lower_bound(window_start); it != pending_.end(); ++it) {
    const Sample& s = it->second.sample;
    if (s.outcome == Outcome::dropped) continue;
    if (!outlasts_lag(s.done - s.intended, baseline_of(it->second.canary), lag_of(s))) {
      ++v.unreliable;
    } else {
      ++v.evidence;
    }
  }

  Duration stalled{};
  for (const auto& [from, to] : stall_segments_) stalled += overlap(from, to, window_start, now);
  if (stalling && in_progress_start) {
    const TimePoint from =
        covered_until_ ? std::max(*in_progress_start, *covered_until_) : *in_progress_start;
    stalled += overlap(from, now, window_start, now);
  }
  v.stall_ratio = std::min(1.0, seconds(stalled) / seconds(settings_.window));

  Duration partly{};
  for (const auto& [from, to] : partial_segments_) partly += overlap(from, to, window_start, now);
  if (partial_start) {
    const TimePoint from =
        partial_covered_until_ ? std::max(*partial_start, *partial_covered_until_) : *partial_start;
    partly += overlap(from, now, window_start, now);
  }
  v.partial_stall_ratio = std::min(1.0, seconds(partly) / seconds(settings_.window));

  if (!last_route_refresh_ || now - *last_route_refresh_ >= kRouteRefresh) {
    last_route_refresh_ = now;
    route_views_.clear();
    for (auto& route : routes_) route_views_.push_back(route.view(now));
  }
  v.routes = route_views_;
  return v;
}

}  // namespace loopcanary::exporter
