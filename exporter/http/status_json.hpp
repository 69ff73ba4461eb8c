#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "exporter/snapshot.hpp"

namespace loopcanary::exporter {

/// /api/v1/status: per target the status, every finding with the values and
/// thresholds behind it, and the current signal values. Pure.
nlohmann::json status_json(const std::vector<TargetSnapshot>& targets);

/// One target of status_json.
nlohmann::json target_json(const TargetSnapshot& target);

/// GET /api/v1/scenarios. Pure.
nlohmann::json scenarios_json(const std::vector<ScenarioState>& scenarios);
nlohmann::json scenario_json(const ScenarioState& scenario);

}  // namespace loopcanary::exporter
