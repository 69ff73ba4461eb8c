#include "exporter/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>

#include "exporter/rfc3339.hpp"

namespace loopcanary::exporter::log {

namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::logfmt};
std::mutex g_writer_mutex;
std::function<void(const std::string&)> g_writer;  // empty: stderr

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

nlohmann::ordered_json json_value(const Value& value) {
  return std::visit([](const auto& v) { return nlohmann::ordered_json(v); }, value.get());
}

/// The text logfmt writes for a value, before quoting.
std::string logfmt_text(const Value& value) {
  struct Text {
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t n) const { return std::to_string(n); }
    std::string operator()(std::uint64_t n) const { return std::to_string(n); }
    // The shortest text that reads back as the same double.
    std::string operator()(double d) const { return fmt::format("{}", d); }
    std::string operator()(const Value::List& list) const {
      std::string out;
      for (const std::string& item : list) {
        if (!out.empty()) out += "; ";
        out += item;
      }
      return out;
    }
  };
  return std::visit(Text{}, value.get());
}

template <typename Range>
std::string render(Format format, std::string_view ts, Level level, std::string_view message,
                   const Range& fields) {
  if (format == Format::json) {
    nlohmann::ordered_json j;
    if (!ts.empty()) j["ts"] = ts;
    j["level"] = level_name(level);
    j["msg"] = message;
    for (const auto& [k, v] : fields) j[std::string(k)] = json_value(v);
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
    append_logfmt_value(out, logfmt_text(v));
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

bool enabled(Level level) { return level >= g_level.load(); }

void set_writer(std::function<void(const std::string& line)> writer) {
  std::lock_guard lock(g_writer_mutex);
  g_writer = std::move(writer);
}

namespace {

void emit(const std::string& line) {
  {
    std::lock_guard lock(g_writer_mutex);
    if (g_writer) {
      g_writer(line);
      return;
    }
  }
  logger()->info(line);
}

}  // namespace

void write(Level level, std::string_view message, Fields fields) {
  if (!enabled(level)) return;
  emit(render(g_format.load(), rfc3339(std::chrono::system_clock::now()), level, message, fields));
}

void write(Level level, std::string_view message, const std::vector<Field>& fields) {
  if (!enabled(level)) return;
  emit(render(g_format.load(), rfc3339(std::chrono::system_clock::now()), level, message, fields));
}

std::string format_line(Format format, Level level, std::string_view message, Fields fields) {
  return render(format, "", level, message, fields);
}

std::string format_line(Format format, Level level, std::string_view message,
                        const std::vector<Field>& fields) {
  return render(format, "", level, message, fields);
}

}  // namespace loopcanary::exporter::log
