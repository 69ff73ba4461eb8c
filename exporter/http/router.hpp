#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <vector>

#include "exporter/snapshot.hpp"

namespace loopcanary::exporter {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// What the HTTP routes need from the running application. Implemented by App;
/// every method is called from the server thread.
class Api {
 public:
  virtual ~Api() = default;
  virtual std::string metrics_text() = 0;
  virtual std::vector<TargetSnapshot> targets() = 0;
  virtual std::vector<ScenarioState> scenarios() = 0;
  virtual std::optional<ScenarioState> scenario(const std::string& name) = 0;
  virtual bool ready() = 0;
  struct ReloadResult {
    bool ok;
    std::string message;
  };
  virtual ReloadResult reload() = 0;
  virtual ScenarioStartResult start_scenario(const std::string& name, std::string* detail) = 0;
  virtual ScenarioStopResult stop_scenario(const std::string& name) = 0;
};

struct RouterOptions {
  bool enable_lifecycle = false;  ///< POST /-/reload
  bool enable_admin_api = false;  ///< POST /api/v1/scenarios/{name}/start|stop
};

/// The exporter's routes, as a pure function of the request (and the Api):
/// `/`, `/metrics`, `/-/healthy`, `/-/ready`, `/-/reload`, `/api/v1/status`,
/// `/api/v1/scenarios[/{name}[/start|/stop]]`. Never throws for any request.
Response handle_request(const Request& request, Api& api, const RouterOptions& options);

}  // namespace loopcanary::exporter
