#include "probes/scenario_driver.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "probes/schedule.hpp"

namespace loopcanary::probes {

namespace {

/// Heavy requests outstanding at once in an open-loop phase; beyond it a
/// request is dropped and counted, like a canary beyond max_in_flight.
constexpr std::size_t kMaxOpenLoopInFlight = 1000;

/// A closed-loop worker whose request failed without reaching the target
/// waits this long, so a down target is not hammered in a tight loop.
constexpr auto kConnectBackoff = std::chrono::milliseconds(100);

Sample to_sample(TimePoint intended, const Exchange& ex, Duration timeout) {
  Sample s;
  s.intended = intended;
  s.sent = ex.sent;
  s.first_byte = ex.first_byte;
  s.done = ex.outcome == Outcome::timeout ? std::min(ex.done, intended + timeout) : ex.done;
  s.outcome = ex.outcome;
  s.status = ex.status;
  s.connection_id = ex.connection_id;
  return s;
}

}  // namespace

ScenarioDriver::ScenarioDriver(net::io_context& io, const config::Target& target,
                               const config::Scenario& scenario,
                               std::shared_ptr<net::ssl::context> tls, ProbeSink& sink,
                               Events events, std::uint64_t request_id_base)
    : io_(io),
      target_(target),
      scenario_(scenario),
      tls_(std::move(tls)),
      sink_(sink),
      events_(std::move(events)),
      endpoint_(make_endpoint(target_)),
      timer_(io),
      next_request_(request_id_base) {
  for (std::size_t i = 0; i < target_.routes.size(); ++i) {
    const config::Route& r = target_.routes[i];
    routes_.push_back({i,
                       make_request(target_, r.method, r.path, r.headers, r.body, r.expect,
                                    r.max_body_bytes, true),
                       std::chrono::duration_cast<Duration>(r.timeout)});
  }
}

void ScenarioDriver::start() { net::co_spawn(io_, run(), net::detached); }

void ScenarioDriver::stop() {
  net::post(io_, [this] {
    stopping_ = true;
    timer_.cancel();
    for (HttpConnection* c : live_) c->cancel();
  });
}

const ScenarioDriver::RouteRun& ScenarioDriver::route_run(const std::string& name) const {
  for (const RouteRun& r : routes_) {
    if (target_.routes[r.index].name == name) return r;
  }
  throw std::logic_error("scenario phase names an unknown route: " + name);  // config validated
}

std::unique_ptr<HttpConnection> ScenarioDriver::connection() {
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  return std::make_unique<HttpConnection>(io_.get_executor(), tls_, next_connection_id_++);
}

net::awaitable<bool> ScenarioDriver::sleep_until(TimePoint deadline) {
  if (stopping_) co_return false;
  boost::system::error_code ec;
  timer_.expires_at(deadline);
  co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
  co_return !stopping_;
}

net::awaitable<void> ScenarioDriver::drain() {
  net::steady_timer poll(io_);
  boost::system::error_code ec;
  while (running_workers_ > 0 || open_in_flight_ > 0) {
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

net::awaitable<void> ScenarioDriver::run() {
  if (scenario_.phases.empty()) {
    // External: only marks the window until stopped.
    events_.on_concurrency(0);
    while (co_await sleep_until(TimePoint::max())) {
    }
  }
  for (const config::Phase& phase : scenario_.phases) {
    if (stopping_) break;
    if (phase.kind == config::Phase::Kind::open_loop) {
      co_await open_loop(phase);
    } else {
      co_await closed_loop(phase);
    }
  }
  idle_.clear();
  events_.on_finished(stopping_);
}

net::awaitable<void> ScenarioDriver::closed_loop(const config::Phase& phase) {
  const RouteRun& route = route_run(phase.route);
  const auto step_length = std::chrono::duration_cast<Duration>(
      phase.kind == config::Phase::Kind::stepped ? phase.step : phase.duration);
  for (int n : phase.concurrency) {
    const TimePoint step_start = Clock::now();
    sink_.route_step(route.index, n, step_start);
    events_.on_concurrency(n);
    wanted_workers_ = n;
    while (running_workers_ < n) {
      net::co_spawn(io_, worker(route, running_workers_++), net::detached);
    }
    if (!co_await sleep_until(step_start + step_length)) break;
  }
  wanted_workers_ = 0;
  co_await drain();
  sink_.route_idle(route.index, Clock::now());
}

net::awaitable<void> ScenarioDriver::worker(const RouteRun& route, int slot) {
  auto conn = connection();
  net::steady_timer backoff(io_);
  while (!stopping_ && slot < wanted_workers_) {
    const std::uint64_t id = next_request_++;
    const TimePoint started = Clock::now();
    sink_.route_started(route.index, id, started);
    live_.insert(conn.get());
    const Exchange ex = co_await conn->exchange(endpoint_, route.spec, started + route.timeout);
    live_.erase(conn.get());
    if (stopping_) {
      sink_.route_cancelled(route.index, id);
      break;
    }
    sink_.route_sample(route.index, id, to_sample(started, ex, route.timeout));
    if (ex.outcome == Outcome::connect_error || ex.outcome == Outcome::tls_error) {
      boost::system::error_code ec;
      backoff.expires_after(kConnectBackoff);
      co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }
  --running_workers_;
  if (!stopping_ && conn->is_open()) idle_.push_back(std::move(conn));
}

net::awaitable<void> ScenarioDriver::open_loop(const config::Phase& phase) {
  const RouteRun& route = route_run(phase.route);
  const TimePoint begin = Clock::now();
  const TimePoint end = begin + std::chrono::duration_cast<Duration>(phase.duration);
  sink_.route_step(route.index, 0, begin);
  events_.on_concurrency(0);
  const auto interval = std::chrono::duration_cast<Duration>(
      std::chrono::duration<double>(1.0 / phase.rate_per_second));
  Schedule schedule(interval, 0.2, begin, next_request_);
  while (!stopping_ && schedule.peek() < end) {
    if (!co_await sleep_until(schedule.peek())) break;
    const TimePoint now = Clock::now();
    while (schedule.peek() <= now && schedule.peek() < end) {
      const TimePoint intended = schedule.take();
      if (open_in_flight_ >= kMaxOpenLoopInFlight) {
        const std::uint64_t id = next_request_++;
        sink_.route_started(route.index, id, intended);
        Sample dropped;
        dropped.intended = dropped.sent = intended;
        dropped.first_byte = dropped.done = now;
        dropped.outcome = Outcome::dropped;
        sink_.route_sample(route.index, id, dropped);
        continue;
      }
      ++open_in_flight_;
      net::co_spawn(io_, one_request(route, intended, connection()), net::detached);
    }
  }
  co_await drain();
  sink_.route_idle(route.index, Clock::now());
}

net::awaitable<void> ScenarioDriver::one_request(const RouteRun& route, TimePoint intended,
                                                 std::unique_ptr<HttpConnection> conn) {
  const std::uint64_t id = next_request_++;
  sink_.route_started(route.index, id, intended);
  live_.insert(conn.get());
  const Exchange ex = co_await conn->exchange(endpoint_, route.spec, intended + route.timeout);
  live_.erase(conn.get());
  if (stopping_) {
    sink_.route_cancelled(route.index, id);
  } else {
    sink_.route_sample(route.index, id, to_sample(intended, ex, route.timeout));
    if (conn->is_open()) idle_.push_back(std::move(conn));
  }
  --open_in_flight_;
}

}  // namespace loopcanary::probes
