// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (1.74) uses std::exchange without it
// clang-format on

#include "exporter/audit/net.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace loopcanary::exporter::audit {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr std::size_t kBodyLimit = 256 * 1024 * 1024;

std::string timed_out(std::chrono::milliseconds timeout) {
  return fmt::format("timed out after {:.1f} s", std::chrono::duration<double>(timeout).count());
}

std::string describe(const boost::system::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout || ec == net::error::operation_aborted) return timed_out(timeout);
  std::string text = ec.message();
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/// Runs `work` on a fresh io_context for at most `timeout` (+ a grace).
template <typename Work>
void run_bounded(Work work, std::chrono::milliseconds timeout) {
  net::io_context io;
  net::co_spawn(io, work(io.get_executor()), net::detached);
  io.run_for(timeout + std::chrono::milliseconds(500));
}

}  // namespace

std::optional<std::string> reach(const std::string& host, const std::string& port,
                                 std::chrono::milliseconds timeout) {
  std::optional<std::string> error = timed_out(timeout);
  run_bounded(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        tcp::resolver resolver(ex);
        beast::tcp_stream stream(ex);
        try {
          auto results = co_await resolver.async_resolve(host, port, net::use_awaitable);
          stream.expires_after(timeout);
          co_await stream.async_connect(results, net::use_awaitable);
          error.reset();
        } catch (const boost::system::system_error& e) {
          error = describe(e.code(), timeout);
          if (e.code() == net::error::host_not_found ||
              e.code() == net::error::host_not_found_try_again) {
            error = fmt::format("cannot resolve {}: {}", host, describe(e.code(), timeout));
          }
        }
      },
      timeout);
  return error;
}

HttpResult http_get(const std::string& host, const std::string& port,
                    const std::string& host_header, const std::string& target,
                    std::chrono::milliseconds timeout) {
  HttpResult out;
  out.error = timed_out(timeout);
  run_bounded(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        tcp::resolver resolver(ex);
        beast::tcp_stream stream(ex);
        try {
          auto results = co_await resolver.async_resolve(host, port, net::use_awaitable);
          stream.expires_after(timeout);
          co_await stream.async_connect(results, net::use_awaitable);
          http::request<http::empty_body> req{http::verb::get, target, 11};
          req.set(http::field::host, host_header);
          req.set(http::field::user_agent, "loopcanary-audit");
          req.set(http::field::accept, "application/json");
          co_await http::async_write(stream, req, net::use_awaitable);
          beast::flat_buffer buffer;
          http::response_parser<http::string_body> parser;
          parser.body_limit(kBodyLimit);
          co_await http::async_read(stream, buffer, parser, net::use_awaitable);
          out.status = static_cast<int>(parser.get().result_int());
          out.body = std::move(parser.get().body());
          out.error.clear();
          beast::error_code ignored;
          stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        } catch (const boost::system::system_error& e) {
          out.error = describe(e.code(), timeout);
        }
      },
      timeout);
  return out;
}

std::string url_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace loopcanary::exporter::audit
