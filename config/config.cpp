#include "config/config.hpp"

namespace loopcanary::config {

const Target* Config::find_target(const std::string& name) const {
  for (const auto& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Scenario* Config::find_scenario(const std::string& name) const {
  for (const auto& s : scenarios) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Route* find_route(const Target& target, const std::string& name) {
  for (const auto& r : target.routes) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

}  // namespace loopcanary::config
