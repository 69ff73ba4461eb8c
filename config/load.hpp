#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace loopcanary::config {

/// Every problem found in a configuration, each naming the key path and YAML
/// line, e.g. `targets[0].canaries[1].interval (line 9): "10" is not a duration`.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

/// Parses and validates YAML text. Throws ConfigError listing every error found
/// (not only the first), so a user fixes a file in one round.
Config parse(const std::string& yaml_text);

/// Reads and parses a file; a missing or unreadable file is a ConfigError too.
Config load_file(const std::string& path);

}  // namespace loopcanary::config
