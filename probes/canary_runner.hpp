#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "config/config.hpp"
#include "probes/http_client.hpp"
#include "probes/probe_book.hpp"
#include "probes/schedule.hpp"
#include "probes/self_lag.hpp"
#include "probes/sink.hpp"

namespace loopcanary::probes {

/// Runs one canary: wakes at each planned intended time, admits the probe,
/// sends it over a connection from the canary's pool and reports every
/// outcome to the sink. Lives on the prober's io_context and must only be
/// touched from it, except `set_busy`, which posts. Must outlive the coroutines
/// it spawns: destroy the io_context (or let it finish) first.
class CanaryRunner {
 public:
  CanaryRunner(net::io_context& io, const config::Target& target, const config::Canary& canary,
               std::size_t index, std::shared_ptr<net::ssl::context> tls, ProbeSink& sink,
               SelfLagMeter& lag, std::uint64_t seed);

  void start();
  /// Ends the schedule and aborts running exchanges; every coroutine of this
  /// runner then finishes promptly. Call on the prober's executor.
  void stop();
  /// Switch to `interval` while a scenario runs (true), to `idle_interval`
  /// otherwise. Safe from any thread.
  void set_busy(bool busy);
  /// Called at the end of every wake-up of this runner (a send, an answer),
  /// so that other work of the prober can be done in passing, without a
  /// wake-up of its own. Set before start().
  void on_wake(std::function<void(TimePoint)> hook) { on_wake_ = std::move(hook); }

  std::size_t in_flight() const { return book_.outstanding(); }
  /// Reads the answers that have arrived on the polled path (see
  /// HttpConnection::can_poll). Every wake-up of the prober calls it first,
  /// and the evaluation too, so no answer waits unread past an evaluation.
  void poll();
  /// Sends this canary's next probe now when it is planned within `ahead`
  /// from `now`, with `now` as its intended time: probes of several canaries
  /// due within the same millisecond go out in one wake-up of the prober.
  /// Not for a canary whose interval is under 5 × `ahead` (its own probes
  /// would bunch). Its timer is re-armed for the probe after.
  void send_early(TimePoint now, Duration ahead);
  Duration current_interval() const { return schedule_.interval(); }
  const config::Canary& canary() const { return canary_; }

 private:
  net::awaitable<void> schedule_loop();
  /// Runs `batch` (taken by dispatch), then further waiting probes, on `connection`.
  net::awaitable<void> request_loop(std::unique_ptr<HttpConnection> connection,
                                    ProbeBook::Batch batch);
  void dispatch();
  /// Sends `batch` on `connection`: polled when it can be, else by a coroutine.
  void send(std::unique_ptr<HttpConnection> connection, ProbeBook::Batch batch);
  /// What follows an exchange, on either path: report it, then carry on with
  /// the connection (the next waiting batch, or back to the pool).
  void finished(std::unique_ptr<HttpConnection> connection, const ProbeBook::Batch& batch,
                const Exchange& result);
  void report(HttpConnection& connection, const ProbeBook::Batch& batch, const Exchange& result);
  /// The connection for the next request: a new one while the pool is not
  /// full, else the least recently used idle one (so probes go round all of
  /// them); every `renew_connections` one idle connection is replaced first.
  std::unique_ptr<HttpConnection> next_connection(TimePoint now);
  /// Closes one idle connection to be replaced; false when none should go now.
  bool renew_one(TimePoint now);
  std::unique_ptr<HttpConnection> open_connection();
  void closed(const HttpConnection& connection);
  void emit(const Sample& sample);
  void expire(TimePoint now);

  net::io_context& io_;
  config::Canary canary_;
  std::size_t index_;
  std::shared_ptr<net::ssl::context> tls_;
  ProbeSink& sink_;
  SelfLagMeter& lag_;
  Endpoint endpoint_;
  RequestSpec spec_;
  ProbeBook book_;
  Schedule schedule_;
  net::steady_timer timer_;
  std::deque<std::unique_ptr<HttpConnection>> idle_;  ///< least recently used first
  std::set<HttpConnection*> live_;                    ///< running an exchange now
  struct Polled {
    std::unique_ptr<HttpConnection> connection;
    ProbeBook::Batch batch;
  };
  std::vector<Polled> polled_;  ///< requests on the wire whose answer is read by poll()
  std::vector<Polled> spare_;   ///< poll()'s list between calls: its storage, kept
  Duration renew_every_;
  TimePoint last_renewal_;
  TimePoint last_rotation_;  ///< last renewal of a connection whose worker no other reached
  std::size_t active_ = 0;
  std::size_t slots_;
  std::uint32_t next_connection_id_ = 1;
  bool stopping_ = false;
  std::function<void(TimePoint)> on_wake_;
};

}  // namespace loopcanary::probes
