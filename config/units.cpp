#include "config/units.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace loopcanary::config {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t nanoseconds;
};

// In the order a duration must list them. `ms` precedes `m` when matching.
constexpr std::array<Unit, 7> kUnits{{
    {"y", 365LL * 24 * 3600 * 1'000'000'000LL},
    {"w", 7LL * 24 * 3600 * 1'000'000'000LL},
    {"d", 24LL * 3600 * 1'000'000'000LL},
    {"h", 3600LL * 1'000'000'000LL},
    {"m", 60LL * 1'000'000'000LL},
    {"s", 1'000'000'000LL},
    {"ms", 1'000'000LL},
}};

std::optional<double> parse_number(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration::zero();
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units must appear in decreasing order, each once
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t digits_end = pos;
    while (digits_end < text.size() && std::isdigit(static_cast<unsigned char>(text[digits_end]))) {
      ++digits_end;
    }
    if (digits_end == pos) return std::nullopt;
    std::int64_t count = 0;
    auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + digits_end, count);
    if (ec != std::errc{} || ptr != text.data() + digits_end) return std::nullopt;
    std::size_t suffix_end = digits_end;
    while (suffix_end < text.size() && std::isalpha(static_cast<unsigned char>(text[suffix_end]))) {
      ++suffix_end;
    }
    const std::string_view suffix = text.substr(digits_end, suffix_end - digits_end);
    std::size_t unit = next_unit;
    while (unit < kUnits.size() && kUnits[unit].suffix != suffix) ++unit;
    if (unit == kUnits.size()) return std::nullopt;
    const std::int64_t scale = kUnits[unit].nanoseconds;
    if (count > (std::numeric_limits<std::int64_t>::max() - total) / scale) return std::nullopt;
    total += count * scale;
    next_unit = unit + 1;
    pos = suffix_end;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  if (d == Duration::zero()) return "0s";
  std::string out;
  // The magnitude in unsigned arithmetic: negating the most negative count
  // would overflow (undefined behaviour) in int64.
  auto ns = static_cast<std::uint64_t>(d.count());
  if (d < Duration::zero()) {
    out = "-";
    ns = 0 - ns;
  }
  for (const Unit& u : kUnits) {
    if (u.suffix == "y" || u.suffix == "w") continue;  // days read better for config echoes
    const auto unit = static_cast<std::uint64_t>(u.nanoseconds);
    if (ns >= unit) {
      out += std::to_string(ns / unit);
      out += u.suffix;
      ns %= unit;
    }
  }
  if (ns > 0) {  // below a millisecond: say it in microseconds, never silently round
    out += std::to_string(ns / 1000);
    out += "us";
  }
  return out;
}

std::optional<double> parse_rate(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto count = parse_number(text.substr(0, slash));
  if (!count || *count <= 0) return std::nullopt;
  const std::string_view unit = text.substr(slash + 1);
  double per = 0;
  if (unit == "s") {
    per = 1;
  } else if (unit == "m") {
    per = 60;
  } else if (unit == "h") {
    per = 3600;
  } else {
    return std::nullopt;
  }
  return *count / per;
}

std::optional<double> parse_ratio(std::string_view text) {
  std::optional<double> value;
  if (!text.empty() && text.back() == '%') {
    value = parse_number(text.substr(0, text.size() - 1));
    if (value) *value /= 100.0;
  } else {
    value = parse_number(text);
  }
  if (!value || *value < 0 || *value > 1) return std::nullopt;
  return value;
}

}  // namespace loopcanary::config
