#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "probes/sample.hpp"

namespace loopcanary::probes {

/// Where the probes report what happened. Implemented by the exporter (the
/// signals and metrics); probes never compute anything from their samples.
/// Canary calls come from the prober thread, route calls from the scenario
/// thread: an implementation must be safe for that.
class ProbeSink {
 public:
  virtual ~ProbeSink() = default;

  /// A canary probe intended at `intended` exists (it may still be dropped).
  virtual void canary_scheduled(std::size_t canary, TimePoint intended) = 0;
  /// A canary probe ended, in any way.
  virtual void canary_sample(std::size_t canary, const Sample& sample) = 0;
  /// A keep-alive request carrying the probes intended in [oldest, newest] went
  /// out on connection `connection` (ids are per canary).
  virtual void canary_sent(std::size_t /*canary*/, std::uint32_t /*connection*/,
                           TimePoint /*oldest*/, TimePoint /*newest*/) {}
  /// The worker process serving `connection` named itself (canary.worker_id):
  /// a keep-alive connection is served by one worker for its life.
  virtual void canary_worker(std::size_t /*canary*/, std::uint32_t /*connection*/,
                             const std::string& /*worker*/) {}
  /// Connection `connection` was closed (renewed, or closed by the server).
  virtual void canary_connection_closed(std::size_t /*canary*/, std::uint32_t /*connection*/) {}
  /// A canary request failed; `detail` says why in words (the OpenSSL verify
  /// result, the socket error, the unexpected status). For logs only.
  virtual void canary_error(std::size_t /*canary*/, Outcome /*outcome*/,
                            const std::string& /*detail*/) {}

  /// A heavy request of `route` was issued (intended) at `started`.
  virtual void route_started(std::size_t route, std::uint64_t request, TimePoint started) = 0;
  /// It ended; `sample.intended` is the same `started`.
  virtual void route_sample(std::size_t route, std::uint64_t request, const Sample& sample) = 0;
  /// It was abandoned because the scenario was stopped: not a measurement.
  virtual void route_cancelled(std::size_t route, std::uint64_t request) = 0;
  /// A closed-loop step at `concurrency` begins on `route` (0: open-loop phase).
  virtual void route_step(std::size_t route, int concurrency, TimePoint at) = 0;
  /// The scenario's load on `route` ended (every request of it has ended).
  virtual void route_idle(std::size_t route, TimePoint at) = 0;
};

}  // namespace loopcanary::probes
