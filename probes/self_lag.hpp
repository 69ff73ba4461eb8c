#pragma once

#include <vector>

#include "probes/sample.hpp"

namespace loopcanary::probes {

/// An interval during which the prober's own loop was late by more than the
/// limit: it meant to wake at `expected` and woke at `woke`. Samples whose
/// [t_i, r_i] overlaps one were timed by a starved prober.
struct LagEpisode {
  TimePoint expected;
  TimePoint woke;
  Duration lateness() const { return woke - expected; }
};

/// Measures how late the prober's timers fire. Every timer that sleeps to an
/// absolute deadline reports (deadline, now) when it wakes. Single-threaded:
/// used from the prober's executor only.
class SelfLagMeter {
 public:
  explicit SelfLagMeter(Duration limit) : limit_(limit) {}

  void record(TimePoint expected, TimePoint woke);
  /// Episodes beyond the limit since the last call, oldest first.
  std::vector<LagEpisode> take_episodes();
  /// The largest lateness since the last call (0 when always on time).
  Duration take_max();
  Duration limit() const { return limit_; }

 private:
  Duration limit_;
  Duration max_{};
  std::vector<LagEpisode> episodes_;
};

}  // namespace loopcanary::probes
