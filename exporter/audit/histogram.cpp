#include "exporter/audit/histogram.hpp"

#include <cmath>

namespace loopcanary::exporter::audit {

Buckets since(const Buckets& a, const Buckets& b) {
  if (a.bounds != b.bounds || a.cumulative.size() != b.cumulative.size()) return a;
  Buckets out = a;
  for (std::size_t i = 0; i < a.cumulative.size(); ++i) {
    if (a.cumulative[i] < b.cumulative[i]) return a;
    out.cumulative[i] = a.cumulative[i] - b.cumulative[i];
  }
  return out;
}

std::optional<double> quantile(const Buckets& b, double q) {
  const double total = b.count();
  if (b.bounds.empty() || total <= 0) return std::nullopt;
  const double rank = q * total;
  for (std::size_t i = 0; i < b.bounds.size(); ++i) {
    if (b.cumulative[i] < rank) continue;
    if (std::isinf(b.bounds[i])) {
      // Beyond every finite bound: the highest one is all we know.
      return i > 0 ? std::optional<double>(b.bounds[i - 1]) : std::nullopt;
    }
    const double lower = i > 0 ? b.bounds[i - 1] : 0.0;
    const double below = i > 0 ? b.cumulative[i - 1] : 0.0;
    const double in_bucket = b.cumulative[i] - below;
    if (in_bucket <= 0) return b.bounds[i];
    return lower + (b.bounds[i] - lower) * (rank - below) / in_bucket;
  }
  return b.bounds.size() > 1 ? std::optional<double>(b.bounds[b.bounds.size() - 2]) : std::nullopt;
}

}  // namespace loopcanary::exporter::audit
