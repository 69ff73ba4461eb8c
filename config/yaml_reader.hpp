#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

/// The strict YAML reading both configuration files share (loopcanary.yaml in
/// config/load.cpp, --web.config.file in exporter/http/web_config.cpp): key
/// paths, line numbers, unknown and repeated keys, typed reads. A fix to an
/// error message or to key checking lands here, once.
namespace loopcanary::config {

using Keys = std::initializer_list<std::string_view>;

/// `"text"`, as every message quotes a value the user wrote.
std::string quoted(const std::string& text);

/// The whole content of a configuration file; throws std::runtime_error
/// ("cannot read the file: No such file or directory", the OS's reason) when
/// it cannot be read.
std::string read_text_file(const std::string& path);

/// Parses YAML text; a syntax error throws ConfigError naming its line.
YAML::Node parse_yaml(const std::string& text);

/// Walks the YAML tree with a key path, collecting errors instead of stopping
/// at the first one. Not thread-safe; one per file read.
class YamlReader {
 public:
  /// Every error reported so far, in the order of their lines in the file.
  std::vector<std::string> errors() const;
  bool ok() const { return errors_.empty(); }

  /// Reports `message` about the value at `path`. When `path` names a key of a
  /// mapping already walked, the line is the key's: a value may start on a later
  /// line (a block list or mapping), and yaml-cpp marks an empty value (`name:`)
  /// at the token after it.
  void error(const std::string& path, const YAML::Node& node, const std::string& message);
  void error_at(const std::string& path, const YAML::Mark& mark, const std::string& message);

  /// True when `node` is a mapping; reports keys not in `known` (any key is
  /// allowed when `known` is empty), keys that are not plain names, and keys
  /// written twice — yaml-cpp keeps both entries and `node[key]` reads the
  /// first, so a repeated key would silently drop the value written last.
  bool map(const YAML::Node& node, const std::string& path, Keys known);

  bool require(const YAML::Node& parent, const std::string& path, std::string_view key);

  /// The text of a single value; reports an empty value or a list/mapping.
  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path);

  void read(const YAML::Node& node, const std::string& path, std::string& out);
  void read(const YAML::Node& node, const std::string& path, Duration& out);
  void read(const YAML::Node& node, const std::string& path, bool& out);

  template <typename Int>
  void read_int(const YAML::Node& node, const std::string& path, Int& out, long long min,
                long long max) {
    auto s = scalar(node, path);
    if (!s) return;
    long long v = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || end != s->data() + s->size()) {
      error(path, node, fmt::format("{} is not an integer", quoted(*s)));
    } else if (v < min || v > max) {
      error(path, node, fmt::format("{} must be between {} and {}", v, min, max));
    } else {
      out = static_cast<Int>(v);
    }
  }

  void read_number(const YAML::Node& node, const std::string& path, double& out, double min,
                   double max);
  void read_ratio(const YAML::Node& node, const std::string& path, double& out);

  static std::string join_path(const std::string& path, std::string_view key);
  static std::string index_path(const std::string& path, std::size_t i);

 private:
  struct Error {
    int line;  ///< 1-based; an error without a line takes the previous error's
    std::string text;
  };
  std::vector<Error> errors_;
  std::map<std::string, YAML::Mark> key_marks_;  ///< where each key path was written
};

/// Applies `fn(child, child_path)` when `key` is present in `parent`.
template <typename Fn>
void with(const YAML::Node& parent, const std::string& path, std::string_view key, Fn&& fn) {
  const YAML::Node child = parent[std::string(key)];
  if (!child) return;
  const std::string child_path = YamlReader::join_path(path, key);
  fn(child, child_path);
}

}  // namespace loopcanary::config
