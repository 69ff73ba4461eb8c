// Fuzzes the config loader. Contract: for any text, config::parse returns a
// Config that keeps every rule the loader promises, or throws ConfigError with
// at least one message. Any other exception escapes to libFuzzer as a crash.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "config/load.hpp"
#include "config/units.hpp"
#include "fuzz_check.hpp"

namespace {

using namespace loopcanary::config;
using loopcanary::fuzz::require;

void require_round_trip(Duration d) {
  require(parse_duration(format_duration(d)) == d, "a loaded duration formats back to itself");
}

void check_expect(const Expect& expect) {
  require(!expect.status.empty(), "expect.status is never empty");
  for (int code : expect.status) require(code >= 100 && code <= 599, "status codes in 100..599");
  require(expect.body_regex_source.empty() || expect.body_regex != nullptr,
          "a body_regex is compiled at load");
}

void check_canary(const Canary& c) {
  require(c.interval >= 1ms, "canary interval >= 1ms");
  require(c.idle_interval >= c.interval, "idle_interval >= interval");
  require(c.timeout > Duration::zero(), "canary timeout > 0");
  require(c.jitter >= 0 && c.jitter <= 0.5, "jitter in [0, 0.5]");
  require(!c.path.empty() && c.path.front() == '/', "canary path starts with '/'");
  require(c.connections >= 1 && c.max_body_bytes >= 1, "connections and body limit >= 1");
  require(!c.keepalive || c.max_in_flight >= c.connections, "max_in_flight >= connections");
  check_expect(c.expect);
  require_round_trip(c.interval);
  require_round_trip(c.timeout);
}

void check_route(const Route& r) {
  require(!r.name.empty(), "a route has a name");
  require(!r.path.empty() && r.path.front() == '/', "route path starts with '/'");
  require(r.timeout > Duration::zero(), "route timeout > 0");
  require(!r.service_time || *r.service_time > Duration::zero(), "service_time > 0");
  check_expect(r.expect);
}

void check_phase(const Target& target, const Phase& p) {
  require(find_route(target, p.route) != nullptr, "a phase names a route of its target");
  switch (p.kind) {
    case Phase::Kind::closed_loop:
      require(p.concurrency.size() == 1 && p.concurrency[0] >= 1, "closed loop: one concurrency");
      require(p.duration > Duration::zero(), "closed loop: duration > 0");
      break;
    case Phase::Kind::stepped:
      require(p.concurrency.size() >= 2, "stepped: at least two steps");
      for (std::size_t i = 1; i < p.concurrency.size(); ++i) {
        require(p.concurrency[i] > p.concurrency[i - 1], "stepped: steps increase");
      }
      require(p.step >= 1s, "stepped: step >= 1s");
      break;
    case Phase::Kind::open_loop:
      require(std::isfinite(p.rate_per_second) && p.rate_per_second > 0, "open loop: rate > 0");
      require(p.duration > Duration::zero(), "open loop: duration > 0");
      break;
  }
}

void check_config(const Config& cfg) {
  const Global& g = cfg.global;
  require(g.window >= 1s, "window >= 1s");
  require(g.stall_threshold > Duration::zero() && g.stall_threshold < g.window,
          "0 < stall_threshold < window");
  require(g.baseline_window >= g.window, "baseline_window >= window");
  require(g.evaluation_interval >= 100ms && g.evaluation_interval <= g.window,
          "100ms <= evaluation_interval <= window");
  require(!g.buckets.empty(), "buckets are never empty");
  for (std::size_t i = 1; i < g.buckets.size(); ++i) {
    require(g.buckets[i] > g.buckets[i - 1], "bucket bounds increase");
  }
  require_round_trip(g.window);
  require_round_trip(g.stall_threshold);

  const Thresholds& t = cfg.thresholds;
  require(t.hold >= 1, "hold >= 1");
  require(t.unresponsive.exit_stall_in_progress < t.unresponsive.stall_in_progress,
          "unresponsive exit below entry");
  require(t.critical.exit_stall_max < t.critical.stall_max &&
              t.critical.exit_stall_ratio < t.critical.stall_ratio,
          "critical exits below entries");
  require(t.degraded.exit_lag_p99 < t.degraded.lag_p99 &&
              t.degraded.exit_stall_ratio < t.degraded.stall_ratio &&
              t.degraded.exit_hol < t.degraded.hol &&
              t.degraded.exit_queue_amplification < t.degraded.queue_amplification,
          "degraded exits below entries");

  require(!cfg.targets.empty(), "a config has at least one target");
  std::set<std::string> target_names;
  for (const Target& target : cfg.targets) {
    require(target_names.insert(target.name).second && !target.name.empty(),
            "target names are present and unique");
    require(target.url.scheme == "http" || target.url.scheme == "https", "http(s) URL");
    require(!target.url.host.empty() && target.url.port != 0, "URL has a host and a port");
    require(!target.canaries.empty(), "a target has at least one canary");
    std::set<std::string> canary_names;
    for (const Canary& c : target.canaries) {
      require(canary_names.insert(c.name).second && !c.name.empty(),
              "canary names are present and unique");
      check_canary(c);
    }
    std::set<std::string> route_names;
    for (const Route& r : target.routes) {
      require(route_names.insert(r.name).second, "route names are unique");
      check_route(r);
    }
  }
  std::set<std::string> scenario_names;
  for (const Scenario& s : cfg.scenarios) {
    require(scenario_names.insert(s.name).second && !s.name.empty(),
            "scenario names are present and unique");
    const Target* target = cfg.find_target(s.target);
    require(target != nullptr, "a scenario names a known target");
    for (const Phase& p : s.phases) check_phase(*target, p);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check_config(parse(text));
  } catch (const ConfigError& e) {
    require(!e.errors().empty(), "a ConfigError lists at least one error");
    for (const std::string& message : e.errors()) {
      require(!message.empty(), "every error message says something");
    }
  }
  return 0;
}
