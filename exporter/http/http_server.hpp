#pragma once

// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (1.74) uses std::exchange without it
// clang-format on

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "exporter/http/router.hpp"

namespace loopcanary::exporter {

namespace net = boost::asio;
using tcp = net::ip::tcp;

/// Parses `--web.listen-address`: `:19420`, `0.0.0.0:19420`, `127.0.0.1:0`,
/// `[::1]:9000`, `localhost:19420`. nullopt when it is not one of those.
std::optional<tcp::endpoint> parse_listen_address(const std::string& text);

/// The exporter's own HTTP/1.1 server (Beast): one coroutine per connection,
/// limits on header and body size (431 and 413), a deadline on every read and
/// write, a cap on concurrent connections. At the cap, a new connection evicts
/// the connection that has waited longest for its client to send something, so
/// idle or slow clients can never lock Prometheus out. Runs on the io_context
/// it is given; `handler` is called on that context's thread.
class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;
  /// Called with the request before the handler; returns a response to send
  /// instead (401 for a failed basic auth), or nullopt to go on.
  using Guard = std::function<std::optional<Response>(const Request&)>;

  struct Options {
    std::size_t max_connections = 512;
    std::chrono::seconds header_timeout{10};  ///< to receive a whole request
    std::chrono::seconds idle_timeout{60};    ///< between keep-alive requests
    std::chrono::seconds write_timeout{30};
    std::uint32_t header_limit = 8 * 1024;
    std::uint64_t body_limit = 64 * 1024;
  };

  /// Binds now; throws boost::system::system_error naming the address when it cannot.
  HttpServer(net::io_context& io, const tcp::endpoint& endpoint, Handler handler, Options options,
             std::shared_ptr<net::ssl::context> tls = nullptr, Guard guard = nullptr);

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void start();
  void stop();
  std::size_t connections() const { return connections_; }

 private:
  net::awaitable<void> accept_loop();
  net::awaitable<void> session(tcp::socket socket);
  template <typename Stream>
  net::awaitable<void> serve(Stream& stream);

  /// A session waiting for its client to send (a request, or the TLS
  /// handshake). At the cap, the oldest that has never sent a request is
  /// evicted first; a keep-alive client that did (Prometheus between scrapes)
  /// only when there is no such one.
  struct Reader {
    boost::beast::tcp_stream* stream;
    bool evicted = false;
  };
  net::awaitable<boost::system::error_code> read_evictably(boost::beast::tcp_stream& lowest,
                                                           bool served_before, auto&& operation);
  bool evict_one();

  net::io_context& io_;
  tcp::acceptor acceptor_;
  std::list<Reader*> waiting_first_;  ///< no request yet, oldest first
  std::list<Reader*> waiting_again_;  ///< idle keep-alive, oldest first
  Handler handler_;
  Options options_;
  std::shared_ptr<net::ssl::context> tls_;
  Guard guard_;
  std::atomic<std::size_t> connections_{0};
};

}  // namespace loopcanary::exporter
