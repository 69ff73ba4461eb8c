#include <fmt/format.h>

#include "config/load_parts.hpp"
#include "config/units.hpp"

namespace loopcanary::config::detail {

using namespace std::chrono_literals;

namespace {

void read_phase(YamlReader& r, const YAML::Node& node, const std::string& path,
                const Target* target, Phase& phase) {
  if (!r.map(node, path, {"route", "concurrency", "step", "rate", "duration"})) return;
  if (r.require(node, path, "route")) {
    const auto route = r.scalar(node["route"], path + ".route");
    if (route) phase.route = *route;
    if (route && target && !find_route(*target, phase.route)) {
      r.error(
          path + ".route", node["route"],
          fmt::format("unknown route {} in target {}", quoted(phase.route), quoted(target->name)));
    }
  }
  const YAML::Node concurrency = node["concurrency"];
  const YAML::Node rate = node["rate"];
  if (concurrency && rate) {
    r.error(path, node, "set either concurrency (closed loop) or rate (open loop), not both");
    return;
  }
  if (!concurrency && !rate) {
    r.error(path, node, "needs concurrency (closed loop) or rate (open loop)");
    return;
  }
  if (rate) {
    phase.kind = Phase::Kind::open_loop;
    if (auto s = r.scalar(rate, path + ".rate")) {
      if (auto v = parse_rate(*s)) {
        phase.rate_per_second = *v;
      } else {
        r.error(path + ".rate", rate, fmt::format("{} is not a rate (like 20/s)", quoted(*s)));
      }
    }
    if (node["step"]) r.error(path + ".step", node["step"], "only applies to stepped concurrency");
  } else if (concurrency.IsSequence()) {
    phase.kind = Phase::Kind::stepped;
    if (concurrency.size() < 2) {
      r.error(path + ".concurrency", concurrency, "a stepped phase needs at least 2 steps");
    }
    for (std::size_t i = 0; i < concurrency.size(); ++i) {
      int n = 0;
      r.read_int(concurrency[i], YamlReader::index_path(path + ".concurrency", i), n, 1, 10000);
      if (n && !phase.concurrency.empty() && n <= phase.concurrency.back()) {
        r.error(YamlReader::index_path(path + ".concurrency", i), concurrency[i],
                fmt::format("steps must increase ({} after {})", n, phase.concurrency.back()));
      }
      if (n) phase.concurrency.push_back(n);
    }
    with(node, path, "step", [&](auto& n, auto& p) { r.read(n, p, phase.step); });
    if (phase.step < 1s) {
      r.error(path + ".step", node["step"] ? node["step"] : node,
              fmt::format("{} is shorter than the minimum of 1s", format_duration(phase.step)));
    }
    if (node["duration"]) {
      r.error(path + ".duration", node["duration"],
              "a stepped phase lasts steps × step; remove duration");
    }
  } else {
    phase.kind = Phase::Kind::closed_loop;
    int n = 0;
    r.read_int(concurrency, path + ".concurrency", n, 1, 10000);
    if (n) phase.concurrency = {n};
    if (node["step"]) {
      r.error(path + ".step", node["step"], "only applies to stepped concurrency (a list)");
    }
  }
  if (phase.kind != Phase::Kind::stepped) {
    with(node, path, "duration", [&](auto& n, auto& p) { r.read(n, p, phase.duration); });
    if (phase.duration <= Duration::zero()) {
      r.error(path + ".duration", node["duration"] ? node["duration"] : node,
              "must be longer than 0");
    }
  }
}

}  // namespace

void read_scenario(YamlReader& r, const Config& cfg, const YAML::Node& node,
                   const std::string& path, Scenario& s) {
  if (!r.map(node, path, {"name", "target", "phases"})) return;
  if (r.require(node, path, "name")) read_name(r, node["name"], path + ".name", s.name);
  const Target* target = nullptr;
  if (r.require(node, path, "target")) {
    const auto name = r.scalar(node["target"], path + ".target");
    if (name) s.target = *name;
    target = cfg.find_target(s.target);
    if (name && !target) {
      r.error(path + ".target", node["target"], fmt::format("unknown target {}", quoted(s.target)));
    }
  }
  with(node, path, "phases", [&](const YAML::Node& list, const std::string& p) {
    if (!list.IsSequence()) {
      r.error(p, list, "must be a list of phases (or omitted for an external scenario)");
      return;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      Phase phase;
      read_phase(r, list[i], YamlReader::index_path(p, i), target, phase);
      s.phases.push_back(std::move(phase));
    }
  });
}

}  // namespace loopcanary::config::detail
