#include "config/load.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string_view>

#include "config/units.hpp"

namespace loopcanary::config {

ConfigError::ConfigError(std::vector<std::string> errors)
    : std::runtime_error(errors.empty() ? "invalid configuration" : errors.front()),
      errors_(std::move(errors)) {}

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

namespace {

using Keys = std::initializer_list<std::string_view>;

std::string quoted(const std::string& s) { return fmt::format("\"{}\"", s); }

std::string join(Keys keys) {
  std::string out;
  for (auto k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

/// Walks the YAML tree with a key path, collecting errors instead of stopping
/// at the first one.
class Reader {
 public:
  std::vector<std::string>& errors() { return errors_; }

  /// Reports `message` about the value at `path`. When `path` names a key of a
  /// mapping already walked, the line is the key's: a value may start on a later
  /// line (a block list or mapping), and yaml-cpp marks an empty value (`name:`)
  /// at the token after it.
  void error(const std::string& path, const YAML::Node& node, const std::string& message) {
    const auto key = key_marks_.find(path);
    if (key != key_marks_.end()) {
      error_at(path, key->second, message);
    } else {
      error_at(path, node.IsDefined() ? node.Mark() : YAML::Mark::null_mark(), message);
    }
  }

  void error_at(const std::string& path, const YAML::Mark& mark, const std::string& message) {
    if (mark.is_null()) {
      errors_.push_back(fmt::format("{}: {}", path, message));
    } else {
      errors_.push_back(fmt::format("{} (line {}): {}", path, mark.line + 1, message));
    }
  }

  /// True when `node` is a map whose keys are all in `known`, each once; reports
  /// the rest. yaml-cpp keeps both entries of a repeated key and `node[key]` reads
  /// the first, so a repeated key would silently drop the value written last.
  bool map(const YAML::Node& node, const std::string& path, Keys known) {
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
      if (std::find(known.begin(), known.end(), it->first.Scalar()) == known.end()) {
        error_at(key_path, mark, fmt::format("unknown key (known: {})", join(known)));
      } else if (auto [first, added] = key_marks_.emplace(key_path, mark); !added) {
        error_at(key_path, mark,
                 fmt::format("duplicate key (first at line {})", first->second.line + 1));
      }
    }
    return true;
  }

  bool require(const YAML::Node& parent, const std::string& path, std::string_view key) {
    if (parent[std::string(key)]) return true;
    error(path, parent, fmt::format("missing required key \"{}\"", key));
    return false;
  }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path) {
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

  void read(const YAML::Node& node, const std::string& path, std::string& out) {
    if (auto s = scalar(node, path)) out = *s;
  }

  void read(const YAML::Node& node, const std::string& path, Duration& out) {
    auto s = scalar(node, path);
    if (!s) return;
    if (auto d = parse_duration(*s)) {
      out = *d;
    } else {
      error(path, node, fmt::format("{} is not a duration", quoted(*s)));
    }
  }

  void read(const YAML::Node& node, const std::string& path, bool& out) {
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
                   double max) {
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

  void read_ratio(const YAML::Node& node, const std::string& path, double& out) {
    auto s = scalar(node, path);
    if (!s) return;
    if (auto r = parse_ratio(*s)) {
      out = *r;
    } else {
      error(path, node,
            fmt::format("{} is not a ratio between 0 and 1 (like 0.05 or 5%)", quoted(*s)));
    }
  }

  static std::string join_path(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
  }
  static std::string index_path(const std::string& path, std::size_t i) {
    return fmt::format("{}[{}]", path, i);
  }

 private:
  std::vector<std::string> errors_;
  std::map<std::string, YAML::Mark> key_marks_;  ///< where each key path was written
};

/// Applies `fn(child, child_path)` when `key` is present in `parent`.
template <typename Fn>
void with(const YAML::Node& parent, const std::string& path, std::string_view key, Fn&& fn) {
  const YAML::Node child = parent[std::string(key)];
  if (!child) return;
  const std::string child_path = Reader::join_path(path, key);
  fn(child, child_path);
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

void read_name(Reader& r, const YAML::Node& node, const std::string& path, std::string& out) {
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

/// Reports a name already used by an earlier sibling, naming that sibling.
void check_unique(Reader& r, std::map<std::string, std::string>& first_path, std::string_view kind,
                  const std::string& name, const std::string& path, const YAML::Node& node) {
  if (name.empty()) return;  // missing or invalid: already reported
  const auto [first, added] = first_path.emplace(name, path);
  if (!added) {
    r.error(
        path + ".name", node["name"],
        fmt::format("duplicate {} name {} (first used by {})", kind, quoted(name), first->second));
  }
}

void read_path(Reader& r, const YAML::Node& node, const std::string& path, std::string& out) {
  const auto text = r.scalar(node, path);
  if (!text) return;
  out = *text;
  if (out.empty() || out.front() != '/') {
    r.error(path, node, fmt::format("{} must start with '/'", quoted(out)));
  } else if (out.find_first_of(" \r\n\t") != std::string::npos) {
    r.error(path, node, fmt::format("{} must not contain whitespace", quoted(out)));
  }
}

void read_method(Reader& r, const YAML::Node& node, const std::string& path, std::string& out) {
  r.read(node, path, out);
  static const std::set<std::string> known{"GET",   "HEAD",   "POST",   "PUT",
                                           "PATCH", "DELETE", "OPTIONS"};
  if (!known.count(out)) {
    r.error(path, node,
            fmt::format("{} is not an HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
                        quoted(out)));
  }
}

void read_headers(Reader& r, const YAML::Node& node, const std::string& path,
                  std::map<std::string, std::string>& out) {
  if (!node.IsMap()) {
    r.error(path, node, "must be a mapping of header names to values");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string child = Reader::join_path(path, name);
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

void read_expect(Reader& r, const YAML::Node& node, const std::string& path, Expect& out) {
  if (!r.map(node, path, {"status", "body_regex"})) return;
  with(node, path, "status", [&](const YAML::Node& n, const std::string& p) {
    if (!n.IsSequence() || n.size() == 0) {
      r.error(p, n, "must be a non-empty list of status codes, like [200, 204]");
      return;
    }
    out.status.clear();
    for (std::size_t i = 0; i < n.size(); ++i) {
      int code = 0;
      r.read_int(n[i], Reader::index_path(p, i), code, 100, 599);
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

/// Parses `http(s)://host[:port][/base]`; on failure `problem` says what is
/// wrong with it, quoting the URL unless it holds a password.
std::optional<Url> parse_url(const std::string& text, std::string& problem) {
  const auto fail = [&](std::string_view why) {
    problem = fmt::format("{} {}", quoted(text), why);
    return std::nullopt;
  };
  Url url;
  url.text = text;
  std::string_view rest = text;
  if (rest.rfind("http://", 0) == 0) {
    url.scheme = "http";
    url.port = 80;
    rest.remove_prefix(7);
  } else if (rest.rfind("https://", 0) == 0) {
    url.scheme = "https";
    url.port = 443;
    rest.remove_prefix(8);
  } else {
    return fail("is not an http:// or https:// URL");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail("must not have a query or fragment; put them in the canary and route paths");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    url.base_path = std::string(rest.substr(slash));
    while (!url.base_path.empty() && url.base_path.back() == '/') url.base_path.pop_back();
  }
  if (authority.find('@') != std::string_view::npos) {
    // Not `fail`: the message would copy the password into logs.
    problem =
        "must not contain user:password@ (not echoed here); set an Authorization header "
        "on the canaries and routes instead";
    return std::nullopt;
  }
  std::string_view host = authority;
  std::optional<std::string_view> port_text;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("has an IPv6 host without the closing ']'");
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return fail("has text after the IPv6 host where :port should be");
      }
      port_text = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return fail("has no host");
  if (host.find_first_of(" \t") != std::string_view::npos)
    return fail("has whitespace in the host");
  if (port_text) {
    if (port_text->empty()) return fail("has ':' but no port after it");
    std::uint64_t port = 0;
    auto [end, ec] =
        std::from_chars(port_text->data(), port_text->data() + port_text->size(), port);
    if (end != port_text->data() + port_text->size() ||
        (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
      return fail(
          fmt::format("has a port {} that is not a number", quoted(std::string(*port_text))));
    }
    if (ec == std::errc::result_out_of_range || port == 0 || port > 65535) {
      return fail(fmt::format("has port {}; a port is between 1 and 65535", *port_text));
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  url.host = std::string(host);
  return url;
}

void read_canary(Reader& r, const YAML::Node& node, const std::string& path, Canary& c) {
  if (!r.map(node, path,
             {"name", "path", "method", "headers", "interval", "idle_interval", "timeout", "jitter",
              "expect", "max_body_bytes", "connections", "keepalive", "max_in_flight"})) {
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
  if (c.keepalive && c.max_in_flight < c.connections) {
    r.error(path + ".max_in_flight", node["max_in_flight"] ? node["max_in_flight"] : node,
            fmt::format("{} is smaller than connections ({})", c.max_in_flight, c.connections));
  }
}

void read_route(Reader& r, const YAML::Node& node, const std::string& path, Route& route) {
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

void read_tls(Reader& r, const YAML::Node& node, const std::string& path, Tls& tls) {
  if (!r.map(node, path, {"ca_file", "insecure_skip_verify", "server_name"})) return;
  with(node, path, "ca_file", [&](auto& n, auto& p) { r.read(n, p, tls.ca_file); });
  with(node, path, "insecure_skip_verify",
       [&](auto& n, auto& p) { r.read(n, p, tls.insecure_skip_verify); });
  with(node, path, "server_name", [&](auto& n, auto& p) { r.read(n, p, tls.server_name); });
}

void read_target(Reader& r, const YAML::Node& node, const std::string& path, Target& t) {
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
        read_canary(r, list[i], Reader::index_path(p, i), c);
        check_unique(r, names, "canary", c.name, Reader::index_path(p, i), list[i]);
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
      read_route(r, list[i], Reader::index_path(p, i), route);
      check_unique(r, names, "route", route.name, Reader::index_path(p, i), list[i]);
      t.routes.push_back(std::move(route));
    }
  });
}

void read_phase(Reader& r, const YAML::Node& node, const std::string& path, const Target* target,
                Phase& phase) {
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
      r.read_int(concurrency[i], Reader::index_path(path + ".concurrency", i), n, 1, 10000);
      if (n && !phase.concurrency.empty() && n <= phase.concurrency.back()) {
        r.error(Reader::index_path(path + ".concurrency", i), concurrency[i],
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

void read_scenario(Reader& r, const Config& cfg, const YAML::Node& node, const std::string& path,
                   Scenario& s) {
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
      read_phase(r, list[i], Reader::index_path(p, i), target, phase);
      s.phases.push_back(std::move(phase));
    }
  });
}

void read_global(Reader& r, const YAML::Node& node, const std::string& path, Global& g) {
  if (!r.map(node, path,
             {"window", "stall_threshold", "baseline_window", "self_lag_limit",
              "evaluation_interval", "buckets"})) {
    return;
  }
  with(node, path, "window", [&](auto& n, auto& p) { r.read(n, p, g.window); });
  with(node, path, "stall_threshold", [&](auto& n, auto& p) { r.read(n, p, g.stall_threshold); });
  with(node, path, "baseline_window", [&](auto& n, auto& p) { r.read(n, p, g.baseline_window); });
  with(node, path, "self_lag_limit", [&](auto& n, auto& p) { r.read(n, p, g.self_lag_limit); });
  with(node, path, "evaluation_interval",
       [&](auto& n, auto& p) { r.read(n, p, g.evaluation_interval); });
  with(node, path, "buckets", [&](const YAML::Node& list, const std::string& p) {
    if (!list.IsSequence() || list.size() == 0) {
      r.error(p, list, "must be a non-empty list of bucket bounds in seconds");
      return;
    }
    g.buckets.clear();
    for (std::size_t i = 0; i < list.size(); ++i) {
      double v = 0;
      r.read_number(list[i], Reader::index_path(p, i), v, 1e-9, 1e9);
      if (v == 0) continue;  // not a valid bound: already reported
      if (!g.buckets.empty() && v <= g.buckets.back()) {
        r.error(Reader::index_path(p, i), list[i],
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

std::string show(Duration d) { return format_duration(d); }
std::string show(double v) { return fmt::format("{}", v); }

/// A level's exit threshold must lie below its entry threshold, or the status
/// would flap between the two. Points at the exit key when it is written, else
/// at the entry key (lowered below the default exit), else at the level.
template <typename T>
void require_below(Reader& r, const YAML::Node& level, const std::string& path,
                   const char* exit_key, T exit_value, const char* enter_key, T enter_value) {
  if (exit_value < enter_value) return;
  const auto shown = [&](const char* key, T v) {
    return level[key] ? show(v) : show(v) + " (the default)";
  };
  const YAML::Node at =
      level[exit_key] ? level[exit_key] : (level[enter_key] ? level[enter_key] : level);
  r.error(Reader::join_path(path, exit_key), at,
          fmt::format("{} must be below {} ({})", shown(exit_key, exit_value), enter_key,
                      shown(enter_key, enter_value)));
}

void read_thresholds(Reader& r, const YAML::Node& node, const std::string& path, Thresholds& t) {
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
    if (!r.map(n, p, {"stall_max", "stall_ratio", "exit_stall_max", "exit_stall_ratio"})) return;
    auto& c = t.critical;
    with(n, p, "stall_max", [&](auto& x, auto& xp) { r.read(x, xp, c.stall_max); });
    with(n, p, "stall_ratio", [&](auto& x, auto& xp) { r.read_ratio(x, xp, c.stall_ratio); });
    with(n, p, "exit_stall_max", [&](auto& x, auto& xp) { r.read(x, xp, c.exit_stall_max); });
    with(n, p, "exit_stall_ratio",
         [&](auto& x, auto& xp) { r.read_ratio(x, xp, c.exit_stall_ratio); });
    require_below(r, n, p, "exit_stall_max", c.exit_stall_max, "stall_max", c.stall_max);
    require_below(r, n, p, "exit_stall_ratio", c.exit_stall_ratio, "stall_ratio", c.stall_ratio);
  });
  with(node, path, "degraded", [&](const YAML::Node& n, const std::string& p) {
    if (!r.map(n, p,
               {"lag_p99", "stall_ratio", "hol", "queue_amplification", "exit_lag_p99",
                "exit_stall_ratio", "exit_hol", "exit_queue_amplification"})) {
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
    require_below(r, n, p, "exit_lag_p99", d.exit_lag_p99, "lag_p99", d.lag_p99);
    require_below(r, n, p, "exit_stall_ratio", d.exit_stall_ratio, "stall_ratio", d.stall_ratio);
    require_below(r, n, p, "exit_hol", d.exit_hol, "hol", d.hol);
    require_below(r, n, p, "exit_queue_amplification", d.exit_queue_amplification,
                  "queue_amplification", d.queue_amplification);
  });
}

}  // namespace

Config parse(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError({e.mark.is_null() ? fmt::format("YAML syntax error: {}", e.msg)
                                        : fmt::format("YAML syntax error (line {}): {}",
                                                      e.mark.line + 1, e.msg)});
  }
  Reader r;
  Config cfg;
  if (!root || root.IsNull()) throw ConfigError({"the file is empty; it needs at least targets:"});
  if (!root.IsMap()) {
    r.error("top level", root,
            "must be a mapping with targets: (and optionally global:, scenarios:, thresholds:)");
  } else if (r.map(root, "", {"global", "targets", "scenarios", "thresholds"})) {
    with(root, "", "global", [&](auto& n, auto& p) { read_global(r, n, p, cfg.global); });
    with(root, "", "thresholds",
         [&](auto& n, auto& p) { read_thresholds(r, n, p, cfg.thresholds); });
    const YAML::Node targets = root["targets"];
    if (!targets) {
      r.error("top level", root, "missing required key \"targets\"");
    } else if (!targets.IsSequence() || targets.size() == 0) {
      r.error("targets", targets, "needs a list of at least one target");
    } else {
      std::map<std::string, std::string> names;
      for (std::size_t i = 0; i < targets.size(); ++i) {
        Target t;
        const std::string p = Reader::index_path("targets", i);
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
        read_scenario(r, cfg, list[i], Reader::index_path(p, i), s);
        check_unique(r, names, "scenario", s.name, Reader::index_path(p, i), list[i]);
        cfg.scenarios.push_back(std::move(s));
      }
    });
  }
  if (!r.errors().empty()) throw ConfigError(std::move(r.errors()));
  return cfg;
}

Config load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({fmt::format("{}: cannot read the file", path)});
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str());
}

}  // namespace loopcanary::config
