#pragma once

#include <boost/regex.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// The loopcanary configuration as plain validated structs. Every default lives
/// here, in the member initialisers, and nowhere else: the loader only overrides
/// what the YAML file says. A `Config` is immutable once loaded; a reload builds
/// a new one and swaps the whole snapshot.
namespace loopcanary::config {

using Duration = std::chrono::nanoseconds;
using namespace std::chrono_literals;

/// What a response must look like to count as `ok`.
struct Expect {
  std::vector<int> status{200};
  /// Compiled at load (Perl syntax, Boost.Regex: bounded, never recursive on long
  /// bodies); empty when no regex was configured. Shared so that the config
  /// stays cheaply copyable.
  std::shared_ptr<const boost::regex> body_regex;
  std::string body_regex_source;
};

/// TLS settings for `https://` targets.
struct Tls {
  std::string ca_file;  ///< PEM bundle; empty means the system store
  bool insecure_skip_verify = false;
  std::string server_name;  ///< SNI and verified name; empty means the URL host
};

/// A parsed target URL: `http(s)://host[:port][/base]`.
struct Url {
  std::string scheme = "http";
  std::string host;
  std::uint16_t port = 80;
  std::string base_path;  ///< without trailing slash; prefixed to every path
  std::string text;       ///< as written, for messages and labels
};

/// A light endpoint probed at high frequency (open loop).
struct Canary {
  std::string name;
  std::string path = "/health";
  std::string method = "GET";
  std::map<std::string, std::string> headers;
  Duration interval = 10ms;        ///< while a scenario runs
  Duration idle_interval = 100ms;  ///< otherwise; defaults to max(interval, 100ms)
  Duration timeout = 5s;
  double jitter = 0.2;  ///< t_{i+1} = t_i + T(1 + U(-j, j))
  Expect expect;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t connections = 4;  ///< keep-alive pool size, used in turn
  bool keepalive = true;        ///< false: a fresh connection per probe
  std::size_t max_in_flight = 1000;
  /// Replace one pooled connection this often (0: never). A pre-fork server
  /// (uvicorn --workers, gunicorn) pins each connection to one worker; fresh
  /// connections land on other workers, so every worker is sampled in time.
  Duration renew_connections = 1s;
  /// Where an answer names the worker process that served it, for per-worker
  /// attribution. Neither set: not configured (everything else still works).
  struct WorkerId {
    std::string header;            ///< a response header, e.g. X-Worker-Id
    std::string json_field;        ///< or a top-level field of a JSON body, e.g. pid
    std::size_t max_workers = 16;  ///< distinct label values; later workers are "other"
    bool configured() const { return !header.empty() || !json_field.empty(); }
  } worker_id;
};

/// A heavy endpoint driven by scenarios (or watched during external ones).
struct Route {
  std::string name;
  std::string path;
  std::string method = "GET";
  std::map<std::string, std::string> headers;
  std::string body;
  Duration timeout = 30s;
  /// Service time S at concurrency 1; learned from a scenario's N=1 step when unset.
  std::optional<Duration> service_time;
  Expect expect;
  std::size_t max_body_bytes = 1024 * 1024;
};

struct Target {
  std::string name;
  Url url;
  Tls tls;
  std::vector<Canary> canaries;
  std::vector<Route> routes;
};

/// One phase of a scenario. Exactly one of the three shapes.
struct Phase {
  enum class Kind { closed_loop, stepped, open_loop };
  Kind kind = Kind::closed_loop;
  std::string route;
  std::vector<int> concurrency;  ///< one value (closed_loop) or the steps (stepped)
  Duration step = 5s;            ///< stepped: time per step
  double rate_per_second = 0;    ///< open_loop
  Duration duration = 30s;       ///< closed_loop and open_loop
};

/// A scenario with no phases is *external*: it only marks the window while load
/// is driven by something else (k6, locust, production traffic).
struct Scenario {
  std::string name;
  std::string target;
  std::vector<Phase> phases;
};

struct Global {
  Duration window = 10s;              ///< W: the window of every windowed signal
  Duration stall_threshold = 50ms;    ///< θ
  Duration baseline_window = 60s;     ///< history for the baseline and Q of HOL
  Duration self_lag_limit = 5ms;      ///< prober lateness beyond which samples are unreliable
  Duration evaluation_interval = 1s;  ///< cadence of the status machine's exits
  /// After a target's first answer (and its first answer after a refused
  /// connection: a restart), signals are computed but the status stays unknown
  /// and no stall counts for this long: a fresh worker's first requests are
  /// slow once. 0 disables.
  Duration warmup = 10s;
  /// Histogram bucket upper bounds in seconds: 0.5 ms doubling to 32 s
  /// (0.0005 · 2^16 = 32.768 s, so a 30 s route timeout has a bucket).
  std::vector<double> buckets = default_buckets();

  static std::vector<double> default_buckets() {
    std::vector<double> b;
    for (int i = 0; i <= 16; ++i) b.push_back(0.0005 * static_cast<double>(1 << i));
    return b;
  }
};

/// Runtime-status thresholds (DESIGN "Runtime status"). `enter_*` raise a level
/// immediately; every `exit_*` of a level must hold for `hold` evaluations to
/// step down one level.
struct Thresholds {
  int hold = 3;
  struct Unresponsive {
    Duration stall_in_progress = 2s;
    int consecutive_failures = 3;
    Duration exit_stall_in_progress = 1s;
  } unresponsive;
  struct Critical {
    Duration stall_max = 500ms;
    double stall_ratio = 0.10;
    Duration worker_stall = 500ms;  ///< one connection stalled while others answered
    Duration exit_stall_max = 250ms;
    double exit_stall_ratio = 0.05;
    Duration exit_worker_stall = 250ms;
  } critical;
  struct Degraded {
    Duration lag_p99 = 100ms;
    double stall_ratio = 0.01;
    double hol = 0.5;
    double queue_amplification = 1.5;
    Duration worker_stall = 50ms;
    Duration exit_lag_p99 = 50ms;
    double exit_stall_ratio = 0.005;
    double exit_hol = 0.25;
    double exit_queue_amplification = 1.2;
    Duration exit_worker_stall = 25ms;
  } degraded;
};

struct Config {
  Global global;
  std::vector<Target> targets;
  std::vector<Scenario> scenarios;
  Thresholds thresholds;

  const Target* find_target(const std::string& name) const;
  const Scenario* find_scenario(const std::string& name) const;
};

const Route* find_route(const Target& target, const std::string& name);

}  // namespace loopcanary::config
