#pragma once

// The pieces of config/load.cpp's schema that live in their own files
// (load_scenarios.cpp, load_thresholds.cpp). Internal to config/.

#include <map>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/yaml_reader.hpp"

namespace loopcanary::config::detail {

/// A name of a target, canary, route or scenario: letters, digits, '_', '-',
/// '.'; at most 64.
void read_name(YamlReader& r, const YAML::Node& node, const std::string& path, std::string& out);

/// Reports a name already used by an earlier sibling, naming that sibling.
void check_unique(YamlReader& r, std::map<std::string, std::string>& first_path,
                  std::string_view kind, const std::string& name, const std::string& path,
                  const YAML::Node& node);

/// `scenarios[i]`: its target must already be in `cfg`.
void read_scenario(YamlReader& r, const Config& cfg, const YAML::Node& node,
                   const std::string& path, Scenario& s);

/// `thresholds:`, with every exit threshold below its entry.
void read_thresholds(YamlReader& r, const YAML::Node& node, const std::string& path, Thresholds& t);

}  // namespace loopcanary::config::detail
