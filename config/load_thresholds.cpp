#include <fmt/format.h>

#include "config/load_parts.hpp"
#include "config/units.hpp"

namespace loopcanary::config::detail {

namespace {

std::string show(Duration d) { return format_duration(d); }
std::string show(double v) { return fmt::format("{}", v); }

/// A level's exit threshold must lie below its entry threshold, or the status
/// would flap between the two. Points at the exit key when it is written, else
/// at the entry key (lowered below the default exit), else at the level.
template <typename T>
void require_below(YamlReader& r, const YAML::Node& level, const std::string& path,
                   const char* exit_key, T exit_value, const char* enter_key, T enter_value) {
  if (exit_value < enter_value) return;
  const auto shown = [&](const char* key, T v) {
    return level[key] ? show(v) : show(v) + " (the default)";
  };
  const YAML::Node at =
      level[exit_key] ? level[exit_key] : (level[enter_key] ? level[enter_key] : level);
  r.error(YamlReader::join_path(path, exit_key), at,
          fmt::format("{} must be below {} ({})", shown(exit_key, exit_value), enter_key,
                      shown(enter_key, enter_value)));
}

}  // namespace

void read_thresholds(YamlReader& r, const YAML::Node& node, const std::string& path,
                     Thresholds& t) {
  if (!r.map(node, path, {"hold", "unresponsive", "critical", "degraded"})) return;
  with(node, path, "hold", [&](auto& n, auto& p) { r.read_int(n, p, t.hold, 1, 1000); });
  with(node, path, "unresponsive", [&](const YAML::Node& n, const std::string& p) {
    if (!r.map(n, p, {"stall_in_progress", "consecutive_failures", "exit_stall_in_progress"})) {
      return;
    }
    auto& u = t.unresponsive;
    with(n, p, "stall_in_progress", [&](auto& c, auto& cp) { r.read(c, cp, u.stall_in_progress); });
    with(n, p, "consecutive_failures",
         [&](auto& c, auto& cp) { r.read_int(c, cp, u.consecutive_failures, 1, 1000); });
    with(n, p, "exit_stall_in_progress",
         [&](auto& c, auto& cp) { r.read(c, cp, u.exit_stall_in_progress); });
    require_below(r, n, p, "exit_stall_in_progress", u.exit_stall_in_progress, "stall_in_progress",
                  u.stall_in_progress);
  });
  with(node, path, "critical", [&](const YAML::Node& n, const std::string& p) {
    if (!r.map(n, p,
               {"stall_max", "stall_ratio", "worker_stall", "exit_stall_max", "exit_stall_ratio",
                "exit_worker_stall"})) {
      return;
    }
    auto& c = t.critical;
    with(n, p, "stall_max", [&](auto& x, auto& xp) { r.read(x, xp, c.stall_max); });
    with(n, p, "stall_ratio", [&](auto& x, auto& xp) { r.read_ratio(x, xp, c.stall_ratio); });
    with(n, p, "exit_stall_max", [&](auto& x, auto& xp) { r.read(x, xp, c.exit_stall_max); });
    with(n, p, "exit_stall_ratio",
         [&](auto& x, auto& xp) { r.read_ratio(x, xp, c.exit_stall_ratio); });
    with(n, p, "worker_stall", [&](auto& x, auto& xp) { r.read(x, xp, c.worker_stall); });
    with(n, p, "exit_worker_stall", [&](auto& x, auto& xp) { r.read(x, xp, c.exit_worker_stall); });
    require_below(r, n, p, "exit_stall_max", c.exit_stall_max, "stall_max", c.stall_max);
    require_below(r, n, p, "exit_worker_stall", c.exit_worker_stall, "worker_stall",
                  c.worker_stall);
    require_below(r, n, p, "exit_stall_ratio", c.exit_stall_ratio, "stall_ratio", c.stall_ratio);
  });
  with(node, path, "degraded", [&](const YAML::Node& n, const std::string& p) {
    if (!r.map(n, p,
               {"lag_p99", "stall_ratio", "hol", "queue_amplification", "exit_lag_p99",
                "exit_stall_ratio", "exit_hol", "exit_queue_amplification", "worker_stall",
                "exit_worker_stall"})) {
      return;
    }
    auto& d = t.degraded;
    with(n, p, "lag_p99", [&](auto& x, auto& xp) { r.read(x, xp, d.lag_p99); });
    with(n, p, "stall_ratio", [&](auto& x, auto& xp) { r.read_ratio(x, xp, d.stall_ratio); });
    with(n, p, "hol", [&](auto& x, auto& xp) { r.read_ratio(x, xp, d.hol); });
    with(n, p, "queue_amplification",
         [&](auto& x, auto& xp) { r.read_number(x, xp, d.queue_amplification, 1, 1e6); });
    with(n, p, "exit_lag_p99", [&](auto& x, auto& xp) { r.read(x, xp, d.exit_lag_p99); });
    with(n, p, "exit_stall_ratio",
         [&](auto& x, auto& xp) { r.read_ratio(x, xp, d.exit_stall_ratio); });
    with(n, p, "exit_hol", [&](auto& x, auto& xp) { r.read_ratio(x, xp, d.exit_hol); });
    with(n, p, "exit_queue_amplification",
         [&](auto& x, auto& xp) { r.read_number(x, xp, d.exit_queue_amplification, 1, 1e6); });
    with(n, p, "worker_stall", [&](auto& x, auto& xp) { r.read(x, xp, d.worker_stall); });
    with(n, p, "exit_worker_stall", [&](auto& x, auto& xp) { r.read(x, xp, d.exit_worker_stall); });
    require_below(r, n, p, "exit_lag_p99", d.exit_lag_p99, "lag_p99", d.lag_p99);
    require_below(r, n, p, "exit_worker_stall", d.exit_worker_stall, "worker_stall",
                  d.worker_stall);
    require_below(r, n, p, "exit_stall_ratio", d.exit_stall_ratio, "stall_ratio", d.stall_ratio);
    require_below(r, n, p, "exit_hol", d.exit_hol, "hol", d.hol);
    require_below(r, n, p, "exit_queue_amplification", d.exit_queue_amplification,
                  "queue_amplification", d.queue_amplification);
  });
}

}  // namespace loopcanary::config::detail
