// --rules files: the starter file reads, and every mistake names its rule and line.

#include <catch2/catch.hpp>

#include "config/load.hpp"
#include "exporter/audit/rules.hpp"

using namespace loopcanary::exporter;
using namespace loopcanary::exporter::audit;

namespace {

std::vector<std::string> errors_of(const std::string& text) {
  try {
    parse_rules(text);
  } catch (const loopcanary::config::ConfigError& e) {
    return e.errors();
  }
  return {};
}

}  // namespace

TEST_CASE("the starter rules file (loopcanary init --rules) reads") {
  const RulesFile f = parse_rules(std::string(kStarterRules));
  REQUIRE(f.rules.size() == 2);
  CHECK(f.rules[0].name == "event_loop_lag");
  CHECK(f.rules[0].unit == Unit::seconds);
  REQUIRE(f.rules[0].thresholds.size() == 2);
  CHECK(f.rules[0].thresholds[1] == std::pair<Level, double>{Level::critical, 0.5});
  CHECK(f.rules[0].line > 1);
  CHECK(f.rules[1].name == "executor_queue");
}

TEST_CASE("rules file mistakes name the rule and the line") {
  using Catch::Contains;
  const auto e = errors_of(
      "queries:\n"
      "  lag: max(x)\n"
      "  queue: max(y)\n"
      "thresholds:\n"
      "  lag: { degraded: fast }\n"
      "  other: { critical: 1 }\n");
  REQUIRE(e.size() == 3);  // in the file's line order
  CHECK_THAT(e[0], Contains("queries.queue (line 3): has no thresholds"));
  CHECK_THAT(e[1], Contains("thresholds.lag.degraded (line 5)"));
  CHECK_THAT(e[2], Contains("thresholds.other (line 6): has no query of that name"));

  CHECK_THAT(errors_of("queries: { a: x }\nthresholds: { a: { critical: 1, degraded: 2 } }\n")[0],
             Contains("critical (1) must be higher than degraded (2)"));
  CHECK_THAT(errors_of("queries: { a: x }\nthresholds: { a: { unit: ms, critical: 1 } }\n")[0],
             Contains("\"ms\" is not seconds, ratio or count"));
  CHECK_THAT(errors_of("queries: { a: x }\nthresholds: { a: { cirtical: 1 } }\n")[0],
             Contains("thresholds.a.cirtical (line 2): unknown key"));
  // Lower is worse: critical below degraded is right.
  CHECK(
      errors_of("queries: { a: x }\nthresholds: { a: { op: \"<=\", degraded: 5, critical: 1 } }\n")
          .empty());
}
