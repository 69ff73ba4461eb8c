#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "exporter/snapshot.hpp"

namespace loopcanary::exporter::audit {

struct RouteSummary {
  std::string name;
  std::optional<double> hol_max;
  std::optional<double> amplification_max;
  std::optional<double> capacity;
  std::optional<int> knee;
};

/// What the audit saw, built while it watches and written by a report at the end.
struct AuditResult {
  std::string scenario;
  std::string target;
  std::string url;
  Level fail_on = Level::critical;
  std::string started_at;
  double duration = 0;  ///< seconds the scenario ran
  Level worst = Level::unknown;
  double worst_at = 0;  ///< seconds after the start
  Level final_level = Level::unknown;
  std::string unknown_reason;
  std::array<bool, kFindingCount> seen{};
  std::array<double, kFindingCount> first_at{};
  std::array<std::vector<Evidence>, kFindingCount> evidence;
  double stall_seconds = 0;
  std::uint64_t stalls = 0;
  double stall_max = 0;
  double lag_p99_max = 0;
  double busy_ratio_max = 0;
  std::vector<RouteSummary> routes;

  bool failed() const { return worst >= fail_on; }

  void observe(const TargetSnapshot& t, double at, const TargetSnapshot& before) {
    if (t.level > worst) {
      worst = t.level;
      worst_at = at;
    }
    final_level = t.level;
    unknown_reason = t.assessment.unknown ? t.assessment.unknown_reason : "";
    for (std::size_t i = 0; i < kFindingCount; ++i) {
      if (t.findings[i] && !seen[i]) {
        seen[i] = true;
        first_at[i] = at;
        for (const Evidence& e : t.assessment.evidence[i]) {
          if (e.holds) evidence[i].push_back(e);
        }
      }
    }
    stall_seconds = t.view.stall_seconds_total - before.view.stall_seconds_total;
    stalls = t.view.stalls_total - before.view.stalls_total;
    stall_max = std::max(stall_max, probes::seconds(t.view.stall_max));
    if (t.view.lag_p99) lag_p99_max = std::max(lag_p99_max, probes::seconds(*t.view.lag_p99));
    busy_ratio_max = std::max(busy_ratio_max, t.view.busy_ratio);
    routes.resize(t.view.routes.size());
    for (std::size_t i = 0; i < t.view.routes.size(); ++i) {
      const RouteView& r = t.view.routes[i];
      RouteSummary& s = routes[i];
      s.name = i < t.routes.size() ? t.routes[i] : std::to_string(i);
      if (r.hol_ratio) s.hol_max = std::max(s.hol_max.value_or(0), *r.hol_ratio);
      if (r.amplification) {
        s.amplification_max = std::max(s.amplification_max.value_or(0), *r.amplification);
      }
      if (r.capacity) s.capacity = r.capacity;
      if (r.knee) s.knee = r.knee;
    }
  }
};

}  // namespace loopcanary::exporter::audit
