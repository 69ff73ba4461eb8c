#include "probes/self_lag.hpp"

#include <algorithm>
#include <utility>

namespace loopcanary::probes {

void SelfLagMeter::record(TimePoint expected, TimePoint woke) {
  const Duration late = woke - expected;
  max_ = std::max(max_, late);
  if (late <= limit_) return;
  // Several timers waking together after one freeze report overlapping
  // episodes; keep one interval per freeze.
  if (!episodes_.empty() && expected <= episodes_.back().woke) {
    auto& last = episodes_.back();
    last.expected = std::min(last.expected, expected);
    last.woke = std::max(last.woke, woke);
    return;
  }
  episodes_.push_back({expected, woke});
}

std::vector<LagEpisode> SelfLagMeter::take_episodes() { return std::exchange(episodes_, {}); }

Duration SelfLagMeter::take_max() { return std::exchange(max_, Duration{}); }

}  // namespace loopcanary::probes
