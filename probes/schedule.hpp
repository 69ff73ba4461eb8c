#pragma once

#include <cstdint>
#include <random>

#include "probes/sample.hpp"

namespace loopcanary::probes {

/// Plans the intended send times of an open-loop probe stream:
/// t_{i+1} = t_i + T·(1 + U(-j, j)). Times are planned from the previous
/// intended time, never from when the prober woke, so lateness never
/// accumulates into drift. Pure: the caller supplies the start and the seed.
class Schedule {
 public:
  Schedule(Duration interval, double jitter, TimePoint start, std::uint64_t seed);

  /// The next intended time (not yet issued).
  TimePoint peek() const { return next_; }
  /// Issues the next intended time and plans the one after it.
  TimePoint take();
  /// Changes T. The pending time is re-planned from the last issued one, so a
  /// switch from a 100 ms to a 10 ms interval takes effect within 10 ms; never
  /// into the past (before `now`), which would read as the prober being late.
  void set_interval(Duration interval, TimePoint now);
  Duration interval() const { return interval_; }

 private:
  Duration step();

  Duration interval_;
  double jitter_;
  std::mt19937_64 rng_;
  TimePoint last_;
  TimePoint next_;
};

}  // namespace loopcanary::probes
