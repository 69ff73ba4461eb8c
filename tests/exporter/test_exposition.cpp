// The /metrics text: loopcanary writes it itself (exporter/exposition.cpp)
// because prometheus-cpp 1.0.1's TextSerializer spends most of a 50-target
// scrape in ostream; the library's serializer stays the reference, byte for
// byte.

#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "exporter/exposition.hpp"
#include "exporter/metrics.hpp"

namespace {

using namespace loopcanary::exporter;

std::string reference(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

std::string ours(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  write_text(families, out);
  return out;
}

}  // namespace

TEST_CASE("exposition: every family loopcanary exports reads as prometheus-cpp writes it",
          "[exposition]") {
  Metrics m;
  const std::vector<double> buckets{0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032,
                                    0.064,  0.128, 0.256, 0.512, 1.024, 2.048, 4.096};
  TargetMetrics target(m, "api", buckets);
  CanaryMetrics health(m, "api", "health", buckets);
  CanaryMetrics odd(m, "api", "we\"ird\\na\nme", {1e-9, 0.1, 0.1 + 0.2, 1.0 / 3.0, 12345.678});
  RouteMetrics report(m, "api", "report", buckets);
  WorkerMetrics worker(m, "api", "pid-12");

  // Values of every shape the format has to carry: integers past 2^53,
  // 17-digit fractions that %.16g rounds, tiny and huge exponents, signed
  // zero, NaN and both infinities.
  const double values[] = {0.0,
                           -0.0,
                           1.0,
                           0.1 + 0.2,
                           1.0 / 3.0,
                           2.5e-7,
                           1e-300,
                           6.02e23,
                           9.007199254740993e15,
                           123456789.125,
                           -42.5,
                           std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity()};
  for (const double v : values) {
    if (std::isfinite(v) && v >= 0) {
      health.duration->Observe(v);
      odd.duration->Observe(v);
      target.lag->Observe(v);
      report.duration->Observe(v);
    }
  }
  health.probes->Increment(9.007199254740993e15);
  target.stall_seconds->Increment(1.0 / 3.0);
  target.stall_in_progress->Set(std::numeric_limits<double>::quiet_NaN());
  target.stall_max->Set(std::numeric_limits<double>::infinity());
  target.stall_ratio->Set(-std::numeric_limits<double>::infinity());
  target.busy_ratio->Set(-0.0);
  target.lag_p99.set(0.1 + 0.2);
  report.capacity.set(6.02e23);
  worker.partial_stall_seconds->Increment(2.5e-7);
  m.reload_timestamp_gauge.Set(1796343131.588315);
  m.prober_lag_gauge.Set(1e-300);

  const auto families = m.registry().Collect();
  const std::string text = ours(families);
  CHECK(text.find("loopcanary_probe_duration_seconds_bucket{canary=\"health\"") !=
        std::string::npos);
  CHECK(text.find(R"(canary="we\"ird\\na\nme")") != std::string::npos);
  CHECK(text == reference(families));
}

TEST_CASE("exposition: summaries, untyped samples, timestamps and empty help", "[exposition]") {
  prometheus::Registry registry;
  auto& summary =
      prometheus::BuildSummary()
          .Name("rpc_seconds")
          .Help("A summary.")
          .Register(registry)
          .Add({{"path", "/x"}}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.99, 0.001}});
  for (int i = 1; i <= 100; ++i) summary.Observe(i / 7.0);
  auto families = registry.Collect();

  prometheus::MetricFamily untyped;
  untyped.name = "legacy_value";
  untyped.type = prometheus::MetricType::Untyped;
  prometheus::ClientMetric sample;
  sample.untyped.value = 3.25;
  sample.timestamp_ms = 1796343131588;
  untyped.metric.push_back(sample);
  sample.label = {{"a", "1"}, {"b", "two"}};
  sample.timestamp_ms = 0;
  untyped.metric.push_back(sample);
  families.push_back(untyped);

  prometheus::MetricFamily empty;
  empty.name = "no_children";
  empty.help = "Registered, nothing added.";
  empty.type = prometheus::MetricType::Gauge;
  families.push_back(empty);

  const std::string text = ours(families);
  CHECK(text.find("legacy_value 3.25 1796343131588\n") != std::string::npos);
  CHECK(text.find("rpc_seconds{path=\"/x\",quantile=\"0.99\"}") != std::string::npos);
  CHECK(text == reference(families));
}

TEST_CASE("exposition: Metrics::serialize is the whole registry, and stays so as it grows",
          "[exposition]") {
  Metrics m;
  const std::string before = m.serialize();
  CHECK(before == reference(m.registry().Collect()));
  std::vector<TargetMetrics> targets;
  targets.reserve(50);
  for (int i = 0; i < 50; ++i)
    targets.emplace_back(m, "t" + std::to_string(i), std::vector<double>{0.01, 0.1});
  const std::string after = m.serialize();
  CHECK(after.size() > before.size());
  CHECK(after == reference(m.registry().Collect()));
}
