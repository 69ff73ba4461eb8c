// Part of the service stalled (issue 12): a pre-fork server whose workers
// each have their own event loop, probed over a pool of keep-alive
// connections, each pinned to one worker. And the warm-up after a target
// (re)starts. Synthetic timelines with known answers: probes every T = 10 ms
// that a free worker answers in 1 ms, θ = 50 ms, W = 10 s.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "exporter/signals/signals.hpp"
#include "exporter/signals/status.hpp"
#include "timeline.hpp"

namespace {

using namespace loopcanary::exporter;
using namespace loopcanary::exporter::testing;
using loopcanary::config::Thresholds;

constexpr Duration T = 10ms;
constexpr Duration latency = 1ms;

/// A probe sent at `t`, answered at `done`, on pool connection `connection`.
Probe on(std::uint32_t connection, TimePoint t, TimePoint done) {
  Probe p{t, done};
  p.connection = connection;
  return p;
}

/// A pre-fork server: connection c (1-based) is served by worker (c - 1) %
/// workers; each worker is a Loop of its own. Probes go round the pool's
/// connections in turn, skipping one whose request is still out (the
/// canary runner's pool); a worker that is blocked keeps its connection's
/// request until the block ends.
struct Server {
  std::vector<Loop> loops;
  std::size_t connections;

  Server(std::size_t workers, std::size_t connections_) : connections(connections_) {
    loops.resize(workers);
    for (auto& l : loops) l.latency = latency;
  }
  Loop& worker_of(std::uint32_t connection) { return loops[(connection - 1) % loops.size()]; }

  std::vector<Probe> probes(TimePoint from, TimePoint to) {
    std::vector<Probe> out;
    std::map<std::uint32_t, TimePoint> busy_until;
    std::uint32_t next = 1;
    for (TimePoint t = from; t < to; t += T) {
      std::uint32_t c = 0;
      for (std::size_t tried = 0; tried < connections; ++tried) {
        const std::uint32_t candidate = next;
        next = next % static_cast<std::uint32_t>(connections) + 1;
        if (busy_until[candidate] <= t) {
          c = candidate;
          break;
        }
      }
      if (c == 0) continue;  // every connection busy: coalesced, not modelled here
      Probe p = worker_of(c).probe(t);
      p.connection = c;
      busy_until[c] = p.done;
      out.push_back(p);
    }
    return out;
  }
};

SignalSettings settings_with_warmup(Duration warmup) {
  SignalSettings s = settings();
  s.warmup = warmup;
  return s;
}

const TimePoint B = t0 + 5s + 3ms;  // where blocks start, off the probes' phase

}  // namespace

TEST_CASE("one worker blocked: a partial stall, counted once, and no whole-service stall",
          "[signals][workers]") {
  const Duration D = GENERATE(600ms, 3000ms);
  CAPTURE(ms(D));
  Server server(4, 4);
  server.loops[1].block(B, D);
  const auto probes = server.probes(t0, B + D + 3s);
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  for (std::uint32_t c = 1; c <= 4; ++c) feed.worker(c, "w" + std::to_string((c - 1) % 4), t0);
  feed.run(B - 1s);

  // While it lasts: one of four connections stalled, the status critical
  // once it has lasted 500 ms (a 600 ms block: from ~500 ms in).
  const TargetView during = feed.run(B + D - 20ms);
  CHECK(during.connections_open == 4);
  CHECK(during.connections_stalled == 1);
  CHECK(ms(during.partial_stall_in_progress) == Approx(ms(D - 20ms)).margin(ms(4 * T) + 2));
  CHECK(during.stall_in_progress < 50ms);  // the others answer: not the whole service
  const Assessment a = assess(during, Thresholds{}, {});
  CHECK(a.entry == Level::critical);
  CHECK(a.finding_enter[static_cast<std::size_t>(Finding::worker_stall)]);
  CHECK_THAT(a.summary[static_cast<std::size_t>(Finding::worker_stall)],
             Catch::StartsWith("1 of 4 probe connections stalled") &&
                 Catch::EndsWith("while the others answered (worker w1)"));
  REQUIRE(during.workers.size() == 4);
  CHECK(during.workers[1].stalled);
  CHECK_FALSE(during.workers[0].stalled);

  const TargetView after = feed.run(B + D + 2s);
  CHECK(after.connections_stalled == 0);
  CHECK(after.partial_stalls_total == 1);
  // The stuck probe is the first sent on that worker's connection after the
  // block began: up to one round of the pool (4 T) late.
  CHECK(after.partial_stall_seconds_total == Approx(seconds(D)).margin(seconds(4 * T + 2ms)));
  CHECK(after.partial_stall_seconds_total <= seconds(D) + 0.002);
  CHECK(after.stall_seconds_total == 0);
  CHECK(after.stalls_total == 0);
  CHECK(after.workers[1].partial_stall_seconds_total == Approx(after.partial_stall_seconds_total));
  CHECK(after.workers[0].partial_stall_seconds_total == 0);
  CHECK(after.partial_stall_max >= D - 4 * T - 2ms);  // still in W: the status stays up
}

TEST_CASE("every worker blocked: the whole-service stall as with one loop, no partial stall",
          "[signals][workers]") {
  Server server(4, 4);
  for (auto& l : server.loops) l.block(B, 1s);
  const auto probes = server.probes(t0, B + 4s);
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  const TargetView v = feed.run(B + 3s);
  CHECK(v.stalls_total == 1);
  CHECK(v.stall_seconds_total == Approx(1.0).margin(seconds(T + 2ms)));
  CHECK(v.partial_stall_seconds_total == 0);
  CHECK(v.partial_stalls_total == 0);
}

TEST_CASE("one loop over a pool: its answers' order after a block is no worker stall",
          "[signals][workers]") {
  // A single event loop (one uvicorn worker) probed over 4 connections: the
  // block holds a request on each; once free, the loop answers them in its
  // own order, here the newest first, 0.5 ms apart. Every older probe is
  // then "overtaken" by a later answer, by a hair: the whole service stalled,
  // no part of it stalled longer than the rest.
  const Duration D = GENERATE(600ms, 3000ms);
  CAPTURE(ms(D));
  Server server(1, 4);
  server.loops[0].block(B, D);
  std::vector<Probe> probes = server.probes(t0, B + D + 3s);
  std::vector<Probe*> stuck;
  for (Probe& p : probes) {
    if (p.intended < B + D && p.done >= B + D) stuck.push_back(&p);
  }
  REQUIRE(stuck.size() == 4);
  std::sort(stuck.begin(), stuck.end(),
            [](const Probe* a, const Probe* b) { return a->intended > b->intended; });
  for (std::size_t k = 0; k < stuck.size(); ++k) stuck[k]->done = B + D + latency + k * 500us;
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  const TargetView during = feed.run(B + D - 20ms);
  CHECK(during.stall_in_progress > D - 100ms);
  const TargetView v = feed.run(B + D + 2s);
  CHECK(v.stalls_total == 1);
  CHECK(v.stall_seconds_total == Approx(seconds(D)).margin(seconds(4 * T + 2ms)));
  CHECK(v.partial_stalls_total == 0);
  CHECK(v.partial_stall_seconds_total == 0);
  CHECK(v.partial_stall_max == Duration::zero());
  const Assessment a = assess(v, Thresholds{}, {});
  CHECK_FALSE(a.finding_enter[static_cast<std::size_t>(Finding::worker_stall)]);
  CHECK(a.finding_enter[static_cast<std::size_t>(Finding::event_loop_starvation)]);
}

TEST_CASE("one loop that answers a newer probe between two blocks stalls as a whole",
          "[signals][workers]") {
  // The demo's agent route: two requests at a time, each blocking the loop
  // 200 ms, so the loop is free only for a moment between blocks. In that
  // moment it answered the newer of two stuck probes (connection 2); the
  // older one (connection 1) waited through the next block. Named by their
  // worker, both connections are the same loop: no part of the service
  // stalled. Unnamed, loopcanary cannot tell it from two workers, and named
  // as two workers it is one of them stalling.
  struct Case {
    const char* names;
    std::string w1, w2;
    std::size_t partial_stalls;
  };
  const auto c = GENERATE(values<Case>(
      {{"one worker", "w0", "w0", 0}, {"two workers", "w0", "w1", 1}, {"not named", "", "", 1}}));
  CAPTURE(c.names);
  std::vector<Probe> probes;
  auto add = [&](TimePoint t, TimePoint done, std::uint32_t connection) {
    probes.push_back(on(connection, t, done));
  };
  std::uint32_t next = 1;
  for (TimePoint t = t0; t < B; t += T, next = 3 - next) add(t, t + latency, next);
  add(B + 5ms, B + 402ms, 1);       // stuck in the first block, then the second
  add(B + 15ms, B + 201ms, 2);      // answered in the gap between them
  add(B + 205ms, B + 402500us, 2);  // stuck in the second
  for (TimePoint t = B + 405ms; t < B + 3s; t += T, next = 3 - next) add(t, t + latency, next);
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  if (!c.w1.empty()) {
    feed.worker(1, c.w1, t0);
    feed.worker(2, c.w2, t0);
  }
  feed.at(t0);
  std::size_t most_stalled = 0;
  const TargetView v = feed.run(B + 2s, 25ms, [&](const TargetView& view) {
    most_stalled = std::max(most_stalled, view.connections_stalled);
  });
  // The whole service: [t + b, answer] of each stuck probe, the first one
  // ending where the loop answered the newer probe.
  CHECK(v.stall_seconds_total == Approx(0.196 + 0.1965).margin(0.002));
  CHECK(v.partial_stalls_total == c.partial_stalls);
  CHECK((most_stalled > 0) == (c.partial_stalls > 0));
  const Assessment a = assess(v, Thresholds{}, {});
  CHECK(a.finding_enter[static_cast<std::size_t>(Finding::worker_stall)] == (c.partial_stalls > 0));
  if (c.partial_stalls == 0) {
    CHECK(v.partial_stall_max == Duration::zero());
  } else {
    CHECK(ms(v.partial_stall_max) == Approx(201).margin(2));
  }
}

TEST_CASE("one loop: a renewed connection stuck in its block is no stalled part either",
          "[signals][workers]") {
  // Workers are named; connection 3 was just opened (renewal) and its first
  // request went out into the loop's block: its worker is known only from
  // that answer. Meanwhile the loop answered a newer probe on connection 2
  // between two blocks.
  std::vector<Probe> probes;
  auto add = [&](TimePoint t, TimePoint done, std::uint32_t connection) {
    probes.push_back(on(connection, t, done));
  };
  for (TimePoint t = t0; t < B; t += T) add(t, t + latency, 2);
  add(B + 5ms, B + 402ms, 3);
  add(B + 15ms, B + 201ms, 2);
  add(B + 205ms, B + 402500us, 2);
  for (TimePoint t = B + 405ms; t < B + 3s; t += T) add(t, t + latency, 2);
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(probes);
  feed.worker(2, "w0", t0);
  feed.worker(3, "w0", B + 402ms);  // named by its first answer
  feed.at(t0);
  std::size_t most_stalled = 0;
  const TargetView v = feed.run(B + 2s, 25ms, [&](const TargetView& view) {
    most_stalled = std::max(most_stalled, view.connections_stalled);
  });
  CHECK(most_stalled == 0);
  CHECK(v.partial_stalls_total == 0);
  CHECK(v.partial_stall_max == Duration::zero());
  CHECK(v.stall_seconds_total == Approx(0.196 + 0.1965).margin(0.002));
}

TEST_CASE("two blocks on two workers apart in time are two partial stall episodes",
          "[signals][workers]") {
  Server server(4, 4);
  server.loops[0].block(B, 300ms);
  server.loops[2].block(B + 2s, 300ms);
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(server.probes(t0, B + 5s));
  const TargetView v = feed.run(B + 4s);
  CHECK(v.partial_stalls_total == 2);
  CHECK(v.partial_stall_seconds_total == Approx(0.6).margin(2 * seconds(4 * T + 2ms)));
  CHECK(v.stall_seconds_total == 0);
}

TEST_CASE("a healthy pool of workers shows no partial stall", "[signals][workers]") {
  Server server(4, 8);
  TargetSignals signals(settings(), 1, {});
  Feed feed(signals);
  feed.add(server.probes(t0, t0 + 20s));
  const TargetView v = feed.run(t0 + 20s);
  CHECK(v.partial_stall_seconds_total == 0);
  CHECK(v.connections_stalled == 0);
  CHECK(v.connections_open == 8);
  const Assessment a = assess(v, Thresholds{}, {});
  CHECK(a.entry == Level::healthy);
}

TEST_CASE("warm-up: a slow start is not a stall, the status waits, a block after it counts",
          "[signals][warmup]") {
  // The server accepts connections 1.5 s before it serves them (a worker
  // still importing), then answers normally.
  Loop loop;
  loop.latency = latency;
  loop.block(t0, 1500ms);
  loop.block(t0 + 20s, 1s);
  TargetSignals signals(settings_with_warmup(10s), 1, {});
  Feed feed(signals);
  feed.add(loop.probes(every(T, t0, t0 + 25s)));

  const TargetView warming = feed.run(t0 + 5s);
  CHECK(warming.warming_up);
  CHECK(ms(warming.warmup_left) == Approx(6500).margin(30));
  CHECK(warming.stall_seconds_total == 0);
  CHECK(warming.stalls_total == 0);
  CHECK(warming.stall_max == Duration::zero());  // warm-up samples are in no statistic
  const Assessment a = assess(warming, Thresholds{}, {});
  CHECK(a.unknown);
  CHECK_THAT(a.unknown_reason, Catch::Contains("warming up"));

  const TargetView warm = feed.run(t0 + 15s);
  CHECK_FALSE(warm.warming_up);
  CHECK(warm.stall_seconds_total == 0);
  CHECK(assess(warm, Thresholds{}, {}).entry == Level::healthy);
  CHECK_FALSE(assess(warm, Thresholds{}, {}).unknown);

  const TargetView later = feed.run(t0 + 24s);
  CHECK(later.stalls_total == 1);
  CHECK(later.stall_seconds_total == Approx(1.0).margin(seconds(T + 2ms)));
}

TEST_CASE("warm-up: a block still going when it ends counts from there", "[signals][warmup]") {
  Loop loop;
  loop.latency = latency;
  // First answer at ~t0 + 1 ms: warm-up until t0 + 10 s; the block runs
  // from t0 + 8 s to t0 + 12 s.
  loop.block(t0 + 8s, 4s);
  TargetSignals signals(settings_with_warmup(10s), 1, {});
  Feed feed(signals);
  feed.add(loop.probes(every(T, t0, t0 + 15s)));
  const TargetView in_block = feed.run(t0 + 11s);
  CHECK_FALSE(in_block.warming_up);
  CHECK(in_block.stall_in_progress > 2900ms);  // shown once warm-up ends: it is still going
  CHECK(assess(in_block, Thresholds{}, {}).entry == Level::unresponsive);
  const TargetView v = feed.run(t0 + 14s);
  CHECK(v.stalls_total == 1);
  CHECK(v.stall_seconds_total == Approx(2.0).margin(0.01));  // t0 + 10 s → t0 + 12 s
}

TEST_CASE("warm-up starts again when a refused connection shows the target restarted",
          "[signals][warmup]") {
  Loop loop;
  loop.latency = latency;
  std::vector<Probe> probes = loop.probes(every(T, t0, t0 + 15s));
  // Down from t0 + 15 s to t0 + 16 s (refused), then up again, slow for 1 s.
  for (TimePoint t = t0 + 15s; t < t0 + 16s; t += T) {
    probes.push_back({t, t + 1ms, Outcome::connect_error});
  }
  Loop restarted;
  restarted.latency = latency;
  restarted.block(t0 + 16s, 1s);
  for (const Probe& p : restarted.probes(every(T, t0 + 16s, t0 + 30s))) probes.push_back(p);
  TargetSignals signals(settings_with_warmup(5s), 1, {});
  Feed feed(signals);
  feed.add(probes);
  CHECK_FALSE(feed.run(t0 + 14s).warming_up);
  const TargetView again = feed.run(t0 + 19s);
  CHECK(again.warming_up);
  CHECK(again.stall_seconds_total == 0);
  const TargetView v = feed.run(t0 + 29s);
  CHECK_FALSE(v.warming_up);
  CHECK(v.stalls_total == 0);
}
