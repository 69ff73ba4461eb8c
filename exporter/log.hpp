#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

/// Structured logging in the Prometheus exporters' style: one line per event,
/// `ts=… level=info msg="…" key=value …` (logfmt) or one JSON object per line,
/// on stderr. Thread-safe (spdlog underneath).
namespace loopcanary::exporter::log {

enum class Level { debug, info, warn, error };
enum class Format { logfmt, json };

using Fields = std::initializer_list<std::pair<std::string_view, std::string>>;

/// Configures the process-wide logger; `level` and `format` as on the CLI.
/// Returns false (and changes nothing) for an unknown level or format.
bool setup(std::string_view level, std::string_view format);

void write(Level level, std::string_view message, Fields fields);

inline void debug(std::string_view m, Fields f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, Fields f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, Fields f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, Fields f = {}) { write(Level::error, m, f); }

/// One line as `write` would print it, without time: for tests.
std::string format_line(Format format, Level level, std::string_view message, Fields fields);

}  // namespace loopcanary::exporter::log
