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
