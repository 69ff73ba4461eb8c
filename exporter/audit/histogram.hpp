#pragma once

#include <optional>
#include <vector>

/// Latency quantiles from cumulative bucket counts, the way Prometheus's
/// histogram_quantile() computes them, so the live audit (from its own
/// registry) and the Prometheus mode (from scraped buckets) agree. Pure.
namespace loopcanary::exporter::audit {

struct Buckets {
  std::vector<double> bounds;      ///< upper bounds, increasing; +Inf last
  std::vector<double> cumulative;  ///< observations ≤ each bound
  double count() const { return cumulative.empty() ? 0 : cumulative.back(); }
};

/// a − b bucket by bucket (what was observed between two reads); `a` alone
/// when the bounds differ or a count went down (a reset).
Buckets since(const Buckets& a, const Buckets& b);

/// The q-quantile (0..1): linear interpolation inside the bucket that holds
/// it, the lower bound of the first bucket being 0; the highest finite bound
/// when it falls in +Inf. Nullopt without observations.
std::optional<double> quantile(const Buckets& b, double q);

}  // namespace loopcanary::exporter::audit
