// What a person reads of one target, driven by a simulated target through the
// real TargetMonitor (signals, status machine, metrics): findings that stay
// while the status steps down, failure reasons, chart history with gaps, and
// the log lines of status changes and recoveries (JSON, parsed back).

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "exporter/log.hpp"
#include "exporter/metrics.hpp"
#include "exporter/target_monitor.hpp"

namespace {

using namespace loopcanary;
using namespace loopcanary::exporter;
using namespace std::chrono_literals;
using nlohmann::json;
using probes::Duration;
using probes::Outcome;
using probes::TimePoint;

const TimePoint t0 = TimePoint{} + 24h;

constexpr const char* kConfig = R"(
targets:
  - name: api
    url: http://127.0.0.1:8000
    canaries:
      - { name: health, path: /health, interval: 10ms, idle_interval: 10ms }
)";

/// A target answering a probe every 10 ms in 1 ms, unless its loop is blocked
/// (answered 1 ms after the block) or it refuses connections.
class Simulation {
 public:
  Simulation() : config_(config::parse(kConfig)) {
    monitor_ = std::make_unique<TargetMonitor>(config_, config_.targets[0], metrics_);
    log::set_writer([this](const std::string& line) { lines_.push_back(json::parse(line)); });
    log::setup("info", "json");
  }
  ~Simulation() {
    log::set_writer({});
    log::setup("info", "logfmt");
  }

  void block(Duration from_now, Duration length) {
    blocks_.emplace_back(now_ + from_now, now_ + from_now + length);
  }
  void refuse(bool on) { refusing_ = on; }

  /// Runs the simulation for `length`, calling `each` after every tick.
  void run(Duration length, const std::function<void(const TargetSnapshot&)>& each = {}) {
    const TimePoint end = now_ + length;
    while (now_ < end) {
      now_ += 5ms;
      while (next_probe_ <= now_) {
        monitor_->canary_scheduled(0, next_probe_);
        pending_.emplace(answer(next_probe_), next_probe_);
        next_probe_ += 10ms;
      }
      while (!pending_.empty() && pending_.begin()->first <= now_) {
        const auto [done, intended] = *pending_.begin();
        pending_.erase(pending_.begin());
        probes::Sample s;
        s.intended = s.sent = intended;
        s.first_byte = s.done = done;
        s.outcome = refused_.count(intended) ? Outcome::connect_error : Outcome::ok;
        s.status = s.outcome == Outcome::ok ? 200 : 0;
        if (s.outcome != Outcome::ok) {
          monitor_->canary_error(0, s.outcome, "Connection refused");
          refused_.erase(intended);
        }
        monitor_->canary_sample(0, s);
      }
      if (now_ >= next_tick_) {
        monitor_->tick(now_, {});
        next_tick_ += 25ms;
        if (each) each(monitor_->snapshot());
      }
    }
  }

  TargetSnapshot snapshot() const { return monitor_->snapshot(); }
  std::vector<json> lines(const std::string& msg) const {
    std::vector<json> out;
    for (const json& l : lines_) {
      if (l["msg"] == msg) out.push_back(l);
    }
    return out;
  }

 private:
  TimePoint answer(TimePoint t) {
    if (refusing_) {
      refused_.insert(t);
      return t + 1ms;
    }
    for (const auto& [from, to] : blocks_) {
      if (t >= from && t < to) return to + 1ms;
    }
    return t + 1ms;
  }

  config::Config config_;
  Metrics metrics_;
  std::unique_ptr<TargetMonitor> monitor_;
  TimePoint now_ = t0;
  TimePoint next_probe_ = t0 + 3ms;
  TimePoint next_tick_ = t0 + 25ms;
  std::multimap<TimePoint, TimePoint> pending_;  // done → intended
  std::vector<std::pair<TimePoint, TimePoint>> blocks_;
  std::set<TimePoint> refused_;
  bool refusing_ = false;
  std::vector<json> lines_;
};

constexpr auto kStarvation = static_cast<std::size_t>(Finding::event_loop_starvation);
constexpr auto kFailures = static_cast<std::size_t>(Finding::canary_failures);

}  // namespace

TEST_CASE("a 3 s block: the finding stays, clearing, while the status steps down", "[monitor]") {
  Simulation sim;
  sim.run(15s);
  REQUIRE(sim.snapshot().level == Level::healthy);

  sim.block(0s, 3s);
  bool saw_unresponsive_holding = false;
  bool saw_clearing_above_healthy = false;
  bool saw_cleared = false;
  Level previous = Level::healthy;
  sim.run(40s, [&](const TargetSnapshot& s) {
    const FindingMemory& m = s.memory[kStarvation];
    // Never a status above healthy with nothing to explain it.
    if (s.level > Level::healthy) {
      INFO("level " << name(s.level) << " state " << name(m.state));
      CHECK((m.state == FindingState::holding || m.state == FindingState::clearing));
    }
    if (s.level == Level::unresponsive && m.state == FindingState::holding) {
      saw_unresponsive_holding = true;
    }
    if (s.level > Level::healthy && m.state == FindingState::clearing) {
      saw_clearing_above_healthy = true;
      CHECK(m.last_held.has_value());
      CHECK_FALSE(m.cleared_at.has_value());
    }
    if (m.state == FindingState::cleared) {
      saw_cleared = true;
      CHECK(s.level == Level::healthy);
      CHECK(m.cleared_at.has_value());
    }
    // Steps down one level at a time.
    if (s.level < previous) CHECK(static_cast<int>(s.level) == static_cast<int>(previous) - 1);
    previous = s.level;
  });
  CHECK(saw_unresponsive_holding);
  CHECK(saw_clearing_above_healthy);
  CHECK(saw_cleared);

  // The memory keeps each condition that held with its worst value.
  const TargetSnapshot s = sim.snapshot();
  REQUIRE(s.level == Level::healthy);
  const FindingMemory& m = s.memory[kStarvation];
  std::map<std::string, double> peaks;
  for (const RememberedEvidence& r : m.evidence) {
    CHECK_FALSE(r.peak.holds);
    peaks[r.peak.signal + "/" + std::string(name(r.peak.level))] = r.peak.value;
  }
  CHECK(peaks["stall_in_progress_seconds/unresponsive"] >= 2.0);
  CHECK(peaks["stall_max_seconds/critical"] == Approx(3.0).margin(0.05));
  CHECK(peaks.count("stall_ratio/critical") == 1);

  // The chart history: a gap for the seconds without an answer, the stall
  // in progress growing, the status band's worst level.
  int gaps = 0, unresponsive_seconds = 0;
  double longest = 0;
  for (const HistoryPoint& p : s.history) {
    if (!p.latency_max_seconds) ++gaps;
    if (p.status == static_cast<int>(Level::unresponsive)) ++unresponsive_seconds;
    longest = std::max(longest, p.stall_in_progress_max_seconds);
  }
  CHECK(gaps >= 2);
  CHECK(gaps <= 3);
  CHECK(unresponsive_seconds >= 1);
  CHECK(longest >= 2.5);
  CHECK(s.history.size() >= 50);

  // Status changes, in the snapshot and in the log.
  REQUIRE(s.changes.size() >= 4);
  const auto changes = sim.lines("status changed");
  REQUIRE(changes.size() == s.changes.size());
  CHECK(changes.front()["from"] == "unknown");
  CHECK(changes.front()["to"] == "healthy");
  CHECK(changes.front()["level"] == "info");
  // Up while the stall grows (each change a warning naming the finding and
  // the evidence of its level), then down one level at a time (info).
  const json& worse = changes[1];
  CHECK(worse["level"] == "warn");
  CHECK(worse["from"] == "healthy");
  CHECK(worse["target"] == "api");
  CHECK(worse["findings"] == json::array({"event_loop_starvation"}));
  REQUIRE(worse["evidence"].is_array());
  REQUIRE_FALSE(worse["evidence"].empty());
  CHECK_THAT(worse["evidence"][0].get<std::string>(),
             Catch::Contains("(" + worse["to"].get<std::string>() + ")"));
  const auto level = [](const json& l) {
    for (int v = -1; v <= 3; ++v) {
      if (name(static_cast<Level>(v)) == l.get<std::string>()) return v;
    }
    return -2;
  };
  bool down = false;
  int peak = 0;
  for (std::size_t i = 1; i < changes.size(); ++i) {
    CAPTURE(changes[i].dump());
    const int from = level(changes[i]["from"]), to = level(changes[i]["to"]);
    if (to < from) down = true;
    CHECK(changes[i]["level"] == (to > from ? "warn" : "info"));
    CHECK(to == (down ? from - 1 : std::max(to, from + 1)));
    if (to == 3) CHECK_THAT(changes[i]["evidence"].dump(), Catch::Contains("(unresponsive)"));
    peak = std::max(peak, to);
  }
  CHECK(peak == 3);
  const json& back = changes.back();
  CHECK(back["to"] == "healthy");
  CHECK(back["level"] == "info");
  CHECK(back["worst"] == "unresponsive");
  CHECK(back["unhealthy_for_seconds"].is_number());
  CHECK(back["findings_meanwhile"] == json::array({"event_loop_starvation"}));
  CHECK(back["failures_meanwhile"] == json::array());
}

TEST_CASE("a refusing target: failure reasons with counts, gaps, and a recovery line",
          "[monitor]") {
  Simulation sim;
  sim.run(12s);
  REQUIRE(sim.snapshot().level == Level::healthy);

  sim.refuse(true);
  sim.run(5s);
  TargetSnapshot s = sim.snapshot();
  CHECK(s.level == Level::unresponsive);
  CHECK(s.memory[kFailures].state == FindingState::holding);
  REQUIRE(s.failures.size() == 1);
  const FailureReason& f = s.failures[0];
  CHECK(f.reason == "connect_error");
  CHECK(f.recent >= 490);
  CHECK(f.recent <= 501);
  CHECK(f.total == f.recent);
  CHECK(f.last_detail == "Connection refused");
  CHECK(f.last_at.has_value());
  // The seconds without an answer are gaps on the chart, with failures (the
  // last point may be the second in progress).
  REQUIRE(s.history.size() >= 4);
  std::uint32_t most = 0;
  for (std::size_t i = s.history.size() - 4; i < s.history.size(); ++i) {
    CHECK_FALSE(s.history[i].latency_max_seconds.has_value());
    CHECK(s.history[i].answered == 0);
    CHECK(s.history[i].failed > 0);
    most = std::max(most, s.history[i].failed);
  }
  CHECK(most >= 99);

  sim.refuse(false);
  sim.run(25s);
  s = sim.snapshot();
  CHECK(s.level == Level::healthy);
  REQUIRE(s.failures.size() == 1);  // still within the history span
  CHECK(s.failures[0].recent == s.failures[0].total);

  const auto failed = sim.lines("probe failed");
  REQUIRE(failed.size() == 1);  // one warning; the rest held back by the rate limit
  CHECK(failed[0]["similar_since_last_log"] == 0);
  CHECK(failed[0]["similar_since_last_log"].is_number());
  const auto recovered = sim.lines("probes answered again");
  REQUIRE(recovered.size() == 1);
  const json& r = recovered[0];
  CHECK(r["target"] == "api");
  CHECK(r["canary"] == "health");
  REQUIRE(r["failures"].is_number_unsigned());
  const auto total = r["failures"].get<std::uint64_t>();
  CHECK(total == s.failures[0].total);
  CHECK(r["reasons"] == json::array({"connect_error: " + std::to_string(total)}));
  CHECK(r["similar_since_last_log"] == total - 1);
  CHECK(r["failing_for_seconds"].is_number());

  const auto changes = sim.lines("status changed");
  REQUIRE_FALSE(changes.empty());
  const json& back = changes.back();
  CHECK(back["to"] == "healthy");
  CHECK(back["worst"] == "unresponsive");
  CHECK(back["findings_meanwhile"] == json::array({"canary_failures"}));
  CHECK(back["failures_meanwhile"] == json::array({"connect_error: " + std::to_string(total)}));
}
