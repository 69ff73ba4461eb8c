#pragma once

// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (1.74) uses std::exchange without it
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "probes/probe_book.hpp"

namespace loopcanary::probes {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

/// Where requests go, resolved from a config::Target.
struct Endpoint {
  std::string host;
  std::string port;
  std::string host_header;  ///< `host[:port]` as sent in Host
  bool tls = false;
  std::string server_name;  ///< SNI and the name the certificate must carry
};

Endpoint make_endpoint(const config::Target& target);

/// Builds the TLS client context of a target: peer verification on unless
/// `insecure_skip_verify`, the CA file or else the system store.
/// Throws std::runtime_error naming the file when the CA file cannot be used.
std::shared_ptr<net::ssl::context> make_tls_context(const config::Tls& tls);

/// The fixed part of a request, built once per canary/route at start-up.
struct RequestSpec {
  http::request<http::string_body> request;
  const config::Expect* expect = nullptr;
  std::size_t max_body_bytes = 64 * 1024;
  /// Where an answer names its worker (canary.worker_id); null: not read.
  const config::Canary::WorkerId* worker_id = nullptr;
};

/// The worker id an answer carries per `id` (a header, or a top-level JSON
/// field of the body, a string or a number): empty when it has none. Pure.
std::string worker_of(const http::response<http::string_body>& response,
                      const config::Canary::WorkerId& id);

RequestSpec make_request(const config::Target& target, const std::string& method,
                         const std::string& path, const std::map<std::string, std::string>& headers,
                         const std::string& body, const config::Expect& expect,
                         std::size_t max_body_bytes, bool keepalive);

/// One HTTP/1.1 connection (plain or TLS) that runs request/response exchanges
/// sequentially. Not thread-safe: use from one executor. Every exchange has an
/// absolute deadline covering connect, handshake, write and read; a connection
/// that failed or was closed by the server reconnects on the next exchange.
class HttpConnection {
 public:
  HttpConnection(net::any_io_executor executor, std::shared_ptr<net::ssl::context> tls,
                 std::uint32_t id);
  ~HttpConnection();

  /// Sends `spec.request` and reads the response. Never throws: every failure
  /// is an Outcome. A reused keep-alive connection that turns out to be closed
  /// by the server before answering is retried once on a fresh connection.
  net::awaitable<Exchange> exchange(const Endpoint& endpoint, const RequestSpec& spec,
                                    TimePoint deadline);

  bool is_open() const;
  /// Closes the socket and destroys the stream. Only when no exchange is running.
  void close();
  /// Aborts a running exchange (it ends with an error) without destroying the
  /// stream under it; safe at any time on the connection's executor.
  void cancel();
  std::uint32_t id() const { return id_; }
  /// The last failure's detail (error text, TLS verify result), for logs.
  const std::string& last_error() const { return last_error_; }
  /// The worker this connection is served by, once an answer named it.
  const std::string& worker() const { return worker_; }
  /// When it last went back to its pool, idle (kept by the canary runner).
  TimePoint idle_since{};
  /// True once per connection: when its worker has just been named.
  bool worker_named() {
    if (worker_.empty() || worker_reported_) return false;
    worker_reported_ = true;
    return true;
  }

 private:
  using PlainStream = beast::tcp_stream;
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;

  net::awaitable<bool> connect(const Endpoint& endpoint, TimePoint deadline, Exchange& out);
  net::awaitable<Exchange> attempt(const Endpoint& endpoint, const RequestSpec& spec,
                                   TimePoint deadline, bool& retryable);
  beast::tcp_stream& lowest();

  net::any_io_executor executor_;
  std::shared_ptr<net::ssl::context> tls_;
  std::uint32_t id_;
  std::unique_ptr<PlainStream> plain_;
  std::unique_ptr<TlsStream> secure_;
  beast::flat_buffer buffer_;
  bool open_ = false;
  bool cancelled_ = false;
  std::string last_error_;
  std::string worker_;
  bool worker_reported_ = false;
};

}  // namespace loopcanary::probes
