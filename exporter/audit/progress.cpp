#include "exporter/audit/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace loopcanary::exporter::audit {

namespace {

constexpr auto kTtyEvery = std::chrono::milliseconds(200);
constexpr auto kPlainEvery = std::chrono::seconds(5);

}  // namespace

Progress::Progress(bool enabled) : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { done(); }

void Progress::update(const std::string& phase, double elapsed, double total,
                      const std::string& status) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool new_phase = phase != last_phase_;
  if (!new_phase && now - last_print_ < (tty_ ? kTtyEvery : kPlainEvery)) return;
  last_print_ = now;
  last_phase_ = phase;
  const std::string when = total > 0 ? fmt::format("{:.0f}/{:.0f} s, {:.0f} s left", elapsed, total,
                                                   std::max(0.0, total - elapsed))
                                     : fmt::format("{:.0f} s", elapsed);
  const std::string line = fmt::format("audit: {} {} — {}", phase, when, status);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

void Progress::done() {
  if (open_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
    open_ = false;
  }
}

}  // namespace loopcanary::exporter::audit
