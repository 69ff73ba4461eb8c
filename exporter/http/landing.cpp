#include "exporter/http/landing.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace loopcanary::exporter {

namespace {

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

std::string_view colour(Level level) {
  switch (level) {
    case Level::healthy:
      return "#2e7d32";
    case Level::degraded:
      return "#f9a825";
    case Level::critical:
      return "#e65100";
    case Level::unresponsive:
      return "#b71c1c";
    case Level::unknown:
      break;
  }
  return "#757575";
}

std::string ms(double seconds) { return fmt::format("{:.1f} ms", seconds * 1000); }

}  // namespace

std::string sparkline(const std::vector<double>& values, int width, int height,
                      const std::string& stroke) {
  std::string points;
  const double top = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
  const std::size_t n = values.size();
  for (std::size_t i = 0; i < n; ++i) {
    const double x = n > 1 ? static_cast<double>(i) * width / static_cast<double>(n - 1) : 0;
    const double y = top > 0 ? height - values[i] / top * (height - 2) - 1 : height - 1;
    points += fmt::format("{:.1f},{:.1f} ", x, y);
  }
  if (n < 2) points = fmt::format("0,{} {},{}", height - 1, width, height - 1);
  return fmt::format(
      R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img">)"
      R"(<polyline fill="none" stroke="{2}" stroke-width="1.5" points="{3}"/></svg>)",
      width, height, stroke, points);
}

std::string landing_page(const std::vector<TargetSnapshot>& targets,
                         const std::vector<ScenarioState>& scenarios, bool admin_api) {
  std::string html = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>loopcanary</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:.25em .75em;text-align:left;border-bottom:1px solid #ddd}
.badge{color:#fff;padding:.15em .6em;border-radius:.3em;font-weight:600}
.muted{color:#777}code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>loopcanary</h1>
<p>Outside-in event-loop health of async web services.
<a href="/metrics">Metrics</a> · <a href="/api/v1/status">Status (JSON)</a> ·
<a href="/api/v1/scenarios">Scenarios (JSON)</a> · <a href="/-/healthy">Healthy</a> · <a href="/-/ready">Ready</a></p>
)";
  for (const TargetSnapshot& t : targets) {
    const TargetView& v = t.view;
    html += fmt::format(
        R"(<h2>{} <span class="badge" style="background:{}">{}</span></h2><p class="muted">{}</p>)",
        escape(t.name), colour(t.level), name(t.level), escape(t.url));
    if (t.assessment.unknown) {
      html += fmt::format("<p>Unknown because {}.</p>", escape(t.assessment.unknown_reason));
    }
    html += "<table><tr><th>finding</th><th>evidence</th></tr>";
    bool any = false;
    for (std::size_t i = 0; i < kFindingCount; ++i) {
      if (!t.findings[i]) continue;
      any = true;
      std::string evidence;
      for (const Evidence& e : t.assessment.evidence[i]) {
        if (!e.holds) continue;
        evidence += fmt::format("<code>{} = {:.3g}</code> {} {:.3g}<br>", escape(e.signal), e.value,
                                escape(e.op), e.threshold);
      }
      html += fmt::format("<tr><td>{}</td><td>{}</td></tr>", kFindingNames[i], evidence);
    }
    if (!any) html += R"(<tr><td colspan="2" class="muted">no findings</td></tr>)";
    html += "</table>";

    std::vector<double> latency, stall;
    for (const HistoryPoint& p : t.history) {
      latency.push_back(p.latency_max_seconds * 1000);
      stall.push_back(p.stall_seconds);
    }
    const double worst = latency.empty() ? 0 : *std::max_element(latency.begin(), latency.end());
    html += fmt::format(
        "<table><tr><th>canary latency (max per second, last {} s; top {:.1f} ms)</th>"
        "<th>stall seconds per second</th></tr><tr><td>{}</td><td>{}</td></tr></table>",
        t.history.size(), worst, sparkline(latency, 360, 40, "#1565c0"),
        sparkline(stall, 360, 40, "#b71c1c"));

    html += "<table><tr><th>signal</th><th>value</th></tr>";
    html += fmt::format("<tr><td>stall seconds (total)</td><td>{:.3f} s in {} stalls</td></tr>",
                        v.stall_seconds_total, v.stalls_total);
    html += fmt::format("<tr><td>stall in progress</td><td>{}</td></tr>",
                        ms(std::chrono::duration<double>(v.stall_in_progress).count()));
    html += fmt::format("<tr><td>stall max (window)</td><td>{}</td></tr>",
                        ms(std::chrono::duration<double>(v.stall_max).count()));
    html +=
        fmt::format("<tr><td>stall ratio (window)</td><td>{:.2f} %</td></tr>", v.stall_ratio * 100);
    html += fmt::format(
        "<tr><td>lag p99 (window)</td><td>{}</td></tr>",
        v.lag_p99 ? ms(std::chrono::duration<double>(*v.lag_p99).count()) : std::string("–"));
    html += fmt::format("<tr><td>busy ratio</td><td>{:.2f} %</td></tr>", v.busy_ratio * 100);
    for (std::size_t i = 0; i < v.routes.size(); ++i) {
      const RouteView& r = v.routes[i];
      const std::string route = i < t.routes.size() ? escape(t.routes[i]) : std::to_string(i);
      if (r.hol_ratio) {
        html +=
            fmt::format("<tr><td>HOL blocking · {}</td><td>{:.2f}</td></tr>", route, *r.hol_ratio);
      }
      if (r.amplification) {
        html += fmt::format("<tr><td>queue amplification · {}</td><td>{:.2f}×</td></tr>", route,
                            *r.amplification);
      }
      if (r.capacity) {
        html += fmt::format("<tr><td>executor capacity · {}</td><td>{:.1f}</td></tr>", route,
                            *r.capacity);
      }
      if (r.knee) {
        html += fmt::format("<tr><td>concurrency knee · {}</td><td>{}</td></tr>", route, *r.knee);
      }
    }
    html += "</table>";
  }
  html +=
      "<h2>Scenarios</h2><table><tr><th>name</th><th>target</th><th>state</th><th>runs</th></tr>";
  for (const ScenarioState& s : scenarios) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", escape(s.name),
                        escape(s.target), s.running ? "running" : "idle", s.runs);
  }
  html += "</table>";
  if (!admin_api) {
    html +=
        "<p class=\"muted\">Start loopcanary with <code>--web.enable-admin-api</code> to "
        "start and stop scenarios with <code>POST /api/v1/scenarios/NAME/start</code>.</p>";
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace loopcanary::exporter
