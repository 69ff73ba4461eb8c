// Fuzzes the unit parsers of config/units.hpp. Contract: they return nullopt
// for anything they do not accept, never crash; a parsed duration is
// non-negative and formats back to a string that parses to the same value
// (parse_duration has no unit below `ms`, so a parsed value never has the
// sub-millisecond part that format_duration writes as `us`); a rate is finite
// and positive; a ratio lies in [0, 1]. format_duration also takes any
// Duration, negative ones included, without undefined behaviour.

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config/units.hpp"
#include "fuzz_check.hpp"

namespace {

using namespace loopcanary::config;
using loopcanary::fuzz::require;

void check_duration(std::string_view text) {
  const auto d = parse_duration(text);
  if (!d) return;
  require(*d >= Duration::zero(), "a parsed duration is not negative");
  require(*d % 1ms == Duration::zero(), "a parsed duration is whole milliseconds");
  const std::string formatted = format_duration(*d);
  require(parse_duration(formatted) == d, "format_duration(parse_duration(s)) parses back");
}

void check_any_duration(const std::uint8_t* data, std::size_t size) {
  if (size < sizeof(std::int64_t)) return;
  std::int64_t ns = 0;
  std::memcpy(&ns, data, sizeof ns);
  const std::string formatted = format_duration(Duration{ns});
  require(!formatted.empty(), "format_duration never returns an empty string");
  require((ns < 0) == (formatted.front() == '-'), "a negative duration starts with '-'");
  if (ns >= 0 && Duration{ns} % 1ms == Duration::zero()) {
    require(parse_duration(formatted) == Duration{ns}, "whole milliseconds round-trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_duration(text);
  if (const auto rate = parse_rate(text)) {
    require(std::isfinite(*rate) && *rate > 0, "a rate is finite and positive");
  }
  if (const auto ratio = parse_ratio(text)) {
    require(*ratio >= 0 && *ratio <= 1, "a ratio lies in [0, 1]");
  }
  check_any_duration(data, size);
  return 0;
}
