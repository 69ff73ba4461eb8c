#pragma once

#include <string>
#include <string_view>

#include "exporter/audit/result.hpp"

/// What a person reads beside each finding: what it means, what to do, and
/// the section of docs/runbook.md that says more. One table, by finding name
/// (a finding this table does not know gets a generic line and the runbook
/// section of the level it raised).
namespace loopcanary::exporter::audit {

/// The runbook the links point at, as deploy/prometheus/alert-rules.yml's
/// runbook_url does; --runbook-url changes it.
inline constexpr std::string_view kDefaultRunbook =
    "https://github.com/loopcanary/loopcanary/blob/main/docs/runbook.md";

/// `level`: the level the finding's evidence raised, which picks the runbook
/// section when the finding has no section of its own.
Advice advice_for(std::string_view finding, Level level, std::string_view runbook);

/// The runbook anchor of the alert a level fires ("#loopcanaryruntimecritical").
std::string_view runbook_anchor(Level level);

/// What to do about a starved prober (the audit's own process short of CPU).
inline constexpr std::string_view kStarvedAdvice =
    "give loopcanary CPU: raise the container's CPU limit (Kubernetes resources.limits.cpu, "
    "docker run --cpus=2), run the audit on a quieter runner or not beside a build or test job, "
    "or lower the canary rate (a longer interval)";

/// "HOL max" and "lag vs stall", explained once where the numbers are shown.
inline constexpr std::string_view kHolExplained =
    "HOL max: the highest head-of-line blocking ratio of the route over the run — the share of "
    "its in-flight time during which light requests were stuck behind it (1.00: every light "
    "request sent while it ran waited for it; ≈0: it does not hold the event loop).";
inline constexpr std::string_view kLagVsStallExplained =
    "Lag is each canary's latency above its healthy baseline, including the time a probe waited "
    "for a connection and for the loop after a stall ended; stall max is the longest time the "
    "target could not answer at all. Lag p99 can therefore exceed stall max.";

}  // namespace loopcanary::exporter::audit
