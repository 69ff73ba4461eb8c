#include "probes/canary_runner.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace loopcanary::probes {

CanaryRunner::CanaryRunner(net::io_context& io, const config::Target& target,
                           const config::Canary& canary, std::size_t index,
                           std::shared_ptr<net::ssl::context> tls, ProbeSink& sink,
                           SelfLagMeter& lag, std::uint64_t seed)
    : io_(io),
      canary_(canary),
      index_(index),
      tls_(std::move(tls)),
      sink_(sink),
      lag_(lag),
      endpoint_(make_endpoint(target)),
      spec_(make_request(target, canary_.method, canary_.path, canary_.headers, {}, canary_.expect,
                         canary_.max_body_bytes, canary_.keepalive)),
      book_({std::chrono::duration_cast<Duration>(canary_.timeout), canary_.max_in_flight,
             canary_.keepalive}),
      schedule_(std::chrono::duration_cast<Duration>(canary_.idle_interval), canary_.jitter,
                Clock::now(), seed),
      timer_(io),
      renew_every_(std::chrono::duration_cast<Duration>(canary_.renew_connections)),
      last_renewal_(Clock::now()),
      last_rotation_(Clock::now()),
      slots_(canary_.keepalive ? canary_.connections : canary_.max_in_flight) {
  if (canary_.worker_id.configured()) spec_.worker_id = &canary_.worker_id;
  spec_.polled = canary_.keepalive;
}

void CanaryRunner::start() { net::co_spawn(io_, schedule_loop(), net::detached); }

void CanaryRunner::stop() {
  stopping_ = true;
  timer_.cancel();
  for (auto& c : idle_) c->close();
  idle_.clear();
  for (auto& p : polled_) p.connection->close();
  polled_.clear();
  for (HttpConnection* c : live_) c->cancel();
}

void CanaryRunner::set_busy(bool busy) {
  net::post(io_, [this, busy] {
    const auto interval = busy ? canary_.interval : canary_.idle_interval;
    schedule_.set_interval(std::chrono::duration_cast<Duration>(interval), Clock::now());
    timer_.cancel();  // re-arm for the re-planned next probe
  });
}

void CanaryRunner::send_early(TimePoint now, Duration ahead) {
  if (stopping_ || schedule_.interval() < 5 * ahead) return;
  const TimePoint next = schedule_.peek();
  // Due already: its own timer has expired and runs in this same wake-up.
  if (next <= now || next > now + ahead) return;
  schedule_.take();  // planned from the planned time, as ever: no drift
  poll();
  sink_.canary_scheduled(index_, now);
  if (auto dropped = book_.admit(now, now)) emit(*dropped);
  expire(now);
  dispatch();
  timer_.cancel();  // schedule_loop re-arms for the probe after this one
}

net::awaitable<void> CanaryRunner::schedule_loop() {
  boost::system::error_code ec;
  while (!stopping_) {
    const TimePoint deadline = schedule_.peek();
    timer_.expires_at(deadline);
    co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (stopping_) break;
    const TimePoint now = Clock::now();
    if (ec == net::error::operation_aborted && now < schedule_.peek()) continue;  // re-planned
    lag_.record(deadline, now);
    poll();
    // Open loop: every planned probe exists, however late we woke. A prober
    // frozen for a second issues the hundred probes it owes (they are
    // coalesced on the wire and marked unreliable by the signals).
    while (schedule_.peek() <= now) {
      const TimePoint intended = schedule_.take();
      sink_.canary_scheduled(index_, intended);
      if (auto dropped = book_.admit(intended, now)) emit(*dropped);
    }
    expire(now);
    dispatch();
    if (on_wake_) on_wake_(Clock::now());
  }
}

void CanaryRunner::expire(TimePoint now) {
  for (const Sample& s : book_.expire(now)) emit(s);
}

std::unique_ptr<HttpConnection> CanaryRunner::open_connection() {
  return std::make_unique<HttpConnection>(io_.get_executor(), tls_, next_connection_id_++);
}

void CanaryRunner::closed(const HttpConnection& connection) {
  sink_.canary_connection_closed(index_, connection.id());
}

bool CanaryRunner::renew_one(TimePoint now) {
  // The oldest idle connection goes (ids grow with time): a fresh one may
  // land on a worker no connection reaches yet.
  auto oldest = [this](auto keep) {
    auto victim = idle_.end();
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (keep(**it) && (victim == idle_.end() || (*it)->id() < (*victim)->id())) victim = it;
    }
    return victim;
  };
  auto victim = oldest([](const HttpConnection&) { return true; });
  if (spec_.worker_id) {
    // With worker ids, only a connection whose worker another one also
    // reaches goes, so a worker once sampled stays sampled. When every
    // connection reaches a worker of its own, the pool may be smaller than
    // the server: rotate the oldest, slowly, to find the others.
    // Every open connection of the pool: idle, on a coroutine, or polled.
    std::vector<const HttpConnection*> all;
    for (const auto& c : idle_) all.push_back(c.get());
    for (const HttpConnection* c : live_) all.push_back(c);
    for (const auto& p : polled_) all.push_back(p.connection.get());
    const auto shared = [&](const HttpConnection& c) {
      return !c.worker().empty() &&
             std::count_if(all.begin(), all.end(), [&](const HttpConnection* other) {
               return other->worker() == c.worker();
             }) > 1;
    };
    const bool any_shared =
        std::any_of(all.begin(), all.end(), [&](const HttpConnection* c) { return shared(*c); });
    if (any_shared) {
      victim = oldest(shared);
      if (victim == idle_.end()) return false;  // the shared ones are busy: later
    } else if (now - last_rotation_ < renew_every_ * static_cast<long>(slots_)) {
      // Every connection reaches a worker of its own: keep that coverage a
      // while (a full pool's worth of renewals) before looking further.
      return false;
    }
  }
  last_rotation_ = now;
  if (victim == idle_.end()) return false;
  (*victim)->close();
  closed(**victim);
  idle_.erase(victim);
  return true;
}

std::unique_ptr<HttpConnection> CanaryRunner::next_connection(TimePoint now) {
  if (canary_.keepalive && renew_every_ > Duration::zero() && now - last_renewal_ >= renew_every_ &&
      !idle_.empty() && idle_.size() + active_ >= slots_ && renew_one(now)) {
    last_renewal_ = now;
  }
  // A pool that is not full grows (each new connection may reach another
  // worker), unless an idle one has waited a whole renewal period: it goes
  // first, so a connection the server closed meanwhile is found and closed
  // (a target that went away refuses every new one).
  const Duration stale_after =
      renew_every_ > Duration::zero() ? renew_every_ : std::chrono::seconds(1);
  const bool stale = !idle_.empty() && now - idle_.front()->idle_since >= stale_after;
  if (!canary_.keepalive || idle_.empty() || (idle_.size() + active_ < slots_ && !stale)) {
    return open_connection();
  }
  auto connection = std::move(idle_.front());
  idle_.pop_front();
  return connection;
}

void CanaryRunner::dispatch() {
  while (!stopping_ && book_.has_waiting() && active_ < slots_) {
    std::unique_ptr<HttpConnection> connection = next_connection(Clock::now());
    ++active_;
    // Take the batch now, not when a coroutine first runs (co_spawn only
    // posts it): otherwise the same waiting probe keeps this loop spawning
    // until every slot is used, max_in_flight coroutines for one probe when
    // keepalive is off.
    send(std::move(connection), book_.take(Clock::now()));
  }
}

void CanaryRunner::send(std::unique_ptr<HttpConnection> connection, ProbeBook::Batch batch) {
  if (connection->can_poll()) {
    TimePoint sent;
    if (connection->send(spec_, sent)) {
      sink_.canary_sent(index_, connection->id(), batch.oldest, batch.newest);
      polled_.push_back({std::move(connection), batch});
      return;
    }
    // Not sent (closed by the server while idle): the coroutine reconnects.
  }
  net::co_spawn(io_, request_loop(std::move(connection), batch), net::detached);
}

void CanaryRunner::poll() {
  // finished() may send again on the same connection, appending to polled_:
  // take the current list first (swapped with the spare, so neither list
  // allocates at every poll).
  std::vector<Polled> now = std::move(spare_);
  now.clear();
  now.swap(polled_);
  for (Polled& p : now) {
    if (stopping_) break;
    Exchange result;
    switch (p.connection->poll(spec_, p.batch.deadline, result)) {
      case HttpConnection::Polled::waiting:
        polled_.push_back(std::move(p));
        break;
      case HttpConnection::Polled::retry:
        // The keep-alive race: the same request once more, on a fresh connection.
        net::co_spawn(io_, request_loop(std::move(p.connection), p.batch), net::detached);
        break;
      case HttpConnection::Polled::done:
        finished(std::move(p.connection), p.batch, result);
        break;
    }
  }
  now.clear();  // after a stop, closes what was left
  spare_ = std::move(now);
}

void CanaryRunner::report(HttpConnection& connection, const ProbeBook::Batch& batch,
                          const Exchange& result) {
  if (result.outcome != Outcome::ok)
    sink_.canary_error(index_, result.outcome, connection.last_error());
  if (connection.worker_named()) sink_.canary_worker(index_, connection.id(), connection.worker());
  expire(Clock::now());
  for (const Sample& s : book_.complete(batch.id, result)) emit(s);
}

void CanaryRunner::finished(std::unique_ptr<HttpConnection> connection,
                            const ProbeBook::Batch& batch, const Exchange& result) {
  report(*connection, batch, result);
  if (!connection->is_open()) {
    // A connection is one worker's for its life: a reconnect is another
    // connection, with an id of its own.
    closed(*connection);
    connection = open_connection();
  }
  if (book_.has_waiting()) {
    send(std::move(connection), book_.take(Clock::now()));
    return;
  }
  --active_;
  if (canary_.keepalive && connection->is_open()) {
    connection->idle_since = Clock::now();
    idle_.push_back(std::move(connection));
  }
}

net::awaitable<void> CanaryRunner::request_loop(std::unique_ptr<HttpConnection> connection,
                                                ProbeBook::Batch batch) {
  if (stopping_) co_return;
  live_.insert(connection.get());
  sink_.canary_sent(index_, connection->id(), batch.oldest, batch.newest);
  const Exchange result = co_await connection->exchange(endpoint_, spec_, batch.deadline);
  live_.erase(connection.get());
  if (stopping_) co_return;
  finished(std::move(connection), batch, result);
  if (on_wake_) on_wake_(Clock::now());
}

void CanaryRunner::emit(const Sample& sample) { sink_.canary_sample(index_, sample); }

}  // namespace loopcanary::probes
