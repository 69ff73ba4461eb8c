#include "exporter/monitor.hpp"

#include <boost/asio/post.hpp>
#include <cmath>
#include <future>
#include <random>

#include "exporter/log.hpp"

namespace loopcanary::exporter {

using probes::seconds;

namespace {

/// How long stop() lets coroutines finish before it stops the contexts hard.
constexpr auto kStopGrace = std::chrono::milliseconds(700);

}  // namespace

Monitor::Monitor(std::shared_ptr<const config::Config> config, Metrics& metrics)
    : config_(std::move(config)),
      metrics_(metrics),
      lag_meter_(std::chrono::duration_cast<Duration>(config_->global.self_lag_limit)) {
  std::random_device entropy;
  for (std::size_t t = 0; t < config_->targets.size(); ++t) {
    const config::Target& target = config_->targets[t];
    tls_.push_back(target.url.scheme == "https" ? probes::make_tls_context(target.tls) : nullptr);
  }
  for (std::size_t t = 0; t < config_->targets.size(); ++t) {
    const config::Target& target = config_->targets[t];
    targets_.push_back(std::make_unique<TargetMonitor>(*config_, target, metrics_));
    for (std::size_t c = 0; c < target.canaries.size(); ++c) {
      const std::uint64_t seed = (std::uint64_t{entropy()} << 32) ^ entropy();
      runners_.emplace_back(
          t, std::make_unique<probes::CanaryRunner>(prober_io_, target, target.canaries[c], c,
                                                    tls_[t], *targets_[t], lag_meter_, seed));
      targets_[t]->set_canary_interval(c, target.canaries[c].idle_interval);
    }
  }
  for (const config::Scenario& s : config_->scenarios) {
    Scenario& sc = scenarios_[s.name];
    sc.state.name = s.name;
    sc.state.target = s.target;
    sc.state.external = s.phases.empty();
    for (std::size_t t = 0; t < config_->targets.size(); ++t) {
      if (config_->targets[t].name == s.target) sc.target = t;
    }
    metrics_.scenario_running.Add({{"target", s.target}, {"scenario", s.name}}).Set(0);
    metrics_.scenario_concurrency.Add({{"target", s.target}, {"scenario", s.name}}).Set(0);
  }
}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
  if (started_) return;
  started_ = true;
  prober_work_.emplace(prober_io_.get_executor());
  scenario_work_.emplace(scenario_io_.get_executor());
  tick_timer_ = std::make_unique<net::steady_timer>(prober_io_);
  net::post(prober_io_, [this] {
    const probes::TimePoint now = probes::Clock::now();
    for (auto& [target, runner] : runners_) {
      runner->on_wake([this](probes::TimePoint at) { woke(at); });
      runner->start();
    }
    next_tick_ = now + kTick;
    last_lag_publish_ = now;
    arm_timer(now);
  });
  prober_thread_ = std::thread([this] { prober_io_.run(); });
  scenario_thread_ = std::thread([this] { scenario_io_.run(); });
}

void Monitor::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  net::post(prober_io_, [this] {
    tick_timer_->cancel();
    for (auto& [target, runner] : runners_) runner->stop();
  });
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, sc] : scenarios_) {
      if (sc.driver) sc.driver->stop();
    }
  }
  prober_work_.reset();
  scenario_work_.reset();
  // Every coroutine ends by itself once its sockets are cancelled; give them a
  // moment, then stop hard so that SIGTERM is honoured within a second.
  auto wait = [](std::thread& thread, net::io_context& io, auto deadline) {
    auto done = std::async(std::launch::async, [&thread] { thread.join(); });
    if (done.wait_until(deadline) != std::future_status::ready) {
      io.stop();
      done.wait();
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  wait(prober_thread_, prober_io_, deadline);
  wait(scenario_thread_, scenario_io_, deadline);
}

void Monitor::woke(probes::TimePoint now) {
  if (stopped_) return;
  // The evaluation timer was due and has not fired: something else ran first,
  // so the prober is late for it by this much. Say so before anything is
  // evaluated: an answer read by a coroutine after the prober was frozen
  // (CPU throttling) is timed late, and only a known lag makes it unreliable
  // rather than a stall of the target. (The 40 Hz tick used to catch every
  // freeze longer than 25 ms this way; now this timer is the sentinel.)
  if (timer_at_ != probes::TimePoint{} && now > timer_at_) lag_meter_.record(timer_at_, now);
  for (auto& [target, runner] : runners_) runner->send_early(now, kBatch);
  if (now >= next_tick_) on_tick(now);
  arm_timer(now);
}

void Monitor::arm_timer(probes::TimePoint now) {
  bool in_flight = false;
  for (const auto& [target, runner] : runners_) in_flight = in_flight || runner->in_flight() > 0;
  // A probe in flight may be a stall in progress: evaluate soon even if
  // nothing wakes the prober. Otherwise only time itself changes the signals
  // (windows age, a finding clears, warm-up ends): once a second will do.
  probes::TimePoint at = in_flight ? next_tick_ + kSlack : next_tick_ - kTick + kIdle;
  if (at < now) at = now;
  if (at == timer_at_) return;
  timer_at_ = at;
  tick_timer_->expires_at(at);
  tick_timer_->async_wait([this, at](const boost::system::error_code& ec) {
    if (ec || stopped_ || at != timer_at_) return;  // re-armed meanwhile
    const probes::TimePoint woke_at = probes::Clock::now();
    // Only this timer's own lateness says how late the prober is; a wake-up
    // that evaluates in passing was not meant for then.
    lag_meter_.record(at, woke_at);
    on_tick(woke_at);
    arm_timer(woke_at);
  });
}

void Monitor::on_tick(probes::TimePoint now) {
  // Answers that arrived since the last wake-up first (with the kernel's
  // arrival times): a probe answered but not yet read is no stall.
  for (auto& [target, runner] : runners_) runner->poll();
  const std::vector<probes::LagEpisode> episodes = lag_meter_.take_episodes();
  for (const auto& ep : episodes) {
    log::debug("prober late", {{"late_ms", std::round(seconds(ep.lateness()) * 10000) / 10}});
  }
  for (auto& target : targets_) target->tick(now, episodes);
  lag_max_second_ = std::max(lag_max_second_, lag_meter_.take_max());
  if (now - last_lag_publish_ >= std::chrono::seconds(1)) {
    metrics_.prober_lag_gauge.Set(seconds(lag_max_second_));
    lag_max_second_ = Duration::zero();
    last_lag_publish_ = now;
  }
  next_tick_ = now + kTick;
}

std::vector<TargetSnapshot> Monitor::snapshot() const {
  std::vector<TargetSnapshot> out;
  out.reserve(targets_.size());
  for (const auto& t : targets_) out.push_back(t->snapshot());
  return out;
}

void Monitor::set_target_busy(std::size_t target, bool busy) {
  const config::Target& t = config_->targets[target];
  std::size_t canary = 0;
  for (auto& [index, runner] : runners_) {
    if (index != target) continue;
    runner->set_busy(busy);
    const auto& c = t.canaries[canary++];
    targets_[target]->set_canary_interval(canary - 1, busy ? c.interval : c.idle_interval);
  }
}

Monitor::StartResult Monitor::start_scenario(const std::string& name, bool repeat,
                                             std::string* detail) {
  std::lock_guard lock(mutex_);
  auto it = scenarios_.find(name);
  if (it == scenarios_.end()) return StartResult::unknown;
  for (const auto& [other, sc] : scenarios_) {
    if (sc.target == it->second.target && (sc.state.running || sc.driver)) {
      if (detail) *detail = other;
      return StartResult::conflict;
    }
  }
  it->second.repeat = repeat;
  launch(name);
  return StartResult::started;
}

void Monitor::launch(const std::string& name) {
  Scenario& sc = scenarios_.at(name);
  const config::Scenario& spec = *config_->find_scenario(name);
  probes::ScenarioDriver::Events events;
  events.on_concurrency = [this, name](int n) {
    std::lock_guard lock(mutex_);
    Scenario& s = scenarios_.at(name);
    s.state.concurrency = n;
    metrics_.scenario_concurrency.Add({{"target", s.state.target}, {"scenario", name}}).Set(n);
  };
  events.on_finished = [this, name](bool stopped) { scenario_finished(name, stopped); };
  sc.driver = std::make_unique<probes::ScenarioDriver>(scenario_io_, config_->targets[sc.target],
                                                       spec, tls_[sc.target], *targets_[sc.target],
                                                       std::move(events), ++scenario_serial_ << 40);
  sc.state.running = true;
  sc.state.stopping = false;
  sc.state.started_at = std::chrono::system_clock::now();
  sc.state.ended_at.reset();
  ++sc.state.runs;
  metrics_.scenario_running.Add({{"target", sc.state.target}, {"scenario", name}}).Set(1);
  set_target_busy(sc.target, true);
  log::info("scenario started", {{"scenario", name}, {"target", sc.state.target}});
  net::post(scenario_io_, [driver = sc.driver.get()] { driver->start(); });
}

void Monitor::scenario_finished(const std::string& name, bool stopped) {
  bool relaunch = false;
  {
    std::lock_guard lock(mutex_);
    Scenario& sc = scenarios_.at(name);
    sc.state.running = false;
    sc.state.stopping = false;
    sc.state.concurrency = 0;
    sc.state.ended_at = std::chrono::system_clock::now();
    sc.state.last_result = stopped ? "stopped" : "completed";
    metrics_.scenario_running.Add({{"target", sc.state.target}, {"scenario", name}}).Set(0);
    metrics_.scenario_concurrency.Add({{"target", sc.state.target}, {"scenario", name}}).Set(0);
    set_target_busy(sc.target, false);
    relaunch = sc.repeat && !stopped && !stopped_;
    log::info("scenario ended", {{"scenario", name}, {"result", sc.state.last_result}});
  }
  // The driver is still on the stack (this is its last callback): destroy it,
  // and start the next repetition, from a fresh handler.
  net::post(scenario_io_, [this, name, relaunch] {
    std::lock_guard lock(mutex_);
    Scenario& sc = scenarios_.at(name);
    sc.driver.reset();
    if (relaunch && !stopped_) launch(name);
  });
}

Monitor::StopResult Monitor::stop_scenario(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = scenarios_.find(name);
  if (it == scenarios_.end()) return StopResult::unknown;
  Scenario& sc = it->second;
  if (!sc.state.running || !sc.driver) return StopResult::not_running;
  sc.repeat = false;
  sc.state.stopping = true;
  sc.driver->stop();
  return StopResult::stopping;
}

std::vector<ScenarioState> Monitor::scenarios() const {
  std::lock_guard lock(mutex_);
  std::vector<ScenarioState> out;
  for (const config::Scenario& s : config_->scenarios) out.push_back(scenarios_.at(s.name).state);
  return out;
}

std::optional<ScenarioState> Monitor::scenario(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = scenarios_.find(name);
  if (it == scenarios_.end()) return std::nullopt;
  return it->second.state;
}

void Monitor::remove_metrics_not_in(const config::Config& next) {
  for (auto& t : targets_) t->remove_metrics(next.find_target(t->name()));
  std::lock_guard lock(mutex_);
  for (const auto& [name, sc] : scenarios_) {
    const config::Scenario* kept = next.find_scenario(name);
    if (kept && kept->target == sc.state.target) continue;
    const Labels labels{{"target", sc.state.target}, {"scenario", name}};
    metrics_.scenario_running.Remove(&metrics_.scenario_running.Add(labels));
    metrics_.scenario_concurrency.Remove(&metrics_.scenario_concurrency.Add(labels));
  }
}

}  // namespace loopcanary::exporter
