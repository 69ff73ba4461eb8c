#include "exporter/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

#include "exporter/rfc3339.hpp"

namespace loopcanary::exporter::log {

namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::logfmt};

std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
}

void append_logfmt_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  append_escaped(out, v);
  out += '"';
}

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = [] {
    auto l = std::make_shared<spdlog::logger>("loopcanary",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return instance;
}

std::string render(Format format, std::string_view ts, Level level, std::string_view message,
                   Fields fields) {
  if (format == Format::json) {
    nlohmann::ordered_json j;
    if (!ts.empty()) j["ts"] = ts;
    j["level"] = level_name(level);
    j["msg"] = message;
    for (const auto& [k, v] : fields) j[std::string(k)] = v;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out;
  if (!ts.empty()) {
    out += "ts=";
    out += ts;
    out += ' ';
  }
  out += "level=";
  out += level_name(level);
  // msg is always quoted, so that tools can find msg="…" reliably.
  out += " msg=\"";
  append_escaped(out, message);
  out += '"';
  for (const auto& [k, v] : fields) {
    out += ' ';
    out += k;
    out += '=';
    append_logfmt_value(out, v);
  }
  return out;
}

}  // namespace

bool setup(std::string_view level, std::string_view format) {
  Level l;
  if (level == "debug") {
    l = Level::debug;
  } else if (level == "info") {
    l = Level::info;
  } else if (level == "warn") {
    l = Level::warn;
  } else if (level == "error") {
    l = Level::error;
  } else {
    return false;
  }
  Format f;
  if (format == "logfmt") {
    f = Format::logfmt;
  } else if (format == "json") {
    f = Format::json;
  } else {
    return false;
  }
  g_level = l;
  g_format = f;
  return true;
}

void write(Level level, std::string_view message, Fields fields) {
  if (level < g_level.load()) return;
  logger()->info(
      render(g_format.load(), rfc3339(std::chrono::system_clock::now()), level, message, fields));
}

std::string format_line(Format format, Level level, std::string_view message, Fields fields) {
  return render(format, "", level, message, fields);
}

}  // namespace loopcanary::exporter::log
