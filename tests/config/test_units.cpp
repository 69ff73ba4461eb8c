#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <tuple>

#include "config/units.hpp"

namespace {

using loopcanary::config::Duration;
using loopcanary::config::format_duration;
using loopcanary::config::parse_duration;
using loopcanary::config::parse_rate;
using loopcanary::config::parse_ratio;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("parse_duration reads Prometheus-style durations", "[units]") {
  std::string text;
  Duration want;
  std::tie(text, want) = GENERATE(table<std::string, Duration>({
      {"0", 0s},
      {"0s", 0s},
      {"1ms", 1ms},
      {"10ms", 10ms},
      {"250ms", 250ms},
      {"5s", 5s},
      {"1m", 1min},
      {"90s", 90s},
      {"1m30s", 90s},
      {"1h30m", 90min},
      {"1h", 1h},
      {"1d", 24h},
      {"2w", 14 * 24h},
      {"1y", 365 * 24h},
      {"1s500ms", 1500ms},
      {"1y2w3d4h5m6s7ms", 365 * 24h + 14 * 24h + 3 * 24h + 4h + 5min + 6s + 7ms},
  }));
  CAPTURE(text);
  REQUIRE(parse_duration(text) == want);
}

TEST_CASE("parse_duration rejects what is not a duration", "[units]") {
  const std::string text = GENERATE(as<std::string>{},        //
                                    "",                       // nothing
                                    "10",                     // a bare number: 10 what?
                                    "5 sec",                  // spaces and spelled-out units
                                    "5sec",                   // unknown unit
                                    "1.5s",                   // no fractions: write 1s500ms
                                    "s",                      // unit without a count
                                    "ms",                     //
                                    "10ms5s",                 // units out of order
                                    "1s1s",                   // a unit twice
                                    "5m1h",                   // units out of order
                                    "-1s",                    // negative
                                    "+1s",                    // a sign
                                    " 5s",                    // surrounding space
                                    "5s ",                    //
                                    "5S",                     // units are lower case
                                    "1us",                    // below the millisecond
                                    "99999999999999999y",     // overflows 64-bit ns
                                    "99999999999999999999s",  // overflows the count
                                    "293y",                   // just past the limit
                                    "292y172d");              //
  CAPTURE(text);
  REQUIRE(parse_duration(text) == std::nullopt);
}

TEST_CASE("parse_duration accepts durations up to the 64-bit limit", "[units]") {
  // 292y171d is the largest whole number of days in a signed 64-bit nanosecond count.
  const auto got = parse_duration("292y171d");
  REQUIRE(got.has_value());
  REQUIRE(*got == (292 * 365 + 171) * 24h);
}

TEST_CASE("format_duration writes what parse_duration reads", "[units]") {
  std::string want;
  Duration d;
  std::tie(d, want) = GENERATE(table<Duration, std::string>({
      {0s, "0s"},
      {1ms, "1ms"},
      {10ms, "10ms"},
      {5s, "5s"},
      {90s, "1m30s"},
      {1500ms, "1s500ms"},
      {1h, "1h"},
      {90min, "1h30m"},
      {24h, "1d"},
      {14 * 24h, "14d"},  // weeks and years are written as days
      {365 * 24h, "365d"},
      {24h + 1ms, "1d1ms"},
  }));
  CAPTURE(want);
  REQUIRE(format_duration(d) == want);
  REQUIRE(parse_duration(format_duration(d)) == d);
}

TEST_CASE("format_duration never rounds below a millisecond", "[units]") {
  // Sub-millisecond values cannot come from a config file; they show up when a
  // computed duration is echoed, and must not be rounded to something false.
  REQUIRE(format_duration(1500us) == "1ms500us");
  REQUIRE(format_duration(-5s) == "-5s");
}

TEST_CASE("format_duration round-trips every millisecond-aligned parse", "[units]") {
  const std::string text =
      GENERATE(as<std::string>{}, "10ms", "5s", "1m", "1h30m", "1d", "2w", "1y", "1m30s500ms");
  CAPTURE(text);
  const auto d = parse_duration(text);
  REQUIRE(d.has_value());
  REQUIRE(parse_duration(format_duration(*d)) == d);
}

TEST_CASE("parse_rate reads events per second", "[units]") {
  std::string text;
  double want;
  std::tie(text, want) = GENERATE(table<std::string, double>({
      {"20/s", 20.0},
      {"0.5/s", 0.5},
      {"1/s", 1.0},
      {"600/m", 10.0},
      {"1/m", 1.0 / 60},
      {"3600/h", 1.0},
      {"1800/h", 0.5},
      {"1e3/s", 1000.0},
  }));
  CAPTURE(text);
  const auto got = parse_rate(text);
  REQUIRE(got.has_value());
  REQUIRE(*got == Approx(want));
}

TEST_CASE("parse_rate rejects what is not a rate", "[units]") {
  const std::string text = GENERATE(as<std::string>{},  //
                                    "",                 //
                                    "20",               // no unit
                                    "/s",               // no count
                                    "20/",              // no unit after the slash
                                    "0/s",              // zero: use no phase instead
                                    "-1/s",             // negative
                                    "20/d",             // per day is not a load
                                    "20/x",             //
                                    "20/sec",           //
                                    "abc/s",            //
                                    "20 /s",            //
                                    "inf/s",            //
                                    "nan/s");
  CAPTURE(text);
  REQUIRE(parse_rate(text) == std::nullopt);
}

TEST_CASE("parse_ratio reads fractions and percentages in [0, 1]", "[units]") {
  std::string text;
  double want;
  std::tie(text, want) = GENERATE(table<std::string, double>({
      {"0", 0.0},
      {"1", 1.0},
      {"0.05", 0.05},
      {"0.5", 0.5},
      {"5%", 0.05},
      {"0.5%", 0.005},
      {"0%", 0.0},
      {"100%", 1.0},
  }));
  CAPTURE(text);
  const auto got = parse_ratio(text);
  REQUIRE(got.has_value());
  REQUIRE(*got == Approx(want));
}

TEST_CASE("parse_ratio rejects what is not a ratio in [0, 1]", "[units]") {
  const std::string text = GENERATE(as<std::string>{},  //
                                    "",                 //
                                    "1.5",              // above 1
                                    "150%",             // above 100%
                                    "101%",             //
                                    "-1",               // negative
                                    "-5%",              //
                                    "abc",              //
                                    "%",                //
                                    "5 %",              //
                                    "5%%",              //
                                    "nan",              //
                                    "inf");
  CAPTURE(text);
  REQUIRE(parse_ratio(text) == std::nullopt);
}
