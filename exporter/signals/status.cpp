#include "exporter/signals/status.hpp"

#include <fmt/format.h>

#include <iterator>

namespace loopcanary::exporter {

using probes::seconds;

namespace {

/// Writes one finding's evidence over what the previous assessment left in
/// `out`, reusing its strings (most signal names are longer than the small
/// string buffer: a fresh vector cost a dozen allocations per evaluation of
/// every target); drops what is left over when it goes.
struct Builder {
  std::vector<Evidence>& out;
  bool any = false;
  std::size_t used = 0;

  explicit Builder(std::vector<Evidence>& into) : out(into) {}
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;
  ~Builder() { out.resize(used); }

  bool at_least(std::string_view signal, double value, double threshold, Level level, Unit unit) {
    const bool holds = value >= threshold;
    if (used == out.size()) out.emplace_back();
    Evidence& e = out[used++];
    if (e.signal != signal) e.signal.assign(signal);  // the same name as last time, mostly
    e.value = value;
    if (e.op != ">=") e.op.assign(">=");
    e.threshold = threshold;
    e.holds = holds;
    e.level = level;
    e.unit = unit;
    any = any || holds;
    return holds;
  }
};

}  // namespace

std::string format_value(double value, Unit unit) {
  switch (unit) {
    case Unit::seconds:
      if (value >= 10) return fmt::format("{:.1f} s", value);
      if (value >= 1) return fmt::format("{:.2f} s", value);
      if (value >= 0.01) return fmt::format("{:.0f} ms", value * 1000);
      return fmt::format("{:.1f} ms", value * 1000);
    case Unit::ratio:
      return fmt::format("{:.1f} %", value * 100);
    case Unit::count:
      return fmt::format("{:.4g}", value);
  }
  return fmt::format("{}", value);
}

std::string describe(const Evidence& e) {
  const std::string op = e.op == ">=" ? "\u2265" : e.op;
  std::string line = fmt::format("{} {} {} {}", e.signal, format_value(e.value, e.unit), op,
                                 format_value(e.threshold, e.unit));
  if (e.level != Level::healthy) line += fmt::format(" ({})", name(e.level));
  return line;
}

std::string_view name(Level level) {
  switch (level) {
    case Level::unknown:
      return "unknown";
    case Level::healthy:
      return "healthy";
    case Level::degraded:
      return "degraded";
    case Level::critical:
      return "critical";
    case Level::unresponsive:
      return "unresponsive";
  }
  return "unknown";
}

Assessment assess(const TargetView& v, const config::Thresholds& t,
                  const std::vector<std::string>& route_names) {
  Assessment a;
  assess(v, t, route_names, a);
  return a;
}

void assess(const TargetView& v, const config::Thresholds& t,
            const std::vector<std::string>& route_names, Assessment& a) {
  // Every field is written below or reset here; the evidence vectors and
  // strings keep their storage (the Builders overwrite them).
  a.unknown = false;
  a.unknown_reason.clear();
  a.entry = Level::healthy;
  a.exit_holds = {};
  a.finding_enter = {};
  a.finding_exit = {};
  for (auto& line : a.summary) line.clear();
  const double in_progress = seconds(v.stall_in_progress);
  const double stall_max = seconds(v.stall_max);
  const double lag_p99 = v.lag_p99 ? seconds(*v.lag_p99) : 0.0;
  const auto& u = t.unresponsive;
  const auto& c = t.critical;
  const auto& d = t.degraded;

  // Findings and their evidence.
  auto& starvation = a.evidence[static_cast<std::size_t>(Finding::event_loop_starvation)];
  Builder s{starvation};
  const bool stuck = s.at_least("stall_in_progress_seconds", in_progress,
                                seconds(u.stall_in_progress), Level::unresponsive, Unit::seconds);
  const bool long_stall = s.at_least("stall_max_seconds", stall_max, seconds(c.stall_max),
                                     Level::critical, Unit::seconds);
  const bool stall_share_critical =
      s.at_least("stall_ratio", v.stall_ratio, c.stall_ratio, Level::critical, Unit::ratio);
  const bool stall_share =
      s.at_least("stall_ratio", v.stall_ratio, d.stall_ratio, Level::degraded, Unit::ratio);
  const bool laggy =
      s.at_least("lag_p99_seconds", lag_p99, seconds(d.lag_p99), Level::degraded, Unit::seconds);
  a.finding_enter[static_cast<std::size_t>(Finding::event_loop_starvation)] = s.any;
  const bool stall_exit_3 = in_progress < seconds(u.exit_stall_in_progress);
  const bool stall_exit_2 =
      stall_max < seconds(c.exit_stall_max) && v.stall_ratio < c.exit_stall_ratio;
  const bool stall_exit_1 = lag_p99 < seconds(d.exit_lag_p99) && v.stall_ratio < d.exit_stall_ratio;
  a.finding_exit[static_cast<std::size_t>(Finding::event_loop_starvation)] =
      stall_exit_3 && stall_exit_2 && stall_exit_1;

  Builder hol{a.evidence[static_cast<std::size_t>(Finding::head_of_line_blocking)]};
  Builder amp{a.evidence[static_cast<std::size_t>(Finding::executor_queue_amplification)]};
  Builder knee{a.evidence[static_cast<std::size_t>(Finding::concurrency_saturation)]};
  bool hol_exit = true, amp_exit = true, knee_exit = true;
  for (std::size_t i = 0; i < v.routes.size(); ++i) {
    const RouteView& r = v.routes[i];
    const std::string label = i < route_names.size() ? route_names[i] : std::to_string(i);
    if (r.hol_ratio) {
      hol.at_least(fmt::format("hol_blocking_ratio{{route=\"{}\"}}", label), *r.hol_ratio, d.hol,
                   Level::degraded, Unit::ratio);
      hol_exit = hol_exit && *r.hol_ratio < d.exit_hol;
    }
    if (r.amplification) {
      amp.at_least(fmt::format("queue_amplification_ratio{{route=\"{}\"}}", label),
                   *r.amplification, d.queue_amplification, Level::degraded, Unit::count);
      amp_exit = amp_exit && *r.amplification < d.exit_queue_amplification;
    }
    if (r.knee && r.concurrency) {
      // Strictly beyond the knee: at the knee itself the route still scales.
      const bool beyond = knee.at_least(fmt::format("scenario_concurrency{{route=\"{}\"}}", label),
                                        *r.concurrency, *r.knee + 1, Level::healthy, Unit::count);
      knee_exit = knee_exit && !beyond;
    }
  }
  a.finding_enter[static_cast<std::size_t>(Finding::head_of_line_blocking)] = hol.any;
  a.finding_exit[static_cast<std::size_t>(Finding::head_of_line_blocking)] = hol_exit;
  a.finding_enter[static_cast<std::size_t>(Finding::executor_queue_amplification)] = amp.any;
  a.finding_exit[static_cast<std::size_t>(Finding::executor_queue_amplification)] = amp_exit;
  a.finding_enter[static_cast<std::size_t>(Finding::concurrency_saturation)] = knee.any;
  a.finding_exit[static_cast<std::size_t>(Finding::concurrency_saturation)] = knee_exit;

  Builder failures{a.evidence[static_cast<std::size_t>(Finding::canary_failures)]};
  const bool failing = failures.at_least("consecutive_failures", v.consecutive_failures,
                                         u.consecutive_failures, Level::unresponsive, Unit::count);
  failures.at_least("failure_ratio", v.failure_ratio, 0.05, Level::healthy, Unit::ratio);
  a.finding_enter[static_cast<std::size_t>(Finding::canary_failures)] = failures.any;
  a.finding_exit[static_cast<std::size_t>(Finding::canary_failures)] =
      v.consecutive_failures == 0 && v.failure_ratio < 0.01;

  // Part of the service stalled (a worker of a pre-fork server): the same
  // levels as a whole-service stall, from the longest partial stall in W.
  const std::size_t worker_stall = static_cast<std::size_t>(Finding::worker_stall);
  Builder workers{a.evidence[worker_stall]};
  const double partial = seconds(v.partial_stall_max);
  const bool worker_critical =
      workers.at_least("partial_stall_max_seconds", partial, seconds(c.worker_stall),
                       Level::critical, Unit::seconds);
  const bool worker_degraded =
      workers.at_least("partial_stall_max_seconds", partial, seconds(d.worker_stall),
                       Level::degraded, Unit::seconds);
  a.finding_enter[worker_stall] = workers.any;
  const bool worker_exit_2 = partial < seconds(c.exit_worker_stall);
  const bool worker_exit_1 = partial < seconds(d.exit_worker_stall);
  a.finding_exit[worker_stall] = worker_exit_1;
  if (v.connections_stalled > 0) {
    std::string who;
    for (const WorkerView& w : v.workers) {
      if (w.stalled) who += (who.empty() ? " (worker " : ", ") + w.name;
    }
    if (!who.empty()) who += ")";
    fmt::format_to(std::back_inserter(a.summary[worker_stall]),
                   "{} of {} probe connections stalled {} while the others answered{}",
                   v.connections_stalled, v.connections_open,
                   format_value(seconds(v.partial_stall_in_progress), Unit::seconds), who);
  } else if (v.partial_stall_max > Duration::zero()) {
    fmt::format_to(std::back_inserter(a.summary[worker_stall]),
                   "a probe connection stalled {} in the last {} while the others answered",
                   format_value(partial, Unit::seconds),
                   format_value(seconds(v.window), Unit::seconds));
  }

  Builder starved{a.evidence[static_cast<std::size_t>(Finding::prober_starved)]};
  starved.at_least("prober_lag_worst_seconds", seconds(v.prober_lag_worst),
                   seconds(v.stall_threshold), Level::unknown, Unit::seconds);
  starved.at_least("prober_lag_ratio", seconds(v.prober_lag_in_window) / seconds(v.window),
                   kProberLagRatio, Level::unknown, Unit::ratio);
  a.finding_enter[static_cast<std::size_t>(Finding::prober_starved)] = v.prober_starved;
  a.finding_exit[static_cast<std::size_t>(Finding::prober_starved)] = !v.prober_starved;

  // Levels.
  if (stuck || failing) {
    a.entry = Level::unresponsive;
  } else if (long_stall || stall_share_critical || worker_critical) {
    a.entry = Level::critical;
  } else if (stall_share || laggy || hol.any || amp.any || worker_degraded) {
    a.entry = Level::degraded;
  }
  a.exit_holds[static_cast<int>(Level::unresponsive)] = stall_exit_3 && v.consecutive_failures == 0;
  a.exit_holds[static_cast<int>(Level::critical)] = stall_exit_2 && worker_exit_2;
  a.exit_holds[static_cast<int>(Level::degraded)] =
      stall_exit_1 && hol_exit && amp_exit && worker_exit_1;
  a.exit_holds[static_cast<int>(Level::healthy)] = true;

  // Unknown: we cannot vouch for the numbers.
  if (v.prober_starved) {
    a.unknown = true;
    fmt::format_to(
        std::back_inserter(a.unknown_reason),
        "loopcanary itself was starved: its timers fired up to {:.0f} ms late in the window",
        seconds(v.prober_lag_worst) * 1000);
  } else if (v.warming_up) {
    a.unknown = true;
    fmt::format_to(
        std::back_inserter(a.unknown_reason),
        "the target is warming up after it (re)started: signals are computed, stalls not "
        "counted, the status waits {} more",
        format_value(seconds(v.warmup_left), Unit::seconds));
  } else if (v.expected == 0 || v.evidence * 2 < v.expected) {
    a.unknown = true;
    fmt::format_to(std::back_inserter(a.unknown_reason),
                   "only {} of {} probes in the window were reliably timed", v.evidence,
                   v.expected);
  } else if (!v.has_baseline && !failing) {
    a.unknown = true;
    a.unknown_reason = "no baseline latency yet (too few successful probes)";
  }
}

void StatusMachine::update(TimePoint now, const Assessment& a) {
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    if (a.finding_enter[i]) {
      findings_[i] = true;
    } else if (findings_[i] && a.finding_exit[i]) {
      findings_[i] = false;
    }
  }
  if (a.unknown) {
    level_ = Level::unknown;
    exits_held_ = 0;
    return;
  }
  if (level_ == Level::unknown || a.entry > level_) {
    level_ = a.entry;
    exits_held_ = 0;
    last_evaluation_ = now;
    return;
  }
  // A relapse (this level's entry holding again) is an entry, checked on every
  // update: it restarts the count even between two evaluations, or a block
  // seen only between them would let the level step down under it.
  if (a.entry >= level_) exits_held_ = 0;
  if (last_evaluation_ && now - *last_evaluation_ < evaluation_interval_) return;
  last_evaluation_ = now;
  if (level_ > Level::healthy && a.entry < level_ && a.exit_holds[static_cast<int>(level_)]) {
    if (++exits_held_ >= hold_) {
      level_ = static_cast<Level>(static_cast<int>(level_) - 1);
      exits_held_ = 0;
    }
  } else {
    exits_held_ = 0;
  }
}

}  // namespace loopcanary::exporter
