// The polled path of HttpConnection (docs/design.md, "What a probe costs")
// against a real loopback TCP server: the request is written at once, the
// answer read later, and timed when the kernel received it — not when read.

// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (1.74) uses std::exchange without it
// clang-format on

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "probes/http_client.hpp"

namespace {

using namespace std::chrono_literals;
using loopcanary::probes::Clock;
using loopcanary::probes::Exchange;
using loopcanary::probes::HttpConnection;
using loopcanary::probes::Outcome;
using loopcanary::probes::TimePoint;
namespace net = boost::asio;

/// One connection's worth of a tiny HTTP/1.1 server on 127.0.0.1: answers
/// request i after delays[i], then closes once the delays are used up.
class DelayServer {
 public:
  explicit DelayServer(std::vector<std::chrono::milliseconds> delays) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_, 4) == 0);
    socklen_t size = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, delays] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      for (auto delay : delays) {
        std::string request;
        char buf[1024];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) {
            ::close(fd);
            return;
          }
          request.append(buf, static_cast<std::size_t>(n));
        }
        std::this_thread::sleep_for(delay);
        const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
      ::close(fd);
    });
  }
  ~DelayServer() {
    thread_.join();
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

double ms(loopcanary::probes::Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

struct Client {
  explicit Client(std::uint16_t port) : connection(io.get_executor(), nullptr, 1) {
    target.url.host = "127.0.0.1";
    target.url.port = port;
    endpoint = loopcanary::probes::make_endpoint(target);
    spec = loopcanary::probes::make_request(target, "GET", "/health", {}, {}, expect, 1024, true);
    spec.polled = true;
  }
  /// One exchange on the waiting (coroutine) path: it connects.
  Exchange exchange() {
    Exchange out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          out = co_await connection.exchange(endpoint, spec, Clock::now() + 2s);
        },
        net::detached);
    io.run();
    io.restart();
    return out;
  }
  /// Polls every 2 ms until done (or `limit` polls).
  HttpConnection::Polled poll_until_done(TimePoint deadline, Exchange& out, int limit = 1000) {
    for (int i = 0; i < limit; ++i) {
      const auto r = connection.poll(spec, deadline, out);
      if (r != HttpConnection::Polled::waiting) return r;
      std::this_thread::sleep_for(2ms);
    }
    return HttpConnection::Polled::waiting;
  }

  net::io_context io;
  loopcanary::config::Target target;
  loopcanary::config::Expect expect;
  loopcanary::probes::Endpoint endpoint;
  loopcanary::probes::RequestSpec spec;
  HttpConnection connection;
};

}  // namespace

TEST_CASE("a polled answer is timed when the kernel received it, not when it was read",
          "[polled]") {
  DelayServer server({0ms, 30ms});
  Client c(server.port());
  REQUIRE(c.exchange().outcome == Outcome::ok);  // connects, on the waiting path
  REQUIRE(c.connection.can_poll());              // then leaves Asio for the polled path

  TimePoint sent;
  REQUIRE(c.connection.send(c.spec, sent));
  Exchange out;
  // Nothing yet: the server waits 30 ms before it answers.
  CHECK(c.connection.poll(c.spec, Clock::now() + 2s, out) == HttpConnection::Polled::waiting);
  std::this_thread::sleep_for(150ms);  // the answer waits, unread, for ~120 ms
  const TimePoint read_at = Clock::now();
  REQUIRE(c.connection.poll(c.spec, Clock::now() + 2s, out) == HttpConnection::Polled::done);
  CHECK(out.outcome == Outcome::ok);
  CHECK(out.status == 200);
  INFO("answered " << ms(out.done - out.sent) << " ms after it was sent, read "
                   << ms(read_at - out.sent) << " ms after");
  CHECK(ms(out.done - out.sent) >= 29.0);
  CHECK(ms(out.done - out.sent) < 100.0);  // not the 150 ms until it was read
  CHECK(out.first_byte <= out.done);
  CHECK(out.stamped);  // so the signals know a late read did not delay it
}

TEST_CASE("a polled request with no answer by its deadline is a timeout at the deadline",
          "[polled]") {
  DelayServer server({0ms, 400ms});
  Client c(server.port());
  REQUIRE(c.exchange().outcome == Outcome::ok);
  REQUIRE(c.connection.can_poll());
  TimePoint sent;
  REQUIRE(c.connection.send(c.spec, sent));
  const TimePoint deadline = sent + 50ms;
  Exchange out;
  REQUIRE(c.poll_until_done(deadline, out) == HttpConnection::Polled::done);
  CHECK(out.outcome == Outcome::timeout);
  CHECK(out.done == deadline);
  CHECK_FALSE(out.stamped);             // the deadline, not an arrival
  CHECK_FALSE(c.connection.is_open());  // a late answer must not be taken for the next one
}

TEST_CASE("a polled connection the server closed before answering asks for a retry", "[polled]") {
  DelayServer server({0ms});  // answers once, then closes
  Client c(server.port());
  REQUIRE(c.exchange().outcome == Outcome::ok);
  REQUIRE(c.connection.can_poll());
  std::this_thread::sleep_for(50ms);  // the server has closed by now
  TimePoint sent;
  Exchange out;
  // The request may still be written (the close is only seen when read).
  if (c.connection.send(c.spec, sent)) {
    CHECK(c.poll_until_done(Clock::now() + 2s, out) == HttpConnection::Polled::retry);
  }
  CHECK_FALSE(c.connection.is_open());
  // The waiting path then reconnects (to nobody here: the listener is still
  // open but no one accepts, so a short deadline is enough to end it).
}
