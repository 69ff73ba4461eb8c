#include "exporter/signals/usl.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace loopcanary::exporter {

std::optional<UslFit> fit_usl(const std::vector<UslPoint>& points) {
  std::set<double> distinct;
  for (const auto& p : points) {
    if (p.concurrency >= 1 && p.throughput > 0) distinct.insert(p.concurrency);
  }
  if (distinct.size() < 3) return std::nullopt;
  const UslPoint* lowest = nullptr;
  for (const auto& p : points) {
    if (p.concurrency >= 1 && p.throughput > 0 &&
        (!lowest || p.concurrency < lowest->concurrency)) {
      lowest = &p;
    }
  }
  UslFit fit;
  fit.lambda = lowest->throughput / lowest->concurrency;
  // Normal equations of y = σ·a + κ·b with no intercept.
  double aa = 0, ab = 0, bb = 0, ay = 0, by = 0;
  for (const auto& p : points) {
    if (p.concurrency < 1 || p.throughput <= 0) continue;
    const double n = p.concurrency;
    const double y = n * fit.lambda / p.throughput - 1.0;
    const double a = n - 1.0;
    const double b = n * (n - 1.0);
    aa += a * a;
    ab += a * b;
    bb += b * b;
    ay += a * y;
    by += b * y;
  }
  const double det = aa * bb - ab * ab;
  if (std::abs(det) < 1e-12 * (aa * bb + 1)) return std::nullopt;
  fit.sigma = (ay * bb - by * ab) / det;
  fit.kappa = (aa * by - ab * ay) / det;
  return fit;
}

namespace {

/// κ > 0 beyond rounding: its term must matter at the largest N measured.
/// Data without coherency (Amdahl's law) fit κ = ±1e-17, and a "positive" one
/// would put the knee at ~10⁸ clients instead of falling back to the
/// model-free knee.
bool kappa_positive(const UslFit& fit, const std::vector<UslPoint>& points) {
  double n_max = 0, y_max = 0;
  for (const auto& p : points) {
    if (p.concurrency < 1 || p.throughput <= 0 || p.concurrency <= n_max) continue;
    n_max = p.concurrency;
    y_max = p.concurrency * fit.lambda / p.throughput - 1.0;
  }
  return fit.kappa * n_max * (n_max - 1.0) > 1e-9 * (1.0 + std::abs(y_max));
}

}  // namespace

std::optional<int> saturation_concurrency(const std::vector<UslPoint>& points) {
  if (auto fit = fit_usl(points); fit && fit->sigma < 1 && kappa_positive(*fit, points)) {
    const double knee = std::floor(std::sqrt((1.0 - fit->sigma) / fit->kappa));
    return static_cast<int>(std::min(knee, static_cast<double>(std::numeric_limits<int>::max())));
  }
  if (points.empty()) return std::nullopt;
  std::vector<UslPoint> sorted = points;
  std::sort(sorted.begin(), sorted.end(),
            [](auto& a, auto& b) { return a.concurrency < b.concurrency; });
  const double base = sorted.front().latency;
  if (base <= 0) return std::nullopt;
  for (const auto& p : sorted) {
    if (p.latency >= 2 * base) return static_cast<int>(p.concurrency);
  }
  return std::nullopt;
}

}  // namespace loopcanary::exporter
