#include "exporter/audit/rules.hpp"

#include <fmt/format.h>

#include <map>
#include <set>

#include "config/load.hpp"
#include "config/yaml_reader.hpp"

namespace loopcanary::exporter::audit {

using config::YamlReader;

const std::string_view kStarterRules =
    R"(# loopcanary audit rules: your own runtime checks, evaluated from Prometheus.
#
#   loopcanary audit --prometheus=http://prometheus:9090 --rules=loopcanary-rules.yaml \
#     --range=10m --fail-on=critical --report=junit=audit.xml
#
# For services that export their own runtime metrics (event-loop lag, executor
# queue depth) instead of, or beside, a loopcanary sidecar. The shape follows
# async-runtime-auditor's metrics.yaml: `queries` names each PromQL expression,
# `thresholds` says when its value is degraded, critical or unresponsive.
#
# Each query is evaluated over the audit's range (query_range, one point per
# --step); every series it returns is judged on its own (keep the labels you
# want to read in the report, e.g. `by (pod)`). A level is reached the moment a
# value crosses its threshold; a query that returns nothing makes the audit
# INCONCLUSIVE (exit 3), never a pass. A query Prometheus rejects exits 2 and
# names the rule and its line here.

# Optional: the Prometheus to ask; --prometheus on the command line wins.
# target: http://localhost:9090

queries:
  # The event loop's lag as the app measures it (e.g. a sleep-drift monitor
  # exported as a gauge), worst of each pod.
  event_loop_lag: max by (pod) (asyncio_event_loop_lag_seconds{job="api"})
  # Work waiting for the thread pool (run_in_executor / anyio.to_thread).
  executor_queue: max by (pod) (executor_queue_depth{job="api"})

thresholds:
  event_loop_lag:
    unit: seconds        # seconds, ratio or count: how values read in the report
    degraded: 0.1        # value >= 0.1 s: degraded
    critical: 0.5        # value >= 0.5 s: critical
    # unresponsive: 2
    meaning: the event loop ran callbacks this late; every request waited as long
    what_to_do: find the blocking call in an async handler and move it off the loop
  executor_queue:
    unit: count
    degraded: 10
    critical: 40
    # op: "<="           # for checks where lower is worse (free workers, throughput)
    meaning: requests queue for the worker-thread pool
    what_to_do: raise the pool size, cap the route's concurrency, or make the route async
    # runbook: https://example.com/runbooks/executor-queue
)";

namespace {

Unit parse_unit(const std::string& s, bool& ok) {
  ok = true;
  if (s == "seconds") return Unit::seconds;
  if (s == "ratio") return Unit::ratio;
  if (s == "count") return Unit::count;
  ok = false;
  return Unit::count;
}

}  // namespace

RulesFile parse_rules(const std::string& text) {
  const YAML::Node root = config::parse_yaml(text);
  YamlReader r;
  RulesFile out;
  if (!root || root.IsNull()) throw config::ConfigError({"the rules file is empty"});
  if (!r.map(root, "", {"target", "queries", "thresholds"})) throw config::ConfigError(r.errors());
  config::with(root, "", "target", [&](const YAML::Node& n, const std::string& path) {
    r.read(n, path, out.prometheus);
  });
  r.require(root, "", "queries");
  r.require(root, "", "thresholds");
  const YAML::Node queries = root["queries"];
  const YAML::Node thresholds = root["thresholds"];
  std::map<std::string, std::size_t> index;
  if (queries && r.map(queries, "queries", {})) {
    for (auto it = queries.begin(); it != queries.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      Rule rule;
      rule.name = it->first.Scalar();
      rule.line = it->first.Mark().line + 1;
      const std::string path = YamlReader::join_path("queries", rule.name);
      r.read(it->second, path, rule.query);
      if (it->second.IsScalar() && rule.query.find_first_not_of(" \t\n") == std::string::npos) {
        r.error(path, it->second, "is an empty query");
      }
      index[rule.name] = out.rules.size();
      out.rules.push_back(std::move(rule));
    }
    if (out.rules.empty()) r.error("queries", queries, "names no query");
  }
  std::set<std::string> with_thresholds;
  if (thresholds && r.map(thresholds, "thresholds", {})) {
    for (auto it = thresholds.begin(); it != thresholds.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string name = it->first.Scalar();
      const std::string path = YamlReader::join_path("thresholds", name);
      auto found = index.find(name);
      if (found == index.end()) {
        r.error(path, it->second, "has no query of that name under queries");
        continue;
      }
      with_thresholds.insert(name);
      Rule& rule = out.rules[found->second];
      if (!r.map(it->second, path,
                 {"unit", "op", "degraded", "critical", "unresponsive", "meaning", "what_to_do",
                  "runbook"})) {
        continue;
      }
      // A copy: `it->second` lives in the iterator's proxy, gone after this line.
      const YAML::Node t = it->second;
      config::with(t, path, "unit", [&](const YAML::Node& n, const std::string& p) {
        if (auto s = r.scalar(n, p)) {
          bool ok = false;
          rule.unit = parse_unit(*s, ok);
          if (!ok)
            r.error(p, n, fmt::format("{} is not seconds, ratio or count", config::quoted(*s)));
        }
      });
      config::with(t, path, "op", [&](const YAML::Node& n, const std::string& p) {
        if (auto s = r.scalar(n, p)) {
          if (*s != ">=" && *s != "<=") {
            r.error(p, n, fmt::format("{} is not \">=\" or \"<=\"", config::quoted(*s)));
          } else {
            rule.op = *s;
          }
        }
      });
      for (const auto& [key, level] : {std::pair<const char*, Level>{"degraded", Level::degraded},
                                       {"critical", Level::critical},
                                       {"unresponsive", Level::unresponsive}}) {
        config::with(t, path, key, [&](const YAML::Node& n, const std::string& p) {
          double v = 0;
          const std::size_t before = r.errors().size();
          r.read_number(n, p, v, -1e300, 1e300);
          if (r.errors().size() == before) rule.thresholds.emplace_back(level, v);
        });
      }
      for (const auto& [key, slot] :
           {std::pair<const char*, std::string*>{"meaning", &rule.meaning},
            {"what_to_do", &rule.what_to_do},
            {"runbook", &rule.runbook}}) {
        config::with(t, path, key,
                     [&](const YAML::Node& n, const std::string& p) { r.read(n, p, *slot); });
      }
      if (!t["degraded"] && !t["critical"] && !t["unresponsive"]) {
        r.error(path, t, "needs at least one of degraded, critical, unresponsive");
      }
      // Each level must be worse than the one below it.
      for (std::size_t i = 1; i < rule.thresholds.size(); ++i) {
        const double lower = rule.thresholds[i - 1].second, higher = rule.thresholds[i].second;
        const bool ordered = rule.op == "<=" ? higher < lower : higher > lower;
        if (!ordered) {
          r.error(path, t,
                  fmt::format("{} ({}) must be {} than {} ({})",
                              exporter::name(rule.thresholds[i].first), higher,
                              rule.op == "<=" ? "lower" : "higher",
                              exporter::name(rule.thresholds[i - 1].first), lower));
        }
      }
    }
  }
  for (const Rule& rule : out.rules) {
    if (!with_thresholds.count(rule.name)) {
      YAML::Mark mark;
      mark.line = rule.line - 1;
      r.error_at(YamlReader::join_path("queries", rule.name), mark,
                 "has no thresholds (add thresholds." + rule.name + ")");
    }
  }
  if (!r.errors().empty()) throw config::ConfigError(r.errors());
  return out;
}

RulesFile load_rules(const std::string& path) {
  std::string text;
  try {
    text = config::read_text_file(path);
  } catch (const std::exception& e) {
    throw config::ConfigError({e.what()});
  }
  return parse_rules(text);
}

}  // namespace loopcanary::exporter::audit
