#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

namespace loopcanary::exporter {

/// The q-quantile (0..1) of `values` by the nearest-rank method; reorders
/// `values`. nullopt when empty.
inline std::optional<double> quantile(std::vector<double>& values, double q) {
  if (values.empty()) return std::nullopt;
  const auto rank =
      static_cast<std::size_t>(std::clamp(std::ceil(q * static_cast<double>(values.size())), 1.0,
                                          static_cast<double>(values.size())) -
                               1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank),
                   values.end());
  return values[rank];
}

}  // namespace loopcanary::exporter
