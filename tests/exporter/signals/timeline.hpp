#pragma once

// Synthetic timelines for the signals: a target whose event loop is blocked
// during given intervals, probes intended on a schedule, and a feed that hands
// both to TargetSignals in time order, the way the prober and the monitor do
// (a probe is scheduled at t_i, reported at r_i, evaluated on a tick).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exporter/signals/signals.hpp"
#include "probes/sample.hpp"
#include "probes/schedule.hpp"
#include "probes/self_lag.hpp"

namespace loopcanary::exporter::testing {

using probes::Duration;
using probes::LagEpisode;
using probes::Outcome;
using probes::Sample;
using probes::TimePoint;
using namespace std::chrono_literals;

/// An arbitrary origin, far from the clock's epoch.
inline const TimePoint t0 = TimePoint{} + 24h;

inline double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline double ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// One canary probe of a timeline: intended at t_i, ended at r_i.
struct Probe {
  TimePoint intended;
  TimePoint done;
  Outcome outcome = Outcome::ok;
  std::size_t canary = 0;
  std::uint32_t connection = 0;  ///< the connection it went out on (0: not said)
  TimePoint sent{};              ///< when it went out (unset: at t_i)
  bool stamped = false;          ///< r_i is the kernel's arrival time

  Duration latency() const { return done - intended; }
};

inline Sample sample_of(const Probe& p) {
  Sample s;
  s.intended = p.intended;
  s.sent = p.sent == TimePoint{} ? p.intended : p.sent;
  s.first_byte = p.done;
  s.done = p.done;
  s.stamped = p.stamped;
  s.outcome = p.outcome;
  s.status = p.outcome == Outcome::ok ? 200 : 0;
  s.connection_id = p.connection;
  return s;
}

/// A target with one event loop: it answers a request in `latency` of loop
/// time, unless the loop is blocked; a request that needs the loop while a
/// block holds it is answered `latency` after the block ends.
struct Loop {
  Duration latency = 1ms;
  Duration timeout = 5s;
  std::vector<std::pair<TimePoint, TimePoint>> blocks;  ///< [from, to)

  Loop& block(TimePoint from, Duration length) {
    blocks.emplace_back(from, from + length);
    std::sort(blocks.begin(), blocks.end());
    return *this;
  }

  /// When a request arriving at `t` is answered.
  TimePoint answer(TimePoint t) const {
    TimePoint start = t;
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& [from, to] : blocks) {
        // The request needs the loop during [start, start + latency).
        if (from < start + latency && start < to) {
          start = to;
          moved = true;
        }
      }
    }
    return start + latency;
  }

  /// The probe intended at `t`, timed out at t + timeout if not answered by then.
  Probe probe(TimePoint t, std::size_t canary = 0) const {
    const TimePoint r = answer(t);
    if (r - t >= timeout) return {t, t + timeout, Outcome::timeout, canary};
    return {t, r, Outcome::ok, canary};
  }

  std::vector<Probe> probes(const std::vector<TimePoint>& times, std::size_t canary = 0) const {
    std::vector<Probe> out;
    out.reserve(times.size());
    for (TimePoint t : times) out.push_back(probe(t, canary));
    return out;
  }
};

/// Intended times every `interval` in [from, to).
inline std::vector<TimePoint> every(Duration interval, TimePoint from, TimePoint to) {
  std::vector<TimePoint> out;
  for (TimePoint t = from; t < to; t += interval) out.push_back(t);
  return out;
}

/// Intended times from the real open-loop schedule (jittered), in [from, to).
inline std::vector<TimePoint> jittered(Duration interval, double jitter, TimePoint from,
                                       TimePoint to, std::uint64_t seed) {
  probes::Schedule schedule(interval, jitter, from, seed);
  std::vector<TimePoint> out;
  while (schedule.peek() < to) out.push_back(schedule.take());
  return out;
}

/// The spans [t_i + b, end_i] of the probes stuck in a stall, straight from
/// the definition: end_i is r_i, or the earliest answer to a probe intended
/// after probe i if that came first (the target was serving again), and a
/// probe counts when end_i − t_i − b exceeds θ (answered or timed out).
inline std::vector<std::pair<TimePoint, TimePoint>> stall_spans(const std::vector<Probe>& probes,
                                                                Duration b, Duration theta) {
  std::vector<std::pair<TimePoint, TimePoint>> spans;
  for (const Probe& p : probes) {
    if (!probes::latency_meaningful(p.outcome)) continue;
    TimePoint end = p.done;
    for (const Probe& q : probes) {
      if (q.intended > p.intended && probes::answered(q.outcome)) end = std::min(end, q.done);
    }
    if (end - p.intended - b > theta) spans.emplace_back(p.intended + b, end);
  }
  std::sort(spans.begin(), spans.end());
  return spans;
}

/// The reference answer for stall seconds: the length of the union of the
/// stall spans.
inline Duration union_of_stalls(const std::vector<Probe>& probes, Duration b, Duration theta) {
  Duration total{};
  std::optional<std::pair<TimePoint, TimePoint>> cur;
  for (const auto& s : stall_spans(probes, b, theta)) {
    if (cur && s.first <= cur->second) {
      cur->second = std::max(cur->second, s.second);
    } else {
      if (cur) total += cur->second - cur->first;
      cur = s;
    }
  }
  if (cur) total += cur->second - cur->first;
  return total;
}

/// The number of disjoint pieces of that union (stall episodes).
inline std::size_t episodes_of_stalls(const std::vector<Probe>& probes, Duration b,
                                      Duration theta) {
  std::size_t n = 0;
  std::optional<TimePoint> covered;
  for (const auto& s : stall_spans(probes, b, theta)) {
    if (!covered || s.first > *covered) ++n;
    covered = covered ? std::max(*covered, s.second) : s.second;
  }
  return n;
}

/// Hands a timeline to a TargetSignals in time order: a probe is scheduled at
/// its intended time and reported at its completion; a prober lag episode is
/// reported when the prober woke; heavy requests start and end; the signals
/// are evaluated at the times asked for. Events at the same instant keep the
/// order: lag, scheduled, route, sample.
class Feed {
 public:
  explicit Feed(TargetSignals& signals) : signals_(signals) {}

  void add(const Probe& p) {
    push(p.intended, kScheduled, [this, p] {
      signals_.canary_scheduled(p.canary, p.intended);
      if (p.connection) signals_.canary_sent(p.canary, p.connection, p.intended);
    });
    push(p.done, kSample, [this, p] { signals_.canary_sample(p.canary, sample_of(p)); });
  }
  void add(const std::vector<Probe>& probes) {
    for (const Probe& p : probes) add(p);
  }
  /// A probe dropped when it would have been sent (it still counts as scheduled).
  void drop(TimePoint intended, TimePoint now, std::size_t canary = 0) {
    add(Probe{intended, now, Outcome::dropped, canary});
  }
  void lag(const LagEpisode& ep) {
    push(ep.woke, kLag, [this, ep] { signals_.prober_lag(ep); });
  }
  /// A heavy request of `route` intended at `a`, answered at `c`.
  void request(std::size_t route, TimePoint a, TimePoint c, Outcome outcome = Outcome::ok) {
    const std::uint64_t id = ++requests_;
    push(a, kRoute, [this, route, id, a] { signals_.route_started(route, id, a); });
    push(c, kSample, [this, route, id, a, c, outcome] {
      Sample s;
      s.intended = a;
      s.sent = a;
      s.first_byte = c;
      s.done = c;
      s.outcome = outcome;
      signals_.route_sample(route, id, s);
    });
  }
  /// Connection `connection` of canary 0 named its worker at `at`.
  void worker(std::uint32_t connection, const std::string& name, TimePoint at) {
    push(at, kScheduled, [this, connection, name] { signals_.canary_worker(0, connection, name); });
  }
  void step(std::size_t route, int concurrency, TimePoint at) {
    push(at, kRoute,
         [this, route, concurrency, at] { signals_.route_step(route, concurrency, at); });
  }
  void idle(std::size_t route, TimePoint at) {
    push(at, kRoute, [this, route, at] { signals_.route_idle(route, at); });
  }

  /// Delivers every event up to `now` and evaluates at `now`.
  TargetView at(TimePoint now, std::vector<Duration>* lag_observations = nullptr) {
    while (!events_.empty() && events_.begin()->first.first <= now) {
      auto node = events_.extract(events_.begin());
      node.mapped()();
    }
    last_ = now;
    view_ = signals_.evaluate(now, lag_observations);
    return view_;
  }

  /// Evaluates every `tick` after the last evaluation up to `until` (as the
  /// monitor's tick does); returns the view at `until`. `each` sees every view.
  TargetView run(TimePoint until, Duration tick = 25ms,
                 const std::function<void(const TargetView&)>& each = {},
                 std::vector<Duration>* lag_observations = nullptr) {
    TimePoint t = last_ ? *last_ + tick : until;
    for (; t < until; t += tick) {
      at(t, lag_observations);
      if (each) each(view_);
    }
    at(until, lag_observations);
    if (each) each(view_);
    return view_;
  }

  const TargetView& view() const { return view_; }

 private:
  enum Kind { kLag, kScheduled, kRoute, kSample };
  void push(TimePoint t, Kind kind, std::function<void()> fire) {
    events_.emplace(
        std::make_pair(t, static_cast<int>(kind) * 1'000'000'000LL + seq_++ % 1'000'000'000LL),
        std::move(fire));
  }

  TargetSignals& signals_;
  std::multimap<std::pair<TimePoint, long long>, std::function<void()>> events_;
  long long seq_ = 0;
  std::uint64_t requests_ = 0;
  std::optional<TimePoint> last_;
  TargetView view_;
};

/// Settings of the synthetic target: W = 10 s, θ = 50 ms, 60 s of baseline.
inline SignalSettings settings() {
  SignalSettings s;
  s.window = 10s;
  s.stall_threshold = 50ms;
  s.baseline_window = 60s;
  s.baseline_refresh = 1s;
  return s;
}

}  // namespace loopcanary::exporter::testing
