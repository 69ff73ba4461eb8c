#include "exporter/audit/prometheus.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "config/load.hpp"
#include "config/units.hpp"
#include "config/url.hpp"
#include "exporter/audit/advice.hpp"
#include "exporter/audit/histogram.hpp"
#include "exporter/audit/judge.hpp"
#include "exporter/audit/net.hpp"
#include "exporter/audit/rules.hpp"
#include "exporter/rfc3339.hpp"

namespace loopcanary::exporter {

namespace {

using audit::AuditReport;
using audit::SubjectResult;
using nlohmann::json;
using LabelMap = std::map<std::string, std::string>;

/// Why the audit could not go on: the exit code and the message.
struct Stop {
  int code;
  std::string message;
};

struct Series {
  LabelMap labels;
  std::vector<std::pair<double, double>> samples;  ///< (unix seconds, value)
};

std::string labels_text(const LabelMap& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (k == "__name__") continue;
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", k, v);
  }
  return "{" + out + "}";
}

/// LabelMap that tell series of one family apart, not who they belong to.
const std::set<std::string> kOwnLabels{"__name__", "finding", "route", "scenario",
                                       "canary",   "reason",  "le"};

/// Whether `series` belongs to `subject`: every identifying label it has, the subject has too.
bool belongs(const LabelMap& series, const LabelMap& subject) {
  for (const auto& [k, v] : series) {
    if (kOwnLabels.count(k)) continue;
    auto it = subject.find(k);
    if (it == subject.end() || it->second != v) return false;
  }
  return true;
}

double parse_value(const json& v) {
  const std::string s = v.get<std::string>();
  if (s == "NaN") return std::nan("");
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  return std::stod(s);
}

std::optional<double> parse_time(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double unix = std::strtod(text.c_str(), &end);
  if (end && *end == '\0') return unix;
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  double frac = 0;
  if (*rest == '.') {
    char* after = nullptr;
    frac = std::strtod(rest, &after);
    rest = after;
  }
  double offset = 0;
  if (*rest == 'Z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offset = (rest[0] == '+' ? 1 : -1) * (hh * 3600.0 + mm * 60.0);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  return static_cast<double>(timegm(&tm)) + frac - offset;
}

std::string rfc3339_at(double unix) {
  return rfc3339(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(unix))));
}

/// Merges the user's `{…}` selector into a metric selector.
std::string selector(const std::string& metric, const std::string& inner) {
  if (inner.empty()) return metric;
  return metric + "{" + inner + "}";
}

class Api {
 public:
  Api(const config::Url& url, std::chrono::milliseconds timeout) : url_(url), timeout_(timeout) {}

  /// GET /api/v1/<path>?<params>; the `data` of a success, else throws Stop.
  /// A query Prometheus rejects (bad_data) is bad input (2); anything else
  /// that keeps an answer from us is inconclusive (3).
  json get(const std::string& path, const std::map<std::string, std::string>& params) const {
    std::string target = url_.base_path + "/api/v1/" + path;
    char sep = '?';
    for (const auto& [k, v] : params) {
      target += sep + k + "=" + audit::url_encode(v);
      sep = '&';
    }
    const std::string host_header = url_.port == (url_.scheme == "https" ? 443 : 80)
                                        ? url_.host
                                        : fmt::format("{}:{}", url_.host, url_.port);
    const audit::HttpResult r =
        audit::http_get(url_.host, std::to_string(url_.port), host_header, target, timeout_);
    if (r.status == 0) {
      throw Stop{audit::kExitInconclusive,
                 fmt::format("cannot reach Prometheus at {}: {}", url_.text, r.error)};
    }
    json body;
    try {
      body = json::parse(r.body);
    } catch (const std::exception&) {
      throw Stop{audit::kExitInconclusive,
                 fmt::format("{} answered HTTP {} with something that is not the Prometheus API "
                             "(is it Prometheus? is the base path right?)",
                             url_.text, r.status)};
    }
    if (body.value("status", "") != "success") {
      const std::string type = body.value("errorType", "");
      const std::string error = body.value("error", "");
      if (type == "bad_data")
        throw Stop{audit::kExitBadInput, "Prometheus rejected the query: " + error};
      throw Stop{
          audit::kExitInconclusive,
          fmt::format("Prometheus could not answer (HTTP {}, {}): {}", r.status, type, error)};
    }
    return body["data"];
  }

  std::vector<Series> matrix(const json& data) const {
    std::vector<Series> out;
    const std::string type = data.value("resultType", "");
    for (const json& item : data["result"]) {
      Series s;
      for (auto it = item["metric"].begin(); it != item["metric"].end(); ++it) {
        s.labels[it.key()] = it.value().get<std::string>();
      }
      if (type == "matrix") {
        for (const json& v : item["values"])
          s.samples.emplace_back(v[0].get<double>(), parse_value(v[1]));
      } else if (type == "vector") {
        s.samples.emplace_back(item["value"][0].get<double>(), parse_value(item["value"][1]));
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<Series> instant(const std::string& query, double at) const {
    return matrix(get("query", {{"query", query}, {"time", fmt::format("{:.3f}", at)}}));
  }
  std::vector<Series> range(const std::string& query, double start, double end, double step) const {
    return matrix(get("query_range", {{"query", query},
                                      {"start", fmt::format("{:.3f}", start)},
                                      {"end", fmt::format("{:.3f}", end)},
                                      {"step", fmt::format("{:.3f}", step)}}));
  }

 private:
  config::Url url_;
  std::chrono::milliseconds timeout_;
};

/// The value of `series` at `t`: its latest sample at or before t, if no older than `stale`.
std::optional<double> value_at(const Series& s, double t, double stale) {
  auto it = std::upper_bound(s.samples.begin(), s.samples.end(),
                             std::pair<double, double>(t + 1e-6, INFINITY));
  if (it == s.samples.begin()) return std::nullopt;
  --it;
  if (t - it->first > stale || std::isnan(it->second)) return std::nullopt;
  return it->second;
}

double median_interval(const Series& s) {
  std::vector<double> d;
  for (std::size_t i = 1; i < s.samples.size(); ++i)
    d.push_back(s.samples[i].first - s.samples[i - 1].first);
  if (d.empty()) return 15;
  std::nth_element(d.begin(), d.begin() + static_cast<long>(d.size() / 2), d.end());
  return std::max(0.001, d[d.size() / 2]);
}

std::string subject_name(const LabelMap& labels) {
  auto t = labels.find("target");
  LabelMap rest = labels;
  rest.erase("__name__");
  if (t == labels.end()) return labels_text(rest);
  rest.erase("target");
  return rest.empty() ? t->second : t->second + " " + labels_text(rest);
}

/// Per subject, the series of one family (by metric name) that belong to it.
struct SeriesSet {
  std::vector<const Series*> series;
  const Series* one(const std::string& label = "", const std::string& value = "") const {
    for (const Series* s : series) {
      if (label.empty() || (s->labels.count(label) && s->labels.at(label) == value)) return s;
    }
    return nullptr;
  }
};

struct Context {
  const PrometheusOptions& options;
  Api api;
  double start;
  double end;
  double judged_from;
  std::string inner;  ///< the selector's matchers, without braces
  config::Thresholds thresholds;
  config::Global global;
};

std::map<std::string, audit::Buckets> buckets_by(const std::vector<Series>& all,
                                                 const LabelMap& subject, const std::string& key) {
  std::map<std::string, std::map<double, double>> raw;
  for (const Series& s : all) {
    if (!belongs(s.labels, subject) || s.samples.empty() || !s.labels.count("le")) continue;
    const std::string k = key.empty() ? "" : (s.labels.count(key) ? s.labels.at(key) : "");
    const double le = s.labels.at("le") == "+Inf" ? INFINITY : std::stod(s.labels.at("le"));
    raw[k][le] += std::max(0.0, s.samples.back().second);
  }
  std::map<std::string, audit::Buckets> out;
  for (auto& [k, bounds] : raw) {
    audit::Buckets b;
    for (auto& [le, v] : bounds) {
      b.bounds.push_back(le);
      b.cumulative.push_back(v);
    }
    out[k] = b;
  }
  return out;
}

std::map<std::string, std::map<std::string, double>> counts_by(const std::vector<Series>& all,
                                                               const LabelMap& subject,
                                                               const std::string& key,
                                                               const std::string& sub) {
  std::map<std::string, std::map<std::string, double>> out;
  for (const Series& s : all) {
    if (!belongs(s.labels, subject) || s.samples.empty()) continue;
    const std::string k = s.labels.count(key) ? s.labels.at(key) : "";
    const std::string k2 = sub.empty() ? "" : (s.labels.count(sub) ? s.labels.at(sub) : "");
    out[k][k2] += s.samples.back().second;
  }
  return out;
}

std::uint64_t rounded(double v) { return v > 0 ? static_cast<std::uint64_t>(std::llround(v)) : 0; }

std::vector<SubjectResult> judge_loopcanary(const Context& c) {
  const long range_s = std::max(1L, static_cast<long>(std::ceil(c.end - c.start)));
  const std::string window = fmt::format("[{}s]", range_s);
  auto status = c.api.instant(selector("loopcanary_runtime_status", c.inner) + window, c.end);
  if (status.empty()) {
    throw Stop{
        audit::kExitInconclusive,
        fmt::format("no data: no loopcanary_runtime_status series match {} between {} and {} "
                    "(check the selector and that Prometheus scrapes loopcanary)",
                    c.options.selector.empty() ? "(no selector)" : c.options.selector,
                    rfc3339_at(c.start), rfc3339_at(c.end))};
  }
  const std::string names =
      "loopcanary_(finding|stall_in_progress_seconds|stall_max_seconds|stall_ratio|lag_p99_seconds|"
      "busy_ratio|hol_blocking_ratio|hol_delay_seconds|queue_amplification_ratio|"
      "executor_capacity_estimate|saturation_concurrency|route_service_time_seconds|"
      "prober_lag_seconds|scenario_concurrency|stall_seconds_total|stalls_total|baseline_seconds)";
  const auto gauges = c.api.instant(
      "{__name__=~\"" + names + "\"" + (c.inner.empty() ? "" : "," + c.inner) + "}" + window,
      c.end);
  auto increase = [&](const std::string& metric) {
    return c.api.instant("increase(" + selector(metric, c.inner) + window + ")", c.end);
  };
  const auto probe_counts = increase("loopcanary_probes_total");
  const auto probe_failures = increase("loopcanary_probe_failures_total");
  const auto probe_buckets = increase("loopcanary_probe_duration_seconds_bucket");
  const auto requests = increase("loopcanary_route_requests_total");
  const auto route_failures = increase("loopcanary_route_failures_total");
  const auto route_buckets = increase("loopcanary_route_duration_seconds_bucket");

  std::vector<SubjectResult> out;
  for (const Series& st : status) {
    LabelMap subject = st.labels;
    subject.erase("__name__");
    const double interval = median_interval(st);
    const double stale = 2.5 * interval;
    std::map<std::string, SeriesSet> fam;
    std::set<std::string> routes;
    for (const Series& s : gauges) {
      if (!belongs(s.labels, subject)) continue;
      fam[s.labels.at("__name__")].series.push_back(&s);
      if (s.labels.count("route")) routes.insert(s.labels.at("route"));
    }
    const std::vector<std::string> route_names(routes.begin(), routes.end());

    // Latency over the run, per scrape interval (query_range).
    const double rate_window = std::max(4 * interval, 2.0);
    const std::string rw = fmt::format("[{}ms]", static_cast<long>(rate_window * 1000));
    const auto canary_p99 =
        c.api.range("histogram_quantile(0.99, sum without (canary) (rate(" +
                        selector("loopcanary_probe_duration_seconds_bucket", c.inner) + rw + ")))",
                    c.start, c.end, interval);
    const auto route_p50 =
        c.api.range("histogram_quantile(0.5, rate(" +
                        selector("loopcanary_route_duration_seconds_bucket", c.inner) + rw + "))",
                    c.start, c.end, interval);
    const auto route_p99 =
        c.api.range("histogram_quantile(0.99, rate(" +
                        selector("loopcanary_route_duration_seconds_bucket", c.inner) + rw + "))",
                    c.start, c.end, interval);
    auto series_for = [&](const std::vector<Series>& all,
                          const std::string& route) -> const Series* {
      for (const Series& s : all) {
        if (!belongs(s.labels, subject)) continue;
        if (route.empty() || (s.labels.count("route") && s.labels.at("route") == route)) return &s;
      }
      return nullptr;
    };

    audit::VerdictRules rules;
    rules.fail_on = c.options.fail_on;
    rules.max_unknown = c.options.max_unknown;
    rules.min_judged =
        c.options.min_duration
            ? static_cast<double>(c.options.min_duration->count()) / 1000
            : probes::seconds(std::chrono::duration_cast<probes::Duration>(c.global.window));
    audit::Judge judge(rules, std::vector<std::string>(kFindingNames.begin(), kFindingNames.end()));
    SubjectResult result;
    result.name = subject_name(subject);
    result.labels = subject;
    result.url = subject.count("instance") ? subject.at("instance") : "";

    bool known_yet = false;
    double stall_prev = -1, stalls_prev = -1;
    std::map<std::string, audit::RouteSummary> route_max;
    std::vector<audit::Step> steps;
    int last_concurrency = -1;
    for (std::size_t i = 0; i < st.samples.size(); ++i) {
      const double ts = st.samples[i].first;
      const double value = st.samples[i].second;
      const double next = i + 1 < st.samples.size() ? st.samples[i + 1].first : ts + interval;
      const double gap = next - ts;
      const double dt = gap > stale ? interval : gap;
      const Level level = static_cast<Level>(static_cast<int>(std::lround(value)));
      known_yet = known_yet || level != Level::unknown;
      auto g = [&](const std::string& metric, const std::string& label = "",
                   const std::string& v = "") -> std::optional<double> {
        auto it = fam.find("loopcanary_" + metric);
        if (it == fam.end()) return std::nullopt;
        const Series* s = it->second.one(label, v);
        return s ? value_at(*s, ts, stale) : std::nullopt;
      };
      // The view as the sidecar saw it at this scrape, for the evidence.
      TargetView view;
      view.window = std::chrono::duration_cast<probes::Duration>(c.global.window);
      view.stall_threshold = std::chrono::duration_cast<probes::Duration>(c.global.stall_threshold);
      view.stall_in_progress = probes::from_seconds(g("stall_in_progress_seconds").value_or(0));
      view.stall_max = probes::from_seconds(g("stall_max_seconds").value_or(0));
      view.stall_ratio = g("stall_ratio").value_or(0);
      if (auto v = g("lag_p99_seconds")) view.lag_p99 = probes::from_seconds(*v);
      view.busy_ratio = g("busy_ratio").value_or(0);
      view.expected = view.evidence = 1;
      view.has_baseline = fam.count("loopcanary_baseline_seconds") && g("baseline_seconds");
      view.prober_lag_worst = probes::from_seconds(g("prober_lag_seconds").value_or(0));
      view.prober_starved = g("finding", "finding", "prober_starved").value_or(0) > 0;
      int concurrency = 0;
      std::string running;
      if (auto it = fam.find("loopcanary_scenario_concurrency"); it != fam.end()) {
        for (const Series* s : it->second.series) {
          const auto v = value_at(*s, ts, stale);
          if (v && *v > concurrency) {
            concurrency = static_cast<int>(*v);
            running = s->labels.count("scenario") ? s->labels.at("scenario") : "";
          }
        }
      }
      for (const std::string& r : route_names) {
        RouteView rv;
        rv.hol_ratio = g("hol_blocking_ratio", "route", r);
        if (auto v = g("hol_delay_seconds", "route", r)) rv.hol_delay = probes::from_seconds(*v);
        rv.amplification = g("queue_amplification_ratio", "route", r);
        rv.capacity = g("executor_capacity_estimate", "route", r);
        if (auto v = g("saturation_concurrency", "route", r)) rv.knee = static_cast<int>(*v);
        if (concurrency > 0) rv.concurrency = concurrency;
        view.routes.push_back(rv);
      }
      const Assessment a = assess(view, c.thresholds, route_names);

      audit::Observation o;
      o.at = ts - c.judged_from;
      o.dt = dt;
      o.warmup = !known_yet || ts < c.judged_from;
      o.level = level;
      o.unknown_reason =
          level == Level::unknown
              ? (view.prober_starved ? "loopcanary itself was starved (prober_starved)"
                                     : "loopcanary reported the status unknown")
              : "";
      if (level == Level::unknown && view.has_baseline) o.trusted_level = a.entry;
      for (std::size_t f = 0; f < kFindingCount; ++f) {
        o.findings.push_back(g("finding", "finding", std::string(kFindingNames[f])).value_or(0) >
                             0);
      }
      if (view.has_baseline || level != Level::unknown) {
        o.evidence.assign(a.evidence.begin(), a.evidence.end());
      }
      judge.observe(o);
      if (gap > stale && i + 1 < st.samples.size()) {
        audit::Observation hole;
        hole.at = o.at + dt;
        hole.dt = gap - dt;
        hole.warmup = o.warmup;
        hole.unknown_reason = fmt::format("no data: loopcanary was not scraped for {:.0f} s", gap);
        judge.observe(hole);
      }

      // Summaries and the plot.
      if (!o.warmup) {
        result.stall_max = std::max(result.stall_max, probes::seconds(view.stall_max));
        if (view.lag_p99)
          result.lag_p99_max = std::max(result.lag_p99_max, probes::seconds(*view.lag_p99));
        result.busy_ratio_max = std::max(result.busy_ratio_max, view.busy_ratio);
        result.prober.lag_worst =
            std::max(result.prober.lag_worst, probes::seconds(view.prober_lag_worst));
        for (std::size_t r = 0; r < route_names.size(); ++r) {
          audit::RouteSummary& m = route_max[route_names[r]];
          const RouteView& rv = view.routes[r];
          if (rv.hol_ratio) m.hol_max = std::max(m.hol_max.value_or(0), *rv.hol_ratio);
          if (rv.hol_delay)
            m.hol_delay_max = std::max(m.hol_delay_max.value_or(0), probes::seconds(*rv.hol_delay));
          if (rv.amplification)
            m.amplification_max = std::max(m.amplification_max.value_or(0), *rv.amplification);
          if (rv.capacity) m.capacity = rv.capacity;
          if (rv.knee) m.knee = rv.knee;
          if (auto v = g("route_service_time_seconds", "route", route_names[r])) m.service_time = v;
        }
      }
      audit::Point p;
      p.t = o.at;
      p.warmup = o.warmup;
      p.status = static_cast<int>(level);
      p.findings = o.findings;
      p.prober_lag = probes::seconds(view.prober_lag_worst);
      p.concurrency = concurrency;
      const auto total = g("stall_seconds_total");
      const auto count = g("stalls_total");
      if (total && stall_prev >= 0)
        p.stall_seconds = *total >= stall_prev ? *total - stall_prev : *total;
      if (!o.warmup && total && stall_prev >= 0) result.stall_seconds += p.stall_seconds;
      if (!o.warmup && count && stalls_prev >= 0 && *count >= stalls_prev) {
        result.stalls += rounded(*count - stalls_prev);
      }
      if (total) stall_prev = *total;
      if (count) stalls_prev = *count;
      if (const Series* s = series_for(canary_p99, "")) p.canary_p99 = value_at(*s, ts, stale);
      for (const std::string& r : route_names) {
        const Series* s50 = series_for(route_p50, r);
        const Series* s99 = series_for(route_p99, r);
        p.route_p50.push_back(s50 ? value_at(*s50, ts, stale) : std::nullopt);
        p.route_p99.push_back(s99 ? value_at(*s99, ts, stale) : std::nullopt);
      }
      result.timeline.push_back(std::move(p));
      if (concurrency != last_concurrency && (concurrency > 0 || last_concurrency > 0)) {
        steps.push_back({o.at, concurrency, running});
      }
      last_concurrency = concurrency;
    }
    judge.conclude(result);
    for (audit::FindingTrack& f : result.findings) {
      f.advice = audit::advice_for(f.name, f.name == "prober_starved" ? Level::unknown : f.level(),
                                   c.options.runbook_url);
      if (f.name == "prober_starved") result.prober.starved_seconds = f.active_seconds;
    }

    // Counts over the range, and only the routes that saw requests.
    const auto canary_buckets = buckets_by(probe_buckets, subject, "canary");
    const auto canary_counts = counts_by(probe_counts, subject, "canary", "");
    const auto canary_fail = counts_by(probe_failures, subject, "canary", "reason");
    for (const auto& [name, per] : canary_counts) {
      audit::CanarySummary cs;
      cs.name = name;
      cs.probes = rounded(per.count("") ? per.at("") : 0);
      if (auto it = canary_fail.find(name); it != canary_fail.end()) {
        for (const auto& [reason, v] : it->second) {
          if (rounded(v) > 0) cs.failures[reason] = rounded(v);
        }
      }
      if (auto it = canary_buckets.find(name); it != canary_buckets.end()) {
        cs.latency = {rounded(it->second.count()), audit::quantile(it->second, 0.5),
                      audit::quantile(it->second, 0.99)};
      }
      result.canaries.push_back(std::move(cs));
    }
    const auto route_b = buckets_by(route_buckets, subject, "route");
    const auto route_counts = counts_by(requests, subject, "route", "");
    const auto route_fail = counts_by(route_failures, subject, "route", "reason");
    std::vector<std::size_t> keep;
    for (std::size_t r = 0; r < route_names.size(); ++r) {
      const std::string& name = route_names[r];
      auto cnt = route_counts.find(name);
      const std::uint64_t n =
          cnt == route_counts.end() ? 0 : rounded(cnt->second.count("") ? cnt->second.at("") : 0);
      if (n == 0) continue;
      keep.push_back(r);
      audit::RouteSummary rs = route_max[name];
      rs.name = name;
      rs.requests = n;
      if (auto it = route_fail.find(name); it != route_fail.end()) {
        for (const auto& [reason, v] : it->second) {
          if (rounded(v) > 0) rs.failures[reason] = rounded(v);
        }
      }
      if (auto it = route_b.find(name); it != route_b.end()) {
        rs.latency = {rounded(it->second.count()), audit::quantile(it->second, 0.5),
                      audit::quantile(it->second, 0.99)};
      }
      result.routes.push_back(std::move(rs));
    }
    for (audit::Point& p : result.timeline) {
      std::vector<std::optional<double>> p50, p99;
      for (std::size_t r : keep) {
        p50.push_back(p.route_p50[r]);
        p99.push_back(p.route_p99[r]);
      }
      p.route_p50 = std::move(p50);
      p.route_p99 = std::move(p99);
    }
    result.steps = std::move(steps);
    out.push_back(std::move(result));
  }
  return out;
}

std::vector<SubjectResult> judge_rules(const Context& c, const audit::RulesFile& file) {
  const double range = c.end - c.start;
  const double step = c.options.step ? static_cast<double>(c.options.step->count()) / 1000
                                     : std::max(1.0, std::ceil(range / 600));
  std::vector<std::string> rule_names;
  for (const audit::Rule& r : file.rules) rule_names.push_back(r.name);

  struct Subject {
    LabelMap labels;
    std::map<std::string, const Series*> by_rule;
  };
  std::map<std::string, Subject> subjects;
  std::vector<std::vector<Series>> results;
  std::vector<SubjectResult> out;
  results.reserve(file.rules.size());
  for (const audit::Rule& rule : file.rules) {
    try {
      results.push_back(c.api.range(rule.query, c.start, c.end, step));
    } catch (const Stop& stop) {
      if (stop.code != audit::kExitBadInput) throw;
      throw Stop{stop.code, fmt::format("{}: queries.{} (line {}): {}", c.options.rules_file,
                                        rule.name, rule.line, stop.message)};
    }
    if (results.back().empty()) {
      SubjectResult empty;
      empty.name = "rule " + rule.name;
      empty.verdict = audit::Verdict::inconclusive;
      empty.reasons.push_back(fmt::format(
          "no data: queries.{} (line {}) returned no series between {} and {}; an empty result is "
          "never a pass",
          rule.name, rule.line, rfc3339_at(c.start), rfc3339_at(c.end)));
      out.push_back(std::move(empty));
    }
    for (const Series& s : results.back()) {
      LabelMap l = s.labels;
      l.erase("__name__");
      Subject& subject = subjects[labels_text(l)];
      subject.labels = l;
      subject.by_rule[rule.name] = &s;
    }
  }

  for (auto& [key, subject] : subjects) {
    audit::VerdictRules rules;
    rules.fail_on = c.options.fail_on;
    rules.max_unknown = c.options.max_unknown;
    rules.min_judged = c.options.min_duration
                           ? static_cast<double>(c.options.min_duration->count()) / 1000
                           : std::min(range, 10.0);
    audit::Judge judge(rules, rule_names);
    SubjectResult result;
    result.name = key == "{}" ? "(no labels)" : key;
    result.labels = subject.labels;
    for (double ts = c.start; ts <= c.end + 1e-6; ts += step) {
      audit::Observation o;
      o.at = ts - c.judged_from;
      o.dt = step;
      o.warmup = ts < c.judged_from;
      Level level = Level::unknown;
      audit::Point p;
      p.t = o.at;
      p.warmup = o.warmup;
      for (const audit::Rule& rule : file.rules) {
        std::vector<Evidence> evidence;
        bool active = false;
        auto it = subject.by_rule.find(rule.name);
        const auto v =
            it == subject.by_rule.end() ? std::nullopt : value_at(*it->second, ts, step * 1.5);
        if (v) {
          if (level == Level::unknown) level = Level::healthy;
          for (const auto& [lvl, threshold] : rule.thresholds) {
            const bool holds = rule.op == "<=" ? *v <= threshold : *v >= threshold;
            evidence.push_back({rule.name, *v, rule.op, threshold, holds, lvl, rule.unit});
            if (holds) {
              active = true;
              level = std::max(level, lvl);
            }
          }
        }
        o.findings.push_back(active);
        o.evidence.push_back(std::move(evidence));
      }
      o.level = level;
      if (level == Level::unknown) o.unknown_reason = "no data: no rule had a value";
      p.status = static_cast<int>(level);
      p.findings = o.findings;
      judge.observe(o);
      result.timeline.push_back(std::move(p));
    }
    judge.conclude(result);
    for (audit::FindingTrack& f : result.findings) {
      const audit::Rule& rule =
          *std::find_if(file.rules.begin(), file.rules.end(),
                        [&](const audit::Rule& r) { return r.name == f.name; });
      f.advice.meaning =
          rule.meaning.empty() ? "your rule's value crossed its threshold" : rule.meaning;
      f.advice.what_to_do = rule.what_to_do.empty() ? "see the rule's owner" : rule.what_to_do;
      f.advice.runbook = rule.runbook;
    }
    out.push_back(std::move(result));
  }
  return out;
}

}  // namespace

int run_prometheus_audit(const PrometheusOptions& options) {
  AuditReport report;
  report.mode = "prometheus";
  report.prometheus_url = options.url;
  report.selector = options.selector;
  report.rules_file = options.rules_file;
  report.fail_on = options.fail_on;
  report.max_unknown = options.max_unknown;
  report.warmup = static_cast<double>(options.warmup.count()) / 1000;
  report.version = LOOPCANARY_VERSION;
  if (!check_reports(options.reports)) return audit::kExitBadInput;

  std::optional<audit::RulesFile> rules;
  if (!options.rules_file.empty()) {
    try {
      rules = audit::load_rules(options.rules_file);
    } catch (const config::ConfigError& e) {
      std::cerr << "loopcanary audit: --rules " << options.rules_file << " is not valid:\n";
      for (const auto& err : e.errors()) std::cerr << "  " << err << "\n";
      return audit::kExitBadInput;
    }
  }
  std::string url_text = options.url;
  if (url_text.empty() && rules) url_text = rules->prometheus;
  if (url_text.empty()) {
    std::cerr << "loopcanary audit: give --prometheus=URL (or target: in the rules file)\n";
    return audit::kExitBadInput;
  }
  report.prometheus_url = url_text;
  std::string problem;
  const auto url = config::parse_url(url_text, problem);
  if (!url) {
    std::cerr << "loopcanary audit: --prometheus " << problem << "\n";
    return audit::kExitBadInput;
  }
  if (url->scheme == "https") {
    std::cerr << "loopcanary audit: --prometheus over https is not supported yet; reach it over "
                 "http (a port-forward or a sidecar proxy)\n";
    return audit::kExitBadInput;
  }
  std::string inner = options.selector;
  if (!inner.empty()) {
    if (inner.front() != '{' || inner.back() != '}') {
      std::cerr << "loopcanary audit: --selector must be label matchers in braces, like "
                   "'{namespace=\"x\",pod=~\"api-.*\"}'\n";
      return audit::kExitBadInput;
    }
    inner = inner.substr(1, inner.size() - 2);
  }

  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto end = options.end.empty() ? std::optional<double>(now) : parse_time(options.end);
  if (!end) {
    std::cerr << "loopcanary audit: --end \"" << options.end
              << "\" is not RFC 3339 or Unix seconds\n";
    return audit::kExitBadInput;
  }
  std::optional<double> start;
  if (!options.start.empty()) {
    start = parse_time(options.start);
    if (!start) {
      std::cerr << "loopcanary audit: --start \"" << options.start
                << "\" is not RFC 3339 or Unix seconds\n";
      return audit::kExitBadInput;
    }
  } else {
    start =
        *end - static_cast<double>(options.range.value_or(std::chrono::minutes(10)).count()) / 1000;
  }
  if (*start >= *end) {
    std::cerr << "loopcanary audit: the range is empty: start " << rfc3339_at(*start)
              << " is not before end " << rfc3339_at(*end) << "\n";
    return audit::kExitBadInput;
  }

  Context c{options,
            Api(*url, options.timeout),
            *start,
            *end,
            *start + static_cast<double>(options.warmup.count()) / 1000,
            inner,
            {},
            {}};
  if (options.config) {
    c.thresholds = options.config->thresholds;
    c.global = options.config->global;
  }
  report.started_at = rfc3339_at(c.judged_from);
  report.ended_at = rfc3339_at(c.end);
  report.duration = c.end - c.judged_from;
  try {
    report.subjects = rules ? judge_rules(c, *rules) : judge_loopcanary(c);
  } catch (const Stop& stop) {
    std::cerr << "loopcanary audit: " << stop.message << "\n";
    if (stop.code == audit::kExitBadInput) return stop.code;
    SubjectResult s;
    s.name = url_text;
    s.verdict = audit::Verdict::inconclusive;
    s.reasons.push_back(stop.message);
    report.subjects = {s};
  }
  audit::conclude(report);
  return deliver(report, options.reports);
}

}  // namespace loopcanary::exporter
