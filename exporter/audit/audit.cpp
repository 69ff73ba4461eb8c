#include "exporter/audit/audit.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "exporter/audit/advice.hpp"
#include "exporter/audit/histogram.hpp"
#include "exporter/audit/judge.hpp"
#include "exporter/audit/net.hpp"
#include "exporter/audit/progress.hpp"
#include "exporter/audit/reports.hpp"
#include "exporter/log.hpp"
#include "exporter/metrics.hpp"
#include "exporter/monitor.hpp"
#include "exporter/rfc3339.hpp"

namespace loopcanary::exporter {

namespace {

using SteadyClock = std::chrono::steady_clock;
using audit::AuditReport;
using audit::Point;
using audit::SubjectResult;

constexpr auto kPoll = std::chrono::milliseconds(50);
/// The audit's own thread woke this late: it was held up (counted as lost time).
constexpr double kHeldUp = 0.02;
/// The name of the external scenario the audit adds to watch a target.
constexpr const char* kObserveScenario = "loopcanary-audit-observe";

double secs(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }
double secs(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

const TargetSnapshot* find(const std::vector<TargetSnapshot>& all, const std::string& name) {
  for (const auto& t : all) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

/// The expected run time of a scenario's phases, in seconds.
double scenario_seconds(const config::Scenario& s) {
  double total = 0;
  for (const config::Phase& p : s.phases) {
    total += p.kind == config::Phase::Kind::stepped
                 ? probes::seconds(std::chrono::duration_cast<probes::Duration>(p.step)) *
                       static_cast<double>(p.concurrency.size())
                 : probes::seconds(std::chrono::duration_cast<probes::Duration>(p.duration));
  }
  return total;
}

/// One read of the audit's own metrics registry, for one target.
struct RegistryRead {
  std::map<std::string, audit::Buckets> canary_latency;
  std::map<std::string, double> canary_probes;
  std::map<std::string, std::map<std::string, double>> canary_failures;
  std::map<std::string, audit::Buckets> route_latency;
  std::map<std::string, double> route_requests;
  std::map<std::string, std::map<std::string, double>> route_failures;
  double prober_lag = 0;
};

std::string label(const prometheus::ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return {};
}

audit::Buckets buckets_of(const prometheus::ClientMetric::Histogram& h) {
  audit::Buckets b;
  for (const auto& bucket : h.bucket) {
    b.bounds.push_back(bucket.upper_bound);
    b.cumulative.push_back(static_cast<double>(bucket.cumulative_count));
  }
  return b;
}

RegistryRead read_registry(Metrics& metrics, const std::string& target) {
  RegistryRead r;
  for (const auto& family : metrics.registry().Collect()) {
    for (const auto& m : family.metric) {
      if (family.name == "loopcanary_prober_lag_seconds") {
        r.prober_lag = m.gauge.value;
        continue;
      }
      if (label(m, "target") != target) continue;
      if (family.name == "loopcanary_probe_duration_seconds") {
        r.canary_latency[label(m, "canary")] = buckets_of(m.histogram);
      } else if (family.name == "loopcanary_probes_total") {
        r.canary_probes[label(m, "canary")] = m.counter.value;
      } else if (family.name == "loopcanary_probe_failures_total") {
        r.canary_failures[label(m, "canary")][label(m, "reason")] = m.counter.value;
      } else if (family.name == "loopcanary_route_duration_seconds") {
        r.route_latency[label(m, "route")] = buckets_of(m.histogram);
      } else if (family.name == "loopcanary_route_requests_total") {
        r.route_requests[label(m, "route")] = m.counter.value;
      } else if (family.name == "loopcanary_route_failures_total") {
        r.route_failures[label(m, "route")][label(m, "reason")] = m.counter.value;
      }
    }
  }
  return r;
}

audit::Buckets merged(const std::map<std::string, audit::Buckets>& all) {
  audit::Buckets out;
  for (const auto& [name, b] : all) {
    if (out.bounds.empty()) {
      out = b;
    } else if (out.bounds == b.bounds) {
      for (std::size_t i = 0; i < b.cumulative.size(); ++i) out.cumulative[i] += b.cumulative[i];
    }
  }
  return out;
}

audit::Buckets delta(const std::map<std::string, audit::Buckets>& now,
                     const std::map<std::string, audit::Buckets>& before, const std::string& key) {
  auto a = now.find(key);
  if (a == now.end()) return {};
  auto b = before.find(key);
  return b == before.end() ? a->second : audit::since(a->second, b->second);
}

std::uint64_t count_delta(double now, double before) {
  return now > before ? static_cast<std::uint64_t>(now - before + 0.5) : 0;
}

/// The machine the audit ran on, for the starvation report.
void describe_machine(audit::ProberHealth& p) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) p.cores = CPU_COUNT(&set);
  double load[1];
  if (getloadavg(load, 1) == 1) p.load1 = load[0];
  std::ifstream cpu_max("/sys/fs/cgroup/cpu.max");
  std::string quota, period;
  if (cpu_max >> quota >> period && quota != "max") {
    const double cpus = std::atof(quota.c_str()) / std::max(1.0, std::atof(period.c_str()));
    p.cpu_limit = fmt::format("{:.2f} CPUs (cgroup cpu.max {} {})", cpus, quota, period);
  }
}

/// Follows one target through the run: the judge, the per-second points,
/// the scenario steps, the signal maxima and the metrics at the start.
class Recorder {
 public:
  Recorder(const config::Target& target, Metrics& metrics, audit::VerdictRules rules)
      : target_(target),
        metrics_(metrics),
        judge_(rules, std::vector<std::string>(kFindingNames.begin(), kFindingNames.end())) {
    for (const auto& r : target.routes) route_names_.push_back(r.name);
  }

  /// The judged run starts now (the metrics and counters are read from here).
  void start_judging(SteadyClock::time_point judged_start, const TargetSnapshot& s) {
    judged_start_ = judged_start;
    judging_ = true;
    at_start_ = read_registry(metrics_, target_.name);
    stall_total_at_start_ = s.view.stall_seconds_total;
    stalls_at_start_ = s.view.stalls_total;
  }

  void observe(const TargetSnapshot& s, SteadyClock::time_point now, bool warmup, int concurrency) {
    const double dt = last_ ? secs(now - *last_) : 0;
    last_ = now;
    audit::Observation o;
    o.at = at(now) - dt;
    o.dt = dt;
    o.warmup = warmup || !judging_;
    o.level = s.level;
    o.unknown_reason = s.level == Level::unknown ? s.assessment.unknown_reason : "";
    if (s.level == Level::unknown && s.view.has_baseline) o.trusted_level = s.assessment.entry;
    o.findings.assign(s.findings.begin(), s.findings.end());
    // Without a baseline, excess latency is measured against nothing: no evidence.
    if (s.view.has_baseline || s.level != Level::unknown) {
      o.evidence.assign(s.assessment.evidence.begin(), s.assessment.evidence.end());
    }
    if (dt > 0) judge_.observe(o);
    final_ = s;

    if (!o.warmup) {
      stall_max_ = std::max(stall_max_, probes::seconds(s.view.stall_max));
      if (s.view.lag_p99) lag_p99_max_ = std::max(lag_p99_max_, probes::seconds(*s.view.lag_p99));
      busy_max_ = std::max(busy_max_, s.view.busy_ratio);
      prober_lag_worst_ = std::max(prober_lag_worst_, probes::seconds(s.view.prober_lag_worst));
      for (std::size_t i = 0; i < s.view.routes.size() && i < route_names_.size(); ++i) {
        const RouteView& r = s.view.routes[i];
        RouteMax& m = route_max_[route_names_[i]];
        auto up = [](std::optional<double>& slot, std::optional<double> v) {
          if (v) slot = std::max(slot.value_or(*v), *v);
        };
        up(m.hol, r.hol_ratio);
        up(m.hol_delay,
           r.hol_delay ? std::optional<double>(probes::seconds(*r.hol_delay)) : std::nullopt);
        up(m.amplification, r.amplification);
        if (r.service_time) m.service_time = probes::seconds(*r.service_time);
        if (r.capacity) m.capacity = r.capacity;
        if (r.knee) m.knee = r.knee;
      }
    }

    // The point of the current second.
    if (!point_) {
      point_.emplace();
      point_->t = secs(now - epoch_);
      point_start_ = now;
      point_registry_ = read_registry(metrics_, target_.name);
      point_stall_ = s.view.stall_seconds_total;
      point_->findings.assign(kFindingCount, false);
    }
    point_->warmup = point_->warmup || o.warmup;
    if (s.level != Level::unknown)
      point_->status = std::max(point_->status, static_cast<int>(s.level));
    for (std::size_t i = 0; i < kFindingCount; ++i) {
      if (s.findings[i]) point_->findings[i] = true;
    }
    point_->concurrency = std::max(point_->concurrency, concurrency);
    for (const HistoryPoint& h : s.history) {
      if (h.at > last_history_) {
        // A second without any answer has no latency: it adds nothing here.
        if (h.latency_max_seconds) {
          point_->canary_max = std::max(point_->canary_max.value_or(0), *h.latency_max_seconds);
        }
        last_history_ = h.at;
      }
    }
    if (now - point_start_ >= std::chrono::seconds(1)) close_point(s, now);

    // Scenario steps: the route that has a step (or requests) and its concurrency.
    std::string route;
    int n = 0;
    for (std::size_t i = 0; i < s.view.routes.size() && i < route_names_.size(); ++i) {
      const RouteView& r = s.view.routes[i];
      if (r.concurrency || r.in_flight > 0) {
        route = route_names_[i];
        n = r.concurrency.value_or(0);
        break;
      }
    }
    if (!route.empty() &&
        (steps_.empty() || steps_.back().route != route || steps_.back().concurrency != n)) {
      steps_.push_back({secs(now - epoch_), n, route});
    }
  }

  SubjectResult finish(const std::string& runbook) {
    SubjectResult out;
    out.name = target_.name;
    out.url = target_.url.text;
    judge_.conclude(out);
    for (audit::FindingTrack& f : out.findings) {
      f.advice = audit::advice_for(f.name, f.name == "prober_starved" ? Level::unknown : f.level(),
                                   runbook);
    }
    out.stall_seconds = std::max(0.0, final_.view.stall_seconds_total - stall_total_at_start_);
    out.stalls = final_.view.stalls_total - std::min(final_.view.stalls_total, stalls_at_start_);
    out.stall_max = stall_max_;
    out.lag_p99_max = lag_p99_max_;
    out.busy_ratio_max = busy_max_;

    const RegistryRead end = read_registry(metrics_, target_.name);
    for (std::size_t i = 0; i < target_.canaries.size(); ++i) {
      const std::string& name = target_.canaries[i].name;
      audit::CanarySummary c;
      c.name = name;
      c.probes =
          count_delta(end.canary_probes.count(name) ? end.canary_probes.at(name) : 0,
                      at_start_.canary_probes.count(name) ? at_start_.canary_probes.at(name) : 0);
      if (auto it = end.canary_failures.find(name); it != end.canary_failures.end()) {
        for (const auto& [reason, v] : it->second) {
          double before = 0;
          if (auto b = at_start_.canary_failures.find(name); b != at_start_.canary_failures.end()) {
            if (auto r = b->second.find(reason); r != b->second.end()) before = r->second;
          }
          if (const auto n = count_delta(v, before)) c.failures[reason] = n;
        }
      }
      const audit::Buckets b = delta(end.canary_latency, at_start_.canary_latency, name);
      c.latency = {static_cast<std::uint64_t>(b.count()), audit::quantile(b, 0.5),
                   audit::quantile(b, 0.99)};
      if (i < final_.view.canaries.size() && final_.view.canaries[i].baseline) {
        c.baseline = probes::seconds(*final_.view.canaries[i].baseline);
      }
      out.canaries.push_back(std::move(c));
    }
    // Only the routes the run drove: a row of dashes says nothing.
    for (const std::string& name : route_names_) {
      audit::RouteSummary r;
      r.name = name;
      r.requests =
          count_delta(end.route_requests.count(name) ? end.route_requests.at(name) : 0,
                      at_start_.route_requests.count(name) ? at_start_.route_requests.at(name) : 0);
      if (r.requests == 0) continue;
      if (auto it = end.route_failures.find(name); it != end.route_failures.end()) {
        for (const auto& [reason, v] : it->second) {
          double before = 0;
          if (auto b = at_start_.route_failures.find(name); b != at_start_.route_failures.end()) {
            if (auto f = b->second.find(reason); f != b->second.end()) before = f->second;
          }
          if (const auto n = count_delta(v, before)) r.failures[reason] = n;
        }
      }
      const audit::Buckets b = delta(end.route_latency, at_start_.route_latency, name);
      r.latency = {static_cast<std::uint64_t>(b.count()), audit::quantile(b, 0.5),
                   audit::quantile(b, 0.99)};
      const RouteMax& m = route_max_[name];
      r.hol_max = m.hol;
      r.hol_delay_max = m.hol_delay;
      r.amplification_max = m.amplification;
      r.service_time = m.service_time;
      r.capacity = m.capacity;
      r.knee = m.knee;
      out.routes.push_back(std::move(r));
    }
    // Plots carry only the driven routes, in the same order.
    std::vector<std::size_t> keep;
    for (const auto& r : out.routes) {
      for (std::size_t i = 0; i < route_names_.size(); ++i) {
        if (route_names_[i] == r.name) keep.push_back(i);
      }
    }
    for (Point& p : points_) {
      std::vector<std::optional<double>> p50, p99;
      for (std::size_t i : keep) {
        p50.push_back(i < p.route_p50.size() ? p.route_p50[i] : std::nullopt);
        p99.push_back(i < p.route_p99.size() ? p.route_p99[i] : std::nullopt);
      }
      p.route_p50 = std::move(p50);
      p.route_p99 = std::move(p99);
    }
    // Points and steps were timed from the recorder's start: from the judged start now.
    const double offset = secs(judged_start_ - epoch_);
    for (Point& p : points_) p.t -= offset;
    for (audit::Step& s : steps_) s.t -= offset;
    out.timeline = std::move(points_);
    out.steps = std::move(steps_);

    audit::ProberHealth& p = out.prober;
    p.lag_worst = prober_lag_worst_;
    for (const audit::FindingTrack& f : out.findings) {
      if (f.name == "prober_starved") p.starved_seconds = f.active_seconds;
    }
    describe_machine(p);
    return out;
  }

  /// The audit thread's own hold-ups (woke `late` seconds after it meant to).
  void held_up(double late, bool judged) {
    if (late < kHeldUp || !judged) return;
    held_up_total_ += late;
    held_up_worst_ = std::max(held_up_worst_, late);
  }
  double held_up_total() const { return held_up_total_; }
  double held_up_worst() const { return held_up_worst_; }

  double at(SteadyClock::time_point t) const { return secs(t - judged_start_); }

  void set_origin(SteadyClock::time_point t) { judged_start_ = t; }

 private:
  struct RouteMax {
    std::optional<double> hol, hol_delay, amplification, service_time, capacity;
    std::optional<int> knee;
  };

  void close_point(const TargetSnapshot& s, SteadyClock::time_point now) {
    const RegistryRead r = read_registry(metrics_, target_.name);
    Point& p = *point_;
    const audit::Buckets canary =
        audit::since(merged(r.canary_latency), merged(point_registry_.canary_latency));
    p.canary_p99 = audit::quantile(canary, 0.99);
    for (const std::string& name : route_names_) {
      const audit::Buckets b = delta(r.route_latency, point_registry_.route_latency, name);
      p.route_p50.push_back(audit::quantile(b, 0.5));
      p.route_p99.push_back(audit::quantile(b, 0.99));
    }
    p.stall_seconds = std::max(0.0, s.view.stall_seconds_total - point_stall_);
    p.prober_lag = r.prober_lag;
    if (!p.warmup) prober_lag_worst_ = std::max(prober_lag_worst_, r.prober_lag);
    points_.push_back(std::move(p));
    point_.reset();
    (void)now;
  }

  const config::Target& target_;
  Metrics& metrics_;
  audit::Judge judge_;
  std::vector<std::string> route_names_;
  SteadyClock::time_point epoch_ = SteadyClock::now();
  SteadyClock::time_point judged_start_ = epoch_;
  bool judging_ = false;
  std::optional<SteadyClock::time_point> last_;
  TargetSnapshot final_;
  RegistryRead at_start_;
  double stall_total_at_start_ = 0;
  std::uint64_t stalls_at_start_ = 0;
  double stall_max_ = 0, lag_p99_max_ = 0, busy_max_ = 0, prober_lag_worst_ = 0;
  std::map<std::string, RouteMax> route_max_;
  std::optional<Point> point_;
  SteadyClock::time_point point_start_{};
  RegistryRead point_registry_;
  double point_stall_ = 0;
  std::chrono::system_clock::time_point last_history_{};
  std::vector<Point> points_;
  std::vector<audit::Step> steps_;
  double held_up_total_ = 0, held_up_worst_ = 0;
};

std::string status_line(const TargetSnapshot& s) {
  std::string findings;
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    if (!s.findings[i]) continue;
    findings += (findings.empty() ? "" : ", ") + std::string(kFindingNames[i]);
  }
  return fmt::format("status {}{}", name(s.level),
                     findings.empty() ? std::string() : " — " + findings);
}

}  // namespace

bool check_reports(const std::vector<ReportSpec>& reports) {
  int to_stdout = 0;
  for (const ReportSpec& r : reports) {
    if (audit::report_writers().find(r.format) == audit::report_writers().end()) {
      std::cerr << "loopcanary audit: unknown report format \"" << r.format << "\" (known:";
      for (const auto& [name, writer] : audit::report_writers()) std::cerr << ' ' << name;
      std::cerr << ")\n";
      return false;
    }
    if (r.output == "-") {
      if (++to_stdout > 1) {
        std::cerr << "loopcanary audit: only one report can go to stdout; give the others a "
                     "file (--report=FORMAT=FILE)\n";
        return false;
      }
      continue;
    }
    std::ofstream probe(r.output, std::ios::app);
    if (!probe) {
      std::cerr << "loopcanary audit: cannot write the " << r.format << " report to " << r.output
                << "\n";
      return false;
    }
  }
  return true;
}

int deliver(const AuditReport& report, const std::vector<ReportSpec>& reports) {
  bool to_stdout = false;
  for (const ReportSpec& r : reports) {
    const std::string text = audit::report_writers().at(r.format)(report);
    if (r.output == "-") {
      std::cout << text << std::flush;
      to_stdout = true;
    } else {
      std::ofstream out(r.output, std::ios::trunc);
      out << text;
      if (!out) std::cerr << "loopcanary audit: could not write " << r.output << "\n";
    }
  }
  // A person watching the CI log still wants the verdict and why.
  if (!to_stdout) std::cerr << audit::text_report(report);
  return audit::exit_code(report.verdict);
}

int run_audit(std::shared_ptr<const config::Config> loaded, const AuditOptions& options) {
  // Which target, which scenario, and for how long.
  auto config = std::make_shared<config::Config>(*loaded);
  const config::Scenario* scenario = nullptr;
  std::string target_name = options.target;
  if (!options.scenario.empty()) {
    scenario = config->find_scenario(options.scenario);
    if (!scenario) {
      std::cerr << "loopcanary audit: unknown scenario \"" << options.scenario << "\" (known:";
      for (const auto& s : config->scenarios) std::cerr << ' ' << s.name;
      std::cerr << ")\n";
      return audit::kExitBadInput;
    }
    if (scenario->phases.empty() && !options.duration) {
      std::cerr << "loopcanary audit: scenario \"" << options.scenario
                << "\" is external (no phases): give --duration to watch it for that long\n";
      return audit::kExitBadInput;
    }
    if (!scenario->phases.empty() && options.duration) {
      std::cerr << "loopcanary audit: --duration is for observe mode or an external scenario; "
                   "scenario \""
                << options.scenario << "\" runs its own phases\n";
      return audit::kExitBadInput;
    }
    if (!target_name.empty() && target_name != scenario->target) {
      std::cerr << "loopcanary audit: scenario \"" << options.scenario << "\" runs on target \""
                << scenario->target << "\", not \"" << target_name << "\"\n";
      return audit::kExitBadInput;
    }
    target_name = scenario->target;
  } else {
    if (!options.duration) {
      std::cerr << "loopcanary audit: give --scenario=NAME to drive load, or --duration=D to "
                   "watch the target while something else drives it (observe mode)\n";
      return audit::kExitBadInput;
    }
    if (target_name.empty()) {
      if (config->targets.size() != 1) {
        std::cerr << "loopcanary audit: the configuration has " << config->targets.size()
                  << " targets; say which to watch with --target\n";
        return audit::kExitBadInput;
      }
      target_name = config->targets.front().name;
    }
    if (!config->find_target(target_name)) {
      std::cerr << "loopcanary audit: unknown target \"" << target_name << "\"\n";
      return audit::kExitBadInput;
    }
    // Watch it the way an external scenario does: canaries at their busy interval.
    config::Scenario observe;
    observe.name = kObserveScenario;
    observe.target = target_name;
    config->scenarios.push_back(observe);
    scenario = &config->scenarios.back();
  }
  if (!check_reports(options.reports)) return audit::kExitBadInput;
  const config::Target& target = *config->find_target(target_name);
  const bool external = scenario->phases.empty();
  const double warmup = secs(options.warmup);
  const double run_seconds =
      external ? secs(*options.duration) + warmup : scenario_seconds(*scenario);
  const double window =
      probes::seconds(std::chrono::duration_cast<probes::Duration>(config->global.window));

  AuditReport report;
  report.mode = options.scenario.empty() ? "observe" : "scenario";
  report.scenario = options.scenario;
  report.target = target.name;
  report.fail_on = options.fail_on;
  report.max_unknown = options.max_unknown;
  report.warmup = warmup;
  report.version = LOOPCANARY_VERSION;
  audit::VerdictRules rules;
  rules.fail_on = options.fail_on;
  rules.max_unknown = options.max_unknown;
  rules.min_judged = options.min_duration ? secs(*options.min_duration) : window;

  // Is it there at all? Say so at once, not after the whole run.
  {
    const auto deadline = SteadyClock::now() + options.wait;
    const auto connect_timeout = std::chrono::milliseconds(2000);
    std::optional<std::string> error;
    for (;;) {
      error = audit::reach(target.url.host, std::to_string(target.url.port), connect_timeout);
      if (!error || SteadyClock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (error) {
      SubjectResult s;
      s.name = target.name;
      s.url = target.url.text;
      s.verdict = audit::Verdict::inconclusive;
      s.reasons.push_back(fmt::format(
          "target unreachable: {}:{}: {}{}", target.url.host, target.url.port, *error,
          options.wait.count() > 0 ? fmt::format(" (kept trying for {:.0f} s)", secs(options.wait))
                                   : std::string(" (--wait=D keeps trying)")));
      report.started_at = rfc3339(std::chrono::system_clock::now());
      report.ended_at = report.started_at;
      report.subjects.push_back(std::move(s));
      audit::conclude(report);
      return deliver(report, options.reports);
    }
  }

  Metrics metrics;
  Monitor monitor(config, metrics);
  monitor.start();
  audit::Progress progress(options.progress);
  Recorder recorder(target, metrics, rules);

  // loopcanary's own warm-up: until its status is known (a baseline exists),
  // at most a window and a bit; not judged, whatever it says.
  const auto begun = SteadyClock::now();
  recorder.set_origin(begun);
  const auto warmup_deadline = begun + config->global.window + std::chrono::seconds(5);
  TargetSnapshot snap;
  for (;;) {
    snap = *find(monitor.snapshot(), target.name);
    recorder.observe(snap, SteadyClock::now(), true, 0);
    progress.update("warm-up", secs(SteadyClock::now() - begun), 0, status_line(snap));
    if (snap.level != Level::unknown || SteadyClock::now() >= warmup_deadline) break;
    std::this_thread::sleep_for(kPoll);
  }
  log::info("audit warm-up done", {{"status", std::string(name(snap.level))}});

  // The run: the scenario (or the watch) starts now; the first --warmup of it is not judged.
  const auto start = SteadyClock::now();
  const auto judged_from = start + options.warmup;
  recorder.set_origin(judged_from);
  const auto wall_start = std::chrono::system_clock::now() + options.warmup;
  monitor.start_scenario(scenario->name, false);
  const std::string phase = options.scenario.empty() ? "observe" : options.scenario;
  bool judging = false;
  std::optional<SteadyClock::time_point> ended;
  auto wake = SteadyClock::now() + kPoll;
  for (;;) {
    std::this_thread::sleep_until(wake);
    const auto now = SteadyClock::now();
    recorder.held_up(secs(now - wake), judging);
    wake = std::max(wake + kPoll, now + std::chrono::milliseconds(1));
    if (!judging && now >= judged_from) {
      judging = true;
      recorder.start_judging(judged_from, *find(monitor.snapshot(), target.name));
    }
    const auto state = monitor.scenario(scenario->name);
    snap = *find(monitor.snapshot(), target.name);
    recorder.observe(snap, now, !judging, state ? state->concurrency : 0);
    const double elapsed = secs(now - start);
    progress.update(now < judged_from ? phase + " (warm-up)" : phase, elapsed,
                    run_seconds + (external ? 0.0 : secs(options.settle)), status_line(snap));
    if (external && elapsed >= run_seconds && !ended) {
      monitor.stop_scenario(scenario->name);
      ended = now;
    }
    if (!external && !ended && state && !state->running) ended = now;
    if (ended && now - *ended >= (external ? std::chrono::milliseconds(0) : options.settle)) break;
  }
  progress.done();
  monitor.stop();

  SubjectResult subject = recorder.finish(options.runbook_url);
  subject.prober.stalled_seconds = recorder.held_up_total();
  subject.prober.stalled_worst = recorder.held_up_worst();
  report.started_at = rfc3339(wall_start);
  report.ended_at = rfc3339(std::chrono::system_clock::now());
  report.duration = subject.judged_seconds;
  report.subjects.push_back(std::move(subject));
  audit::conclude(report);
  return deliver(report, options.reports);
}

}  // namespace loopcanary::exporter
