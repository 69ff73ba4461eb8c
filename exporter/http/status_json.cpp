#include "exporter/http/status_json.hpp"

#include "exporter/rfc3339.hpp"

namespace loopcanary::exporter {

using probes::seconds;

namespace {

using nlohmann::json;

template <typename T>
json optional(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json optional_seconds(const std::optional<Duration>& d) {
  return d ? json(seconds(*d)) : json(nullptr);
}

json optional_time(const std::optional<SystemTime>& t) {
  return t ? json(rfc3339(*t)) : json(nullptr);
}

std::string_view unit_name(Unit unit) {
  switch (unit) {
    case Unit::seconds:
      return "seconds";
    case Unit::ratio:
      return "ratio";
    case Unit::count:
      break;
  }
  return "count";
}

}  // namespace

json target_json(const TargetSnapshot& t) {
  const TargetView& v = t.view;
  json out;
  out["name"] = t.name;
  out["url"] = t.url;
  out["status"] = static_cast<int>(t.level);
  out["status_name"] = name(t.level);
  out["status_since"] = optional_time(t.level_since);
  out["step_down_after_seconds"] = seconds(t.step_down_after);
  if (t.assessment.unknown) out["unknown_reason"] = t.assessment.unknown_reason;

  json findings = json::array();
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    json evidence = json::array();
    for (const Evidence& e : t.assessment.evidence[i]) {
      evidence.push_back({{"signal", e.signal},
                          {"value", e.value},
                          {"op", e.op},
                          {"threshold", e.threshold},
                          {"holds", e.holds},
                          {"level", name(e.level)},
                          {"unit", unit_name(e.unit)},
                          {"text", describe(e)}});
    }
    // The finding's memory: it stays listed, `clearing`, after its conditions
    // stopped holding and until the status has stepped back down; each
    // condition that held with its worst value and when it held.
    const FindingMemory& m = t.memory[i];
    json remembered = json::array();
    for (const RememberedEvidence& r : m.evidence) {
      remembered.push_back({{"signal", r.peak.signal},
                            {"level", name(r.peak.level)},
                            {"unit", unit_name(r.peak.unit)},
                            {"op", r.peak.op},
                            {"threshold", r.peak.threshold},
                            {"peak", r.peak.value},
                            {"value", r.now},
                            {"holds", r.peak.holds},
                            {"first_held_at", rfc3339(r.first_held)},
                            {"last_held_at", rfc3339(r.last_held)},
                            {"text", describe(r.peak)}});
    }
    json finding{{"finding", kFindingNames[i]},
                 {"active", t.findings[i]},
                 {"state", name(m.state)},
                 {"since", optional_time(m.since)},
                 {"last_held_at", optional_time(m.last_held)},
                 {"cleared_at", optional_time(m.cleared_at)},
                 {"evidence", std::move(evidence)},
                 {"remembered_evidence", std::move(remembered)}};
    if (!t.assessment.summary[i].empty()) finding["summary"] = t.assessment.summary[i];
    findings.push_back(std::move(finding));
  }
  out["findings"] = std::move(findings);

  json failures = json::array();
  for (const FailureReason& f : t.failures) {
    failures.push_back({{"reason", f.reason},
                        {"recent", f.recent},
                        {"recent_seconds", t.history_span.count()},
                        {"total", f.total},
                        {"last_at", optional_time(f.last_at)},
                        {"last_error", f.last_detail}});
  }
  out["failures"] = std::move(failures);
  json changes = json::array();
  for (const StatusChange& c : t.changes) {
    changes.push_back({{"at", rfc3339(c.at)},
                       {"from", static_cast<int>(c.from)},
                       {"from_name", name(c.from)},
                       {"to", static_cast<int>(c.to)},
                       {"to_name", name(c.to)}});
  }
  out["status_changes"] = std::move(changes);

  out["signals"] = {
      {"window_seconds", seconds(v.window)},
      {"stall_threshold_seconds", seconds(v.stall_threshold)},
      {"stall_seconds_total", v.stall_seconds_total},
      {"stalls_total", v.stalls_total},
      {"stall_in_progress_seconds", seconds(v.stall_in_progress)},
      {"stall_max_seconds", seconds(v.stall_max)},
      {"stall_ratio", v.stall_ratio},
      {"lag_p99_seconds", optional_seconds(v.lag_p99)},
      {"busy_ratio", v.busy_ratio},
      {"consecutive_failures", v.consecutive_failures},
      {"failure_ratio", v.failure_ratio},
      {"probes_expected", v.expected},
      {"probes_evidence", v.evidence},
      {"probes_unreliable", v.unreliable},
      {"prober_lag_in_window_seconds", seconds(v.prober_lag_in_window)},
      {"prober_lag_worst_seconds", seconds(v.prober_lag_worst)},
      {"prober_starved", v.prober_starved},
      {"partial_stall_seconds_total", v.partial_stall_seconds_total},
      {"partial_stalls_total", v.partial_stalls_total},
      {"partial_stall_in_progress_seconds", seconds(v.partial_stall_in_progress)},
      {"partial_stall_max_seconds", seconds(v.partial_stall_max)},
      {"partial_stall_ratio", v.partial_stall_ratio},
      {"probe_connections", v.connections_open},
      {"probe_connections_stalled", v.connections_stalled},
      {"warming_up", v.warming_up},
      {"warmup_left_seconds", seconds(v.warmup_left)},
  };

  json workers = json::array();
  for (const WorkerView& w : v.workers) {
    workers.push_back({{"worker", w.name},
                       {"probes", w.probes},
                       {"partial_stall_seconds_total", w.partial_stall_seconds_total},
                       {"connections", w.connections},
                       {"stalled", w.stalled},
                       {"seen_seconds_ago", seconds(v.at - w.first_seen)}});
  }
  out["workers"] = std::move(workers);

  json canaries = json::array();
  for (std::size_t i = 0; i < v.canaries.size(); ++i) {
    canaries.push_back({{"name", i < t.canaries.size() ? t.canaries[i] : std::to_string(i)},
                        {"baseline_seconds", optional_seconds(v.canaries[i].baseline)},
                        {"epsilon_seconds", seconds(v.canaries[i].epsilon)}});
  }
  out["canaries"] = std::move(canaries);

  json routes = json::array();
  for (std::size_t i = 0; i < v.routes.size(); ++i) {
    const RouteView& r = v.routes[i];
    json steps = json::array();
    for (const UslPoint& p : r.steps) {
      steps.push_back({{"concurrency", p.concurrency},
                       {"throughput_per_second", p.throughput},
                       {"latency_seconds", p.latency}});
    }
    routes.push_back({
        {"name", i < t.routes.size() ? t.routes[i] : std::to_string(i)},
        {"in_flight", r.in_flight},
        {"completed_in_window", r.completed_in_window},
        {"concurrency", optional(r.concurrency)},
        {"hol_blocking_ratio", optional(r.hol_ratio)},
        {"hol_delay_seconds", optional_seconds(r.hol_delay)},
        {"hol_canaries_in_flight", r.hol_h},
        {"hol_canaries_idle", r.hol_q},
        {"hol_busy_share_in_flight", r.u_h},
        {"hol_busy_share_idle", r.u_q},
        {"service_time_seconds", optional_seconds(r.service_time)},
        {"mean_latency_seconds", optional_seconds(r.mean_latency)},
        {"queue_amplification_ratio", optional(r.amplification)},
        {"executor_capacity_estimate", optional(r.capacity)},
        {"saturation_concurrency", optional(r.knee)},
        {"steps", std::move(steps)},
    });
  }
  out["routes"] = std::move(routes);
  return out;
}

json status_json(const std::vector<TargetSnapshot>& targets) {
  json out;
  out["generated_at"] = rfc3339(std::chrono::system_clock::now());
  out["targets"] = json::array();
  for (const auto& t : targets) out["targets"].push_back(target_json(t));
  return out;
}

json scenario_json(const ScenarioState& s) {
  return {{"name", s.name},
          {"target", s.target},
          {"external", s.external},
          {"state", s.stopping ? "stopping" : (s.running ? "running" : "idle")},
          {"concurrency", s.concurrency},
          {"runs", s.runs},
          {"started_at", s.started_at ? json(rfc3339(*s.started_at)) : json(nullptr)},
          {"ended_at", s.ended_at ? json(rfc3339(*s.ended_at)) : json(nullptr)},
          {"last_result", s.last_result.empty() ? json(nullptr) : json(s.last_result)}};
}

json scenarios_json(const std::vector<ScenarioState>& scenarios) {
  json out;
  out["scenarios"] = json::array();
  for (const auto& s : scenarios) out["scenarios"].push_back(scenario_json(s));
  return out;
}

}  // namespace loopcanary::exporter
