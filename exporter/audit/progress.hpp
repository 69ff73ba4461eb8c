#pragma once

#include <chrono>
#include <string>

/// The audit's progress on stderr, for a person at a terminal: one line
/// updated in place on a TTY, a plain line every few seconds otherwise (a CI
/// log). Not thread-safe; the audit's own thread uses it.
namespace loopcanary::exporter::audit {

class Progress {
 public:
  /// `enabled` false prints nothing at all.
  explicit Progress(bool enabled);
  ~Progress();

  /// `phase` ("warm-up", "agent-blocking", "observe"), elapsed and expected
  /// total seconds (total 0: unknown), and the status line.
  void update(const std::string& phase, double elapsed, double total, const std::string& status);
  /// Ends the in-place line so that what follows starts on its own.
  void done();

 private:
  bool enabled_;
  bool tty_;
  bool open_ = false;
  std::string last_phase_;
  std::chrono::steady_clock::time_point last_print_{};
};

}  // namespace loopcanary::exporter::audit
