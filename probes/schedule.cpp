#include "probes/schedule.hpp"

#include <algorithm>

namespace loopcanary::probes {

Schedule::Schedule(Duration interval, double jitter, TimePoint start, std::uint64_t seed)
    : interval_(interval), jitter_(jitter), rng_(seed), last_(start), next_(start) {
  // The first probe goes out at a random phase within one interval, so that
  // several canaries (or replicas) started together do not probe in lockstep.
  std::uniform_real_distribution<double> phase(0.0, 1.0);
  next_ = start + std::chrono::duration_cast<Duration>(interval_ * phase(rng_));
  last_ = next_ - interval_;
}

Duration Schedule::step() {
  std::uniform_real_distribution<double> u(-jitter_, jitter_);
  const double factor = jitter_ > 0 ? 1.0 + u(rng_) : 1.0;
  return std::max(Duration{1}, std::chrono::duration_cast<Duration>(interval_ * factor));
}

TimePoint Schedule::take() {
  const TimePoint issued = next_;
  last_ = issued;
  next_ = issued + step();
  return issued;
}

void Schedule::set_interval(Duration interval, TimePoint now) {
  if (interval == interval_) return;
  interval_ = interval;
  next_ = std::max(last_ + step(), now);
}

}  // namespace loopcanary::probes
