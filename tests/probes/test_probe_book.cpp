// The probe book (DESIGN "Probing model"): every probe keeps its intended
// time t_i while it waits, its latency is measured from t_i, a probe past
// max_in_flight is dropped with latency now − t_i, a probe outstanding for
// `timeout` fails at t_i + timeout, and every admitted probe ends exactly once.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "probes/probe_book.hpp"

namespace {

using loopcanary::probes::Duration;
using loopcanary::probes::Exchange;
using loopcanary::probes::Outcome;
using loopcanary::probes::ProbeBook;
using loopcanary::probes::Sample;
using loopcanary::probes::TimePoint;
using namespace std::chrono_literals;

const TimePoint t0 = TimePoint{} + 1h;

Exchange answered(TimePoint sent, TimePoint done, Outcome outcome = Outcome::ok, int status = 200,
                  std::uint32_t connection = 1) {
  Exchange x;
  x.outcome = outcome;
  x.status = status;
  x.sent = sent;
  x.first_byte = done;
  x.done = done;
  x.connection_id = connection;
  return x;
}

}  // namespace

TEST_CASE("probes beyond max_in_flight are dropped, with latency now - t_i", "[probe_book]") {
  ProbeBook book({5s, 3, true});
  for (int i = 0; i < 3; ++i) REQUIRE_FALSE(book.admit(t0 + i * 10ms, t0 + i * 10ms));
  REQUIRE(book.outstanding() == 3);

  // The fourth would have been sent at t0 + 30ms; the prober got to it 2 ms late.
  const auto dropped = book.admit(t0 + 30ms, t0 + 32ms);
  REQUIRE(dropped);
  CHECK(dropped->outcome == Outcome::dropped);
  CHECK(dropped->intended == t0 + 30ms);
  CHECK(dropped->done == t0 + 32ms);
  CHECK(dropped->latency() == 2ms);
  CHECK_FALSE(dropped->coalesced);
  CHECK(book.outstanding() == 3);  // a drop is not outstanding
  CHECK(book.oldest_outstanding() == t0);

  // Exactly at the limit, not before it: once one ends, the next is admitted.
  const auto batch = book.take(t0 + 40ms);
  REQUIRE(batch.probes == 3);
  REQUIRE(book.complete(batch.id, answered(t0 + 40ms, t0 + 41ms)).size() == 3);
  CHECK_FALSE(book.admit(t0 + 50ms, t0 + 50ms));
  CHECK(book.outstanding() == 1);
}

TEST_CASE("coalescing: all waiting probes share one request, each with its own sample",
          "[probe_book]") {
  ProbeBook book({5s, 1000, true});
  // The pool was busy: three probes queued at their intended times.
  for (auto t : {t0, t0 + 10ms, t0 + 20ms}) REQUIRE_FALSE(book.admit(t, t));
  REQUIRE(book.has_waiting());

  const auto batch = book.take(t0 + 25ms);
  CHECK(batch.probes == 3);
  CHECK(batch.oldest == t0);
  CHECK(batch.newest == t0 + 20ms);
  CHECK(batch.deadline == t0 + 20ms + 5s);  // the newest probe's deadline
  CHECK_FALSE(book.has_waiting());
  CHECK(book.outstanding() == 3);

  const auto samples = book.complete(batch.id, answered(t0 + 25ms, t0 + 27ms, Outcome::ok, 200, 7));
  REQUIRE(samples.size() == 3);
  const std::vector<TimePoint> intended{t0, t0 + 10ms, t0 + 20ms};
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(samples[i].intended == intended[i]);
    CHECK(samples[i].done == t0 + 27ms);
    CHECK(samples[i].latency() == t0 + 27ms - intended[i]);  // from its own t_i
    CHECK(samples[i].sent == t0 + 25ms);
    CHECK(samples[i].outcome == Outcome::ok);
    CHECK(samples[i].status == 200);
    CHECK(samples[i].connection_id == 7);
    CHECK(samples[i].coalesced);
  }
  CHECK(book.outstanding() == 0);
  CHECK_FALSE(book.oldest_outstanding());
}

TEST_CASE("without coalescing each request carries only the oldest waiting probe", "[probe_book]") {
  ProbeBook book({5s, 1000, false});
  for (auto t : {t0, t0 + 10ms, t0 + 20ms}) REQUIRE_FALSE(book.admit(t, t));

  const auto first = book.take(t0 + 21ms);
  CHECK(first.probes == 1);
  CHECK(first.oldest == t0);
  CHECK(first.newest == t0);
  CHECK(first.deadline == t0 + 5s);
  CHECK(book.has_waiting());

  const auto second = book.take(t0 + 22ms);
  CHECK(second.oldest == t0 + 10ms);
  CHECK(second.id != first.id);

  // The second request answers first: each probe still gets its own sample.
  auto s2 = book.complete(second.id, answered(t0 + 22ms, t0 + 24ms));
  REQUIRE(s2.size() == 1);
  CHECK(s2[0].intended == t0 + 10ms);
  CHECK(s2[0].latency() == 14ms);
  CHECK_FALSE(s2[0].coalesced);
  CHECK(book.oldest_outstanding() == t0);

  auto s1 = book.complete(first.id, answered(t0 + 21ms, t0 + 30ms));
  REQUIRE(s1.size() == 1);
  CHECK(s1[0].latency() == 30ms);
  CHECK(book.oldest_outstanding() == t0 + 20ms);  // still waiting
  CHECK(book.has_waiting());
}

TEST_CASE("timeouts count from the intended time, not from when the request was sent",
          "[probe_book]") {
  ProbeBook book({100ms, 1000, true});
  REQUIRE_FALSE(book.admit(t0, t0));
  // It waited 60 ms for a connection; its deadline does not move.
  const auto batch = book.take(t0 + 60ms);

  CHECK(book.expire(t0 + 100ms - 1ns).empty());
  const auto expired = book.expire(t0 + 100ms);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].outcome == Outcome::timeout);
  CHECK(expired[0].intended == t0);
  CHECK(expired[0].done == t0 + 100ms);
  CHECK(expired[0].latency() == 100ms);
  CHECK(expired[0].sent == t0 + 60ms);
  CHECK(book.outstanding() == 0);

  // The answer that arrives later is not a second report.
  CHECK(book.complete(batch.id, answered(t0 + 60ms, t0 + 150ms)).empty());
}

TEST_CASE("a probe still waiting for a connection times out too, and stops waiting",
          "[probe_book]") {
  ProbeBook book({100ms, 1000, false});
  REQUIRE_FALSE(book.admit(t0, t0));
  REQUIRE_FALSE(book.admit(t0 + 10ms, t0 + 10ms));
  const auto on_wire = book.take(t0 + 1ms);  // t0 on the wire, t0+10ms waiting

  const auto expired = book.expire(t0 + 130ms);  // both past their deadlines
  REQUIRE(expired.size() == 2);
  CHECK(expired[0].intended == t0);
  CHECK(expired[1].intended == t0 + 10ms);
  CHECK(expired[1].done == t0 + 110ms);
  CHECK(expired[1].sent == t0 + 10ms);  // never sent: sent is its intended time
  CHECK_FALSE(book.has_waiting());
  CHECK(book.outstanding() == 0);
  CHECK(book.complete(on_wire.id, answered(t0 + 1ms, t0 + 131ms)).empty());
}

TEST_CASE("a coalesced answer that came after an older probe's own deadline is a timeout for it",
          "[probe_book]") {
  ProbeBook book({100ms, 1000, true});
  for (auto t : {t0, t0 + 50ms, t0 + 90ms}) REQUIRE_FALSE(book.admit(t, t));
  const auto batch = book.take(t0 + 91ms);
  // Answered at t0 + 120ms: past t0's deadline (t0 + 100ms), within the others'.
  const auto samples = book.complete(batch.id, answered(t0 + 91ms, t0 + 120ms));
  REQUIRE(samples.size() == 3);
  CHECK(samples[0].outcome == Outcome::timeout);
  CHECK(samples[0].done == t0 + 100ms);
  CHECK(samples[1].outcome == Outcome::ok);
  CHECK(samples[1].latency() == 70ms);
  CHECK(samples[2].outcome == Outcome::ok);
  CHECK(samples[2].latency() == 30ms);
}

TEST_CASE("a request that timed out on the wire ends each probe at its own deadline",
          "[probe_book]") {
  ProbeBook book({100ms, 1000, true});
  for (auto t : {t0, t0 + 40ms}) REQUIRE_FALSE(book.admit(t, t));
  const auto batch = book.take(t0 + 41ms);
  // The client gave up at the batch deadline (the newest probe's).
  const auto samples =
      book.complete(batch.id, answered(t0 + 41ms, batch.deadline, Outcome::timeout));
  REQUIRE(samples.size() == 2);
  CHECK(samples[0].outcome == Outcome::timeout);
  CHECK(samples[0].done == t0 + 100ms);
  CHECK(samples[1].outcome == Outcome::timeout);
  CHECK(samples[1].done == t0 + 140ms);
}

TEST_CASE("expire and complete never report a probe twice", "[probe_book]") {
  ProbeBook book({100ms, 1000, true});
  for (auto t : {t0, t0 + 30ms, t0 + 60ms}) REQUIRE_FALSE(book.admit(t, t));
  const auto batch = book.take(t0 + 61ms);

  // The two older probes time out while the request is still on the wire.
  const auto expired = book.expire(t0 + 135ms);
  REQUIRE(expired.size() == 2);
  CHECK(expired[0].intended == t0);
  CHECK(expired[1].intended == t0 + 30ms);
  CHECK(book.outstanding() == 1);
  CHECK(book.oldest_outstanding() == t0 + 60ms);

  const auto completed = book.complete(batch.id, answered(t0 + 61ms, t0 + 140ms));
  REQUIRE(completed.size() == 1);
  CHECK(completed[0].intended == t0 + 60ms);
  CHECK(completed[0].outcome == Outcome::ok);
  CHECK(completed[0].latency() == 80ms);

  CHECK(book.complete(batch.id, answered(t0 + 61ms, t0 + 140ms)).empty());
  CHECK(book.expire(t0 + 10s).empty());
  CHECK(book.outstanding() == 0);
}

TEST_CASE("waiting probes stay the tail: take always picks the oldest waiting ones",
          "[probe_book]") {
  const bool coalesce = GENERATE(true, false);
  CAPTURE(coalesce);
  ProbeBook book({100ms, 1000, coalesce});
  // A on the wire, then B and C queue behind it.
  REQUIRE_FALSE(book.admit(t0, t0));
  const auto a = book.take(t0);
  REQUIRE_FALSE(book.admit(t0 + 10ms, t0 + 10ms));
  REQUIRE_FALSE(book.admit(t0 + 20ms, t0 + 20ms));
  // A answers; then D queues.
  REQUIRE(book.complete(a.id, answered(t0, t0 + 25ms)).size() == 1);
  REQUIRE_FALSE(book.admit(t0 + 30ms, t0 + 30ms));

  const auto next = book.take(t0 + 31ms);
  CHECK(next.oldest == t0 + 10ms);
  CHECK(next.newest == (coalesce ? t0 + 30ms : t0 + 10ms));
  CHECK(next.probes == (coalesce ? 3u : 1u));

  // B times out while C and D wait (non-coalescing): the waiting count follows.
  if (!coalesce) {
    const auto expired = book.expire(t0 + 110ms);
    REQUIRE(expired.size() == 1);
    CHECK(expired[0].intended == t0 + 10ms);
    REQUIRE(book.has_waiting());
    const auto c = book.take(t0 + 111ms);
    CHECK(c.oldest == t0 + 20ms);
    const auto d = book.take(t0 + 111ms);
    CHECK(d.oldest == t0 + 30ms);
    CHECK_FALSE(book.has_waiting());
  }
}

namespace {

struct Interleaving {
  std::uint64_t seed;
  bool coalesce;
  std::size_t max_in_flight;
  std::size_t pool;
};

}  // namespace

TEST_CASE("random interleavings: every admitted probe ends exactly once", "[probe_book]") {
  const auto cfg = GENERATE(values<Interleaving>({
      {1, true, 1000, 4},
      {2, false, 1000, 4},
      {3, true, 5, 1},
      {4, false, 5, 2},
      {5, true, 20, 4},
      {6, false, 3, 1},
      {7, true, 1, 1},
      {8, false, 50, 8},
  }));
  CAPTURE(cfg.seed, cfg.coalesce, cfg.max_in_flight, cfg.pool);
  const Duration timeout = 100ms;
  ProbeBook book({timeout, cfg.max_in_flight, cfg.coalesce});
  std::mt19937_64 rng(cfg.seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };

  // The test's own model of what the book holds.
  std::map<TimePoint, int> ended;  // intended → times it ended (admitted probes only)
  std::deque<TimePoint> waiting;   // expected waiting probes, oldest first
  struct OnWire {
    ProbeBook::Batch batch;
    TimePoint sent;
  };
  std::vector<OnWire> on_wire;
  std::size_t admitted = 0, dropped = 0, samples_returned = 0;

  auto record = [&](const std::vector<Sample>& samples) {
    for (const Sample& s : samples) {
      CAPTURE(s.intended.time_since_epoch().count(), static_cast<int>(s.outcome));
      REQUIRE(ended.count(s.intended) == 1);
      REQUIRE(++ended[s.intended] == 1);
      ++samples_returned;
      REQUIRE(s.done >= s.intended);
      if (s.outcome == Outcome::timeout) {
        REQUIRE(s.done == s.intended + timeout);
      } else {
        REQUIRE(s.latency() < timeout);  // answered within its own deadline
      }
      waiting.erase(std::remove(waiting.begin(), waiting.end(), s.intended), waiting.end());
    }
  };
  auto check_invariants = [&] {
    std::size_t open = 0;
    std::optional<TimePoint> oldest;
    for (const auto& [t, n] : ended) {
      if (n == 0) {
        ++open;
        if (!oldest) oldest = t;
      }
    }
    REQUIRE(book.outstanding() == open);
    REQUIRE(book.oldest_outstanding() == oldest);
    REQUIRE(book.has_waiting() == !waiting.empty());
  };

  TimePoint now = t0;
  for (int step = 0; step < 4000; ++step) {
    now += std::chrono::microseconds(std::uniform_int_distribution<int>(0, 15'000)(rng));
    if (chance(0.5)) {
      // Probes are admitted in intended order, at most a little late.
      const TimePoint intended =
          now - std::chrono::microseconds(std::uniform_int_distribution<int>(0, 500)(rng));
      if (!ended.empty() && intended <= ended.rbegin()->first) continue;
      if (auto drop = book.admit(intended, now)) {
        REQUIRE(drop->outcome == Outcome::dropped);
        REQUIRE(drop->latency() == now - intended);
        REQUIRE(book.outstanding() == cfg.max_in_flight);
        ++dropped;
      } else {
        ended[intended] = 0;
        waiting.push_back(intended);
        ++admitted;
      }
    }
    if (chance(0.3)) record(book.expire(now));
    if (book.has_waiting() && on_wire.size() < cfg.pool && chance(0.6)) {
      const auto batch = book.take(now);
      const std::size_t expect = cfg.coalesce ? waiting.size() : 1;
      REQUIRE(batch.probes == expect);
      REQUIRE(batch.oldest == waiting.front());
      REQUIRE(batch.newest == waiting[expect - 1]);
      waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(expect));
      on_wire.push_back({batch, now});
    }
    if (!on_wire.empty() && chance(0.35)) {
      const std::size_t i = std::uniform_int_distribution<std::size_t>(0, on_wire.size() - 1)(rng);
      const OnWire w = on_wire[i];
      on_wire.erase(on_wire.begin() + static_cast<std::ptrdiff_t>(i));
      Exchange x = answered(w.sent, now);
      if (now >= w.batch.deadline) {
        // The client's own deadline fired.
        x = answered(w.sent, w.batch.deadline, Outcome::timeout, 0);
      } else {
        const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
        if (kind == 0) x.outcome = Outcome::reset;
        if (kind == 1) {
          x.outcome = Outcome::bad_status;
          x.status = 503;
        }
      }
      record(book.complete(w.batch.id, x));
    }
    check_invariants();
  }
  // Drain: answer what is on the wire, then let every deadline pass.
  for (const auto& w : on_wire) record(book.complete(w.batch.id, answered(w.sent, now)));
  record(book.expire(now + timeout));
  check_invariants();

  CHECK(book.outstanding() == 0);
  CHECK(samples_returned == admitted);
  for (const auto& [t, n] : ended) REQUIRE(n == 1);
  CHECK(admitted > 100);
  if (cfg.max_in_flight <= 5) CHECK(dropped > 0);
}
