#include "exporter/http/http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>

#include "exporter/log.hpp"

namespace loopcanary::exporter {

namespace beast = boost::beast;

std::optional<tcp::endpoint> parse_listen_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return std::nullopt;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code parse_error;
  const auto address = net::ip::make_address(host, parse_error);
  if (parse_error) return std::nullopt;
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

HttpServer::HttpServer(net::io_context& io, const tcp::endpoint& endpoint, Handler handler,
                       Options options, std::shared_ptr<net::ssl::context> tls, Guard guard)
    : io_(io),
      acceptor_(io),
      handler_(std::move(handler)),
      options_(options),
      tls_(std::move(tls)),
      guard_(std::move(guard)) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

void HttpServer::start() { net::co_spawn(io_, accept_loop(), net::detached); }

void HttpServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

net::awaitable<void> HttpServer::accept_loop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // EMFILE and friends: log, breathe, go on; never let the server die.
      log::warn("accept failed", {{"err", ec.message()}});
      net::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    if (connections_ >= options_.max_connections) {
      if (!evict_one()) {
        // Every connection is being served right now: refuse this one.
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
    }
    net::co_spawn(io_, session(std::move(socket)), net::detached);
  }
}

net::awaitable<void> HttpServer::session(tcp::socket socket) {
  ++connections_;
  struct Count {
    std::atomic<std::size_t>& n;
    ~Count() { --n; }
  } count{connections_};
  if (!tls_) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> secure(std::move(socket), *tls_);
  boost::system::error_code ec;
  beast::get_lowest_layer(secure).expires_after(options_.header_timeout);
  ec = co_await read_evictably(beast::get_lowest_layer(secure), false, [&](auto token) {
    return secure.async_handshake(net::ssl::stream_base::server, token);
  });
  if (ec) {
    log::debug("TLS handshake failed", {{"err", ec.message()}});
    co_return;
  }
  co_await serve(secure);
}

bool HttpServer::evict_one() {
  for (auto* list : {&waiting_first_, &waiting_again_}) {
    if (list->empty()) continue;
    Reader* oldest = list->front();
    list->pop_front();
    oldest->evicted = true;
    boost::system::error_code ignored;
    oldest->stream->socket().close(ignored);
    return true;
  }
  return false;
}

net::awaitable<boost::system::error_code> HttpServer::read_evictably(beast::tcp_stream& lowest,
                                                                     bool served_before,
                                                                     auto&& operation) {
  Reader reader{&lowest};
  auto& list = served_before ? waiting_again_ : waiting_first_;
  const auto position = list.insert(list.end(), &reader);
  boost::system::error_code ec;
  co_await operation(net::redirect_error(net::use_awaitable, ec));
  if (!reader.evicted) list.erase(position);
  co_return ec;
}

template <typename Stream>
net::awaitable<void> HttpServer::serve(Stream& stream) {
  beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer(8 * 1024);
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(options_.header_limit);
    parser.body_limit(options_.body_limit);
    boost::system::error_code ec;
    lowest.expires_after(first ? options_.header_timeout : options_.idle_timeout);
    ec = co_await read_evictably(lowest, !first, [&](auto token) {
      return http::async_read(stream, buffer, parser, token);
    });
    first = false;
    std::optional<Response> response;
    if (ec == http::error::header_limit) {
      response.emplace(http::status::request_header_fields_too_large, 11);
      response->body() = "request headers too large\n";
    } else if (ec == http::error::body_limit) {
      response.emplace(http::status::payload_too_large, 11);
      response->body() = "request body too large\n";
    } else if (ec) {
      // Closed, timed out, or not HTTP: nothing useful to say to this peer.
      break;
    }
    bool keep_alive = false;
    if (response) {
      response->set(http::field::content_type, "text/plain; charset=utf-8");
      response->set(http::field::connection, "close");
      response->prepare_payload();
    } else {
      const Request& request = parser.get();
      if (guard_) response = guard_(request);
      if (!response) response = handler_(request);
      keep_alive = response->keep_alive();
    }
    lowest.expires_after(options_.write_timeout);
    co_await http::async_write(stream, *response, net::redirect_error(net::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace loopcanary::exporter
