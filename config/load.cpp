#include "config/load.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "config/load_parts.hpp"
#include "config/units.hpp"
#include "config/url.hpp"
#include "config/yaml_reader.hpp"

namespace loopcanary::config {

ConfigError::ConfigError(std::vector<std::string> errors)
    : std::runtime_error(errors.empty() ? "invalid configuration" : errors.front()),
      errors_(std::move(errors)) {}

namespace detail {

namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

void read_name(YamlReader& r, const YAML::Node& node, const std::string& path, std::string& out) {
  const auto name = r.scalar(node, path);
  if (!name) return;
  if (name->empty()) {
    r.error(path, node, "must not be empty");
  } else if (!valid_name(*name)) {
    r.error(path, node,
            fmt::format("{} is not a valid name (letters, digits, '_', '-', '.'; at most 64)",
                        quoted(*name)));
  } else {
    out = *name;
  }
}

void check_unique(YamlReader& r, std::map<std::string, std::string>& first_path,
                  std::string_view kind, const std::string& name, const std::string& path,
                  const YAML::Node& node) {
  if (name.empty()) return;  // missing or invalid: already reported
  const auto [first, added] = first_path.emplace(name, path);
  if (!added) {
    r.error(
        path + ".name", node["name"],
        fmt::format("duplicate {} name {} (first used by {})", kind, quoted(name), first->second));
  }
}

}  // namespace detail

namespace {

using detail::check_unique;
using detail::read_name;

void read_path(YamlReader& r, const YAML::Node& node, const std::string& path, std::string& out) {
  const auto text = r.scalar(node, path);
  if (!text) return;
  out = *text;
  if (out.empty() || out.front() != '/') {
    r.error(path, node, fmt::format("{} must start with '/'", quoted(out)));
  } else if (out.find_first_of(" \r\n\t") != std::string::npos) {
    r.error(path, node, fmt::format("{} must not contain whitespace", quoted(out)));
  }
}

void read_method(YamlReader& r, const YAML::Node& node, const std::string& path, std::string& out) {
  r.read(node, path, out);
  static const std::set<std::string> known{"GET",   "HEAD",   "POST",   "PUT",
                                           "PATCH", "DELETE", "OPTIONS"};
  if (!known.count(out)) {
    r.error(path, node,
            fmt::format("{} is not an HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
                        quoted(out)));
  }
}

void read_headers(YamlReader& r, const YAML::Node& node, const std::string& path,
                  std::map<std::string, std::string>& out) {
  if (!node.IsMap()) {
    r.error(path, node, "must be a mapping of header names to values");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string child = YamlReader::join_path(path, name);
    if (it->second.IsNull()) {  // yaml-cpp marks an empty value at the next token
      r.error_at(child, it->first.Mark(), "has no value");
      continue;
    }
    std::string value;
    r.read(it->second, child, value);
    if (name.empty() || name.find_first_of(" :\r\n") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      r.error(child, it->first, "is not a valid header");
    } else {
      out[name] = value;
    }
  }
}

void read_expect(YamlReader& r, const YAML::Node& node, const std::string& path, Expect& out) {
  if (!r.map(node, path, {"status", "body_regex"})) return;
  with(node, path, "status", [&](const YAML::Node& n, const std::string& p) {
    if (n.IsScalar()) {  // `status: 200`: one code
      int code = 0;
      r.read_int(n, p, code, 100, 599);
      if (code) out.status = {code};
      return;
    }
    if (!n.IsSequence() || n.size() == 0) {
      r.error(p, n, "must be a status code or a non-empty list of them, like 200 or [200, 204]");
      return;
    }
    out.status.clear();
    for (std::size_t i = 0; i < n.size(); ++i) {
      int code = 0;
      r.read_int(n[i], YamlReader::index_path(p, i), code, 100, 599);
      if (code) out.status.push_back(code);
    }
  });
  with(node, path, "body_regex", [&](const YAML::Node& n, const std::string& p) {
    std::string source;
    r.read(n, p, source);
    try {
      out.body_regex = std::make_shared<const boost::regex>(source, boost::regex::perl);
      out.body_regex_source = source;
    } catch (const boost::regex_error& e) {
      r.error(p, n, fmt::format("{} is not a valid regex: {}", quoted(source), e.what()));
    }
  });
}

void read_worker_id(YamlReader& r, const YAML::Node& node, const std::string& path,
                    Canary::WorkerId& out) {
  if (!r.map(node, path, {"header", "json_field", "max_workers"})) return;
  with(node, path, "header", [&](auto& n, auto& p) { r.read(n, p, out.header); });
  with(node, path, "json_field", [&](auto& n, auto& p) { r.read(n, p, out.json_field); });
  with(node, path, "max_workers",
       [&](auto& n, auto& p) { r.read_int(n, p, out.max_workers, 1, 256); });
  if (!out.header.empty() && !out.json_field.empty()) {
    r.error(path, node, "set either header or json_field, not both");
  } else if (out.header.empty() && out.json_field.empty()) {
    r.error(path, node, "needs header (like X-Worker-Id) or json_field (like pid)");
  } else if (out.header.find_first_of(" :\r\n") != std::string::npos) {
    r.error(path + ".header", node["header"],
            fmt::format("{} is not a header name", quoted(out.header)));
  }
}

void read_canary(YamlReader& r, const YAML::Node& node, const std::string& path, Canary& c) {
  if (!r.map(node, path,
             {"name", "path", "method", "headers", "interval", "idle_interval", "timeout", "jitter",
              "expect", "max_body_bytes", "connections", "keepalive", "max_in_flight",
              "renew_connections", "worker_id"})) {
    return;
  }
  if (r.require(node, path, "name")) read_name(r, node["name"], path + ".name", c.name);
  with(node, path, "path", [&](auto& n, auto& p) { read_path(r, n, p, c.path); });
  with(node, path, "method", [&](auto& n, auto& p) { read_method(r, n, p, c.method); });
  with(node, path, "headers", [&](auto& n, auto& p) { read_headers(r, n, p, c.headers); });
  with(node, path, "interval", [&](auto& n, auto& p) { r.read(n, p, c.interval); });
  bool idle_given = false;
  with(node, path, "idle_interval", [&](auto& n, auto& p) {
    idle_given = true;
    r.read(n, p, c.idle_interval);
  });
  with(node, path, "timeout", [&](auto& n, auto& p) { r.read(n, p, c.timeout); });
  with(node, path, "jitter", [&](auto& n, auto& p) { r.read_number(n, p, c.jitter, 0, 0.5); });
  with(node, path, "expect", [&](auto& n, auto& p) { read_expect(r, n, p, c.expect); });
  with(node, path, "max_body_bytes",
       [&](auto& n, auto& p) { r.read_int(n, p, c.max_body_bytes, 1, 64LL << 20); });
  with(node, path, "connections",
       [&](auto& n, auto& p) { r.read_int(n, p, c.connections, 1, 256); });
  with(node, path, "keepalive", [&](auto& n, auto& p) { r.read(n, p, c.keepalive); });
  with(node, path, "max_in_flight",
       [&](auto& n, auto& p) { r.read_int(n, p, c.max_in_flight, 1, 1'000'000); });
  with(node, path, "renew_connections",
       [&](auto& n, auto& p) { r.read(n, p, c.renew_connections); });
  with(node, path, "worker_id", [&](auto& n, auto& p) { read_worker_id(r, n, p, c.worker_id); });

  if (c.interval < 1ms) {
    r.error(path + ".interval", node["interval"] ? node["interval"] : node,
            fmt::format("{} is shorter than the minimum of 1ms", format_duration(c.interval)));
  }
  if (!idle_given) {
    c.idle_interval = std::max<Duration>(c.interval, 100ms);
  } else if (c.idle_interval < c.interval) {
    r.error(path + ".idle_interval", node["idle_interval"],
            fmt::format("{} is shorter than interval {}", format_duration(c.idle_interval),
                        format_duration(c.interval)));
  }
  if (c.timeout <= Duration::zero()) {
    r.error(path + ".timeout", node["timeout"], "must be longer than 0");
  }
  if (c.renew_connections < Duration::zero()) {
    r.error(path + ".renew_connections", node["renew_connections"], "must not be negative");
  }
  if (c.keepalive && c.max_in_flight < c.connections) {
    r.error(path + ".max_in_flight", node["max_in_flight"] ? node["max_in_flight"] : node,
            fmt::format("{} is smaller than connections ({})", c.max_in_flight, c.connections));
  }
}

void read_route(YamlReader& r, const YAML::Node& node, const std::string& path, Route& route) {
  if (!r.map(node, path,
             {"name", "path", "method", "headers", "body", "timeout", "service_time", "expect",
              "max_body_bytes"})) {
    return;
  }
  if (r.require(node, path, "name")) read_name(r, node["name"], path + ".name", route.name);
  if (r.require(node, path, "path")) read_path(r, node["path"], path + ".path", route.path);
  with(node, path, "method", [&](auto& n, auto& p) { read_method(r, n, p, route.method); });
  with(node, path, "headers", [&](auto& n, auto& p) { read_headers(r, n, p, route.headers); });
  with(node, path, "body", [&](auto& n, auto& p) { r.read(n, p, route.body); });
  with(node, path, "timeout", [&](auto& n, auto& p) { r.read(n, p, route.timeout); });
  with(node, path, "service_time", [&](auto& n, auto& p) {
    Duration d{};
    r.read(n, p, d);
    if (d <= Duration::zero()) {
      r.error(p, n, "must be longer than 0");
    } else {
      route.service_time = d;
    }
  });
  with(node, path, "expect", [&](auto& n, auto& p) { read_expect(r, n, p, route.expect); });
  with(node, path, "max_body_bytes",
       [&](auto& n, auto& p) { r.read_int(n, p, route.max_body_bytes, 1, 1LL << 30); });
  if (route.timeout <= Duration::zero()) {
    r.error(path + ".timeout", node["timeout"], "must be longer than 0");
  }
}

void read_tls(YamlReader& r, const YAML::Node& node, const std::string& path, Tls& tls) {
  if (!r.map(node, path, {"ca_file", "insecure_skip_verify", "server_name"})) return;
  with(node, path, "ca_file", [&](auto& n, auto& p) { r.read(n, p, tls.ca_file); });
  with(node, path, "insecure_skip_verify",
       [&](auto& n, auto& p) { r.read(n, p, tls.insecure_skip_verify); });
  with(node, path, "server_name", [&](auto& n, auto& p) { r.read(n, p, tls.server_name); });
}

void read_target(YamlReader& r, const YAML::Node& node, const std::string& path, Target& t) {
  if (!r.map(node, path, {"name", "url", "tls", "canaries", "routes"})) return;
  if (r.require(node, path, "name")) read_name(r, node["name"], path + ".name", t.name);
  bool url_ok = false;
  if (r.require(node, path, "url")) {
    if (const auto text = r.scalar(node["url"], path + ".url")) {
      std::string problem;
      if (auto url = parse_url(*text, problem)) {
        t.url = *url;
        url_ok = true;
      } else {
        r.error(path + ".url", node["url"], problem);
      }
    }
  }
  with(node, path, "tls", [&](auto& n, auto& p) {
    read_tls(r, n, p, t.tls);
    // Only when the url is known: a bad url is already reported.
    if (url_ok && t.url.scheme != "https") {
      r.error(p, n, fmt::format("is only valid for an https:// url, not {}", quoted(t.url.text)));
    }
  });
  if (r.require(node, path, "canaries")) {
    const YAML::Node list = node["canaries"];
    const std::string p = path + ".canaries";
    if (!list.IsSequence() || list.size() == 0) {
      r.error(p, list, "a target needs a list of at least one canary");
    } else {
      std::map<std::string, std::string> names;
      for (std::size_t i = 0; i < list.size(); ++i) {
        Canary c;
        read_canary(r, list[i], YamlReader::index_path(p, i), c);
        check_unique(r, names, "canary", c.name, YamlReader::index_path(p, i), list[i]);
        t.canaries.push_back(std::move(c));
      }
    }
  }
  with(node, path, "routes", [&](const YAML::Node& list, const std::string& p) {
    if (!list.IsSequence()) {
      r.error(p, list, "must be a list of routes");
      return;
    }
    std::map<std::string, std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
      Route route;
      read_route(r, list[i], YamlReader::index_path(p, i), route);
      check_unique(r, names, "route", route.name, YamlReader::index_path(p, i), list[i]);
      t.routes.push_back(std::move(route));
    }
  });
}

void read_global(YamlReader& r, const YAML::Node& node, const std::string& path, Global& g) {
  if (!r.map(node, path,
             {"window", "stall_threshold", "baseline_window", "self_lag_limit",
              "evaluation_interval", "warmup", "buckets"})) {
    return;
  }
  with(node, path, "window", [&](auto& n, auto& p) { r.read(n, p, g.window); });
  with(node, path, "stall_threshold", [&](auto& n, auto& p) { r.read(n, p, g.stall_threshold); });
  with(node, path, "baseline_window", [&](auto& n, auto& p) { r.read(n, p, g.baseline_window); });
  with(node, path, "self_lag_limit", [&](auto& n, auto& p) { r.read(n, p, g.self_lag_limit); });
  with(node, path, "evaluation_interval",
       [&](auto& n, auto& p) { r.read(n, p, g.evaluation_interval); });
  with(node, path, "warmup", [&](auto& n, auto& p) { r.read(n, p, g.warmup); });
  with(node, path, "buckets", [&](const YAML::Node& list, const std::string& p) {
    if (!list.IsSequence() || list.size() == 0) {
      r.error(p, list, "must be a non-empty list of bucket bounds in seconds");
      return;
    }
    g.buckets.clear();
    for (std::size_t i = 0; i < list.size(); ++i) {
      double v = 0;
      r.read_number(list[i], YamlReader::index_path(p, i), v, 1e-9, 1e9);
      if (v == 0) continue;  // not a valid bound: already reported
      if (!g.buckets.empty() && v <= g.buckets.back()) {
        r.error(YamlReader::index_path(p, i), list[i],
                fmt::format("{} is not above the previous bound {}; bucket bounds must increase", v,
                            g.buckets.back()));
      }
      g.buckets.push_back(v);
    }
  });
  const auto node_or = [&](const char* key) { return node[key] ? node[key] : node; };
  // A value the user did not write is still named, so the message makes sense.
  const auto shown = [&](const char* key, Duration d) {
    return node[key] ? format_duration(d) : format_duration(d) + " (the default)";
  };
  // The other durations are checked against the window only when it is valid
  // itself, so one mistake gives one message.
  const bool window_ok = g.window >= 1s;
  if (!window_ok) {
    r.error(path + ".window", node_or("window"),
            fmt::format("{} is shorter than the minimum of 1s", format_duration(g.window)));
  }
  if (g.stall_threshold <= Duration::zero()) {
    r.error(path + ".stall_threshold", node_or("stall_threshold"), "must be longer than 0");
  } else if (window_ok && g.stall_threshold >= g.window) {
    r.error(path + ".stall_threshold", node_or("stall_threshold"),
            fmt::format("{} must be shorter than the window ({})",
                        shown("stall_threshold", g.stall_threshold), shown("window", g.window)));
  }
  if (window_ok && g.baseline_window < g.window) {
    r.error(path + ".baseline_window", node_or("baseline_window"),
            fmt::format("{} is shorter than the window ({})",
                        shown("baseline_window", g.baseline_window), shown("window", g.window)));
  }
  if (g.self_lag_limit <= Duration::zero()) {
    r.error(path + ".self_lag_limit", node_or("self_lag_limit"), "must be longer than 0");
  }
  if (g.evaluation_interval < 100ms) {
    r.error(path + ".evaluation_interval", node_or("evaluation_interval"),
            fmt::format("{} is shorter than the minimum of 100ms",
                        format_duration(g.evaluation_interval)));
  } else if (window_ok && g.evaluation_interval > g.window) {
    r.error(path + ".evaluation_interval", node_or("evaluation_interval"),
            fmt::format("{} is longer than the window ({})",
                        shown("evaluation_interval", g.evaluation_interval),
                        shown("window", g.window)));
  }
}

}  // namespace

Config parse(const std::string& yaml_text) {
  const YAML::Node root = parse_yaml(yaml_text);
  YamlReader r;
  Config cfg;
  if (!root || root.IsNull()) throw ConfigError({"the file is empty; it needs at least targets:"});
  if (!root.IsMap()) {
    r.error("top level", root,
            "must be a mapping with targets: (and optionally global:, scenarios:, thresholds:)");
  } else if (r.map(root, "", {"global", "targets", "scenarios", "thresholds"})) {
    with(root, "", "global", [&](auto& n, auto& p) { read_global(r, n, p, cfg.global); });
    with(root, "", "thresholds",
         [&](auto& n, auto& p) { detail::read_thresholds(r, n, p, cfg.thresholds); });
    const YAML::Node targets = root["targets"];
    if (!targets) {
      r.error("top level", root, "missing required key \"targets\"");
    } else if (!targets.IsSequence() || targets.size() == 0) {
      r.error("targets", targets, "needs a list of at least one target");
    } else {
      std::map<std::string, std::string> names;
      for (std::size_t i = 0; i < targets.size(); ++i) {
        Target t;
        const std::string p = YamlReader::index_path("targets", i);
        read_target(r, targets[i], p, t);
        check_unique(r, names, "target", t.name, p, targets[i]);
        cfg.targets.push_back(std::move(t));
      }
    }
    with(root, "", "scenarios", [&](const YAML::Node& list, const std::string& p) {
      if (!list.IsSequence()) {
        r.error(p, list, "must be a list of scenarios");
        return;
      }
      std::map<std::string, std::string> names;
      for (std::size_t i = 0; i < list.size(); ++i) {
        Scenario s;
        detail::read_scenario(r, cfg, list[i], YamlReader::index_path(p, i), s);
        check_unique(r, names, "scenario", s.name, YamlReader::index_path(p, i), list[i]);
        cfg.scenarios.push_back(std::move(s));
      }
    });
  }
  if (!r.ok()) throw ConfigError(r.errors());
  return cfg;
}

Config load_file(const std::string& path) {
  std::string text;
  try {
    text = read_text_file(path);
  } catch (const std::runtime_error& e) {
    throw ConfigError({fmt::format("{}: {}", path, e.what())});
  }
  return parse(text);
}

}  // namespace loopcanary::config
