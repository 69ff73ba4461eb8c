// --report=html: one self-contained page a CI system keeps and a person
// opens. No external assets and no script: inline CSS and SVG plots drawn
// here from the report's timeline.

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "exporter/audit/advice.hpp"
#include "exporter/audit/reports.hpp"

namespace loopcanary::exporter::audit {

namespace {

constexpr double kWidth = 960;
constexpr double kLeft = 190, kRight = 16, kTop = 14, kBottom = 30;

const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:0;background:#f4f6f9}
main{max-width:1000px;margin:0 auto;padding:20px}
h1{font-size:26px;margin:0 0 6px}h2{font-size:19px;margin:26px 0 8px}h3{font-size:15px;margin:14px 0 6px}
.badge{display:inline-block;padding:2px 12px;border-radius:6px;color:#fff;font-weight:700;letter-spacing:.5px}
.PASS{background:#1f8a4c}.FAIL{background:#c62828}.INCONCLUSIVE{background:#8a6d00}
.lvl{display:inline-block;padding:0 7px;border-radius:4px;font-size:12px;color:#fff;background:#6b7785}
.lvl-degraded{background:#c99700}.lvl-critical{background:#e65100}.lvl-unresponsive{background:#b71c1c}.lvl-healthy{background:#2e7d32}
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:12px 16px;margin:10px 0}
.finding h3{margin-top:0}.muted{color:#5b6675}.warn{border-left:5px solid #8a6d00}
ul.reasons{margin:6px 0 0 18px;padding:0}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e7ee;padding:4px 8px;text-align:right;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left}figure{margin:12px 0;background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:8px}
figcaption{font-weight:600;margin:0 0 4px 4px}svg text{font:11px system-ui,sans-serif;fill:#3b4656}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:4px}
code{background:#eef1f5;padding:0 4px;border-radius:3px}
)";

std::string h(std::string_view s) { return xml_escape(s); }

const char* level_color(int level) {
  switch (level) {
    case 0:
      return "#43a047";
    case 1:
      return "#f9c80e";
    case 2:
      return "#fb8c00";
    case 3:
      return "#c62828";
    default:
      return "#b0b8c4";
  }
}

/// One plot's frame: the time axis shared by every plot of a subject and a
/// y axis (linear or log) of its own.
class Frame {
 public:
  Frame(double t0, double t1, double height, double y0, double y1, bool log)
      : t0_(t0), t1_(t1 > t0 ? t1 : t0 + 1), height_(height), log_(log) {
    y0_ = log ? std::log10(std::max(y0, 1e-6)) : y0;
    y1_ = log ? std::log10(std::max(y1, y0 * 10)) : (y1 > y0 ? y1 : y0 + 1);
  }
  double x(double t) const { return kLeft + (t - t0_) / (t1_ - t0_) * (kWidth - kLeft - kRight); }
  double y(double v) const {
    const double u = log_ ? std::log10(std::max(v, 1e-6)) : v;
    const double f = std::clamp((u - y0_) / (y1_ - y0_), 0.0, 1.0);
    return kTop + (1 - f) * (height_ - kTop - kBottom);
  }
  double bottom() const { return height_ - kBottom; }
  double height() const { return height_; }

  std::string open(const std::string& name, const std::string& label) const {
    return fmt::format(
        "<svg class=\"plot\" data-plot=\"{}\" role=\"img\" aria-label=\"{}\" "
        "viewBox=\"0 0 {} {}\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">\n",
        name, h(label), kWidth, height_);
  }

  /// The time axis (seconds from the judged start) with the warm-up shaded.
  std::string time_axis(double warmup_end) const {
    std::string out;
    if (warmup_end > t0_) {
      out += fmt::format(
          "<rect class=\"warmup\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{:.1f}\" "
          "fill=\"#e9ecf1\"/><text x=\"{:.1f}\" y=\"{}\">warm-up (not judged)</text>\n",
          x(t0_), kTop, x(warmup_end) - x(t0_), bottom() - kTop, x(t0_) + 4, kTop + 11);
    }
    out +=
        fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#8a94a3\"/>\n",
                    kLeft, bottom(), kWidth - kRight, bottom());
    const double span = t1_ - t0_;
    const double raw = span / 10;
    const double mag = std::pow(10, std::floor(std::log10(std::max(raw, 1e-3))));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
      if (mag * m >= raw) {
        step = mag * m;
        break;
      }
    }
    for (double t = std::ceil(t0_ / step) * step; t <= t1_ + 1e-9; t += step) {
      out += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#8a94a3\"/>"
          "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
          x(t), bottom(), bottom() + 4, bottom() + 16, fmt::format("{:g} s", t == 0 ? 0.0 : t));
    }
    return out;
  }

  /// Y ticks at `values`, labelled by `label(value)`.
  template <typename Label>
  std::string y_axis(const std::vector<double>& values, Label label) const {
    std::string out =
        fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2:.1f}\" stroke=\"#8a94a3\"/>\n",
                    kLeft, kTop, bottom());
    for (double v : values) {
      out += fmt::format(
          "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#eef0f4\"/>"
          "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
          kLeft, y(v), kWidth - kRight, kLeft - 6, y(v) + 4, h(label(v)));
    }
    return out;
  }

  /// A polyline through the points that have a value (a gap where one is missing).
  std::string line(const std::vector<std::pair<double, std::optional<double>>>& points,
                   const char* color, const std::string& series, double width = 1.6,
                   const char* dash = "") const {
    std::string d;
    bool pen = false;
    for (const auto& [t, v] : points) {
      if (!v) {
        pen = false;
        continue;
      }
      d += fmt::format("{}{:.1f},{:.1f} ", pen ? "L" : "M", x(t), y(*v));
      pen = true;
    }
    if (d.empty()) return "";
    return fmt::format(
        "<path class=\"series\" data-series=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"{}\" stroke-dasharray=\"{}\"/>\n",
        h(series), d, color, width, dash);
  }

 private:
  double t0_, t1_, height_;
  double y0_, y1_;
  bool log_;
};

std::string legend(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out = "<div class=\"legend\">";
  for (const auto& [color, label] : items) {
    out += fmt::format("<span><i style=\"background:{}\"></i>{}</span>", color, h(label));
  }
  return out + "</div>\n";
}

const char* kRouteColors[] = {"#d81b60", "#8e24aa", "#00897b", "#6d4c41"};

std::string status_plot(const SubjectResult& s, const Frame& base, double t0, double t1,
                        double step) {
  // Row 0: the status; one row per finding seen.
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < s.findings.size(); ++i) {
    if (s.findings[i].seen) rows.push_back(i);
  }
  const double row_h = 18;
  const double height = kTop + kBottom + row_h * static_cast<double>(1 + rows.size()) + 6;
  const Frame f(t0, t1, height, 0, 1, false);
  std::string out = f.open("status", "status timeline and findings over the run");
  out += f.time_axis(0);
  (void)base;
  auto row_y = [&](std::size_t r) { return kTop + row_h * static_cast<double>(r); };
  out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">status</text>\n", kLeft - 6,
                     row_y(0) + 12);
  for (const Point& p : s.timeline) {
    out += fmt::format(
        "<rect class=\"status\" data-status=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.2f}\" "
        "height=\"{}\" fill=\"{}\"><title>+{:.0f} s: {}</title></rect>\n",
        p.status, f.x(p.t), row_y(0) + 1, std::max(1.0, f.x(p.t + step) - f.x(p.t)), row_h - 3,
        level_color(p.status), p.t, p.status < 0 ? "unknown" : name(static_cast<Level>(p.status)));
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::size_t i = rows[r];
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6,
                       row_y(r + 1) + 12, h(s.findings[i].name));
    for (const Point& p : s.timeline) {
      if (i >= p.findings.size() || !p.findings[i]) continue;
      out += fmt::format(
          "<rect class=\"finding\" data-finding=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.2f}\" "
          "height=\"{}\" fill=\"#5c6bc0\"/>\n",
          h(s.findings[i].name), f.x(p.t), row_y(r + 1) + 3,
          std::max(1.0, f.x(p.t + step) - f.x(p.t)), row_h - 7);
    }
  }
  out += "</svg>\n";
  out += legend({{level_color(0), "healthy"},
                 {level_color(1), "degraded"},
                 {level_color(2), "critical"},
                 {level_color(3), "unresponsive"},
                 {level_color(-1), "unknown"},
                 {"#5c6bc0", "finding active"}});
  return out;
}

std::string latency_plot(const SubjectResult& s, double t0, double t1) {
  double lo = 1e9, hi = 0;
  auto see = [&](const std::optional<double>& v) {
    if (v && *v > 0) {
      lo = std::min(lo, *v);
      hi = std::max(hi, *v);
    }
  };
  for (const Point& p : s.timeline) {
    see(p.canary_p99);
    see(p.canary_max);
    for (const auto& v : p.route_p50) see(v);
    for (const auto& v : p.route_p99) see(v);
  }
  if (hi == 0) {
    lo = 0.001;
    hi = 1;
  }
  const double y0 = std::pow(10, std::floor(std::log10(lo)));
  const double y1 = std::pow(10, std::ceil(std::log10(hi * 1.01)));
  const Frame f(t0, t1, 240, y0, y1, true);
  std::string out =
      f.open("latency", "canary latency from intended send time and heavy-route latency");
  out += f.time_axis(0);
  std::vector<double> ticks;
  for (double v = y0; v <= y1 * 1.001; v *= 10) ticks.push_back(v);
  out += f.y_axis(ticks, [](double v) { return format_value(v, Unit::seconds); });
  std::vector<std::pair<double, std::optional<double>>> c99, cmax;
  for (const Point& p : s.timeline) {
    c99.emplace_back(p.t, p.canary_p99);
    cmax.emplace_back(p.t, p.canary_max);
  }
  std::vector<std::pair<std::string, std::string>> keys{{"#1e88e5", "canary p99"},
                                                        {"#90caf9", "canary max"}};
  out += f.line(cmax, "#90caf9", "canary max", 1.2);
  out += f.line(c99, "#1e88e5", "canary p99", 2);
  for (std::size_t r = 0; r < s.routes.size(); ++r) {
    std::vector<std::pair<double, std::optional<double>>> p50, p99;
    for (const Point& p : s.timeline) {
      p50.emplace_back(p.t, r < p.route_p50.size() ? p.route_p50[r] : std::nullopt);
      p99.emplace_back(p.t, r < p.route_p99.size() ? p.route_p99[r] : std::nullopt);
    }
    const char* color = kRouteColors[r % 4];
    out += f.line(p50, color, s.routes[r].name + " p50", 1.4, "5 3");
    out += f.line(p99, color, s.routes[r].name + " p99", 2);
    keys.emplace_back(color, s.routes[r].name + " p99 (dashed: p50)");
  }
  out += "</svg>\n" + legend(keys);
  return out;
}

std::string stall_plot(const SubjectResult& s, double t0, double t1, double step) {
  double hi = 0;
  for (const Point& p : s.timeline) hi = std::max(hi, p.stall_seconds);
  hi = std::max(hi, 0.1 * step);
  const Frame f(t0, t1, 170, 0, hi * 1.1, false);
  std::string out = f.open("stall", "stall seconds per interval");
  out += f.time_axis(0);
  out += f.y_axis({0, hi / 2, hi}, [](double v) { return format_value(v, Unit::seconds); });
  for (const Point& p : s.timeline) {
    if (p.stall_seconds <= 0) continue;
    out += fmt::format(
        "<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{:.1f}\" "
        "fill=\"#e53935\"><title>+{:.0f} s: stalled {}</title></rect>\n",
        f.x(p.t), f.y(p.stall_seconds), std::max(1.0, f.x(p.t + step) - f.x(p.t) - 1),
        f.bottom() - f.y(p.stall_seconds), p.t, duration_text(p.stall_seconds));
  }
  // Zero baseline drawn as a series so an all-calm run still reads as measured.
  std::vector<std::pair<double, std::optional<double>>> zero;
  for (const Point& p : s.timeline)
    zero.emplace_back(p.t, p.stall_seconds > 0 ? std::nullopt : std::optional<double>(0.0));
  out += f.line(zero, "#43a047", "no stall", 2);
  out += "</svg>\n" +
         legend({{"#e53935", "stalled (seconds the target could not answer, per interval)"},
                 {"#43a047", "no stall"}});
  return out;
}

std::string steps_plot(const SubjectResult& s, double t0, double t1) {
  int hi = 1;
  for (const Point& p : s.timeline) hi = std::max(hi, p.concurrency);
  for (const Step& st : s.steps) hi = std::max(hi, st.concurrency);
  const Frame f(t0, t1, 170, 0, hi * 1.15, false);
  std::string out = f.open("steps", "scenario steps: concurrency driven over the run");
  out += f.time_axis(0);
  out += f.y_axis({0, static_cast<double>(hi) / 2, static_cast<double>(hi)},
                  [](double v) { return fmt::format("{:g}", std::round(v * 10) / 10); });
  if (s.steps.empty()) {
    out += fmt::format("<text x=\"{}\" y=\"{}\">loopcanary drove no load (observe mode)</text>\n",
                       kLeft + 10, 60);
  }
  std::vector<std::pair<double, std::optional<double>>> pts;
  for (const Point& p : s.timeline) {
    pts.emplace_back(p.t, static_cast<double>(p.concurrency));
    pts.emplace_back(p.t + 1, static_cast<double>(p.concurrency));
  }
  if (!s.steps.empty()) out += f.line(pts, "#3949ab", "concurrency", 2);
  for (const Step& st : s.steps) {
    out += fmt::format(
        "<circle class=\"step\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" "
        "fill=\"#3949ab\"><title>+{:.1f} s: "
        "{} at {}</title></circle>\n",
        f.x(st.t), f.y(st.concurrency), st.t, h(st.route),
        st.concurrency ? fmt::format("{} clients", st.concurrency)
                       : std::string("an open-loop rate"));
  }
  out += "</svg>\n" + legend({{"#3949ab", "closed-loop concurrency (dots: a step begins)"}});
  return out;
}

std::string prober_plot(const SubjectResult& s, double t0, double t1) {
  double hi = 0.01;
  for (const Point& p : s.timeline) hi = std::max(hi, p.prober_lag);
  const Frame f(t0, t1, 150, 0, hi * 1.1, false);
  std::string out = f.open("prober", "loopcanary's own timer lateness");
  out += f.time_axis(0);
  out += f.y_axis({0, hi / 2, hi}, [](double v) { return format_value(v, Unit::seconds); });
  std::vector<std::pair<double, std::optional<double>>> pts;
  for (const Point& p : s.timeline) pts.emplace_back(p.t, p.prober_lag);
  out += f.line(pts, "#6d4c41", "prober lag", 1.6);
  out += "</svg>\n" + legend({{"#6d4c41",
                               "worst lateness of loopcanary's timers per interval "
                               "(beyond the stall threshold: starved, status unknown)"}});
  return out;
}

std::string findings_html(const SubjectResult& s) {
  std::string out;
  bool any = false;
  for (const FindingTrack& f : s.findings) {
    if (!f.seen) continue;
    any = true;
    const std::string level(name(f.level()));
    out += fmt::format(
        "<div class=\"card finding\" data-finding=\"{0}\"><h3>{0} <span class=\"lvl "
        "lvl-{1}\">{1}</span></h3>\n"
        "<div class=\"muted\">active {2} from +{3:.1f} s</div>\n",
        h(f.name), level, duration_text(f.active_seconds), f.first_at);
    const EvidenceTrack* worst = f.worst();
    if (worst) {
      out += fmt::format(
          "<div class=\"worst\"><b>worst:</b> <code>{}</code> at +{:.1f} s, held {} "
          "(longest {})</div>\n",
          h(describe_worst(*worst)), worst->worst_at, duration_text(worst->held_seconds),
          duration_text(worst->longest_hold));
    }
    for (const EvidenceTrack& e : f.evidence) {
      if (&e == worst || !e.held()) continue;
      out += fmt::format(
          "<div class=\"also muted\">also: <code>{}</code> at +{:.1f} s, held {}</div>\n",
          h(describe_worst(e)), e.worst_at, duration_text(e.held_seconds));
    }
    out += fmt::format("<p><b>What it means:</b> {}.<br><b>What to do:</b> {}.",
                       h(f.advice.meaning), h(f.advice.what_to_do));
    if (!f.advice.runbook.empty()) {
      out += fmt::format(" <a href=\"{0}\">Runbook</a>", h(f.advice.runbook));
    }
    out += "</p></div>\n";
  }
  if (!any)
    out += "<div class=\"card\">No finding: nothing loopcanary watches for happened.</div>\n";
  return out;
}

std::string tables_html(const SubjectResult& s) {
  std::string out = fmt::format(
      "<h3>Signals over the judged run</h3><table><tr><th>signal</th><th>value</th></tr>"
      "<tr><td>stalled</td><td>{} in {} stall(s)</td></tr>"
      "<tr><td>stall max (largest in a window)</td><td>{}</td></tr>"
      "<tr><td>lag p99 (max)</td><td>{}</td></tr>"
      "<tr><td>busy ratio (max)</td><td>{:.1f} %</td></tr></table>\n<p class=\"muted\">{}</p>\n",
      duration_text(s.stall_seconds), s.stalls, format_value(s.stall_max, Unit::seconds),
      format_value(s.lag_p99_max, Unit::seconds), s.busy_ratio_max * 100, h(kLagVsStallExplained));
  if (!s.canaries.empty()) {
    out +=
        "<h3>Canaries</h3><table><tr><th>canary</th><th>probes</th><th>failures</th><th>p50</th>"
        "<th>p99</th><th>baseline</th></tr>";
    for (const CanarySummary& c : s.canaries) {
      out += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", h(c.name),
          c.probes, h(failures_text(c.failures)), optional_seconds(c.latency.p50),
          optional_seconds(c.latency.p99), optional_seconds(c.baseline));
    }
    out += "</table>\n";
  }
  if (!s.routes.empty()) {
    out +=
        "<h3>Routes driven</h3><table><tr><th>route</th><th>requests</th><th>failures</th>"
        "<th>p50</th><th>p99</th><th>HOL max</th><th>HOL delay</th><th>amplification</th>"
        "<th>capacity</th><th>knee</th></tr>";
    for (const RouteSummary& r : s.routes) {
      out += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</"
          "td><td>{}</td>"
          "<td>{}</td><td>{}</td></tr>",
          h(r.name), r.requests, h(failures_text(r.failures)), optional_seconds(r.latency.p50),
          optional_seconds(r.latency.p99), r.hol_max ? fmt::format("{:.2f}", *r.hol_max) : "–",
          optional_seconds(r.hol_delay_max),
          r.amplification_max ? fmt::format("{:.2f}", *r.amplification_max) : "–",
          r.capacity ? fmt::format("{:.1f}", *r.capacity) : "–",
          r.knee ? std::to_string(*r.knee) : "–");
    }
    out += fmt::format("</table>\n<p class=\"muted\">{}</p>\n", h(kHolExplained));
  }
  return out;
}

}  // namespace

std::string html_report(const AuditReport& r) {
  const std::string verdict(name(r.verdict));
  std::string title =
      r.mode == "prometheus"
          ? fmt::format("from Prometheus {}", r.prometheus_url)
          : (r.mode == "scenario" ? fmt::format("scenario {} on {}", r.scenario, r.target)
                                  : fmt::format("watching {}", r.target));
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>loopcanary audit: {0} — {1}</title><style>{2}</style></head><body><main>\n"
      "<h1 id=\"verdict\" data-verdict=\"{0}\"><span class=\"badge {0}\">{0}</span> loopcanary "
      "audit — {1}</h1>\n"
      "<ul class=\"reasons\">",
      verdict, h(title), kStyle);
  for (const std::string& reason : r.reasons) out += "<li>" + h(reason) + "</li>";
  out += fmt::format(
      "</ul>\n<p class=\"muted\">Fails on {}; inconclusive beyond {:.0f} % unknown; exit code {}. "
      "Judged {} from {}{}. loopcanary {}.</p>\n",
      name(r.fail_on), r.max_unknown * 100, exit_code(r.verdict), duration_text(r.duration),
      h(r.started_at), r.selector.empty() ? "" : ", selector " + h(r.selector), h(r.version));

  for (const SubjectResult& s : r.subjects) {
    out += fmt::format("<section class=\"subject\" data-subject=\"{}\">\n", h(s.name));
    if (r.subjects.size() > 1 || r.mode == "prometheus") {
      out += fmt::format("<h2>{} <span class=\"badge {}\">{}</span></h2><ul class=\"reasons\">",
                         h(s.name), name(s.verdict), name(s.verdict));
      for (const std::string& reason : s.reasons) out += "<li>" + h(reason) + "</li>";
      out += "</ul>\n";
    }
    out += "<h2>Findings</h2>\n" + findings_html(s);
    if (const std::string starved = starvation_text(s); !starved.empty()) {
      out += "<div class=\"card warn starved\"><b>loopcanary was starved.</b> " + h(starved) +
             "</div>\n";
    }
    if (!s.unknown_reason.empty()) {
      out += fmt::format(
          "<p class=\"muted\">Status unknown for {} of {} judged, mostly because {}.</p>\n",
          duration_text(s.unknown_seconds), duration_text(s.judged_seconds), h(s.unknown_reason));
    }
    if (!s.timeline.empty()) {
      const double t0 = s.timeline.front().t;
      double step = 1;
      if (s.timeline.size() > 1) {
        step =
            std::max(1e-3, (s.timeline.back().t - t0) / static_cast<double>(s.timeline.size() - 1));
      }
      const double t1 = s.timeline.back().t + step;
      const Frame base(t0, t1, 100, 0, 1, false);
      out += "<h2>Over the run</h2>\n";
      out += "<figure><figcaption>Status and findings</figcaption>" +
             status_plot(s, base, t0, t1, step) + "</figure>\n";
      out +=
          "<figure><figcaption>Canary latency (from the intended send time) beside the heavy "
          "routes' latency</figcaption>" +
          latency_plot(s, t0, t1) + "</figure>\n";
      out +=
          "<figure><figcaption>Stall seconds (added as each stall settles, so one bar can hold "
          "more "
          "than its second)</figcaption>" +
          stall_plot(s, t0, t1, step) + "</figure>\n";
      out +=
          "<figure><figcaption>Scenario steps</figcaption>" + steps_plot(s, t0, t1) + "</figure>\n";
      out += "<figure><figcaption>loopcanary's own timers</figcaption>" + prober_plot(s, t0, t1) +
             "</figure>\n";
    }
    out += tables_html(s);
    out += "</section>\n";
  }
  out += fmt::format(
      "<p class=\"muted\">Written by loopcanary {} (report schema {}). Times are seconds from the "
      "start of the judged run.</p>\n</main></body></html>\n",
      h(r.version), kSchemaVersion);
  return out;
}

}  // namespace loopcanary::exporter::audit
