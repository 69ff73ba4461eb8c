#include "exporter/signals/route_signals.hpp"

#include <algorithm>

#include "exporter/signals/stats.hpp"

namespace loopcanary::exporter {

using probes::from_seconds;
using probes::seconds;

namespace {}  // namespace

void RouteSignals::CanarySet::push(const Canary& c) {
  items.push_back(c);
  busy += c.busy;
  e_sum += c.e;
}

void RouteSignals::CanarySet::drop_before(TimePoint t) {
  while (!items.empty() && items.front().t < t) {
    busy -= items.front().busy;
    e_sum -= items.front().e;
    items.pop_front();
  }
}

double RouteSignals::CanarySet::busy_share() const {
  return items.empty() ? 0 : static_cast<double>(busy) / static_cast<double>(items.size());
}

Duration RouteSignals::CanarySet::mean_e() const {
  return items.empty() ? Duration{} : e_sum / static_cast<std::int64_t>(items.size());
}

void RouteSignals::started(std::uint64_t request, TimePoint at) { in_flight_[request] = at; }

void RouteSignals::finished(std::uint64_t request, const Sample& sample) {
  const auto it = in_flight_.find(request);
  const TimePoint a = it != in_flight_.end() ? it->second : sample.intended;
  if (it != in_flight_.end()) in_flight_.erase(it);
  const TimePoint c = std::max(a, sample.done);

  // Merge [a, c] into the sorted, disjoint coverage.
  auto pos = std::upper_bound(coverage_.begin(), coverage_.end(), a,
                              [](TimePoint t, const auto& seg) { return t < seg.first; });
  if (pos != coverage_.begin() && std::prev(pos)->second >= a) {
    --pos;
    pos->second = std::max(pos->second, c);
  } else {
    pos = coverage_.insert(pos, {a, c});
  }
  auto next = std::next(pos);
  while (next != coverage_.end() && next->first <= pos->second) {
    pos->second = std::max(pos->second, next->second);
    next = coverage_.erase(next);
    pos = std::prev(next);
  }

  if (!probes::latency_meaningful(sample.outcome)) return;
  completions_.push_back({a, c});
  if (running_ && !ramp_.empty() && !ramp_.back().end) {
    Step& s = ramp_.back();
    ++s.completions;
    s.busy += seconds(c - std::max(a, s.start));
    if (s.concurrency == 1) s.latencies.push_back(seconds(sample.done - sample.intended));
  }
}

void RouteSignals::close_step(TimePoint at) {
  if (ramp_.empty() || ramp_.back().end) return;
  Step& s = ramp_.back();
  s.busy += in_flight_seconds(s.start, at);
  s.end = at;
  if (s.concurrency == 1 && s.latencies.size() >= 3) {
    learned_service_time_ = from_seconds(*quantile(s.latencies, 0.05));
  }
}

double RouteSignals::in_flight_seconds(TimePoint since, TimePoint until) const {
  double total = 0;
  for (const auto& [id, a] : in_flight_) {
    const TimePoint from = std::max(a, since);
    if (until > from) total += seconds(until - from);
  }
  return total;
}

std::optional<double> RouteSignals::mean_latency_since(TimePoint since, TimePoint now) const {
  // The requests sent since `since`: those answered with their latency, and
  // those still out for longer than the answered ones took on average with
  // their age so far (a lower bound). A pool that starves some waiters keeps
  // them out of the answered ones; counting them overdue brings them back.
  // Requests sent before `since` (a step change) are left out, or the step's
  // first moments would mix two concurrencies.
  std::size_t count = 0;
  double sum = 0;
  for (const Completion& c : completions_) {
    if (c.start < since) continue;
    ++count;
    sum += seconds(c.done - c.start);
  }
  if (count < kMinCompleted) return std::nullopt;
  const double answered_mean = sum / static_cast<double>(count);
  for (const auto& [id, a] : in_flight_) {
    if (a < since || a > now) continue;
    const double age = seconds(now - a);
    if (age > answered_mean) {
      ++count;
      sum += age;
    }
  }
  return sum / static_cast<double>(count);
}

void RouteSignals::step(int concurrency, TimePoint at) {
  // A new closed-loop ramp replaces the previous one; an open-loop phase after
  // a ramp keeps it (its knee is still the latest known).
  if (!running_ && concurrency >= 1) ramp_.clear();
  close_step(at);
  running_ = true;
  Step s;
  s.concurrency = concurrency;
  s.start = at;
  ramp_.push_back(std::move(s));
}

void RouteSignals::idle(TimePoint at) {
  close_step(at);
  running_ = false;
}

bool RouteSignals::in_flight_at(TimePoint t) const {
  for (const auto& [id, a] : in_flight_) {
    if (a <= t) return true;
  }
  auto pos = std::upper_bound(coverage_.begin(), coverage_.end(), t,
                              [](TimePoint x, const auto& seg) { return x < seg.first; });
  return pos != coverage_.begin() && std::prev(pos)->second >= t;
}

void RouteSignals::classify(TimePoint t, Duration e, bool busy) {
  if (in_flight_at(t)) {
    h_.push({t, e, busy});
  } else {
    q_.push({t, e, busy});
  }
}

void RouteSignals::prune(TimePoint now) {
  const TimePoint window_start = now - settings_.window;
  const TimePoint history_start = now - settings_.baseline_window;
  h_.drop_before(window_start);
  q_.drop_before(history_start);
  while (!completions_.empty() && completions_.front().done < window_start) {
    completions_.pop_front();
  }
  while (!coverage_.empty() && coverage_.front().second < history_start) {
    coverage_.erase(coverage_.begin());
  }
}

std::optional<UslPoint> RouteSignals::point(const Step& step, TimePoint now) const {
  const TimePoint end = step.end.value_or(now);
  const double duration = seconds(end - step.start);
  if (step.concurrency < 1 || duration < 1.0 || step.completions == 0) return std::nullopt;
  // Little's law over the step: X = completions / duration and R = time in
  // flight / completions, the time of requests still waiting included. A mean
  // over completed requests alone misses the ones a pool starves: anyio's
  // limiter lets new arrivals overtake its waiters, and at N = 64 that mean
  // said 130 ms where Little's law (and the 40 threads) say 160 ms.
  const double busy = step.busy + (step.end ? 0.0 : in_flight_seconds(step.start, now));
  const auto completions = static_cast<double>(step.completions);
  return UslPoint{static_cast<double>(step.concurrency), completions / duration,
                  busy / completions};
}

RouteView RouteSignals::view(TimePoint now) {
  prune(now);
  RouteView v;
  v.in_flight = in_flight_.size();
  const TimePoint window_start = now - settings_.window;
  v.completed_in_window = static_cast<std::size_t>(std::count_if(
      completions_.begin(), completions_.end(), [&](auto& c) { return c.done >= window_start; }));
  if (running_ && !ramp_.empty() && ramp_.back().concurrency >= 1) {
    v.concurrency = ramp_.back().concurrency;
  }

  // Head-of-line blocking: how much more often a light request is slow while
  // this route is in flight than while it is not.
  v.hol_h = h_.items.size();
  v.hol_q = q_.items.size();
  if (v.hol_h >= kMinH && v.completed_in_window >= kMinCompleted) {
    v.u_h = h_.busy_share();
    Duration e_q{};
    if (v.hol_q >= kMinH) {
      v.u_q = q_.busy_share();
      e_q = q_.mean_e();
    }
    v.hol_ratio = v.u_q < 1.0 ? std::clamp((v.u_h - v.u_q) / (1.0 - v.u_q), 0.0, 1.0) : 0.0;
    v.hol_delay = std::max(Duration{}, h_.mean_e() - e_q);
  }

  // Queue amplification: mean latency now (of the requests sent since, the
  // overdue ones still waiting included) over the service time. "Now" is the
  // current step once it has enough completions; until then the window, so the
  // value does not vanish for a moment at every step change.
  v.service_time = settings_.service_time ? settings_.service_time : learned_service_time_;
  std::optional<double> mean;
  if (running_ && !ramp_.empty()) {
    mean = mean_latency_since(std::max(window_start, ramp_.back().start), now);
  }
  if (!mean) mean = mean_latency_since(window_start, now);
  if (mean) {
    v.mean_latency = from_seconds(*mean);
    if (v.service_time && *v.service_time > Duration::zero()) {
      v.amplification = *mean / seconds(*v.service_time);
    }
  }

  // Executor capacity and the knee, from the latest ramp's steps.
  for (const Step& s : ramp_) {
    if (auto p = point(s, now)) v.steps.push_back(*p);
  }
  if (v.service_time) {
    const double service = seconds(*v.service_time);
    for (const auto& p : v.steps) {
      if (p.latency >= kSaturated * service) {
        v.capacity = std::max(v.capacity.value_or(0.0), p.throughput * service);
      }
    }
  }
  if (v.steps.size() >= 4) {
    std::optional<int> knee = saturation_concurrency(v.steps);
    // A pool of c workers stops scaling at c: when the capacity is known, the
    // knee is no later than it (USL's smooth curve puts a hard cap's knee past
    // the cap, about 60 for anyio's 40 threads).
    if (v.capacity) {
      const int cap = std::max(1, static_cast<int>(*v.capacity));
      knee = knee ? std::min(*knee, cap) : cap;
    }
    // Only a knee inside the range the ramp has tested was observed; beyond
    // it is extrapolation, and it moves with every new step.
    double tested = 0;
    for (const auto& p : v.steps) tested = std::max(tested, p.concurrency);
    if (knee && *knee <= tested) v.knee = knee;
  }
  return v;
}

}  // namespace loopcanary::exporter
