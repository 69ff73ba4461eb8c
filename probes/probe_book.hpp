#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "probes/sample.hpp"

namespace loopcanary::probes {

/// How one request on the wire ended; the HTTP client fills it in.
struct Exchange {
  Outcome outcome = Outcome::ok;
  int status = 0;
  TimePoint sent{};
  TimePoint first_byte{};
  TimePoint done{};
  std::uint32_t connection_id = 0;
  /// `done` is when the kernel received the answer (SO_TIMESTAMPNS), not
  /// when the prober read it: a late read did not delay it.
  bool stamped = false;
  // Trivially destructible on purpose: gcc 12 destroys the result of a
  // co_await twice when it owns memory (a std::string here crashed).
};

/// The accounting of one canary's outstanding probes: admitted, waiting for a
/// connection, on the wire, timed out, dropped. Pure (no I/O, time passed in),
/// single-threaded.
///
/// Open loop: a probe keeps its intended time t_i while it waits for a free
/// connection, and its latency is measured from t_i. Coalescing: when the pool
/// is busy and several probes are waiting, the next free connection carries
/// *one* request on behalf of all of them, and each gets its own sample (from
/// its own t_i) when that request completes. The number of requests the prober
/// has at the target is therefore bounded by the pool, and after a stall the
/// target is not made to drain a backlog that only the prober created — which
/// would stretch every measured stall by the drain time.
class ProbeBook {
 public:
  struct Settings {
    Duration timeout;
    std::size_t max_in_flight;
    bool coalesce;  ///< true for a keep-alive pool; false sends one request per probe
  };

  struct Batch {
    std::uint64_t id = 0;
    std::size_t probes = 0;
    TimePoint oldest{};
    TimePoint newest{};
    /// When the request must be given up: the newest probe's t_i + timeout.
    TimePoint deadline{};
  };

  explicit ProbeBook(Settings settings) : settings_(settings) {}

  /// A probe intended at `intended` exists now. Returns its sample right away
  /// when it has to be dropped (max_in_flight probes already outstanding).
  std::optional<Sample> admit(TimePoint intended, TimePoint now);

  bool has_waiting() const { return waiting_ > 0; }
  /// Assigns waiting probes to a new request: all of them when coalescing,
  /// otherwise the oldest one, sent at `now`. Precondition: has_waiting().
  Batch take(TimePoint now);
  /// The request of `batch` ended; returns a sample for each of its probes that
  /// had not yet timed out (none when all did).
  std::vector<Sample> complete(std::uint64_t batch, const Exchange& result);
  /// Times out every probe outstanding for `timeout` or longer at `now`.
  /// Their completion is t_i + timeout, as if observed exactly on time.
  std::vector<Sample> expire(TimePoint now);

  std::size_t outstanding() const { return probes_.size(); }
  std::optional<TimePoint> oldest_outstanding() const;

 private:
  struct Probe {
    TimePoint intended;
    std::uint64_t batch = 0;  ///< 0 while waiting for a connection
    TimePoint sent{};
  };

  Settings settings_;
  std::deque<Probe> probes_;  ///< in intended order; waiting probes form the tail
  std::size_t waiting_ = 0;
  std::uint64_t next_batch_ = 1;
};

}  // namespace loopcanary::probes
