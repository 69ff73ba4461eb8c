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
#include <boost/beast/http/parser.hpp>
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
  /// `request` as it goes on the wire, for the polled path (HttpConnection::send).
  std::string wire;
  /// The canary reads answers on the polled path when it can (keep-alive).
  bool polled = false;
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

  /// The polled path, for a plain keep-alive connection that is open: the
  /// request is written at once without waiting (`send`), and the answer is
  /// read later, at a wake-up the prober makes anyway (`poll`), with the time
  /// the kernel received it (SO_TIMESTAMPNS) rather than the time it was read.
  /// So an answer costs the prober no wake-up of its own.
  bool can_poll() const { return open_ && raw_ >= 0 && timestamps_; }
  /// Writes `spec.wire` now. False when it could not (the connection is then
  /// closed, and `exchange` reconnects): nothing was sent.
  bool send(const RequestSpec& spec, TimePoint& sent);
  enum class Polled { waiting, done, retry };
  /// Reads what has arrived. `done`: `out` is the exchange (its times are the
  /// kernel's); `retry`: the server had closed the reused connection before
  /// answering (run the request again with `exchange`); `waiting`: not yet,
  /// unless `deadline` has passed (then `done`, a timeout).
  Polled poll(const RequestSpec& spec, TimePoint deadline, Exchange& out);

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
  // The polled exchange in progress.
  std::optional<http::response_parser<http::string_body>> parser_;
  Exchange polled_;
  bool polled_any_ = false;  ///< a byte of its answer has arrived
  bool timestamps_ = true;   ///< the kernel timestamps arrivals on this socket
  /// The socket of the polled path, released from Asio: its reactor watches
  /// every socket it owns for input (edge-triggered), so an answer to a
  /// socket it still owned would wake the prober even though nobody waits.
  int raw_ = -1;
  /// Hands the open plain socket over to the polled path (after an exchange).
  void release_to_polled();
  /// Takes the polled path's socket back into Asio (for exchange()).
  void adopt_from_polled();
};

}  // namespace loopcanary::probes
