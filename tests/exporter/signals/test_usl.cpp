// The Universal Scalability Law fit and the concurrency knee (DESIGN 6):
// X(N) = λN / (1 + σ(N−1) + κN(N−1)), least squares on the linear form,
// N* = ⌊sqrt((1−σ)/κ)⌋, and the model-free knee when κ ≤ 0.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "exporter/signals/usl.hpp"

namespace {

using loopcanary::exporter::fit_usl;
using loopcanary::exporter::saturation_concurrency;
using loopcanary::exporter::UslPoint;

/// Points on the USL curve; R(N) = N / X(N) as in a closed loop.
std::vector<UslPoint> usl_points(double lambda, double sigma, double kappa,
                                 const std::vector<int>& ns, double noise = 0,
                                 std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-noise, noise);
  std::vector<UslPoint> out;
  for (int n : ns) {
    const double N = n;
    double x = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1));
    if (noise > 0) x *= 1 + u(rng);
    out.push_back({N, x, N / x});
  }
  return out;
}

const std::vector<int> kRamp{1, 2, 4, 8, 16, 32, 64, 128};

}  // namespace

TEST_CASE("fit_usl recovers σ, κ and λ from noiseless points", "[usl]") {
  struct Case {
    double lambda, sigma, kappa;
    int knee;
  };
  const auto c = GENERATE(values<Case>({
      {100, 0.05, 0.001, 30},  // sqrt(0.95 / 0.001) = 30.8
      {100, 0.0, 0.0005, 44},  // sqrt(2000) = 44.7
      {10, 0.1, 0.0001, 94},   // sqrt(9000) = 94.9
      {250, 0.02, 0.002, 22},  // sqrt(490) = 22.1
      {1, 0.3, 0.01, 8},       // sqrt(70) = 8.4
  }));
  CAPTURE(c.lambda, c.sigma, c.kappa);
  const auto points = usl_points(c.lambda, c.sigma, c.kappa, kRamp);
  const auto fit = fit_usl(points);
  REQUIRE(fit);
  CHECK(fit->lambda == Approx(c.lambda).margin(1e-6));
  CHECK(fit->sigma == Approx(c.sigma).margin(1e-6));
  CHECK(fit->kappa == Approx(c.kappa).margin(1e-6));
  CHECK(saturation_concurrency(points) == c.knee);
  CHECK(c.knee == static_cast<int>(std::floor(std::sqrt((1 - c.sigma) / c.kappa))));
}

TEST_CASE("the fit does not depend on the order of the points", "[usl]") {
  auto points = usl_points(100, 0.05, 0.001, kRamp);
  std::reverse(points.begin(), points.end());
  const auto fit = fit_usl(points);
  REQUIRE(fit);
  CHECK(fit->sigma == Approx(0.05).margin(1e-6));
  CHECK(fit->kappa == Approx(0.001).margin(1e-6));
  CHECK(saturation_concurrency(points) == 30);
}

TEST_CASE("with ±2 % noise the knee stays near the true one", "[usl]") {
  const std::uint64_t seed = GENERATE(range<std::uint64_t>(1, 11));
  CAPTURE(seed);
  const auto points = usl_points(100, 0.05, 0.001, kRamp, 0.02, seed);
  const auto knee = saturation_concurrency(points);
  REQUIRE(knee);
  CHECK(*knee >= 24);
  CHECK(*knee <= 38);
}

TEST_CASE("κ ≤ 0: the model-free knee, the smallest N with R(N) ≥ 2·R(lowest N)", "[usl]") {
  // Retrograde-free, superlinear coherency (κ < 0): R doubles at N = 16,
  // since σ(N−1) + κN(N−1) first reaches 1 there (8: 0.67, 16: 1.38).
  const auto points = usl_points(100, 0.1, -0.0005, {1, 2, 4, 8, 16});
  const auto fit = fit_usl(points);
  REQUIRE(fit);
  CHECK(fit->kappa < 0);
  CHECK(saturation_concurrency(points) == 16);
}

TEST_CASE("Amdahl's law (κ = 0) gives the model-free knee, not an absurd one", "[usl]") {
  // σ = 0.1, κ = 0: R(N) = (1 + 0.1(N−1))/λ reaches 2·R(1) at N = 11, so
  // the first ramp step at or beyond it is 16. The fit's κ is 0 up to
  // rounding; a rounding error must not become a knee at N = 10⁹.
  const auto points = usl_points(100, 0.1, 0.0, {1, 2, 4, 8, 16, 32});
  const auto fit = fit_usl(points);
  REQUIRE(fit);
  CHECK(fit->kappa == Approx(0).margin(1e-12));
  const auto knee = saturation_concurrency(points);
  REQUIRE(knee);
  CHECK(*knee == 16);
}

TEST_CASE("a κ that only rounding made positive is κ = 0", "[usl]") {
  // Amdahl data again (κ = 0): R(N) = (1 + σ(N−1))/λ reaches 2·R(1) at
  // N = 1 + 1/σ. The least-squares κ comes out as ±1e-17; when its sign
  // happens to be +, sqrt((1−σ)/κ) puts the knee at ~10⁸ clients.
  struct Case {
    double sigma;
    int top;
    int knee;
  };
  const auto c = GENERATE(values<Case>({
      {0.18, 64, 8},   // 1 + 1/0.18 = 6.6
      {0.24, 64, 8},   // 5.2
      {0.29, 128, 8},  // 4.4
      {0.31, 8, 8},    // 4.2
  }));
  CAPTURE(c.sigma, c.top);
  std::vector<int> ns;
  for (int n = 1; n <= c.top; n *= 2) ns.push_back(n);
  const auto points = usl_points(100, c.sigma, 0.0, ns);
  const auto fit = fit_usl(points);
  REQUIRE(fit);
  CHECK(fit->kappa == Approx(0).margin(1e-12));
  CHECK(saturation_concurrency(points) == c.knee);
}

TEST_CASE("linear scaling has no knee at all", "[usl]") {
  const auto points = usl_points(100, 0.0, 0.0, {1, 2, 4, 8, 16});
  CHECK_FALSE(saturation_concurrency(points));
}

TEST_CASE("fewer than three distinct N: no fit", "[usl]") {
  CHECK_FALSE(fit_usl({}));
  CHECK_FALSE(fit_usl({{1, 100, 0.01}}));
  CHECK_FALSE(fit_usl({{1, 100, 0.01}, {2, 190, 0.0105}}));
  // Repeated N are not distinct.
  CHECK_FALSE(fit_usl({{1, 100, 0.01}, {2, 190, 0.0105}, {2, 191, 0.0105}}));
  // Points without throughput do not count.
  CHECK_FALSE(fit_usl({{1, 100, 0.01}, {2, 190, 0.0105}, {4, 0, 0}}));
  CHECK(fit_usl({{1, 100, 0.01}, {2, 190, 0.0105}, {4, 340, 0.0118}}));
}

TEST_CASE("saturation_concurrency without a fit falls back to the model-free knee", "[usl]") {
  CHECK_FALSE(saturation_concurrency({}));
  // Two points: no fit; R doubled from N = 1 to N = 4.
  CHECK(saturation_concurrency({{1, 10, 0.1}, {4, 20, 0.2}}) == 4);
  CHECK_FALSE(saturation_concurrency({{1, 10, 0.1}, {4, 38, 0.105}}));
  // The lowest N is the reference even when the points come unsorted.
  CHECK(saturation_concurrency({{8, 40, 0.2}, {2, 20, 0.1}}) == 8);
}

TEST_CASE("a ramp that starts above N = 1 scales λ from its lowest step", "[usl]") {
  // λ = X(2) / 2 under-estimates the single-client throughput by the
  // contention already present at N = 2, so the fit is approximate; the
  // knee must still land near the true one.
  const auto points = usl_points(100, 0.05, 0.001, {2, 4, 8, 16, 32, 64, 128});
  const auto fit = fit_usl(points);
  REQUIRE(fit);
  CHECK(fit->lambda == Approx(100 / (1 + 0.05 + 0.002)));
  const auto knee = saturation_concurrency(points);
  REQUIRE(knee);
  CHECK(*knee >= 25);
  CHECK(*knee <= 36);
}
