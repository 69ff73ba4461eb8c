// The exporter's HTTP routes as a pure function of the request, over a small
// in-test implementation of the Api (a plain object, not a mock of a process).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "exporter/http/router.hpp"

namespace {

using namespace loopcanary::exporter;
namespace http = boost::beast::http;
using nlohmann::json;

/// Serves fixed answers and records what the routes asked of it.
class FakeApi : public Api {
 public:
  std::string metrics = "# TYPE loopcanary_build_info gauge\nloopcanary_build_info 1\n";
  bool is_ready = true;
  ReloadResult reload_result{true, "config reloaded"};
  ScenarioStartResult start_result = ScenarioStartResult::started;
  ScenarioStopResult stop_result = ScenarioStopResult::stopping;
  std::vector<TargetSnapshot> snapshots;
  std::vector<ScenarioState> states;
  bool throw_on_metrics = false;

  int reloads = 0;
  std::vector<std::string> started, stopped;

  std::string metrics_text() override {
    if (throw_on_metrics) throw std::runtime_error("registry exploded");
    return metrics;
  }
  std::vector<TargetSnapshot> targets() override { return snapshots; }
  std::vector<ScenarioState> scenarios() override { return states; }
  std::optional<ScenarioState> scenario(const std::string& name) override {
    for (const auto& s : states) {
      if (s.name == name) return s;
    }
    return std::nullopt;
  }
  bool ready() override { return is_ready; }
  ReloadResult reload() override {
    ++reloads;
    return reload_result;
  }
  ScenarioStartResult start_scenario(const std::string& name, std::string* detail) override {
    started.push_back(name);
    if (start_result == ScenarioStartResult::conflict && detail) *detail = "agent-soak";
    if (start_result == ScenarioStartResult::started) {
      for (auto& s : states) {
        if (s.name == name) s.running = true;
      }
    }
    return start_result;
  }
  ScenarioStopResult stop_scenario(const std::string& name) override {
    stopped.push_back(name);
    return stop_result;
  }
};

Request request(http::verb verb, std::string target, unsigned version = 11) {
  Request req{verb, target, version};
  req.set(http::field::host, "127.0.0.1:19420");
  req.prepare_payload();
  return req;
}

Response get(FakeApi& api, std::string target, RouterOptions options = {}) {
  return handle_request(request(http::verb::get, std::move(target)), api, options);
}
Response post(FakeApi& api, std::string target, RouterOptions options = {}) {
  return handle_request(request(http::verb::post, std::move(target)), api, options);
}

int code(const Response& r) { return static_cast<int>(r.result_int()); }
std::string header(const Response& r, http::field f) { return std::string(r[f]); }

TargetSnapshot snapshot(const std::string& name) {
  TargetSnapshot s;
  s.name = name;
  s.url = "http://127.0.0.1:8000";
  s.level = Level::degraded;
  s.findings[static_cast<std::size_t>(Finding::head_of_line_blocking)] = true;
  s.view.window = std::chrono::seconds(10);
  s.view.lag_p99 = std::chrono::milliseconds(3);
  s.view.canaries = {{std::chrono::milliseconds(1), std::chrono::milliseconds(1)}};
  s.view.routes.resize(1);
  s.view.routes[0].hol_ratio = 0.6;
  s.canaries = {"health"};
  s.routes = {"agent"};
  s.assessment.evidence[static_cast<std::size_t>(Finding::head_of_line_blocking)].push_back(
      {"hol_blocking_ratio{route=\"agent\"}", 0.6, ">=", 0.5, true});
  return s;
}

ScenarioState scenario_state(const std::string& name) {
  ScenarioState s;
  s.name = name;
  s.target = "api";
  return s;
}

}  // namespace

TEST_CASE("GET / is the landing page", "[router]") {
  FakeApi api;
  api.snapshots = {snapshot("api")};
  const Response r = get(api, "/");
  CHECK(code(r) == 200);
  CHECK(header(r, http::field::content_type) == "text/html; charset=utf-8");
  CHECK_THAT(r.body(), Catch::Contains("<h1>loopcanary</h1>") && Catch::Contains("api"));
}

TEST_CASE("GET /metrics is the Prometheus text format", "[router]") {
  FakeApi api;
  const Response r = get(api, "/metrics");
  CHECK(code(r) == 200);
  CHECK_THAT(header(r, http::field::content_type), Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK(r.body() == api.metrics);
  CHECK(header(r, http::field::content_length) == std::to_string(api.metrics.size()));
}

TEST_CASE("/-/healthy and /-/ready: the exporter's own health, never the target's", "[router]") {
  FakeApi api;
  CHECK(code(get(api, "/-/healthy")) == 200);
  CHECK(code(get(api, "/-/ready")) == 200);
  api.is_ready = false;
  const Response r = get(api, "/-/ready");
  CHECK(code(r) == 503);
  CHECK_THAT(r.body(), Catch::Contains("not ready"));
  CHECK(code(get(api, "/-/healthy")) == 200);
}

TEST_CASE("GET /api/v1/status is JSON with every target, finding and its evidence", "[router]") {
  FakeApi api;
  api.snapshots = {snapshot("api"), snapshot("billing")};
  const Response r = get(api, "/api/v1/status");
  CHECK(code(r) == 200);
  CHECK(header(r, http::field::content_type) == "application/json");
  const json j = json::parse(r.body());
  REQUIRE(j["targets"].size() == 2);
  CHECK(j["generated_at"].is_string());
  const json& t = j["targets"][0];
  CHECK(t["name"] == "api");
  CHECK(t["status"] == 1);
  CHECK(t["status_name"] == "degraded");
  REQUIRE(t["findings"].size() == kFindingCount);
  const json& hol = t["findings"][1];
  CHECK(hol["finding"] == "head_of_line_blocking");
  CHECK(hol["active"] == true);
  REQUIRE(hol["evidence"].size() == 1);
  CHECK(hol["evidence"][0]["value"] == 0.6);
  CHECK(hol["evidence"][0]["threshold"] == 0.5);
  CHECK(t["signals"]["lag_p99_seconds"] == 0.003);
  CHECK(t["routes"][0]["name"] == "agent");
  CHECK(t["routes"][0]["hol_blocking_ratio"] == 0.6);
}

TEST_CASE("POST /-/reload needs --web.enable-lifecycle", "[router]") {
  FakeApi api;
  SECTION("disabled: 403, and nothing reloads") {
    const Response r = post(api, "/-/reload");
    CHECK(code(r) == 403);
    CHECK_THAT(r.body(), Catch::Contains("--web.enable-lifecycle"));
    CHECK(api.reloads == 0);
  }
  SECTION("enabled: 200 on success") {
    const Response r = post(api, "/-/reload", {true, false});
    CHECK(code(r) == 200);
    CHECK_THAT(r.body(), Catch::Contains("config reloaded"));
    CHECK(api.reloads == 1);
  }
  SECTION("enabled: 500 with the reason when the new config is bad") {
    api.reload_result = {false, "targets[0].url (line 4): not a URL"};
    const Response r = post(api, "/-/reload", {true, false});
    CHECK(code(r) == 500);
    CHECK_THAT(r.body(), Catch::Contains("line 4"));
  }
  SECTION("PUT works as in Prometheus") {
    CHECK(code(handle_request(request(http::verb::put, "/-/reload"), api, {true, false})) == 200);
  }
  SECTION("GET is not allowed") {
    const Response r = get(api, "/-/reload", {true, false});
    CHECK(code(r) == 405);
    CHECK(header(r, http::field::allow) == "POST, PUT");
    CHECK(api.reloads == 0);
  }
}

TEST_CASE("POST /api/v1/scenarios/{name}/start needs --web.enable-admin-api", "[router]") {
  FakeApi api;
  api.states = {scenario_state("x")};
  const RouterOptions admin{false, true};

  SECTION("disabled: 403 that says how to enable it, and nothing starts") {
    const Response r = post(api, "/api/v1/scenarios/x/start");
    CHECK(code(r) == 403);
    CHECK_THAT(r.body(), Catch::Contains("--web.enable-admin-api"));
    CHECK(api.started.empty());
  }
  SECTION("an unknown scenario: 404") {
    api.start_result = ScenarioStartResult::unknown;
    const Response r = post(api, "/api/v1/scenarios/nope/start", admin);
    CHECK(code(r) == 404);
    CHECK(json::parse(r.body())["error"] == "unknown scenario \"nope\"");
  }
  SECTION("another scenario already running on the target: 409 naming it") {
    api.start_result = ScenarioStartResult::conflict;
    const Response r = post(api, "/api/v1/scenarios/x/start", admin);
    CHECK(code(r) == 409);
    CHECK_THAT(r.body(), Catch::Contains("agent-soak"));
  }
  SECTION("started: 202 with the scenario's state") {
    const Response r = post(api, "/api/v1/scenarios/x/start", admin);
    CHECK(code(r) == 202);
    CHECK(api.started == std::vector<std::string>{"x"});
    const json j = json::parse(r.body());
    CHECK(j["name"] == "x");
    CHECK(j["state"] == "running");
  }
  SECTION("GET on the start route: 405 with Allow: POST and a JSON error") {
    for (const RouterOptions options : {admin, RouterOptions{}}) {
      const Response r = get(api, "/api/v1/scenarios/x/start", options);
      CHECK(code(r) == 405);
      CHECK(header(r, http::field::allow) == "POST");
      CHECK(header(r, http::field::content_type) == "application/json");
      const json j = json::parse(r.body());
      CHECK(j == json{{"status", "error"}, {"error", "method GET not allowed here; use POST"}});
    }
    CHECK(api.started.empty());
  }
}

TEST_CASE("POST /api/v1/scenarios/{name}/stop", "[router]") {
  FakeApi api;
  api.states = {scenario_state("x")};
  const RouterOptions admin{false, true};
  CHECK(code(post(api, "/api/v1/scenarios/x/stop")) == 403);
  CHECK(api.stopped.empty());
  CHECK(code(post(api, "/api/v1/scenarios/x/stop", admin)) == 202);
  api.stop_result = ScenarioStopResult::not_running;
  CHECK(code(post(api, "/api/v1/scenarios/x/stop", admin)) == 409);
  api.stop_result = ScenarioStopResult::unknown;
  CHECK(code(post(api, "/api/v1/scenarios/x/stop", admin)) == 404);
}

TEST_CASE("GET /api/v1/scenarios and /api/v1/scenarios/{name}", "[router]") {
  FakeApi api;
  api.states = {scenario_state("x"), scenario_state("y")};
  const Response all = get(api, "/api/v1/scenarios");
  CHECK(code(all) == 200);
  CHECK(json::parse(all.body())["scenarios"].size() == 2);
  const Response one = get(api, "/api/v1/scenarios/y");
  CHECK(code(one) == 200);
  CHECK(json::parse(one.body())["name"] == "y");
  CHECK(code(get(api, "/api/v1/scenarios/z")) == 404);
  CHECK(code(get(api, "/api/v1/scenarios/x/pause")) == 404);
  CHECK(code(post(api, "/api/v1/scenarios")) == 405);
}

TEST_CASE("methods that a route does not serve get 405 with Allow", "[router]") {
  FakeApi api;
  for (const char* path : {"/", "/metrics", "/-/healthy", "/-/ready", "/api/v1/status",
                           "/api/v1/scenarios", "/api/v1/scenarios/x"}) {
    CAPTURE(path);
    const Response r = post(api, path);
    CHECK(code(r) == 405);
    CHECK(header(r, http::field::allow) == "GET");
    const Response d = handle_request(request(http::verb::delete_, path), api, {true, true});
    CHECK(code(d) == 405);
    // The JSON API answers in JSON; the pages and /metrics in text.
    const bool api_path = std::string(path).rfind("/api/", 0) == 0;
    CHECK((header(r, http::field::content_type) == "application/json") == api_path);
    if (api_path) {
      CHECK(json::parse(r.body())["error"] == "method POST not allowed here; use GET");
    } else {
      CHECK(r.body() == "method POST not allowed here; use GET\n");
    }
  }
}

TEST_CASE("unknown paths are 404", "[router]") {
  FakeApi api;
  for (const char* path : {"/nope", "/metrics/", "/api/v1", "/api/v2/status", "/-/", "//metrics",
                           "/api/v1/scenarios/x/start/now"}) {
    CAPTURE(path);
    CHECK(code(get(api, path)) == 404);
  }
}

TEST_CASE("HEAD is GET without a body", "[router]") {
  FakeApi api;
  api.snapshots = {snapshot("api")};
  for (const char* path : {"/", "/metrics", "/-/healthy", "/api/v1/status"}) {
    CAPTURE(path);
    const Response g = get(api, path);
    const Response h = handle_request(request(http::verb::head, path), api, {});
    CHECK(code(h) == 200);
    CHECK(h.body().empty());
    if (std::string(path) != "/api/v1/status") {  // that one has a timestamp
      CHECK(header(h, http::field::content_length) == std::to_string(g.body().size()));
    }
  }
}

TEST_CASE("query strings are ignored", "[router]") {
  FakeApi api;
  const Response r = get(api, "/metrics?name[]=loopcanary_up&x=1");
  CHECK(code(r) == 200);
  CHECK(r.body() == api.metrics);
  CHECK(code(get(api, "/-/ready?verbose")) == 200);
  CHECK(code(get(api, "/api/v1/status?pretty=1")) == 200);
  CHECK(code(post(api, "/api/v1/scenarios/x/start?now=1")) == 403);
}

TEST_CASE("the router never throws: an Api failure is a 500", "[router]") {
  FakeApi api;
  api.throw_on_metrics = true;
  Response r;
  REQUIRE_NOTHROW(r = get(api, "/metrics"));
  CHECK(code(r) == 500);
  CHECK_THAT(r.body(), Catch::Contains("registry exploded"));
}

TEST_CASE("responses follow the request's HTTP version and keep-alive", "[router]") {
  FakeApi api;
  const Response r10 = handle_request(request(http::verb::get, "/-/healthy", 10), api, {});
  CHECK(r10.version() == 10);
  CHECK_FALSE(r10.keep_alive());
  const Response r11 = get(api, "/-/healthy");
  CHECK(r11.version() == 11);
  CHECK(r11.keep_alive());
  CHECK(header(r11, http::field::cache_control) == "no-store");
}

TEST_CASE("a scenario name that is not UTF-8 is still a 404 with valid JSON, not a 500",
          "[router]") {
  FakeApi api;
  api.start_result = ScenarioStartResult::unknown;
  for (const Response& r : {get(api, "/api/v1/scenarios/\xff\xfe"),
                            post(api, "/api/v1/scenarios/\xc3(/start", {false, true})}) {
    CHECK(code(r) == 404);
    json j;
    REQUIRE_NOTHROW(j = json::parse(r.body()));
    CHECK_THAT(j["error"].get<std::string>(), Catch::StartsWith("unknown scenario"));
  }
}
