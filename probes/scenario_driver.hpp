#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "config/config.hpp"
#include "probes/http_client.hpp"
#include "probes/sink.hpp"

namespace loopcanary::probes {

/// Drives one scenario's phases against a target's heavy routes: closed-loop
/// workers at a fixed or stepped concurrency, or an open-loop rate. Every heavy
/// request is reported to the sink as an interval [a_j, c_j] (a_j its intended
/// time), every step boundary too. Lives on its own io_context (not the
/// canaries'), so heavy load never delays a canary's timer. Not thread-safe
/// except `stop`, which posts.
class ScenarioDriver {
 public:
  struct Events {
    /// The concurrency now driven (0 during an open-loop phase).
    std::function<void(int concurrency)> on_concurrency;
    /// Every phase ended (or the driver was stopped) and no request is in flight.
    std::function<void(bool stopped)> on_finished;
  };

  ScenarioDriver(net::io_context& io, const config::Target& target,
                 const config::Scenario& scenario, std::shared_ptr<net::ssl::context> tls,
                 ProbeSink& sink, Events events, std::uint64_t request_id_base);

  void start();
  /// Ends the scenario now: no new request, running ones aborted (reported as
  /// cancelled). Safe from any thread.
  void stop();

 private:
  struct RouteRun {
    std::size_t index;
    RequestSpec spec;
    Duration timeout;
  };

  net::awaitable<void> run();
  net::awaitable<void> closed_loop(const config::Phase& phase);
  net::awaitable<void> open_loop(const config::Phase& phase);
  net::awaitable<void> worker(const RouteRun& route, int slot);
  net::awaitable<void> one_request(const RouteRun& route, TimePoint intended,
                                   std::unique_ptr<HttpConnection> connection);
  net::awaitable<bool> sleep_until(TimePoint deadline);
  net::awaitable<void> drain();
  const RouteRun& route_run(const std::string& name) const;
  std::unique_ptr<HttpConnection> connection();

  net::io_context& io_;
  config::Target target_;
  config::Scenario scenario_;
  std::shared_ptr<net::ssl::context> tls_;
  ProbeSink& sink_;
  Events events_;
  Endpoint endpoint_;
  std::vector<RouteRun> routes_;
  net::steady_timer timer_;
  std::set<HttpConnection*> live_;
  std::vector<std::unique_ptr<HttpConnection>> idle_;
  std::uint64_t next_request_;
  std::uint32_t next_connection_id_ = 1;
  int wanted_workers_ = 0;
  int running_workers_ = 0;
  std::size_t open_in_flight_ = 0;
  bool stopping_ = false;
};

}  // namespace loopcanary::probes
