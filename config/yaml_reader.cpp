#include "config/yaml_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "config/load.hpp"
#include "config/units.hpp"

namespace loopcanary::config {

namespace {

std::string join(Keys keys) {
  std::string out;
  for (auto k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

}  // namespace

std::string quoted(const std::string& text) { return fmt::format("\"{}\"", text); }

std::string read_text_file(const std::string& path) {
  // stdio rather than a stream: errno says why (a stream only says it failed).
  const auto fail = [](int err) {
    throw std::runtime_error(fmt::format("cannot read the file: {}", std::strerror(err)));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) fail(errno);
  std::string text;
  char buffer[65536];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
  }
  if (std::ferror(file.get())) fail(errno);  // e.g. EISDIR for a directory
  return text;
}

YAML::Node parse_yaml(const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError({e.mark.is_null() ? fmt::format("YAML syntax error: {}", e.msg)
                                        : fmt::format("YAML syntax error (line {}): {}",
                                                      e.mark.line + 1, e.msg)});
  }
}

void YamlReader::error(const std::string& path, const YAML::Node& node,
                       const std::string& message) {
  const auto key = key_marks_.find(path);
  if (key != key_marks_.end()) {
    error_at(path, key->second, message);
  } else {
    error_at(path, node.IsDefined() ? node.Mark() : YAML::Mark::null_mark(), message);
  }
}

void YamlReader::error_at(const std::string& path, const YAML::Mark& mark,
                          const std::string& message) {
  if (mark.is_null()) {
    // Placed after the error before it: as close to where it was found.
    errors_.push_back(
        {errors_.empty() ? 0 : errors_.back().line, fmt::format("{}: {}", path, message)});
  } else {
    errors_.push_back(
        {mark.line + 1, fmt::format("{} (line {}): {}", path, mark.line + 1, message)});
  }
}

std::vector<std::string> YamlReader::errors() const {
  // Sections are read in a fixed order (global, thresholds, targets, …), not
  // in the file's: sort so a person fixes the file top to bottom.
  std::vector<Error> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Error& a, const Error& b) { return a.line < b.line; });
  std::vector<std::string> out;
  out.reserve(sorted.size());
  for (Error& e : sorted) out.push_back(std::move(e.text));
  return out;
}

bool YamlReader::map(const YAML::Node& node, const std::string& path, Keys known) {
  if (!node.IsMap()) {
    error(path, node, "must be a mapping");
    return false;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Mark mark = it->first.Mark();
    if (!it->first.IsScalar()) {  // `? [a, b]`: a list or mapping used as a key
      error_at(path.empty() ? "top level" : path, mark, "has a key that is not a plain name");
      continue;
    }
    const std::string key_path = join_path(path, it->first.Scalar());
    if (known.size() != 0 &&
        std::find(known.begin(), known.end(), it->first.Scalar()) == known.end()) {
      error_at(key_path, mark, fmt::format("unknown key (known: {})", join(known)));
    } else if (auto [first, added] = key_marks_.emplace(key_path, mark); !added) {
      error_at(key_path, mark,
               fmt::format("duplicate key (first at line {})", first->second.line + 1));
    }
  }
  return true;
}

bool YamlReader::require(const YAML::Node& parent, const std::string& path, std::string_view key) {
  if (parent[std::string(key)]) return true;
  error(path, parent, fmt::format("missing required key \"{}\"", key));
  return false;
}

std::optional<std::string> YamlReader::scalar(const YAML::Node& node, const std::string& path) {
  if (node.IsNull()) {  // `key:` with nothing after it
    error(path, node, "has no value");
    return std::nullopt;
  }
  if (!node.IsScalar()) {
    error(path, node, "must be a single value");
    return std::nullopt;
  }
  return node.Scalar();
}

void YamlReader::read(const YAML::Node& node, const std::string& path, std::string& out) {
  if (auto s = scalar(node, path)) out = *s;
}

void YamlReader::read(const YAML::Node& node, const std::string& path, Duration& out) {
  auto s = scalar(node, path);
  if (!s) return;
  if (auto d = parse_duration(*s)) {
    out = *d;
  } else {
    error(path, node,
          fmt::format("{} is not a duration (a number and a unit, like 10ms, 5s, 1m or 1h30m)",
                      quoted(*s)));
  }
}

void YamlReader::read(const YAML::Node& node, const std::string& path, bool& out) {
  auto s = scalar(node, path);
  if (!s) return;
  if (*s == "true") {
    out = true;
  } else if (*s == "false") {
    out = false;
  } else {
    error(path, node, fmt::format("{} is not true or false", quoted(*s)));
  }
}

void YamlReader::read_number(const YAML::Node& node, const std::string& path, double& out,
                             double min, double max) {
  auto s = scalar(node, path);
  if (!s) return;
  double v = 0;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc{} || end != s->data() + s->size()) {
    error(path, node, fmt::format("{} is not a number", quoted(*s)));
  } else if (!(v >= min && v <= max)) {
    error(path, node, fmt::format("{} must be between {} and {}", *s, min, max));
  } else {
    out = v;
  }
}

void YamlReader::read_ratio(const YAML::Node& node, const std::string& path, double& out) {
  auto s = scalar(node, path);
  if (!s) return;
  if (auto r = parse_ratio(*s)) {
    out = *r;
  } else {
    error(path, node,
          fmt::format("{} is not a ratio between 0 and 1 (like 0.05 or 5%)", quoted(*s)));
  }
}

std::string YamlReader::join_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string YamlReader::index_path(const std::string& path, std::size_t i) {
  return fmt::format("{}[{}]", path, i);
}

}  // namespace loopcanary::config
