#include "exporter/http/router.hpp"

#include <fmt/format.h>

#include <boost/beast/version.hpp>
#include <nlohmann/json.hpp>

#include "exporter/http/landing.hpp"
#include "exporter/http/status_json.hpp"

namespace loopcanary::exporter {

namespace {

using nlohmann::json;

Response make(const Request& req, http::status status, std::string_view content_type,
              std::string body) {
  Response res{status, req.version()};
  res.set(http::field::server, "loopcanary/" LOOPCANARY_VERSION);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays
  return res;
}

Response text(const Request& req, http::status status, std::string body) {
  return make(req, status, "text/plain; charset=utf-8", std::move(body));
}

Response json_response(const Request& req, http::status status, const json& body) {
  // Names echoed from the request target may be any bytes; nlohmann's dump
  // throws on invalid UTF-8, which would turn a 404 into a 500.
  return make(req, status, "application/json",
              body.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

Response error_json(const Request& req, http::status status, const std::string& message) {
  return json_response(req, status, {{"status", "error"}, {"error", message}});
}

Response method_not_allowed(const Request& req, std::string_view allow) {
  const std::string message =
      fmt::format("method {} not allowed here; use {}", std::string(req.method_string()), allow);
  // The JSON API answers its errors in JSON, like its other errors.
  const bool api = std::string_view(req.target()).rfind("/api/", 0) == 0;
  Response res = api ? error_json(req, http::status::method_not_allowed, message)
                     : text(req, http::status::method_not_allowed, message + "\n");
  res.set(http::field::allow, allow);
  return res;
}

bool is_read(const Request& req) {
  return req.method() == http::verb::get || req.method() == http::verb::head;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    if (slash != 0) parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

Response scenarios_route(const Request& req, Api& api, const RouterOptions& options,
                         const std::vector<std::string_view>& parts) {
  // parts: api v1 scenarios [name [action]]
  if (parts.size() == 3) {
    if (!is_read(req)) return method_not_allowed(req, "GET");
    return json_response(req, http::status::ok, scenarios_json(api.scenarios()));
  }
  const std::string name(parts[3]);
  if (parts.size() == 4) {
    if (!is_read(req)) return method_not_allowed(req, "GET");
    auto s = api.scenario(name);
    if (!s) return error_json(req, http::status::not_found, "unknown scenario \"" + name + "\"");
    return json_response(req, http::status::ok, scenario_json(*s));
  }
  if (parts.size() != 5 || (parts[4] != "start" && parts[4] != "stop")) {
    return error_json(req, http::status::not_found, "no such endpoint");
  }
  if (req.method() != http::verb::post) return method_not_allowed(req, "POST");
  if (!options.enable_admin_api) {
    return error_json(req, http::status::forbidden,
                      "the admin API is disabled; start loopcanary with --web.enable-admin-api "
                      "to start and stop scenarios over HTTP");
  }
  if (parts[4] == "start") {
    std::string running;
    switch (api.start_scenario(name, &running)) {
      case ScenarioStartResult::unknown:
        return error_json(req, http::status::not_found, "unknown scenario \"" + name + "\"");
      case ScenarioStartResult::conflict:
        return error_json(
            req, http::status::conflict,
            "scenario \"" + running + "\" is already running on this target; stop it first");
      case ScenarioStartResult::started:
        break;
    }
  } else {
    switch (api.stop_scenario(name)) {
      case ScenarioStopResult::unknown:
        return error_json(req, http::status::not_found, "unknown scenario \"" + name + "\"");
      case ScenarioStopResult::not_running:
        return error_json(req, http::status::conflict, "scenario \"" + name + "\" is not running");
      case ScenarioStopResult::stopping:
        break;
    }
  }
  auto s = api.scenario(name);
  return json_response(req, http::status::accepted, s ? scenario_json(*s) : json::object());
}

}  // namespace

Response handle_request(const Request& req, Api& api, const RouterOptions& options) {
  try {
    std::string_view target = req.target();
    const auto query = target.find('?');
    const std::string_view path = target.substr(0, query);

    if (path == "/metrics") {
      if (!is_read(req)) return method_not_allowed(req, "GET");
      return make(req, http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                  api.metrics_text());
    }
    if (path == "/" || path.empty()) {
      if (!is_read(req)) return method_not_allowed(req, "GET");
      return make(req, http::status::ok, "text/html; charset=utf-8",
                  landing_page(api.targets(), api.scenarios(), options.enable_admin_api));
    }
    if (path == "/-/healthy") {
      if (!is_read(req)) return method_not_allowed(req, "GET");
      return text(req, http::status::ok, "loopcanary is Healthy.\n");
    }
    if (path == "/-/ready") {
      if (!is_read(req)) return method_not_allowed(req, "GET");
      return api.ready()
                 ? text(req, http::status::ok, "loopcanary is Ready.\n")
                 : text(req, http::status::service_unavailable, "loopcanary is not ready.\n");
    }
    if (path == "/-/reload") {
      if (req.method() != http::verb::post && req.method() != http::verb::put) {
        return method_not_allowed(req, "POST, PUT");
      }
      if (!options.enable_lifecycle) {
        return text(req, http::status::forbidden,
                    "Lifecycle API is not enabled; start loopcanary with --web.enable-lifecycle "
                    "(SIGHUP always reloads).\n");
      }
      const auto result = api.reload();
      return text(req, result.ok ? http::status::ok : http::status::internal_server_error,
                  result.message + "\n");
    }
    if (path == "/api/v1/status") {
      if (!is_read(req)) return method_not_allowed(req, "GET");
      return json_response(req, http::status::ok, status_json(api.targets()));
    }
    const auto parts = split_path(path);
    if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "scenarios") {
      return scenarios_route(req, api, options, parts);
    }
    return text(req, http::status::not_found, "not found; see / for what loopcanary serves\n");
  } catch (const std::exception& e) {
    return text(req, http::status::internal_server_error,
                std::string("internal error: ") + e.what() + "\n");
  }
}

}  // namespace loopcanary::exporter
