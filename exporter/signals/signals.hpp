#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "exporter/signals/route_signals.hpp"
#include "probes/sample.hpp"
#include "probes/self_lag.hpp"

namespace loopcanary::exporter {

using probes::LagEpisode;

/// The prober counts as starved when its lateness beyond the limit adds up to
/// this share of the window, or when one freeze reaches the stall threshold.
inline constexpr double kProberLagRatio = 0.01;

/// The windows and limits the signals are computed with (from config::Global).
struct SignalSettings {
  Duration window = std::chrono::seconds(10);
  Duration stall_threshold = std::chrono::milliseconds(50);
  Duration baseline_window = std::chrono::seconds(60);
  Duration baseline_refresh = std::chrono::seconds(1);
  /// The second refresh comes this much sooner than baseline_refresh after
  /// the first: targets spread their refreshes over the period.
  Duration baseline_phase{};
  /// After the target's first answer (and after a restart) stalls are not
  /// counted for this long and the view says `warming_up`. 0: no warm-up.
  Duration warmup{};
  /// Distinct worker ids kept (canary.worker_id); later ones count as "other".
  std::size_t max_workers = 16;
  /// The statistics over the window's settled samples (busy ratio, lag p99,
  /// the largest stall, evidence) are recomputed at most this often while
  /// only healthy samples settle; at once when a stall, a failure or an
  /// unreliable sample enters or leaves the window. 0: every evaluation.
  Duration window_refresh{};

  static SignalSettings from(const config::Global& global, const config::Target& target);
};

/// Per-canary state shown in the view.
struct CanaryView {
  std::optional<Duration> baseline;  ///< b: p5 of healthy latency
  Duration epsilon{};                ///< ε: p99 − p5 of healthy latency
};

/// One worker process of a pre-fork server, as the canaries' answers named it
/// (canary.worker_id).
struct WorkerView {
  std::string name;          ///< the id the answers carry, or "other" past max_workers
  std::uint64_t probes = 0;  ///< answered probes it served
  double partial_stall_seconds_total = 0;  ///< partial stall on its connections
  std::size_t connections = 0;             ///< probe connections it serves now
  bool stalled = false;                    ///< one of them is stalled now
  TimePoint first_seen{};                  ///< its first answered probe
};

/// Everything the signals say about one target at one instant. Counters are
/// cumulative since the signals were created; gauges are over the window W.
struct TargetView {
  TimePoint at{};
  Duration window{};           ///< W, as configured
  Duration stall_threshold{};  ///< θ, as configured
  double stall_seconds_total = 0;
  std::uint64_t stalls_total = 0;
  Duration stall_in_progress{};
  Duration stall_max{};
  double stall_ratio = 0;
  std::optional<Duration> lag_p99;
  double busy_ratio = 0;
  std::vector<CanaryView> canaries;

  // Part of the service stalled: a probe waited on its connection (a
  // pre-fork server pins each to one worker) while probes on others were
  // answered. Same θ and window as the whole-service stall above.
  double partial_stall_seconds_total = 0;
  std::uint64_t partial_stalls_total = 0;
  Duration partial_stall_in_progress{};  ///< the longest stalled connection now
  Duration partial_stall_max{};          ///< the longest partial stall in W, or now
  double partial_stall_ratio = 0;        ///< partial stall seconds in W / W
  std::size_t connections_open = 0;      ///< the target's open probe connections
  std::size_t connections_stalled = 0;   ///< of those, stalled now while others answered
  std::vector<WorkerView> workers;       ///< with canary.worker_id only

  bool warming_up = false;  ///< the target (re)started less than `warmup` ago
  Duration warmup_left{};

  int consecutive_failures = 0;
  double failure_ratio = 0;
  std::size_t expected = 0;    ///< probes intended in W
  std::size_t evidence = 0;    ///< of those: reliably timed, or still outstanding
  std::size_t unreliable = 0;  ///< of those: timed while the prober itself was late
  bool has_baseline = false;
  Duration prober_lag_in_window{};  ///< summed lateness beyond the limit in W
  Duration prober_lag_worst{};      ///< the worst single episode in W
  bool prober_starved = false;

  std::vector<RouteView> routes;
};

/// Turns one target's canary samples and heavy-route requests into the derived
/// signals of DESIGN.md: baseline, excess, stall seconds (interval union),
/// stalls, stall in progress, stall max, lag, busy ratio, and per route HOL,
/// amplification, capacity and knee. Pure and single-threaded: no I/O, the
/// clock is the `now` passed in, the owner serialises calls.
///
/// Samples are *settled* before they count: only at `evaluate`, in order of
/// intended time, once every older probe of the target has ended (so the
/// interval union sees them in order) and once the prober lag episodes that
/// could overlap them are known (so a starved prober is never blamed on the
/// target).
class TargetSignals {
 public:
  TargetSignals(SignalSettings settings, std::size_t canaries,
                std::vector<RouteSignals::Settings> routes);

  void canary_scheduled(std::size_t canary, TimePoint intended);
  void canary_sample(std::size_t canary, const Sample& sample);
  void canary_sent(std::size_t canary, std::uint32_t connection, TimePoint oldest);
  void canary_worker(std::size_t canary, std::uint32_t connection, const std::string& worker);
  void canary_connection_closed(std::size_t canary, std::uint32_t connection);
  void route_started(std::size_t route, std::uint64_t request, TimePoint at);
  void route_sample(std::size_t route, std::uint64_t request, const Sample& sample);
  void route_cancelled(std::size_t route, std::uint64_t request);
  void route_step(std::size_t route, int concurrency, TimePoint at);
  void route_idle(std::size_t route, TimePoint at);
  void prober_lag(const LagEpisode& episode);

  /// Settles what can be settled and computes the view at `now`. The excess of
  /// every sample settled now is appended to `lag_observations` when given.
  TargetView evaluate(TimePoint now, std::vector<Duration>* lag_observations = nullptr);
  /// How many evaluations recomputed the window statistics: the evaluation's
  /// main cost, watched by a test.
  std::size_t window_recomputes() const { return window_recomputes_; }

  static constexpr std::size_t kMinBaselineSamples = 10;
  /// Route signals move with whole requests, not with each tick: refresh them
  /// this often.
  static constexpr auto kRouteRefresh = std::chrono::milliseconds(100);

 private:
  static constexpr std::size_t kNoWorker = static_cast<std::size_t>(-1);
  struct Pending {
    std::size_t canary;
    Sample sample;
    std::size_t worker = kNoWorker;  ///< of its connection, when known
  };
  /// A probe connection: its request in flight (the oldest probe it carries)
  /// and the worker that serves it.
  struct Connection {
    std::optional<TimePoint> busy_since;
    std::size_t worker = kNoWorker;
  };
  struct Worker {
    WorkerView view;
  };
  struct Settled {
    TimePoint t;
    Duration e;          ///< excess of the measured latency (lag, busy)
    Duration stall_e;    ///< excess up to when a later probe was answered (stalls)
    Duration partial_e;  ///< its own excess when a later probe overtook it (partial stalls)
    std::size_t canary;
    bool meaningful;
    bool reliable;
    bool failed;
    bool dropped;
    bool warmup;  ///< intended during a warm-up: counted as evidence, in no statistic
  };
  struct Healthy {
    TimePoint t;
    double latency;  ///< seconds
    bool quiet;      ///< no heavy request of the target was in flight at t
  };
  struct History {
    std::deque<Healthy> ok;  ///< reliable ok latencies
    std::optional<Duration> baseline;
    Duration epsilon{};
  };

  /// `overtaken_at`: when the first probe intended after this one was
  /// answered, if one was — the target was serving again by then.
  /// `elsewhere_at`: the same, counting only answers that may come from
  /// another worker than this probe's (theirs or its own unknown).
  void settle(const Pending& p, std::optional<TimePoint> overtaken_at,
              std::optional<TimePoint> elsewhere_at, std::vector<Duration>* lag_observations);
  /// Whether an answer by `from` (kNoWorker: unknown) may come from another
  /// worker than `worker`: one loop cannot stall in part.
  /// A worker index as the partial stall compares it: the "other" bucket of
  /// workers past max_workers holds several, so it names none.
  std::size_t known_worker(std::size_t worker) const {
    return worker == overflow_worker_ ? kNoWorker : worker;
  }
  std::size_t overflow_worker_ = kNoWorker;
  /// The first lag episode that ended after `from`.
  std::deque<LagEpisode>::const_iterator episodes_after(TimePoint from) const;
  /// How much of [from, to] the prober itself spent in lag episodes.
  Duration lag_within(TimePoint from, TimePoint to) const;
  /// The lag that may have delayed sample `s`: see settle().
  Duration lag_of(const Sample& s) const;
  /// Whether something that took `took` (beyond the baseline `b`) while the
  /// prober lagged for `lag` of it still tells of the target: no lag at all,
  /// or a lag that explains less than half of its excess over θ.
  bool outlasts_lag(Duration took, Duration b, Duration lag) const;
  /// The start of a stall segment, moved past a warm-up it falls in.
  TimePoint after_warmup(TimePoint from) const;
  bool in_warmup(TimePoint t) const;
  /// Adds [from, to] to a union kept with `covered`; true when it starts an episode.
  static bool add_to_union(TimePoint from, TimePoint to, std::optional<TimePoint>& covered,
                           std::deque<std::pair<TimePoint, TimePoint>>& segments, double& total);
  std::size_t worker_index(const std::string& name);
  static std::uint64_t connection_key(std::size_t canary, std::uint32_t id) {
    return (static_cast<std::uint64_t>(canary) << 32) | id;
  }
  void refresh_baselines(TimePoint now);
  void prune(TimePoint now);
  Duration baseline_of(std::size_t canary) const;

  SignalSettings settings_;
  std::vector<History> history_;
  std::vector<RouteSignals> routes_;
  std::multiset<std::pair<TimePoint, std::size_t>> outstanding_;
  std::multimap<TimePoint, Pending> pending_;
  std::deque<TimePoint> scheduled_;
  std::deque<Settled> window_;
  /// What evaluate() last computed over window_ (see SignalSettings::window_refresh).
  /// Counts over window_, kept as samples enter and leave it: exact at every
  /// evaluation without the loop over the window.
  struct WindowCounts {
    std::size_t unreliable = 0, answered = 0, failed = 0;
    void add(const Settled& w, int sign);
  };
  WindowCounts window_counts_;
  void window_push(const Settled& w);
  struct WindowStats {
    std::size_t busy = 0, meaningful = 0;
    Duration stall_max{};
    Duration partial_stall_max{};
    std::optional<Duration> lag_p99;
  };
  WindowStats window_stats_;
  std::optional<TimePoint> window_stats_at_;
  bool window_dirty_ = true;  ///< a notable sample entered or left window_
  std::size_t window_recomputes_ = 0;
  bool notable(const Settled& w) const;
  std::deque<LagEpisode> lag_episodes_;
  std::optional<TimePoint> last_baseline_refresh_;
  std::optional<TimePoint> last_route_refresh_;
  std::vector<RouteView> route_views_;

  double stall_seconds_total_ = 0;
  std::uint64_t stalls_total_ = 0;
  std::optional<TimePoint> covered_until_;
  std::deque<std::pair<TimePoint, TimePoint>> stall_segments_;
  int consecutive_failures_ = 0;
  /// The latest intended time of a probe that was answered (on arrival):
  /// outstanding probes older than it were overtaken, not stuck in a stall.
  std::optional<TimePoint> last_answered_;
  /// The latest answered probe's intended time, by the worker that answered
  /// it (indexed as workers_), and among answers of no known worker.
  std::vector<std::optional<TimePoint>> last_answered_by_;
  std::optional<TimePoint> last_answered_unknown_;
  /// The latest answer that may come from another worker than `worker`.
  std::optional<TimePoint> last_answered_elsewhere(std::size_t worker) const;

  double partial_stall_seconds_total_ = 0;
  std::uint64_t partial_stalls_total_ = 0;
  std::optional<TimePoint> partial_covered_until_;
  std::deque<std::pair<TimePoint, TimePoint>> partial_segments_;
  std::map<std::uint64_t, Connection> connections_;  ///< by connection_key
  std::vector<Worker> workers_;
  std::map<std::string, std::size_t> worker_names_;

  /// Warm-ups as [from, until): from the first probe after a (re)start to
  /// `warmup` after the first answer. `restart_from_` is set while a start is
  /// pending (before the first answer, or after a refused connection).
  std::deque<std::pair<TimePoint, TimePoint>> warmups_;
  std::optional<TimePoint> restart_from_ = TimePoint::min();
};

}  // namespace loopcanary::exporter
