// Log lines as the process writes them: logfmt and JSON.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "exporter/log.hpp"

namespace {

using nlohmann::json;
namespace lg = loopcanary::exporter::log;

}  // namespace

TEST_CASE("logfmt: values are quoted and escaped only when they need it", "[log]") {
  struct Case {
    std::string value;
    std::string rendered;
  };
  const auto c = GENERATE(values<Case>({
      {"plain", "plain"},
      {"/health", "/health"},
      {"", R"("")"},
      {"two words", R"("two words")"},
      {R"(say "hi")", R"("say \"hi\"")"},
      {"a=b", R"("a=b")"},
      {"line\nbreak", R"("line\nbreak")"},
      {R"(back\slash)", R"("back\\slash")"},
      {"tab\there", R"("tab\u0009here")"},
      {"ünïcode", "ünïcode"},
  }));
  CAPTURE(c.value);
  const std::string line = lg::format_line(lg::Format::logfmt, lg::Level::warn, "probe failed",
                                           {{"target", "api"}, {"detail", c.value}});
  CHECK(line == R"(level=warn msg="probe failed" target=api detail=)" + c.rendered);
}

TEST_CASE("logfmt: msg is always quoted and escaped", "[log]") {
  CHECK(lg::format_line(lg::Format::logfmt, lg::Level::info, "started", {}) ==
        R"(level=info msg="started")");
  CHECK(lg::format_line(lg::Format::logfmt, lg::Level::error, "bad \"config\"\nline 2", {}) ==
        R"(level=error msg="bad \"config\"\nline 2")");
  CHECK(lg::format_line(lg::Format::logfmt, lg::Level::debug, "x", {}) == R"(level=debug msg="x")");
}

TEST_CASE("json log lines parse back to what was logged", "[log]") {
  const std::vector<std::string> values{
      "",       "two words", "say \"hi\"", "a=b", "line\nbreak", "back\\slash", "tab\tand\x01",
      "ünïcode"};
  for (const std::string& v : values) {
    CAPTURE(v);
    const std::string line = lg::format_line(lg::Format::json, lg::Level::info,
                                             "msg with \"quotes\"\n", {{"detail", v}});
    CHECK(line.find('\n') == std::string::npos);  // one event, one line
    const json j = json::parse(line);
    CHECK(j["level"] == "info");
    CHECK(j["msg"] == "msg with \"quotes\"\n");
    CHECK(j["detail"] == v);
  }
  // Field order: level, msg, then the fields as given.
  CHECK(lg::format_line(lg::Format::json, lg::Level::warn, "m", {{"b", "1"}, {"a", "2"}}) ==
        R"({"level":"warn","msg":"m","b":"1","a":"2"})");
}

TEST_CASE("json log lines survive invalid UTF-8", "[log]") {
  std::string line;
  REQUIRE_NOTHROW(
      line = lg::format_line(lg::Format::json, lg::Level::info, "m", {{"body", "\xff\xfe ok"}}));
  const json j = json::parse(line);
  CHECK_THAT(j["body"].get<std::string>(), Catch::EndsWith(" ok"));
}

TEST_CASE("log setup accepts the CLI's levels and formats only", "[log]") {
  CHECK(lg::setup("debug", "json"));
  CHECK(lg::setup("info", "logfmt"));
  CHECK_FALSE(lg::setup("verbose", "logfmt"));
  CHECK_FALSE(lg::setup("info", "xml"));
  CHECK(lg::setup("info", "logfmt"));  // leave the default behind
}

TEST_CASE("logfmt: numbers and booleans are bare, lists one value", "[log]") {
  const std::vector<std::string> findings{"event_loop_starvation", "head_of_line_blocking"};
  const std::string line = lg::format_line(lg::Format::logfmt, lg::Level::warn, "status changed",
                                           {{"target", "api"},
                                            {"failures", std::uint64_t{290}},
                                            {"delta", -3},
                                            {"tls", false},
                                            {"ratio", 0.186},
                                            {"findings", findings},
                                            {"one", std::vector<std::string>{"x"}},
                                            {"none", std::vector<std::string>{}}});
  CHECK(line ==
        "level=warn msg=\"status changed\" target=api failures=290 delta=-3 tls=false ratio=0.186 "
        "findings=\"event_loop_starvation; head_of_line_blocking\" one=x none=\"\"");
}

TEST_CASE("logfmt: a string that reads like a number or boolean is still the same text", "[log]") {
  // The logfmt of a field is what it was before values were typed: stable for
  // whoever parses it.
  CHECK(lg::format_line(lg::Format::logfmt, lg::Level::info, "m", {{"a", "98"}, {"b", "false"}}) ==
        R"(level=info msg="m" a=98 b=false)");
  CHECK(lg::format_line(lg::Format::logfmt, lg::Level::info, "m", {{"a", 98}, {"b", false}}) ==
        R"(level=info msg="m" a=98 b=false)");
}

TEST_CASE("json log lines keep each value's type", "[log]") {
  const std::string line =
      lg::format_line(lg::Format::json, lg::Level::warn, "probe failed",
                      {{"target", "api"},
                       {"similar_since_last_log", std::uint64_t{98}},
                       {"consecutive", -2},
                       {"tls", false},
                       {"basic_auth", true},
                       {"late_ms", 12.5},
                       {"reasons", std::vector<std::string>{"connect_error: 290", "timeout: 3"}},
                       {"text_number", "98"}});
  const json j = json::parse(line);
  CHECK(j["similar_since_last_log"].is_number_unsigned());
  CHECK(j["similar_since_last_log"] == 98);
  CHECK(j["consecutive"].is_number_integer());
  CHECK(j["consecutive"] == -2);
  CHECK(j["tls"].is_boolean());
  CHECK(j["tls"] == false);
  CHECK(j["basic_auth"] == true);
  CHECK(j["late_ms"].is_number_float());
  CHECK(j["late_ms"] == 12.5);
  CHECK(j["reasons"] == json::array({"connect_error: 290", "timeout: 3"}));
  CHECK(j["text_number"].is_string());  // a string stays a string
  CHECK(j["target"] == "api");
}

TEST_CASE("a string literal is text, never a boolean", "[log]") {
  // const char* converts to bool as readily as to std::string: Value takes it
  // as text on purpose.
  const json j =
      json::parse(lg::format_line(lg::Format::json, lg::Level::info, "m", {{"err", "refused"}}));
  CHECK(j["err"] == "refused");
}

TEST_CASE("set_writer receives each line with its time, and lines below the level are not built",
          "[log]") {
  std::vector<std::string> lines;
  lg::set_writer([&](const std::string& l) { lines.push_back(l); });
  REQUIRE(lg::setup("info", "json"));
  lg::debug("hidden", {{"n", 1}});
  lg::info("shown", {{"n", 2}});
  lg::set_writer({});
  REQUIRE(lg::setup("info", "logfmt"));
  REQUIRE(lines.size() == 1);
  const json j = json::parse(lines[0]);
  CHECK(j["msg"] == "shown");
  CHECK(j["n"] == 2);
  CHECK(j.contains("ts"));
}
