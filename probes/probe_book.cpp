#include "probes/probe_book.hpp"

#include <algorithm>

namespace loopcanary::probes {

std::optional<Sample> ProbeBook::admit(TimePoint intended, TimePoint now) {
  if (probes_.size() >= settings_.max_in_flight) {
    Sample s;
    s.intended = intended;
    s.sent = intended;
    s.first_byte = now;
    s.done = now;
    s.outcome = Outcome::dropped;
    return s;
  }
  probes_.push_back(Probe{intended, 0, {}});
  ++waiting_;
  return std::nullopt;
}

ProbeBook::Batch ProbeBook::take(TimePoint now) {
  Batch batch;
  batch.id = next_batch_++;
  const std::size_t first = probes_.size() - waiting_;
  const std::size_t count = settings_.coalesce ? waiting_ : 1;
  for (std::size_t i = first; i < first + count; ++i) {
    probes_[i].batch = batch.id;
    probes_[i].sent = now;
  }
  waiting_ -= count;
  batch.probes = count;
  batch.oldest = probes_[first].intended;
  batch.newest = probes_[first + count - 1].intended;
  batch.deadline = batch.newest + settings_.timeout;
  return batch;
}

std::vector<Sample> ProbeBook::complete(std::uint64_t batch, const Exchange& result) {
  std::vector<Sample> samples;
  std::size_t members = 0;
  for (const Probe& p : probes_) members += p.batch == batch;
  for (const Probe& p : probes_) {
    if (p.batch != batch) continue;
    Sample s;
    s.intended = p.intended;
    s.sent = result.sent;
    s.first_byte = result.first_byte;
    s.outcome = result.outcome;
    s.status = result.status;
    s.connection_id = result.connection_id;
    s.coalesced = members > 1;
    // A request that timed out on the wire ended at the deadline of its newest
    // probe; each probe's own timeout is what the signals must see.
    s.done = result.outcome == Outcome::timeout
                 ? std::min(result.done, p.intended + settings_.timeout)
                 : result.done;
    if (s.done - s.intended >= settings_.timeout && s.outcome != Outcome::timeout &&
        s.outcome != Outcome::connect_error && s.outcome != Outcome::tls_error) {
      // Answered, but after the probe's own deadline (a coalesced request kept
      // open for a newer probe): for this probe it is a timeout.
      s.outcome = Outcome::timeout;
      s.done = p.intended + settings_.timeout;
    }
    s.stamped = result.stamped && s.done == result.done;
    samples.push_back(s);
  }
  std::erase_if(probes_, [batch](const Probe& p) { return p.batch == batch; });
  return samples;
}

std::vector<Sample> ProbeBook::expire(TimePoint now) {
  std::vector<Sample> samples;
  // Every probe has the same timeout, so they expire in intended order.
  while (!probes_.empty() && probes_.front().intended + settings_.timeout <= now) {
    const Probe& p = probes_.front();
    Sample s;
    s.intended = p.intended;
    s.sent = p.batch ? p.sent : p.intended;
    s.first_byte = p.intended + settings_.timeout;
    s.done = p.intended + settings_.timeout;
    s.outcome = Outcome::timeout;
    if (!p.batch) --waiting_;
    samples.push_back(s);
    probes_.pop_front();
  }
  return samples;
}

std::optional<TimePoint> ProbeBook::oldest_outstanding() const {
  if (probes_.empty()) return std::nullopt;
  return probes_.front().intended;
}

}  // namespace loopcanary::probes
