#pragma once

#include <optional>
#include <vector>

/// The Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted to
/// measured throughput. Pure math.
namespace loopcanary::exporter {

struct UslPoint {
  double concurrency;  ///< N
  double throughput;   ///< X(N), requests per second
  double latency;      ///< R(N), mean seconds (for the model-free knee)
};

struct UslFit {
  double lambda = 0;  ///< throughput of one client
  double sigma = 0;   ///< contention
  double kappa = 0;   ///< coherency (crosstalk)
};

/// Least squares on the linearised form N·λ/X(N) − 1 = σ(N−1) + κN(N−1), with λ
/// taken from the N = 1 point (or the smallest N, scaled). Needs at least three
/// points with distinct N; nullopt otherwise.
std::optional<UslFit> fit_usl(const std::vector<UslPoint>& points);

/// The concurrency knee: ⌊sqrt((1−σ)/κ)⌋ when the fit has κ > 0 (beyond
/// rounding: its term matters at the largest N) and σ < 1;
/// otherwise the model-free knee, the smallest N with R(N) ≥ 2·R(lowest N);
/// nullopt when neither exists.
std::optional<int> saturation_concurrency(const std::vector<UslPoint>& points);

}  // namespace loopcanary::exporter
