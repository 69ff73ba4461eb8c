#pragma once

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <string>

namespace loopcanary::exporter {

/// RFC 3339 UTC with milliseconds, e.g. 2026-11-26T14:00:00.123Z.
inline std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(t)), static_cast<int>(ms));
}

}  // namespace loopcanary::exporter
