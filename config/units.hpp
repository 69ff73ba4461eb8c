#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

/// Parsers for the units the YAML file is written in. Pure functions; they
/// return nullopt on anything they do not accept, and the loader turns that into
/// a message naming the key and line.
namespace loopcanary::config {

/// Prometheus-style duration: one or more `<integer><unit>` terms with units in
/// decreasing order (`y w d h m s ms`), e.g. `10ms`, `5s`, `1m30s`; or `0`.
std::optional<Duration> parse_duration(std::string_view text);

/// Formats a duration the way `parse_duration` reads it (`1m30s`, `250ms`).
std::string format_duration(Duration d);

/// A rate `<number>/<unit>` with unit `s`, `m` or `h`, e.g. `20/s`, `0.5/s`,
/// `600/m`; returns events per second.
std::optional<double> parse_rate(std::string_view text);

/// A ratio written as a fraction `0.05` or a percentage `5%`; must be in [0, 1].
std::optional<double> parse_ratio(std::string_view text);

}  // namespace loopcanary::config
