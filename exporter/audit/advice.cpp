#include "exporter/audit/advice.hpp"

#include <array>

namespace loopcanary::exporter::audit {

namespace {

struct Entry {
  std::string_view finding;
  std::string_view meaning;
  std::string_view what_to_do;
  std::string_view anchor;  ///< empty: the section of the level the finding raised
};

// By name, not by enum: findings added later (worker_stall, …) read their
// entry here as soon as it exists, and a generic line until then.
constexpr std::array<Entry, 7> kEntries{{
    {"event_loop_starvation",
     "the event loop stopped answering light requests (stalls) or answered them late (lag): "
     "every request in the process waited, whatever its own work",
     "find the blocking call in an async handler (a sync client, time.sleep, file I/O, CPU "
     "work) and move it off the loop: an async client, anyio.to_thread.run_sync / "
     "run_in_executor, or a plain def route",
     ""},
    {"head_of_line_blocking",
     "light requests sent while this heavy route was in flight waited behind it: the route "
     "holds the event loop while it runs",
     "make the route's blocking work async or run it in a thread or process pool; until then "
     "cap its concurrency upstream",
     "#loopcanaryruntimedegraded"},
    {"executor_queue_amplification",
     "the route's latency grew beyond its service time because its requests queue for the "
     "worker-thread pool (FastAPI/Starlette: anyio's 40 threads)",
     "raise the pool size (anyio's default thread limiter), cap the route's concurrency, or make "
     "the route async end to end",
     "#loopcanaryruntimedegraded"},
    {"concurrency_saturation",
     "the scenario drove the route beyond its concurrency knee: more clients add latency, not "
     "throughput",
     "keep the route's concurrency at or below the knee (a limiter, a queue), or raise the "
     "capacity behind it",
     "#loopcanaryruntimedegraded"},
    {"canary_failures",
     "canary requests failed (refused, reset, timed out, or an unexpected answer): the target "
     "was down, wedged or answered wrongly",
     "check that the service is up and listening, its logs and restarts; if the canary's path or "
     "expected answer is wrong, fix the loopcanary configuration",
     "#loopcanarytargetunresponsive"},
    {"prober_starved",
     "loopcanary's own timers fired late: it could not tell a slow target from its own "
     "slowness, so the status was unknown meanwhile",
     kStarvedAdvice, "#loopcanaryproberstarved"},
    {"worker_stall",
     "one worker process of a multi-worker server stalled while the others kept answering",
     "find what blocks that worker (a stack dump of it during the stall: py-spy dump --pid), and "
     "move the blocking call off its event loop",
     ""},
}};

}  // namespace

std::string_view runbook_anchor(Level level) {
  switch (level) {
    case Level::unresponsive:
      return "#loopcanarytargetunresponsive";
    case Level::critical:
      return "#loopcanaryruntimecritical";
    case Level::unknown:
      return "#loopcanaryproberstarved";
    default:
      return "#loopcanaryruntimedegraded";
  }
}

Advice advice_for(std::string_view finding, Level level, std::string_view runbook) {
  Advice a;
  std::string_view anchor = runbook_anchor(level);
  a.meaning = "loopcanary raised this finding; its evidence is below";
  a.what_to_do = "see the runbook section";
  for (const Entry& e : kEntries) {
    if (e.finding != finding) continue;
    a.meaning = e.meaning;
    a.what_to_do = e.what_to_do;
    if (!e.anchor.empty()) anchor = e.anchor;
  }
  if (!runbook.empty()) a.runbook = std::string(runbook) + std::string(anchor);
  return a;
}

}  // namespace loopcanary::exporter::audit
