#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

/// What one probe produced. Plain data: probes create samples, the signals in
/// exporter/ consume them; nothing here does I/O or computes status.
namespace loopcanary::probes {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

/// Seconds as a double: for the metrics boundary, JSON and reports only.
constexpr double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline Duration from_seconds(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}

/// Why a probe ended the way it did. Every failure is one of these, and each
/// is exported as the `reason` label of loopcanary_probe_failures_total.
enum class Outcome : std::uint8_t {
  ok,
  connect_error,   ///< resolve or TCP connect failed (refused, unreachable)
  tls_error,       ///< TLS handshake or certificate verification failed
  timeout,         ///< outstanding longer than the timeout, counted from the intended time
  bad_status,      ///< a status not in expect.status
  bad_body,        ///< body_regex did not match, or the body exceeded its size limit
  reset,           ///< the connection was reset or closed before the response ended
  protocol_error,  ///< the response was not valid HTTP/1.1
  dropped,         ///< never sent: max_in_flight probes were already outstanding
};

inline constexpr std::array<std::string_view, 9> kOutcomeNames{
    "ok",       "connect_error", "tls_error",      "timeout", "bad_status",
    "bad_body", "reset",         "protocol_error", "dropped"};

constexpr std::string_view name(Outcome o) { return kOutcomeNames[static_cast<std::size_t>(o)]; }

/// True when the target sent a response, whatever it said.
constexpr bool answered(Outcome o) {
  return o == Outcome::ok || o == Outcome::bad_status || o == Outcome::bad_body;
}

/// True when the target answered or kept us waiting, so the latency says
/// something about how fast it can serve (the stall and lag signals use these).
constexpr bool latency_meaningful(Outcome o) { return answered(o) || o == Outcome::timeout; }

struct Sample {
  TimePoint intended;    ///< t_i, planned before the probe existed
  TimePoint sent;        ///< when the request went on the wire (intended for drops)
  TimePoint first_byte;  ///< when the response header was complete
  TimePoint done;        ///< r_i; t_i + timeout for timeouts; now for drops
  Outcome outcome = Outcome::ok;
  int status = 0;
  std::uint32_t connection_id = 0;
  /// Shared its request with older queued probes (see ProbeBook).
  bool coalesced = false;
  /// `done` is the kernel's arrival time of the answer: the prober's own lag
  /// after `sent` cannot have delayed it.
  bool stamped = false;

  Duration latency() const { return done - intended; }
};

}  // namespace loopcanary::probes
