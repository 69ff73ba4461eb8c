// Fuzzes the exporter's routes behind the request parser, as the server reads
// them: up to 4 pipelined requests from one connection (flat_buffer of 8 KiB,
// 8 KiB header and 64 KiB body limits, exporter/http_server.hpp), each routed
// with every combination of the two RouterOptions flags over a fixed Api.
// Contract: handle_request never throws and always returns a response with a
// status in 100..599 and a Content-Length that matches the body (for HEAD, an
// empty body and, when it succeeds, the Content-Length a GET would have had). The canned Api never
// fails, so a 500 "internal error" is the router's own exception and a bug.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "exporter/http/router.hpp"
#include "fuzz_check.hpp"

namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using namespace loopcanary::exporter;
using loopcanary::fuzz::require;
using namespace std::chrono_literals;

constexpr std::uint32_t kHeaderLimit = 8 * 1024;  // HttpServer::Options
constexpr std::uint64_t kBodyLimit = 64 * 1024;
constexpr std::size_t kBufferLimit = 8 * 1024;  // HttpServer::serve's flat_buffer
constexpr int kMaxRequests = 4;

TargetSnapshot snapshot(std::string name, Level level) {
  TargetSnapshot t;
  t.name = std::move(name);
  t.url = "http://127.0.0.1:8000";
  t.level = level;
  t.canaries = {"health", "ping"};
  t.routes = {"checkout"};
  t.view.window = 10s;
  t.view.stall_threshold = 50ms;
  t.view.canaries.resize(t.canaries.size());
  t.view.canaries[0].baseline = 2ms;
  t.view.routes.resize(t.routes.size());
  t.view.routes[0].hol_ratio = 0.4;
  t.view.lag_p99 = 120ms;
  const auto start = std::chrono::system_clock::time_point{} + 1'700'000'000s;
  for (int i = 0; i < 5; ++i) {
    HistoryPoint p;
    p.at = start + std::chrono::seconds(i);
    p.latency_max_seconds = 0.001 * i;
    p.stall_seconds = 0.01 * i;
    p.answered = 10;
    p.status = 1;
    t.history.push_back(p);
  }
  return t;
}

/// The application as a fixed picture: two targets, two scenarios (one
/// running, one external), always ready, reloads succeed. Never mutates, so
/// every input sees the same state.
class CannedApi final : public Api {
 public:
  CannedApi() {
    TargetSnapshot healthy = snapshot("shop", Level::healthy);
    TargetSnapshot degraded = snapshot("search", Level::degraded);
    degraded.findings[1] = true;
    degraded.assessment.evidence[1].push_back(
        {"hol_blocking_ratio{route=checkout}", 0.4, ">=", 0.25, true});
    targets_ = {std::move(healthy), std::move(degraded)};

    ScenarioState ramp;
    ramp.name = "checkout-ramp";
    ramp.target = "shop";
    ramp.running = true;
    ramp.concurrency = 8;
    ramp.runs = 3;
    ramp.started_at = std::chrono::system_clock::time_point{} + 1'700'000'000s;
    ScenarioState external;
    external.name = "k6-soak";
    external.target = "search";
    external.external = true;
    external.last_result = "completed";
    external.ended_at = ramp.started_at;
    scenarios_ = {ramp, external};
  }

  std::string metrics_text() override {
    return "# HELP loopcanary_up Whether loopcanary runs.\n# TYPE loopcanary_up gauge\n"
           "loopcanary_up 1\n";
  }
  std::vector<TargetSnapshot> targets() override { return targets_; }
  std::vector<ScenarioState> scenarios() override { return scenarios_; }
  std::optional<ScenarioState> scenario(const std::string& name) override {
    for (const auto& s : scenarios_) {
      if (s.name == name) return s;
    }
    return std::nullopt;
  }
  bool ready() override { return true; }
  ReloadResult reload() override { return {true, "configuration reloaded"}; }
  ScenarioStartResult start_scenario(const std::string& name, std::string* detail) override {
    const auto s = scenario(name);
    if (!s) return ScenarioStartResult::unknown;
    if (s->running) {
      if (detail) *detail = s->name;
      return ScenarioStartResult::conflict;
    }
    return ScenarioStartResult::started;
  }
  ScenarioStopResult stop_scenario(const std::string& name) override {
    const auto s = scenario(name);
    if (!s) return ScenarioStopResult::unknown;
    return s->running ? ScenarioStopResult::stopping : ScenarioStopResult::not_running;
  }

 private:
  std::vector<TargetSnapshot> targets_;
  std::vector<ScenarioState> scenarios_;
};

std::string content_length(const Response& res) {
  const auto length = res.find(http::field::content_length);
  require(length != res.end(), "every response has a Content-Length");
  return std::string(length->value());
}

void check_response(const Request& req, const Response& res, Api& api,
                    const RouterOptions& options) {
  const unsigned status = res.result_int();
  require(status >= 100 && status <= 599, "status in 100..599");
  const std::string declared = content_length(res);
  if (req.method() == http::verb::head) {
    require(res.body().empty(), "a HEAD response has no body");
    if (status < 300) {  // errors may name the method, so only successes must agree
      Request get = req;
      get.method(http::verb::get);
      require(declared == content_length(handle_request(get, api, options)),
              "a successful HEAD declares the Content-Length of GET");
    }
  } else {
    require(declared == std::to_string(res.body().size()), "Content-Length matches the body");
  }
  const bool internal_error = status == 500 && res.body().rfind("internal error", 0) == 0;
  if (internal_error) std::fprintf(stderr, "%s", res.body().c_str());
  require(!internal_error, "the router answers without an internal exception");
  std::ostringstream wire;
  wire << res;  // the serializer the server uses must accept it
  require(wire.good(), "the response serializes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static CannedApi api;
  static net::io_context io;  // never run: the test stream only needs it to exist
  beast::test::stream stream(io, {reinterpret_cast<const char*>(data), size});
  stream.close_remote();  // the client closes after its last byte
  beast::flat_buffer buffer(kBufferLimit);
  for (int i = 0; i < kMaxRequests; ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    boost::system::error_code ec;
    http::read(stream, buffer, parser, ec);
    // The server answers 431/413 itself or closes: nothing reaches the router.
    if (ec) break;
    const Request& req = parser.get();
    for (bool lifecycle : {false, true}) {
      for (bool admin : {false, true}) {
        const RouterOptions options{lifecycle, admin};
        check_response(req, handle_request(req, api, options), api, options);
      }
    }
    if (!req.keep_alive()) break;
  }
  return 0;
}
