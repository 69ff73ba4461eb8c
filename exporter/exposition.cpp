#include "exporter/exposition.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace loopcanary::exporter {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// prometheus-cpp prints doubles with `out << value` at precision
// max_digits10 - 1 in the classic locale, which is printf's "%.16g".
void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "Nan";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else {
    std::array<char, 32> buf;
    const auto r =
        std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::general,
                      std::numeric_limits<double>::max_digits10 - 1);
    out.append(buf.data(), r.ptr);
  }
}

template <typename Int>
void append_int(std::string& out, Int value) {
  std::array<char, 24> buf;
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  out.append(buf.data(), r.ptr);
}

void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_help(std::string& out, std::string_view help) {
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// One sample's name and labels, up to the space before its value. `extra`
// is the histogram's `le` or the summary's `quantile`, already formatted.
void append_head(std::string& out, const MetricFamily& family, const ClientMetric& metric,
                 std::string_view suffix, std::string_view extra_name = {},
                 std::string_view extra_value = {}) {
  out += family.name;
  out += suffix;
  if (!metric.label.empty() || !extra_name.empty()) {
    out += '{';
    bool first = true;
    for (const auto& label : metric.label) {
      if (!first) out += ',';
      first = false;
      out += label.name;
      out += "=\"";
      append_label_value(out, label.value);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      append_label_value(out, extra_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void append_tail(std::string& out, const ClientMetric& metric) {
  if (metric.timestamp_ms != 0) {
    out += ' ';
    append_int(out, metric.timestamp_ms);
  }
  out += '\n';
}

std::string format_double(double value) {
  std::string s;
  append_double(s, value);
  return s;
}

void append_histogram(std::string& out, const MetricFamily& family, const ClientMetric& metric) {
  const auto& hist = metric.histogram;
  append_head(out, family, metric, "_count");
  append_int(out, hist.sample_count);
  append_tail(out, metric);
  append_head(out, family, metric, "_sum");
  append_double(out, hist.sample_sum);
  append_tail(out, metric);
  double last = -std::numeric_limits<double>::infinity();
  for (const auto& bucket : hist.bucket) {
    append_head(out, family, metric, "_bucket", "le", format_double(bucket.upper_bound));
    last = bucket.upper_bound;
    append_int(out, bucket.cumulative_count);
    append_tail(out, metric);
  }
  if (last != std::numeric_limits<double>::infinity()) {
    append_head(out, family, metric, "_bucket", "le", "+Inf");
    append_int(out, hist.sample_count);
    append_tail(out, metric);
  }
}

void append_summary(std::string& out, const MetricFamily& family, const ClientMetric& metric) {
  const auto& sum = metric.summary;
  append_head(out, family, metric, "_count");
  append_int(out, sum.sample_count);
  append_tail(out, metric);
  append_head(out, family, metric, "_sum");
  append_double(out, sum.sample_sum);
  append_tail(out, metric);
  for (const auto& q : sum.quantile) {
    append_head(out, family, metric, "", "quantile", format_double(q.quantile));
    append_double(out, q.value);
    append_tail(out, metric);
  }
}

void append_single(std::string& out, const MetricFamily& family, const ClientMetric& metric,
                   double value) {
  append_head(out, family, metric, "");
  append_double(out, value);
  append_tail(out, metric);
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Untyped:
      break;
  }
  return "untyped";
}

}  // namespace

void write_text(const std::vector<MetricFamily>& families, std::string& out) {
  for (const auto& family : families) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += family.name;
      out += ' ';
      append_help(out, family.help);
      out += '\n';
    }
    out += "# TYPE ";
    out += family.name;
    out += ' ';
    out += type_name(family.type);
    out += '\n';
    for (const auto& metric : family.metric) {
      switch (family.type) {
        case MetricType::Counter:
          append_single(out, family, metric, metric.counter.value);
          break;
        case MetricType::Gauge:
          append_single(out, family, metric, metric.gauge.value);
          break;
        case MetricType::Untyped:
          append_single(out, family, metric, metric.untyped.value);
          break;
        case MetricType::Summary:
          append_summary(out, family, metric);
          break;
        case MetricType::Histogram:
          append_histogram(out, family, metric);
          break;
      }
    }
  }
}

}  // namespace loopcanary::exporter
