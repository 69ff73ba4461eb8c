#include "exporter/http/landing.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace loopcanary::exporter {

namespace {

using std::chrono::duration;
using std::chrono::seconds;

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string_view colour(int level) {
  switch (level) {
    case 0:
      return "#2e7d32";
    case 1:
      return "#f9a825";
    case 2:
      return "#e65100";
    case 3:
      return "#b71c1c";
    default:
      return "#9e9e9e";
  }
}
std::string_view colour(Level level) { return colour(static_cast<int>(level)); }

std::string_view level_name(int level) {
  return level >= -1 && level <= 3 ? name(static_cast<Level>(level)) : "unknown";
}

/// What a status means, in a few words.
std::string_view meaning(Level level) {
  switch (level) {
    case Level::healthy:
      return "light requests are answered at their usual speed";
    case Level::degraded:
      return "light requests are slowed: the loop lags, stalls now and then, or a heavy route "
             "holds it up";
    case Level::critical:
      return "the event loop stalls long or often: light requests wait for it";
    case Level::unresponsive:
      return "the target does not answer: a stall in progress, or probes keep failing";
    case Level::unknown:
      break;
  }
  return "loopcanary cannot vouch for the numbers";
}

std::string_view finding_meaning(std::size_t finding) {
  switch (static_cast<Finding>(finding)) {
    case Finding::event_loop_starvation:
      return "the event loop could not answer light requests in time";
    case Finding::head_of_line_blocking:
      return "light requests wait behind a heavy route";
    case Finding::executor_queue_amplification:
      return "a route's requests queue for the thread pool";
    case Finding::concurrency_saturation:
      return "a ramp runs beyond the concurrency where throughput stops scaling";
    case Finding::canary_failures:
      return "canary probes fail";
    case Finding::prober_starved:
      return "loopcanary itself was starved of CPU: its numbers are not the target's";
    case Finding::worker_stall:
      return "one worker's event loop stalled while the others answered";
  }
  return "";
}

std::string_view reason_meaning(std::string_view reason) {
  if (reason == "connect_error") return "could not connect (refused, unreachable)";
  if (reason == "tls_error") return "the TLS handshake or certificate check failed";
  if (reason == "timeout") return "no answer within the canary's timeout";
  if (reason == "bad_status") return "an HTTP status not in expect.status";
  if (reason == "bad_body") return "the body did not match body_regex, or was too large";
  if (reason == "reset") return "the connection closed before the response ended";
  if (reason == "protocol_error") return "the response was not valid HTTP/1.1";
  if (reason == "dropped") return "never sent: max_in_flight probes were already out";
  return "";
}

/// "14:03:07" (UTC).
std::string clock_time(SystemTime t) {
  return fmt::format("{:%H:%M:%S}", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

/// "7 s", "2 min 5 s", "1 h 3 min".
std::string span_text(double s) {
  if (s < 0) s = 0;
  const auto whole = static_cast<long long>(std::floor(s));
  if (whole < 60) return fmt::format("{} s", whole);
  if (whole < 3600) {
    return whole % 60 ? fmt::format("{} min {} s", whole / 60, whole % 60)
                      : fmt::format("{} min", whole / 60);
  }
  return fmt::format("{} h {} min", whole / 3600, whole % 3600 / 60);
}

std::string ago(SystemTime t, SystemTime now) {
  return span_text(duration<double>(now - t).count()) + " ago";
}

/// A time with how long ago it was: "14:03:07 (7 s ago)".
std::string when(SystemTime t, SystemTime now) {
  return fmt::format(R"(<time datetime="{}">{}</time> ({}))", clock_time(t), clock_time(t),
                     ago(t, now));
}

std::string decade_label(double v) {
  if (v >= 1) return fmt::format("{:g} s", v);
  if (v >= 1e-3) return fmt::format("{:g} ms", v * 1e3);
  return fmt::format("{:g} µs", v * 1e6);
}

// Chart geometry (viewBox units; the svg scales to the page width).
constexpr double kWidth = 1200;
constexpr double kLeft = 64;
constexpr double kRight = 1144;
constexpr double kTop = 12;

std::string time_axis(SystemTime now, seconds span, double top, double bottom) {
  std::string out;
  const double plot = kRight - kLeft;
  const long long step = span.count() <= 60 ? 10 : (span.count() <= 180 ? 30 : 60);
  for (long long back = 0; back <= span.count(); back += step) {
    const double x = kRight - static_cast<double>(back) / static_cast<double>(span.count()) * plot;
    out +=
        fmt::format(R"(<line class="grid" x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}"/>)",
                    x, top, bottom);
    const std::string label =
        back == 0 ? "now " + clock_time(now) : "\u2212" + span_text(static_cast<double>(back));
    out += fmt::format(R"(<text class="{}" x="{:.1f}" y="{:.1f}" text-anchor="{}">{}</text>)",
                       back == 0 ? "axis now" : "axis", x, bottom + 15,
                       back == 0 ? "end" : "middle", label);
  }
  return out;
}

double x_of(SystemTime t, SystemTime now, seconds span) {
  const double back = duration<double>(now - t).count();
  return kRight - back / static_cast<double>(span.count()) * (kRight - kLeft);
}

}  // namespace

LogScale log_scale(const std::vector<std::optional<double>>& values, double floor, double min_hi) {
  double lo = floor, hi = min_hi;
  for (const auto& v : values) {
    if (!v || !(*v > 0) || !std::isfinite(*v)) continue;
    hi = std::max(hi, *v);
  }
  LogScale s;
  s.lo = std::pow(10.0, std::floor(std::log10(lo) + 1e-9));
  s.hi = std::pow(10.0, std::ceil(std::log10(hi) - 1e-9));
  if (s.hi <= s.lo) s.hi = s.lo * 10;
  return s;
}

std::string render_chart(const TimeChart& c) {
  constexpr double kHeight = 190;
  constexpr double kBottom = kHeight - 24;
  const double lo = std::log10(c.scale.lo), hi = std::log10(c.scale.hi);
  const auto y_of = [&](double v) {
    const double l = std::log10(std::clamp(v, c.scale.lo, c.scale.hi));
    return kBottom - (l - lo) / (hi - lo) * (kBottom - kTop);
  };
  const SystemTime start = c.now - c.span;
  const auto visible = [&](std::size_t i) { return c.times[i] >= start && c.times[i] <= c.now; };

  std::string svg = fmt::format(
      R"(<svg class="chart" id="{}" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">)",
      escape(c.id), kWidth, kHeight, escape(c.title));
  // Scenario shading and "no answer" marks behind everything.
  for (std::size_t i = 0; i < c.times.size(); ++i) {
    if (!visible(i)) continue;
    const double x1 = std::max(kLeft, x_of(c.times[i] - seconds(1), c.now, c.span));
    const double x2 = x_of(c.times[i], c.now, c.span);
    if (i < c.shaded.size() && c.shaded[i]) {
      svg += fmt::format(R"(<rect class="scenario" x="{:.1f}" y="{}" width="{:.1f}" height="{}"/>)",
                         x1, kTop, x2 - x1 + 0.3, kBottom - kTop);
    }
    if (i < c.no_answer.size() && c.no_answer[i]) {
      svg += fmt::format(R"(<rect class="no-answer" x="{:.1f}" y="{}" width="{:.1f}" height="6"/>)",
                         x1, kBottom - 6, x2 - x1 + 0.3);
    }
  }
  // Decades.
  for (int d = static_cast<int>(std::lround(lo)); d <= static_cast<int>(std::lround(hi)); ++d) {
    const double v = std::pow(10.0, d);
    const double y = y_of(v);
    svg += fmt::format(R"(<line class="grid" x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}"/>)", kLeft, y,
                       kRight, y);
    svg += fmt::format(R"(<text class="axis" x="{}" y="{:.1f}" text-anchor="end">{}</text>)",
                       kLeft - 6, y + 4, decade_label(v));
  }
  svg += time_axis(c.now, c.span, kTop, kBottom);
  for (const auto& [value, label] : c.lines) {
    if (value < c.scale.lo || value > c.scale.hi) continue;
    const double y = y_of(value);
    svg += fmt::format(R"(<line class="threshold" x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}"/>)"
                       R"(<text class="threshold" x="{}" y="{:.1f}">{}</text>)",
                       kLeft, y, kRight, y, kLeft + 4, y - 3, escape(label));
  }
  for (const ChartSeries& s : c.series) {
    std::string d;
    std::optional<std::size_t> peak;
    std::optional<SystemTime> previous;  // the last point drawn, to break at holes
    bool open = false;
    for (std::size_t i = 0; i < c.times.size() && i < s.values.size(); ++i) {
      if (!visible(i) || !s.values[i]) {
        open = false;
        continue;
      }
      const double x = x_of(c.times[i], c.now, c.span);
      const double y = y_of(*s.values[i]);
      const bool hole = previous && c.times[i] - *previous > std::chrono::milliseconds(1500);
      if (!open || hole) {
        d += fmt::format("M{:.1f},{:.1f}h0.1", x, y);  // a lone point still shows (round cap)
      } else {
        d += fmt::format("L{:.1f},{:.1f}", x, y);
      }
      open = true;
      previous = c.times[i];
      if (!peak || *s.values[i] > *s.values[*peak]) peak = i;
    }
    svg += fmt::format(R"(<path class="series {}" d="{}" stroke="{}"><title>{}</title></path>)",
                       escape(s.id), d, s.colour, escape(s.label));
    if (peak && *s.values[*peak] > c.scale.lo) {
      const double x = x_of(c.times[*peak], c.now, c.span);
      const double y = y_of(*s.values[*peak]);
      const bool right_half = x > (kLeft + kRight) / 2;
      svg += fmt::format(
          R"(<circle class="peak" cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>)"
          R"(<text class="peak" x="{:.1f}" y="{:.1f}" text-anchor="{}" fill="{}">peak {}</text>)",
          x, y, s.colour, right_half ? x - 6 : x + 6, std::max(kTop + 10, y - 6),
          right_half ? "end" : "start", s.colour, format_value(*s.values[*peak], Unit::seconds));
    }
  }
  svg += "</svg>";
  return svg;
}

std::string render_timeline(const std::string& id, const std::vector<HistoryPoint>& history,
                            SystemTime now, seconds span) {
  constexpr double kHeight = 44;
  constexpr double kBand = 22;
  std::string svg =
      fmt::format(R"(<svg class="timeline" id="{}" viewBox="0 0 {} {}" width="100%" role="img" )"
                  R"(aria-label="status over the last {}">)",
                  escape(id), kWidth, kHeight, span_text(static_cast<double>(span.count())));
  svg += fmt::format(
      R"(<rect class="band no-data" x="{}" y="{}" width="{}" height="{}" fill="#eeeeee">)"
      R"(<title>no data</title></rect>)",
      kLeft, kTop - 8, kRight - kLeft, kBand);
  const SystemTime start = now - span;
  std::size_t i = 0;
  while (i < history.size()) {
    if (history[i].at < start) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j + 1 < history.size() && history[j + 1].status == history[i].status &&
           history[j + 1].at - history[j].at <= std::chrono::milliseconds(1500)) {
      ++j;
    }
    const double x1 = std::max(kLeft, x_of(history[i].at - seconds(1), now, span));
    const double x2 = x_of(history[j].at, now, span);
    const int level = history[i].status;
    svg += fmt::format(
        R"(<rect class="band status-{}" x="{:.1f}" y="{}" width="{:.1f}" height="{}" fill="{}">)"
        R"(<title>{} {}–{}</title></rect>)",
        level_name(level), x1, kTop - 8, x2 - x1 + 0.3, kBand, colour(level), level_name(level),
        clock_time(history[i].at - seconds(1)), clock_time(history[j].at));
    i = j + 1;
  }
  svg += time_axis(now, span, kTop - 8, kTop - 8 + kBand);
  svg += "</svg>";
  return svg;
}

namespace {

/// Evidence that raises a worse status sorts first; "unknown" (the prober's
/// own starvation) after the levels, "healthy" (raises none) last.
int severity(Level level) {
  if (level == Level::unknown) return 1;
  if (level == Level::healthy) return 0;
  return static_cast<int>(level) + 1;
}

/// One evidence line of a remembered finding.
std::string evidence_line(const RememberedEvidence& r, SystemTime now) {
  if (r.peak.holds) {
    Evidence current = r.peak;
    current.value = r.now;
    std::string line = escape(describe(current));
    if (r.peak.value > r.now * 1.05 && r.peak.unit != Unit::count) {
      line += fmt::format(R"( <span class="muted">· peak {}</span>)",
                          format_value(r.peak.value, r.peak.unit));
    }
    return R"(<li class="holds">)" + line + "</li>";
  }
  return fmt::format(
      R"(<li class="held">{} <span class="muted">— peak; held until {}, now {}</span></li>)",
      escape(describe(r.peak)), when(r.last_held, now), format_value(r.now, r.peak.unit));
}

std::string finding_rows(const TargetSnapshot& t, bool& any) {
  std::string rows;
  const SystemTime now = t.taken_at;
  for (std::size_t i = 0; i < kFindingCount; ++i) {
    const FindingMemory& m = t.memory[i];
    if (m.state == FindingState::inactive) continue;
    any = true;
    std::string state;
    switch (m.state) {
      case FindingState::holding:
        state = fmt::format("<b>holding</b> since {}", m.since ? when(*m.since, now) : "–");
        break;
      case FindingState::clearing:
        state = fmt::format(
            "<b>clearing</b>: stopped holding at {}; the status steps down one level after {} of "
            "calm",
            m.last_held ? when(*m.last_held, now) : "–",
            span_text(duration<double>(t.step_down_after).count()));
        break;
      case FindingState::cleared:
        state = fmt::format(
            "cleared at {} (held {}–{})", m.cleared_at ? when(*m.cleared_at, now) : "–",
            m.since ? clock_time(*m.since) : "–", m.last_held ? clock_time(*m.last_held) : "–");
        break;
      case FindingState::inactive:
        break;
    }
    // Worst level first: the condition that explains the status leads.
    std::vector<const RememberedEvidence*> ordered;
    for (const RememberedEvidence& r : m.evidence) ordered.push_back(&r);
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto* a, const auto* b) {
      return severity(a->peak.level) > severity(b->peak.level);
    });
    std::string evidence;
    for (const RememberedEvidence* r : ordered) evidence += evidence_line(*r, now);
    if (evidence.empty()) {
      for (const Evidence& e : t.assessment.evidence[i]) {
        if (e.holds) evidence += R"(<li class="holds">)" + escape(describe(e)) + "</li>";
      }
    }
    rows += fmt::format(
        R"(<tr class="finding {0}" data-finding="{1}" data-state="{0}"><td><code>{1}</code>)"
        R"(<div class="muted">{2}</div></td><td>{3}</td><td><ul>{4}</ul></td></tr>)",
        name(m.state), kFindingNames[i], finding_meaning(i), state, evidence);
  }
  return rows;
}

std::string failures_table(const TargetSnapshot& t) {
  if (t.failures.empty()) return "";
  std::string html = fmt::format(
      R"(<h3>Failing probes</h3><table class="failures"><tr><th>reason</th>)"
      R"(<th>probes (last {})</th><th>since start</th><th>last error</th><th>last seen</th></tr>)",
      span_text(static_cast<double>(t.history_span.count())));
  for (const FailureReason& f : t.failures) {
    html += fmt::format(
        R"(<tr class="failure" data-reason="{0}"><td><code>{0}</code>)"
        R"(<div class="muted">{1}</div></td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>)",
        escape(f.reason), reason_meaning(f.reason), f.recent, f.total,
        f.last_detail.empty() ? "–" : escape(f.last_detail),
        f.last_at ? when(*f.last_at, t.taken_at) : "–");
  }
  return html + "</table>";
}

/// The span the charts show: the history there is, in whole minutes, from one
/// minute up to the history span (five minutes), so a new target is not a
/// sliver at the right edge.
seconds chart_span(const TargetSnapshot& t) {
  const seconds most = t.history_span.count() > 0 ? t.history_span : seconds(300);
  if (t.history.empty()) return std::min(most, seconds(60));
  const auto covered = std::chrono::duration_cast<seconds>(t.taken_at - t.history.front().at);
  const seconds minutes{(covered.count() + 1 + 59) / 60 * 60};
  return std::clamp(minutes, std::min(most, seconds(60)), most);
}

std::string charts(const TargetSnapshot& t, const std::string& id) {
  TimeChart latency;
  latency.id = id + "-latency";
  latency.title = "canary latency, worst per second";
  latency.now = t.taken_at;
  latency.span = chart_span(t);
  ChartSeries canary{"canary", "canary latency (worst per second)", "#1565c0", {}};
  ChartSeries route{"route", "heavy-route latency (worst per second)", "#8e24aa", {}};
  bool any_route = false;
  for (const HistoryPoint& p : t.history) {
    latency.times.push_back(p.at);
    canary.values.push_back(p.latency_max_seconds);
    route.values.push_back(p.route_latency_max_seconds);
    any_route = any_route || p.route_latency_max_seconds.has_value();
    latency.shaded.push_back(p.scenario);
    latency.no_answer.push_back(p.answered == 0 && p.failed > 0);
  }
  std::vector<std::optional<double>> all = canary.values;
  all.insert(all.end(), route.values.begin(), route.values.end());
  latency.scale = log_scale(all, 1e-3, 1);
  latency.series.push_back(std::move(canary));
  if (any_route) latency.series.push_back(std::move(route));

  TimeChart stall;
  stall.id = id + "-stall";
  stall.title = "longest stall in progress, per second";
  stall.now = latency.now;
  stall.span = latency.span;
  stall.times = latency.times;
  stall.shaded = latency.shaded;
  ChartSeries progress{"stall", "longest stall in progress (per second)", "#c62828", {}};
  for (const HistoryPoint& p : t.history)
    progress.values.push_back(p.stall_in_progress_max_seconds);
  stall.scale = log_scale(progress.values, 1e-2, 10);
  // The status thresholds of a stall, from the evidence (as configured).
  for (const Evidence& e :
       t.assessment.evidence[static_cast<std::size_t>(Finding::event_loop_starvation)]) {
    if (e.signal == "stall_max_seconds" || e.signal == "stall_in_progress_seconds") {
      stall.lines.emplace_back(
          e.threshold, fmt::format("{} ≥ {}", name(e.level), format_value(e.threshold, e.unit)));
    }
  }
  stall.series.push_back(std::move(progress));

  std::string html = R"(<div class="chart-block"><h3>Latency</h3>)";
  html += R"(<p class="legend"><span class="swatch" style="background:#1565c0"></span>canary )"
          R"((worst per second))";
  if (any_route) {
    html += R"( <span class="swatch" style="background:#8e24aa"></span>heavy route while a )"
            R"(scenario runs)";
  }
  html += R"( <span class="swatch scenario"></span>scenario running)"
          R"( <span class="swatch no-answer"></span>probes failed, no answer)"
          R"( · log scale; a gap is a second without an answer; ● marks the peak</p>)";
  html += render_chart(latency);
  html += R"(<h3>Stalls</h3><p class="legend"><span class="swatch" style="background:#c62828">)"
          R"(</span>the longest stall in progress in each second: how long the oldest unanswered )"
          R"(probe had waited beyond the usual latency · log scale from 10 ms; dashed: the )"
          R"(status thresholds</p>)";
  html += render_chart(stall);
  return html + "</div>";
}

std::string signals_table(const TargetSnapshot& t) {
  const TargetView& v = t.view;
  const auto secs = [](Duration d) { return format_value(probes::seconds(d), Unit::seconds); };
  std::string html = R"(<table class="signals"><tr><th>signal</th><th>value</th></tr>)";
  const auto row = [&](std::string_view label, const std::string& value) {
    html += fmt::format("<tr><td>{}</td><td>{}</td></tr>", label, value);
  };
  row("stall seconds (total)",
      fmt::format("{} in {} stall{}", format_value(v.stall_seconds_total, Unit::seconds),
                  v.stalls_total, v.stalls_total == 1 ? "" : "s"));
  row("stall in progress", secs(v.stall_in_progress));
  row(fmt::format("largest stall (last {})", span_text(probes::seconds(v.window))),
      secs(v.stall_max));
  row(fmt::format("stalled share of time (last {})", span_text(probes::seconds(v.window))),
      format_value(v.stall_ratio, Unit::ratio));
  row("lag p99 (window)", v.lag_p99 ? secs(*v.lag_p99) : std::string("–"));
  row("busy ratio", format_value(v.busy_ratio, Unit::ratio));
  for (std::size_t i = 0; i < v.canaries.size(); ++i) {
    const std::string canary = i < t.canaries.size() ? escape(t.canaries[i]) : std::to_string(i);
    row("baseline latency · " + canary,
        v.canaries[i].baseline ? secs(*v.canaries[i].baseline) : std::string("–"));
  }
  row("consecutive failures", std::to_string(v.consecutive_failures));
  for (std::size_t i = 0; i < v.routes.size(); ++i) {
    const RouteView& r = v.routes[i];
    const std::string route = i < t.routes.size() ? escape(t.routes[i]) : std::to_string(i);
    if (r.hol_ratio) row("HOL blocking · " + route, format_value(*r.hol_ratio, Unit::ratio));
    if (r.amplification) {
      row("queue amplification · " + route, fmt::format("{:.2f}×", *r.amplification));
    }
    if (r.capacity) row("executor capacity · " + route, fmt::format("{:.1f}", *r.capacity));
    if (r.knee) row("concurrency knee · " + route, std::to_string(*r.knee));
  }
  return html + "</table>";
}

std::string changes_list(const TargetSnapshot& t) {
  if (t.changes.empty()) return "";
  std::string html = R"(<p class="changes muted">changes: )";
  const std::size_t first = t.changes.size() > 8 ? t.changes.size() - 8 : 0;
  for (std::size_t i = first; i < t.changes.size(); ++i) {
    const StatusChange& c = t.changes[i];
    if (i > first) html += " · ";
    html += fmt::format("{} {} → {}", clock_time(c.at), name(c.from), name(c.to));
  }
  return html + "</p>";
}

std::string target_section(const TargetSnapshot& t, std::size_t index) {
  const std::string id = fmt::format("target-{}", index);
  const seconds span = chart_span(t);
  std::string html =
      fmt::format(R"(<section class="target" id="{}" data-target="{}">)", id, escape(t.name));
  html +=
      fmt::format(R"(<h2>{} <span class="badge" data-status="{}" style="background:{}">{}</span>)",
                  escape(t.name), name(t.level), colour(t.level), name(t.level));
  if (t.level_since) {
    html +=
        fmt::format(R"( <span class="since">since {}</span>)", when(*t.level_since, t.taken_at));
  }
  html += "</h2>";
  html += fmt::format(R"(<p class="meaning">{}.)", meaning(t.level));
  bool holding = false;
  for (const FindingMemory& m : t.memory) holding = holding || m.state == FindingState::holding;
  if (t.level > Level::healthy && !holding) {
    html += fmt::format(
        " No condition holds any more: the status steps down one level after {} of calm.",
        span_text(duration<double>(t.step_down_after).count()));
  }
  if (t.assessment.unknown) {
    html += fmt::format(R"( <span class="unknown-reason">Unknown because {}.</span>)",
                        escape(t.assessment.unknown_reason));
  }
  html += "</p>";
  std::string about = escape(t.url);
  if (!t.canaries.empty()) {
    std::string names;
    for (const auto& c : t.canaries) names += (names.empty() ? "" : ", ") + escape(c);
    about += " · canaries " + names;
  }
  if (!t.routes.empty()) {
    std::string names;
    for (const auto& r : t.routes) names += (names.empty() ? "" : ", ") + escape(r);
    about += " · routes " + names;
  }
  html += fmt::format(R"(<p class="muted">{}</p>)", about);

  html += fmt::format(R"(<h3>Status, last {}</h3>)", span_text(static_cast<double>(span.count())));
  html += render_timeline(id + "-timeline", t.history, t.taken_at, span);
  html += R"(<p class="legend">)";
  for (int l = 0; l <= 3; ++l) {
    html += fmt::format(R"(<span class="swatch" style="background:{}"></span>{} )", colour(l),
                        level_name(l));
  }
  html +=
      fmt::format(R"(<span class="swatch" style="background:{}"></span>unknown</p>)", colour(-1));
  html += changes_list(t);

  html += R"(<h3>Findings</h3><table class="findings"><tr><th>finding</th><th>state</th>)"
          R"(<th>evidence</th></tr>)";
  bool any = false;
  html += finding_rows(t, any);
  if (!any) {
    html += R"(<tr class="no-findings"><td colspan="3" class="muted">no findings</td></tr>)";
  }
  html += "</table>";
  html += failures_table(t);
  html += charts(t, id);
  html += "<h3>Signals now</h3>" + signals_table(t);
  return html + "</section>";
}

}  // namespace

std::string landing_page(const std::vector<TargetSnapshot>& targets,
                         const std::vector<ScenarioState>& scenarios, bool admin_api) {
  const SystemTime now =
      targets.empty() ? std::chrono::system_clock::now() : targets.front().taken_at;
  std::string html = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loopcanary</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#222}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3em 1.5em}
h1{margin:.2em 0}h2{margin:1em 0 .2em}h3{margin:1em 0 .3em;font-size:1.05em}
section.target{border-top:2px solid #ddd;margin-top:1em}
table{border-collapse:collapse;margin:.3em 0 1em;width:100%}
td,th{padding:.3em .75em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}
table.signals{width:auto}
ul{margin:0;padding-left:1.1em}
.badge{color:#fff;padding:.1em .6em;border-radius:.3em;font-weight:600}
.since{font-size:.6em;font-weight:400;color:#555}
.muted{color:#6b6b6b}code{background:#f4f4f4;padding:0 .2em}
tr.clearing td{background:#fff8e1}tr.cleared td{color:#6b6b6b}
li.held{color:#555}
.legend{font-size:.85em;color:#444;margin:.2em 0}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:.15em;margin:0 .3em 0 .8em;vertical-align:-.1em}
.swatch.scenario{background:#e3f2fd;border:1px solid #90caf9}.swatch.no-answer{background:#e53935}
svg{display:block;max-width:100%}
svg .grid{stroke:#e4e4e4;stroke-width:1}
svg text{font:12px system-ui,sans-serif;fill:#555}svg text.now{font-weight:600;fill:#222}
svg .series{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg rect.scenario{fill:#e3f2fd}svg rect.no-answer{fill:#e53935}
svg line.threshold{stroke:#999;stroke-dasharray:5 4}svg text.threshold{fill:#777;font-size:11px}
svg text.peak{font-size:12px;font-weight:600}
</style></head><body>
<header><h1>loopcanary</h1>
<span>Outside-in event-loop health of async web services.</span>
<span class="muted">)";
  html += fmt::format(
      R"(updated at <time id="updated" datetime="{0}">{0} UTC</time>; refreshes every 5 s)",
      clock_time(now));
  html += R"(</span></header>
<nav><a href="/metrics">Metrics</a> · <a href="/api/v1/status">Status (JSON)</a> ·
<a href="/api/v1/scenarios">Scenarios (JSON)</a> · <a href="/-/healthy">Healthy</a> · <a href="/-/ready">Ready</a></nav>
)";
  for (std::size_t i = 0; i < targets.size(); ++i) html += target_section(targets[i], i);
  html += R"(<section><h2>Scenarios</h2><table class="scenarios"><tr><th>name</th><th>target</th>)"
          R"(<th>state</th><th>runs</th></tr>)";
  for (const ScenarioState& s : scenarios) {
    html += fmt::format(
        R"(<tr class="scenario" data-scenario="{0}"><td>{0}</td><td>{1}</td><td>{2}</td>)"
        R"(<td>{3}</td></tr>)",
        escape(s.name), escape(s.target),
        s.stopping ? "stopping" : (s.running ? "running" : "idle"), s.runs);
  }
  html += "</table>";
  if (!admin_api) {
    html +=
        "<p class=\"muted\">Start loopcanary with <code>--web.enable-admin-api</code> to "
        "start and stop scenarios with <code>POST /api/v1/scenarios/NAME/start</code>.</p>";
  }
  html += "</section></body></html>\n";
  return html;
}

}  // namespace loopcanary::exporter
