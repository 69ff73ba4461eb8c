#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "exporter/metrics.hpp"
#include "exporter/snapshot.hpp"
#include "exporter/target_monitor.hpp"
#include "probes/canary_runner.hpp"
#include "probes/scenario_driver.hpp"
#include "probes/self_lag.hpp"

namespace loopcanary::exporter {

namespace net = boost::asio;

/// One configuration at work: the prober thread (canary runners, the self-lag
/// meter, the evaluation tick), the scenario thread (scenario drivers) and a
/// TargetMonitor per target. Built from one immutable config snapshot; a
/// reload builds a new Monitor. Public methods are thread-safe.
class Monitor {
 public:
  /// Throws std::runtime_error when the config cannot be put to work (e.g. an
  /// unreadable TLS CA file), before anything started.
  Monitor(std::shared_ptr<const config::Config> config, Metrics& metrics);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void start();
  /// Stops probing and scenarios, joins the threads. Idempotent.
  void stop();

  const config::Config& config() const { return *config_; }
  std::vector<TargetSnapshot> snapshot() const;

  using StartResult = ScenarioStartResult;
  /// Starts a scenario; `conflict` names the scenario already running on its
  /// target in `detail`.
  StartResult start_scenario(const std::string& name, bool repeat, std::string* detail = nullptr);
  using StopResult = ScenarioStopResult;
  StopResult stop_scenario(const std::string& name);
  std::vector<ScenarioState> scenarios() const;
  std::optional<ScenarioState> scenario(const std::string& name) const;

  /// Removes the series of targets, canaries and routes that `next` no longer has.
  void remove_metrics_not_in(const config::Config& next);

  /// Evaluation: at most this often, at the first wake-up of the prober (a
  /// canary's send, an answer) once due, so that it costs no wake-up of its
  /// own while probes flow. Entries into a worse status are seen this fast.
  static constexpr auto kTick = std::chrono::milliseconds(25);
  /// When nothing else wakes the prober, the evaluation timer does: this long
  /// after the evaluation was due while a probe is in flight (a stall in
  /// progress is still seen within kTick + kSlack), and kIdle otherwise.
  static constexpr auto kSlack = std::chrono::milliseconds(25);
  static constexpr auto kIdle = std::chrono::seconds(1);
  /// A wake-up also sends the probes of other canaries planned within this
  /// much after it (CanaryRunner::send_early): fewer wake-ups with many targets.
  static constexpr auto kBatch = std::chrono::milliseconds(1);

 private:
  struct Scenario {
    ScenarioState state;
    std::size_t target = 0;
    bool repeat = false;
    std::unique_ptr<probes::ScenarioDriver> driver;
  };

  /// Every wake-up of the prober ends here: evaluates when due, and arms the
  /// evaluation timer for when nothing else wakes the prober in time.
  void woke(probes::TimePoint now);
  void arm_timer(probes::TimePoint now);
  void on_tick(probes::TimePoint now);
  void launch(const std::string& name);  // with mutex_ held
  void set_target_busy(std::size_t target, bool busy);
  void scenario_finished(const std::string& name, bool stopped);

  // Declared first, destroyed last: everything below holds timers and sockets
  // of these contexts. stop() lets every coroutine finish before that.
  net::io_context prober_io_;
  net::io_context scenario_io_;

  std::shared_ptr<const config::Config> config_;
  Metrics& metrics_;
  std::vector<std::unique_ptr<TargetMonitor>> targets_;
  std::vector<std::shared_ptr<net::ssl::context>> tls_;
  probes::SelfLagMeter lag_meter_;
  std::vector<std::pair<std::size_t, std::unique_ptr<probes::CanaryRunner>>> runners_;

  mutable std::mutex mutex_;  // scenarios_
  std::map<std::string, Scenario> scenarios_;
  std::uint64_t scenario_serial_ = 0;

  probes::TimePoint next_tick_{};  ///< when the next evaluation is due
  probes::TimePoint timer_at_{};   ///< what the evaluation timer is armed for
  probes::TimePoint last_lag_publish_{};
  Duration lag_max_second_{};

  std::optional<net::executor_work_guard<net::io_context::executor_type>> prober_work_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> scenario_work_;
  std::unique_ptr<net::steady_timer> tick_timer_;
  std::thread prober_thread_;
  std::thread scenario_thread_;
  bool started_ = false;
  std::atomic<bool> stopped_{false};
};

}  // namespace loopcanary::exporter
