#pragma once

#include <optional>
#include <string>
#include <vector>

#include "exporter/snapshot.hpp"

namespace loopcanary::exporter {

/// The landing page for a person, per target: the status with what it means
/// and since when, a status timeline over the last minutes, the findings with
/// their evidence (kept, marked *clearing*, while the status steps down), why
/// probes fail, charts of canary and heavy-route latency and of stalls with a
/// time axis, and the signals; then the scenarios and links. One HTML document
/// with inline CSS and SVG: no script, no external asset (it works offline in
/// a pod). Pure.
std::string landing_page(const std::vector<TargetSnapshot>& targets,
                         const std::vector<ScenarioState>& scenarios, bool admin_api);

/// A y-axis on a log scale over whole decades, in seconds: one spike does not
/// flatten everything else, and 1 ms, 100 ms and 3 s are all readable.
struct LogScale {
  double lo = 1e-3;
  double hi = 1;
};

/// The decades that cover `values` (ignoring those below `floor`), at least
/// [floor, min_hi].
LogScale log_scale(const std::vector<std::optional<double>>& values, double floor, double min_hi);

/// One line of a time chart: one value per point of the chart's `times`; none
/// is a gap (no answer in that second).
struct ChartSeries {
  std::string id;  ///< its CSS class: series <id>
  std::string label;
  std::string colour;
  std::vector<std::optional<double>> values;
};

/// A chart of the last `span` up to `now`, x = time, y = a log scale.
struct TimeChart {
  std::string id;  ///< the svg's id
  std::string title;
  SystemTime now;
  std::chrono::seconds span{300};
  std::vector<SystemTime> times;  ///< one per point, oldest first
  std::vector<ChartSeries> series;
  LogScale scale;
  std::vector<std::pair<double, std::string>> lines;  ///< threshold lines: value, label
  std::vector<bool> shaded;     ///< per point: a scenario ran (a light band behind)
  std::vector<bool> no_answer;  ///< per point: probes failed and none was answered (red marks)
};

/// The SVG of a time chart: paths broken at gaps, the peak of each series
/// marked with its value, a time axis ending at "now".
std::string render_chart(const TimeChart& chart);

/// The status timeline: one colour band per run of equal status.
std::string render_timeline(const std::string& id, const std::vector<HistoryPoint>& history,
                            SystemTime now, std::chrono::seconds span);

}  // namespace loopcanary::exporter
