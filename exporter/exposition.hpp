#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace loopcanary::exporter {

/// Appends the text exposition format (0.0.4) of `families` to `out`:
/// byte for byte what prometheus-cpp 1.0.1's TextSerializer writes (numbers
/// as `%.16g` in the C locale, NaN as `Nan`, infinities as `±Inf`; label
/// values escaped), without its per-number ostream machinery, which cost
/// most of a scrape at 50 targets (bench/README.md, "Cost per probe").
void write_text(const std::vector<prometheus::MetricFamily>& families, std::string& out);

}  // namespace loopcanary::exporter
