#pragma once

#include <string>
#include <vector>

#include "exporter/snapshot.hpp"

namespace loopcanary::exporter {

/// The landing page for a person: status per target, active findings with
/// their evidence, the main signals, inline SVG sparklines of canary latency
/// and stall time over the last minutes, scenarios, links. Pure.
std::string landing_page(const std::vector<TargetSnapshot>& targets,
                         const std::vector<ScenarioState>& scenarios, bool admin_api);

/// An SVG polyline of `values` scaled to width × height (empty input: a flat line).
std::string sparkline(const std::vector<double>& values, int width, int height,
                      const std::string& colour);

}  // namespace loopcanary::exporter
