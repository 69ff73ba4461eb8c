#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/load.hpp"

// One YAML file per rule (testdata/invalid-*.yml), each starting with the exact
// message the loader must give:
//
//   # expect: targets[0].canaries[0].interval (line 7): "10" is not a duration
//
// More `# expect:` lines may follow for a file that breaks several rules, with
// `# expect-count: N` for the total number of errors (1 when not given). Adding
// a case is adding a file: the tests list the directory.

namespace {

namespace fs = std::filesystem;
using namespace loopcanary::config;
using namespace std::chrono_literals;

const fs::path kTestdata = LOOPCANARY_CONFIG_TESTDATA;
const fs::path kExamples = LOOPCANARY_CONFIG_EXAMPLES;

/// The files in `dir` named `<prefix>*<extension>`, sorted so runs are stable.
std::vector<std::string> files(const fs::path& dir, std::string_view prefix,
                               std::string_view extension) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind(prefix, 0) == 0 &&
        entry.path().extension() == extension) {
      out.push_back(entry.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Expectation {
  std::vector<std::string> messages;
  std::size_t count = 1;
};

/// Reads the `# expect:` header of an invalid-*.yml file.
Expectation read_expectation(const std::string& path) {
  constexpr std::string_view kExpect = "# expect: ";
  constexpr std::string_view kCount = "# expect-count: ";
  Expectation e;
  std::ifstream in(path);
  std::string line;
  bool first = true;
  while (std::getline(in, line) && line.rfind("#", 0) == 0) {
    if (line.rfind(kExpect, 0) == 0) {
      e.messages.push_back(line.substr(kExpect.size()));
    } else if (line.rfind(kCount, 0) == 0) {
      e.count = std::stoul(line.substr(kCount.size()));
    } else if (first) {
      break;  // the first line must be an expectation; reported by the caller
    }
    first = false;
  }
  return e;
}

/// The errors loading `path` gives; empty when it loads.
std::vector<std::string> load_errors(const std::string& path) {
  try {
    load_file(path);
  } catch (const ConfigError& e) {
    return e.errors();
  }
  return {};
}

std::string lines(const std::vector<std::string>& v) {
  std::ostringstream out;
  for (const auto& s : v) out << "  " << s << "\n";
  return out.str();
}

Config load_testdata(const std::string& name) { return load_file((kTestdata / name).string()); }

}  // namespace

TEST_CASE("the invalid config cases are all found", "[config][load]") {
  // Guards against a wrong directory turning the table below into zero cases.
  REQUIRE(files(kTestdata, "invalid-", ".yml").size() >= 30);
}

TEST_CASE("each invalid config gives exactly its expected errors", "[config][load]") {
  const std::string file = GENERATE(from_range(files(kTestdata, "invalid-", ".yml")));
  CAPTURE(file);
  const Expectation expected = read_expectation(file);
  INFO("expected:\n" << lines(expected.messages));
  REQUIRE_FALSE(expected.messages.empty());  // a case without `# expect:` on line 1

  const std::vector<std::string> actual = load_errors(file);
  INFO("actual:\n" << lines(actual));
  REQUIRE_FALSE(actual.empty());
  for (const auto& message : expected.messages) {
    CHECK_THAT(actual, Catch::Matchers::VectorContains(message));
  }
  CHECK(actual.size() == expected.count);
  // A file that lists every error lists them in the order a person reads the
  // file: by line.
  if (expected.messages.size() == actual.size()) CHECK(actual == expected.messages);
}

TEST_CASE("errors come in line order whatever order the sections are read in", "[config][load]") {
  const auto errors = load_errors((kTestdata / "invalid-errors-in-line-order.yml").string());
  REQUIRE(errors.size() == 3);
  CHECK_THAT(errors[0], Catch::StartsWith("targets[0].canaries[0].interval (line 13)"));
  CHECK_THAT(errors[1], Catch::StartsWith("thresholds.hold (line 16)"));
  CHECK_THAT(errors[2], Catch::StartsWith("global.window (line 18)"));
}

TEST_CASE("a config error says the first problem in what()", "[config][load]") {
  try {
    load_testdata("invalid-multiple-errors.yml");
    FAIL("loaded an invalid file");
  } catch (const ConfigError& e) {
    REQUIRE(e.errors().size() == 3);
    REQUIRE(std::string(e.what()) == e.errors().front());
  }
}

TEST_CASE("a file that cannot be read is a config error naming the file and the OS's reason",
          "[config][load]") {
  const std::string missing = (kTestdata / "no-such-file.yml").string();
  CHECK(load_errors(missing) ==
        std::vector<std::string>{missing + ": cannot read the file: No such file or directory"});
  const std::string directory = kTestdata.string();
  CHECK(load_errors(directory) ==
        std::vector<std::string>{directory + ": cannot read the file: Is a directory"});
}

TEST_CASE("expect.status takes one code as well as a list", "[config][load]") {
  const Config cfg = load_testdata("valid-status-single.yml");
  CHECK(cfg.targets.at(0).canaries.at(0).expect.status == std::vector<int>{204});
  CHECK(cfg.targets.at(0).routes.at(0).expect.status == std::vector<int>{200});
}

TEST_CASE("each valid config loads", "[config][load]") {
  const std::string file = GENERATE(from_range(files(kTestdata, "valid-", ".yml")));
  CAPTURE(file);
  const auto errors = load_errors(file);
  INFO("errors:\n" << lines(errors));
  REQUIRE(errors.empty());
}

TEST_CASE("each shipped example loads", "[config][load][examples]") {
  const auto examples = files(kExamples, "", ".yaml");
  REQUIRE_FALSE(examples.empty());
  const std::string file = GENERATE_COPY(from_range(examples));
  CAPTURE(file);
  const auto errors = load_errors(file);
  INFO("errors:\n" << lines(errors));
  REQUIRE(errors.empty());
}

TEST_CASE("a minimal config gets every default of config.hpp", "[config][load][defaults]") {
  const Config cfg = load_testdata("valid-minimal.yml");

  SECTION("global") {
    const Global& g = cfg.global;
    CHECK(g.window == 10s);
    CHECK(g.stall_threshold == 50ms);
    CHECK(g.baseline_window == 60s);
    CHECK(g.self_lag_limit == 5ms);
    CHECK(g.evaluation_interval == 1s);
    // 0.5 ms doubling to 32 s: the last bound, 32.768 s, covers a 30 s timeout.
    REQUIRE(g.buckets == Global::default_buckets());
    REQUIRE(g.buckets.size() == 17);
    CHECK(g.buckets.front() == Approx(0.0005));
    for (std::size_t i = 1; i < g.buckets.size(); ++i) {
      CHECK(g.buckets[i] == Approx(2 * g.buckets[i - 1]));
    }
    CHECK(g.buckets.back() == Approx(32.768));
  }

  SECTION("target") {
    REQUIRE(cfg.targets.size() == 1);
    const Target& t = cfg.targets[0];
    CHECK(t.name == "api");
    CHECK(t.url.scheme == "http");
    CHECK(t.url.host == "127.0.0.1");
    CHECK(t.url.port == 8000);
    CHECK(t.url.base_path.empty());
    CHECK(t.url.text == "http://127.0.0.1:8000");
    CHECK(t.tls.ca_file.empty());
    CHECK_FALSE(t.tls.insecure_skip_verify);
    CHECK(t.tls.server_name.empty());
    CHECK(t.routes.empty());
    CHECK(cfg.scenarios.empty());
  }

  SECTION("canary") {
    REQUIRE(cfg.targets.at(0).canaries.size() == 1);
    const Canary& c = cfg.targets[0].canaries[0];
    CHECK(c.name == "health");
    CHECK(c.path == "/health");
    CHECK(c.method == "GET");
    CHECK(c.headers.empty());
    CHECK(c.interval == 10ms);
    CHECK(c.idle_interval == 100ms);
    CHECK(c.timeout == 5s);
    CHECK(c.jitter == 0.2);
    CHECK(c.expect.status == std::vector<int>{200});
    CHECK(c.expect.body_regex == nullptr);
    CHECK(c.expect.body_regex_source.empty());
    CHECK(c.max_body_bytes == 64 * 1024);
    CHECK(c.connections == 4);
    CHECK(c.keepalive);
    CHECK(c.max_in_flight == 1000);
  }

  SECTION("thresholds: the runtime-status table of docs/design.md") {
    const Thresholds& t = cfg.thresholds;
    CHECK(t.hold == 3);
    CHECK(t.unresponsive.stall_in_progress == 2s);
    CHECK(t.unresponsive.consecutive_failures == 3);
    CHECK(t.unresponsive.exit_stall_in_progress == 1s);
    CHECK(t.critical.stall_max == 500ms);
    CHECK(t.critical.stall_ratio == Approx(0.10));
    CHECK(t.critical.exit_stall_max == 250ms);
    CHECK(t.critical.exit_stall_ratio == Approx(0.05));
    CHECK(t.degraded.lag_p99 == 100ms);
    CHECK(t.degraded.stall_ratio == Approx(0.01));
    CHECK(t.degraded.hol == Approx(0.5));
    CHECK(t.degraded.exit_lag_p99 == 50ms);
    CHECK(t.degraded.exit_stall_ratio == Approx(0.005));
    CHECK(t.degraded.exit_hol == Approx(0.25));
    // 1.5 / 1.2 rather than 4 / 2: docs/design.md "Runtime status" says why.
    CHECK(t.degraded.queue_amplification == Approx(1.5));
    CHECK(t.degraded.exit_queue_amplification == Approx(1.2));
  }
}

TEST_CASE("routes and phases get their defaults", "[config][load][defaults]") {
  const Config cfg = load_testdata("valid-defaults.yml");
  const Target& t = cfg.targets.at(0);
  CHECK(t.url.scheme == "https");
  CHECK(t.url.port == 443);
  CHECK(t.canaries.at(0).idle_interval == 250ms);  // max(interval, 100ms)

  REQUIRE(t.routes.size() == 1);
  const Route& r = t.routes[0];
  CHECK(r.name == "agent");
  CHECK(r.path == "/agent");
  CHECK(r.method == "GET");
  CHECK(r.headers.empty());
  CHECK(r.body.empty());
  CHECK(r.timeout == 30s);
  CHECK_FALSE(r.service_time.has_value());
  CHECK(r.expect.status == std::vector<int>{200});
  CHECK(r.expect.body_regex == nullptr);
  CHECK(r.max_body_bytes == 1024 * 1024);

  REQUIRE(cfg.scenarios.size() == 2);
  const auto& phases = cfg.scenarios[0].phases;
  REQUIRE(phases.size() == 3);
  CHECK(phases[0].kind == Phase::Kind::closed_loop);
  CHECK(phases[0].concurrency == std::vector<int>{4});
  CHECK(phases[0].duration == 30s);
  CHECK(phases[1].kind == Phase::Kind::stepped);
  CHECK(phases[1].concurrency == std::vector<int>{1, 2});
  CHECK(phases[1].step == 5s);
  CHECK(phases[2].kind == Phase::Kind::open_loop);
  CHECK(phases[2].rate_per_second == Approx(20));
  CHECK(phases[2].duration == 30s);

  const Scenario& external = cfg.scenarios[1];
  CHECK(external.name == "external");
  CHECK(external.target == "api");
  CHECK(external.phases.empty());
}

TEST_CASE("idle_interval defaults to max(interval, 100ms)", "[config][load][defaults]") {
  std::string interval;
  Duration want_interval, want_idle;
  std::tie(interval, want_interval, want_idle) = GENERATE(table<std::string, Duration, Duration>({
      {"1ms", 1ms, 100ms},
      {"10ms", 10ms, 100ms},
      {"99ms", 99ms, 100ms},
      {"100ms", 100ms, 100ms},
      {"101ms", 101ms, 101ms},
      {"250ms", 250ms, 250ms},
      {"1s", 1s, 1s},
  }));
  CAPTURE(interval);
  const Config cfg = parse(
      "targets:\n"
      "  - name: api\n"
      "    url: http://127.0.0.1:8000\n"
      "    canaries:\n"
      "      - { name: health, interval: " +
      interval + " }\n");
  const Canary& c = cfg.targets.at(0).canaries.at(0);
  CHECK(c.interval == want_interval);
  CHECK(c.idle_interval == want_idle);
}

TEST_CASE("target URLs are split into scheme, host, port and base path", "[config][load]") {
  std::string url, scheme, host, base_path;
  int port;
  std::tie(url, scheme, host, port, base_path) =
      GENERATE(table<std::string, std::string, std::string, int, std::string>({
          {"http://127.0.0.1:8000", "http", "127.0.0.1", 8000, ""},
          {"http://localhost", "http", "localhost", 80, ""},
          {"https://api.example.com", "https", "api.example.com", 443, ""},
          {"https://api.example.com:8443/v1/", "https", "api.example.com", 8443, "/v1"},
          {"http://app/base//", "http", "app", 80, "/base"},
          {"http://[::1]:8080", "http", "::1", 8080, ""},
          {"http://[::1]", "http", "::1", 80, ""},
          {"http://h:65535", "http", "h", 65535, ""},
          {"http://h:1", "http", "h", 1, ""},
      }));
  CAPTURE(url);
  const Config cfg =
      parse("targets:\n  - { name: api, url: '" + url + "', canaries: [{ name: health }] }\n");
  const Url& u = cfg.targets.at(0).url;
  CHECK(u.scheme == scheme);
  CHECK(u.host == host);
  CHECK(u.port == port);
  CHECK(u.base_path == base_path);
  CHECK(u.text == url);
}

TEST_CASE("every key is read into its field", "[config][load]") {
  const Config cfg = load_testdata("valid-every-key.yml");

  SECTION("global") {
    const Global& g = cfg.global;
    CHECK(g.window == 20s);
    CHECK(g.stall_threshold == 100ms);
    CHECK(g.baseline_window == 2min);
    CHECK(g.self_lag_limit == 10ms);
    CHECK(g.evaluation_interval == 500ms);
    CHECK(g.buckets == std::vector<double>{0.001, 0.01, 0.1, 1, 10});
  }

  SECTION("target and tls") {
    REQUIRE(cfg.targets.size() == 2);
    const Target& t = cfg.targets[0];
    CHECK(t.name == "api");
    CHECK(t.url.scheme == "https");
    CHECK(t.url.host == "api.example.com");
    CHECK(t.url.port == 8443);
    CHECK(t.url.base_path == "/v1");
    CHECK(t.tls.ca_file == "/etc/loopcanary/ca.pem");
    CHECK(t.tls.insecure_skip_verify);
    CHECK(t.tls.server_name == "api.internal");
    CHECK(t.canaries.size() == 2);
    CHECK(t.routes.size() == 2);
    const Target& web = cfg.targets[1];
    CHECK(web.url.host == "::1");
    CHECK(web.url.port == 8080);
    CHECK(web.canaries.at(0).interval == 1ms);
    CHECK(web.canaries.at(0).idle_interval == 100ms);
  }

  SECTION("canary") {
    const Canary& c = cfg.targets.at(0).canaries.at(0);
    CHECK(c.name == "health");
    CHECK(c.path == "/healthz");
    CHECK(c.method == "HEAD");
    CHECK(c.headers == std::map<std::string, std::string>{{"Authorization", "Bearer token"},
                                                          {"X-Probe", "loopcanary"}});
    CHECK(c.interval == 20ms);
    CHECK(c.idle_interval == 1s);
    CHECK(c.timeout == 2s);
    CHECK(c.jitter == 0.1);
    CHECK(c.expect.status == std::vector<int>{200, 204});
    CHECK(c.expect.body_regex_source == R"("status":\s*"ok")");
    REQUIRE(c.expect.body_regex != nullptr);
    CHECK(boost::regex_search(std::string(R"({"status": "ok"})"), *c.expect.body_regex));
    CHECK_FALSE(boost::regex_search(std::string(R"({"status": "down"})"), *c.expect.body_regex));
    CHECK(c.max_body_bytes == 4096);
    CHECK(c.connections == 2);
    CHECK_FALSE(c.keepalive);
    CHECK(c.max_in_flight == 500);
  }

  SECTION("route") {
    const Route& r = cfg.targets.at(0).routes.at(0);
    CHECK(r.name == "agent");
    CHECK(r.path == "/agent?ms=200");
    CHECK(r.method == "POST");
    CHECK(r.headers == std::map<std::string, std::string>{{"Content-Type", "application/json"}});
    CHECK(r.body == R"({"prompt": "hi"})");
    CHECK(r.timeout == 1min);
    CHECK(r.service_time == std::optional<Duration>{200ms});
    CHECK(r.expect.status == std::vector<int>{201});
    CHECK(r.expect.body_regex_source == "done");
    CHECK(r.max_body_bytes == 2048);
  }

  SECTION("scenarios and phases") {
    REQUIRE(cfg.scenarios.size() == 2);
    const Scenario& s = cfg.scenarios[0];
    CHECK(s.name == "ramp");
    CHECK(s.target == "api");
    REQUIRE(s.phases.size() == 3);
    CHECK(s.phases[0].kind == Phase::Kind::stepped);
    CHECK(s.phases[0].route == "agent");
    CHECK(s.phases[0].concurrency == std::vector<int>{1, 2, 4, 8, 16, 32});
    CHECK(s.phases[0].step == 2s);
    CHECK(s.phases[1].kind == Phase::Kind::closed_loop);
    CHECK(s.phases[1].concurrency == std::vector<int>{8});
    CHECK(s.phases[1].duration == 1min);
    CHECK(s.phases[2].kind == Phase::Kind::open_loop);
    CHECK(s.phases[2].route == "sync");
    CHECK(s.phases[2].rate_per_second == Approx(10));
    CHECK(s.phases[2].duration == 45s);
    CHECK(cfg.scenarios[1].target == "web");
    CHECK(cfg.scenarios[1].phases.empty());
    CHECK(cfg.find_scenario("ramp") == &cfg.scenarios[0]);
    CHECK(cfg.find_scenario("nope") == nullptr);
    CHECK(cfg.find_target("web") == &cfg.targets[1]);
    CHECK(find_route(cfg.targets[0], "sync") == &cfg.targets[0].routes[1]);
    CHECK(find_route(cfg.targets[0], "nope") == nullptr);
  }

  SECTION("thresholds") {
    const Thresholds& t = cfg.thresholds;
    CHECK(t.hold == 5);
    CHECK(t.unresponsive.stall_in_progress == 3s);
    CHECK(t.unresponsive.consecutive_failures == 5);
    CHECK(t.unresponsive.exit_stall_in_progress == 500ms);
    CHECK(t.critical.stall_max == 1s);
    CHECK(t.critical.stall_ratio == Approx(0.20));
    CHECK(t.critical.exit_stall_max == 400ms);
    CHECK(t.critical.exit_stall_ratio == Approx(0.08));
    CHECK(t.degraded.lag_p99 == 200ms);
    CHECK(t.degraded.stall_ratio == Approx(0.02));
    CHECK(t.degraded.hol == Approx(0.6));
    CHECK(t.degraded.queue_amplification == Approx(4));
    CHECK(t.degraded.exit_lag_p99 == 80ms);
    CHECK(t.degraded.exit_stall_ratio == Approx(0.01));
    CHECK(t.degraded.exit_hol == Approx(0.3));
    CHECK(t.degraded.exit_queue_amplification == Approx(2));
  }
}

TEST_CASE("the lab example describes the four demo scenarios", "[config][load][examples]") {
  const Config cfg = load_file((kExamples / "lab.yaml").string());
  REQUIRE(cfg.targets.size() == 1);
  const Target& demo = cfg.targets[0];
  CHECK(demo.name == "demo");
  CHECK(demo.url.port == 8000);
  REQUIRE(demo.canaries.size() == 1);
  CHECK(demo.canaries[0].interval == 10ms);
  CHECK(demo.canaries[0].idle_interval == 100ms);
  REQUIRE(demo.canaries[0].expect.body_regex != nullptr);
  for (const char* route : {"agent", "io", "sync", "cpu"}) {
    CAPTURE(route);
    CHECK(find_route(demo, route) != nullptr);
  }

  const Scenario* ramp = cfg.find_scenario("sync-ramp");
  REQUIRE(ramp != nullptr);
  REQUIRE(ramp->phases.size() == 1);
  CHECK(ramp->phases[0].kind == Phase::Kind::stepped);
  CHECK(ramp->phases[0].concurrency.size() >=
        6);  // a ramp of at least 6 steps, so the USL fit has points to spare

  const Scenario* rate = cfg.find_scenario("cpu-rate");
  REQUIRE(rate != nullptr);
  CHECK(rate->phases.at(0).kind == Phase::Kind::open_loop);

  const Scenario* external = cfg.find_scenario("external");
  REQUIRE(external != nullptr);
  CHECK(external->phases.empty());
}
