#pragma once

#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

/// Structured logging in the Prometheus exporters' style: one line per event,
/// `ts=… level=info msg="…" key=value …` (logfmt) or one JSON object per line,
/// on stderr. Thread-safe (spdlog underneath).
namespace loopcanary::exporter::log {

enum class Level { debug, info, warn, error };
enum class Format { logfmt, json };

/// One field's value, typed so that JSON lines carry numbers as numbers,
/// booleans as booleans and lists as arrays. logfmt writes numbers and
/// booleans bare (`failures=290 tls=false`) and a list as one value joined
/// with "; " (quoted when it needs quotes, like any string).
class Value {
 public:
  using List = std::vector<std::string>;
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(const char* s) : v_(std::string(s)) {}  // not bool: a literal is text
  Value(bool b) : v_(b) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Value(T n) {
    if constexpr (std::is_signed_v<T>) {
      v_ = static_cast<std::int64_t>(n);
    } else {
      v_ = static_cast<std::uint64_t>(n);
    }
  }
  Value(double d) : v_(d) {}
  Value(List list) : v_(std::move(list)) {}

  using Variant = std::variant<std::string, bool, std::int64_t, std::uint64_t, double, List>;
  const Variant& get() const { return v_; }

 private:
  Variant v_;
};

using Field = std::pair<std::string_view, Value>;
using Fields = std::initializer_list<Field>;

/// Configures the process-wide logger; `level` and `format` as on the CLI.
/// Returns false (and changes nothing) for an unknown level or format.
bool setup(std::string_view level, std::string_view format);

/// Whether a line of `level` is written (so a caller can skip building it).
bool enabled(Level level);

void write(Level level, std::string_view message, Fields fields);
void write(Level level, std::string_view message, const std::vector<Field>& fields);

inline void debug(std::string_view m, Fields f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, Fields f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, Fields f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, Fields f = {}) { write(Level::error, m, f); }

/// Sends every line (with its time) to `writer` instead of stderr; an empty
/// function restores stderr. For tests that read what the process logs.
void set_writer(std::function<void(const std::string& line)> writer);

/// One line as `write` would print it, without time: for tests.
std::string format_line(Format format, Level level, std::string_view message, Fields fields);
std::string format_line(Format format, Level level, std::string_view message,
                        const std::vector<Field>& fields);

}  // namespace loopcanary::exporter::log
