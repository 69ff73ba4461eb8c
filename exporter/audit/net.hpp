#pragma once

#include <chrono>
#include <optional>
#include <string>

/// The audit's own small network needs, blocking and bounded in time: is the
/// target reachable at all (before starting anything), and a GET to
/// Prometheus's HTTP API. Plain HTTP/1.1 over Beast; thread-safe (each call
/// has its own io_context).
namespace loopcanary::exporter::audit {

/// Resolves `host` and opens a TCP connection to it; nullopt when that
/// worked, else why not in words ("connection refused", "timed out after 2 s").
std::optional<std::string> reach(const std::string& host, const std::string& port,
                                 std::chrono::milliseconds timeout);

struct HttpResult {
  int status = 0;  ///< 0 when no response came
  std::string body;
  std::string error;  ///< why no response came
};

/// GET `target` ("/api/v1/query?…") from host:port with Host `host_header`.
HttpResult http_get(const std::string& host, const std::string& port,
                    const std::string& host_header, const std::string& target,
                    std::chrono::milliseconds timeout);

/// `%XX`-encodes everything but unreserved characters, for query parameters.
std::string url_encode(const std::string& text);

}  // namespace loopcanary::exporter::audit
