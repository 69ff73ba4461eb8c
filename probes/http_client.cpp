#include "probes/http_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <time.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/version.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "probes/checks.hpp"

namespace loopcanary::probes {

namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;

std::string user_agent() { return "loopcanary/" LOOPCANARY_VERSION; }

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

bool is_connection_gone(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted;
}

}  // namespace

Endpoint make_endpoint(const config::Target& target) {
  Endpoint e;
  e.host = target.url.host;
  e.port = std::to_string(target.url.port);
  e.tls = target.url.scheme == "https";
  const bool default_port = (e.tls && target.url.port == 443) || (!e.tls && target.url.port == 80);
  const std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
  e.host_header = default_port ? host : host + ":" + e.port;
  e.server_name = target.tls.server_name.empty() ? target.url.host : target.tls.server_name;
  return e;
}

std::shared_ptr<net::ssl::context> make_tls_context(const config::Tls& tls) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1);
  if (tls.insecure_skip_verify) {
    ctx->set_verify_mode(net::ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(net::ssl::verify_peer);
  boost::system::error_code ec;
  if (!tls.ca_file.empty()) {
    // OpenSSL reports a missing file as a bare "asio.ssl error": say why first.
    if (!std::ifstream(tls.ca_file)) {
      throw std::runtime_error("tls.ca_file \"" + tls.ca_file + "\": " + std::strerror(errno));
    }
    ctx->load_verify_file(tls.ca_file, ec);
    if (ec) {
      throw std::runtime_error("tls.ca_file \"" + tls.ca_file + "\": " + ec.message());
    }
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) throw std::runtime_error("cannot load the system CA store: " + ec.message());
  }
  return ctx;
}

RequestSpec make_request(const config::Target& target, const std::string& method,
                         const std::string& path, const std::map<std::string, std::string>& headers,
                         const std::string& body, const config::Expect& expect,
                         std::size_t max_body_bytes, bool keepalive) {
  RequestSpec spec;
  auto& req = spec.request;
  req.method(http::string_to_verb(method));
  req.target(target.url.base_path + path);
  req.version(11);
  req.set(http::field::host, make_endpoint(target).host_header);
  req.set(http::field::user_agent, user_agent());
  req.set(http::field::accept, "*/*");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty()) req.body() = body;
  req.keep_alive(keepalive);
  req.prepare_payload();
  std::ostringstream wire;
  wire << req;
  spec.wire = wire.str();
  spec.expect = &expect;
  spec.max_body_bytes = max_body_bytes;
  return spec;
}

std::string worker_of(const http::response<http::string_body>& response,
                      const config::Canary::WorkerId& id) {
  if (!id.header.empty()) {
    const auto it = response.find(id.header);
    if (it == response.end()) return {};
    return std::string(it->value());
  }
  if (id.json_field.empty()) return {};
  const auto body = nlohmann::json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return {};
  const auto field = body.find(id.json_field);
  if (field == body.end()) return {};
  if (field->is_string()) return field->get<std::string>();
  if (field->is_number() || field->is_boolean()) return field->dump();
  return {};
}

HttpConnection::HttpConnection(net::any_io_executor executor,
                               std::shared_ptr<net::ssl::context> tls, std::uint32_t id)
    : executor_(std::move(executor)), tls_(std::move(tls)), id_(id) {}

HttpConnection::~HttpConnection() { close(); }

bool HttpConnection::is_open() const { return open_; }

void HttpConnection::close() {
  if (raw_ >= 0) {
    ::shutdown(raw_, SHUT_RDWR);
    ::close(raw_);
    raw_ = -1;
  }
  if (plain_ || secure_) {
    boost::system::error_code ignored;
    lowest().socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    lowest().close();
  }
  secure_.reset();
  plain_.reset();
  buffer_.clear();
  parser_.reset();
  open_ = false;
  worker_.clear();  // the next connection may land on another worker
  worker_reported_ = false;
}

void HttpConnection::cancel() {
  cancelled_ = true;  // seen after a resolve, which a closed socket cannot abort
  if (plain_ || secure_) {
    boost::system::error_code ignored;
    lowest().socket().close(ignored);
  }
}

beast::tcp_stream& HttpConnection::lowest() {
  return secure_ ? beast::get_lowest_layer(*secure_) : *plain_;
}

net::awaitable<bool> HttpConnection::connect(const Endpoint& endpoint, TimePoint deadline,
                                             Exchange& out) {
  close();
  boost::system::error_code ec;
  const auto fail = [&](Stage stage, std::string detail) {
    out.outcome = classify_error(ec, stage);
    out.done = Clock::now();
    out.first_byte = out.done;
    last_error_ = std::move(detail);
    close();
  };

  net::ip::tcp::resolver resolver(executor_);
  // The resolver has no deadline of its own; loopback and literal addresses
  // resolve without I/O, and the probe's timeout still bounds the whole probe.
  auto results = co_await resolver.async_resolve(endpoint.host, endpoint.port,
                                                 net::redirect_error(net::use_awaitable, ec));
  if (!ec && cancelled_) ec = net::error::operation_aborted;
  if (ec) {
    fail(Stage::resolve, "resolve " + endpoint.host + ": " + ec.message());
    co_return false;
  }
  if (tls_) {
    secure_ = std::make_unique<TlsStream>(executor_, *tls_);
  } else {
    plain_ = std::make_unique<PlainStream>(executor_);
  }
  lowest().expires_at(deadline);
  co_await lowest().async_connect(results, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    fail(Stage::connect, "connect " + endpoint.host + ":" + endpoint.port + ": " + ec.message());
    co_return false;
  }
  lowest().socket().set_option(net::ip::tcp::no_delay(true), ec);
  if (!secure_) {
    // Arrival times from the kernel, for the polled path (see can_poll).
    const int on = 1;
    timestamps_ = ::setsockopt(lowest().socket().native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on,
                               sizeof on) == 0;
  }
  if (secure_) {
    SSL* ssl = secure_->native_handle();
    const bool verify_peer = SSL_CTX_get_verify_mode(tls_->native_handle()) & SSL_VERIFY_PEER;
    const bool address = is_ip_address(endpoint.server_name);
    // SNI carries host names only, never a literal address (RFC 6066, 3).
    if (!address && !SSL_set_tlsext_host_name(ssl, endpoint.server_name.c_str())) {
      ec = boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                     net::error::get_ssl_category());
      fail(Stage::handshake, "TLS SNI: " + ec.message());
      co_return false;
    }
    if (verify_peer) {
      // OpenSSL's own name check, so a mismatch is named in the verify result
      // ("hostname mismatch", "IP address mismatch"); a verify callback that
      // returns false leaves it "unspecified certificate verification error".
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int set = address ? X509_VERIFY_PARAM_set1_ip_asc(param, endpoint.server_name.c_str())
                              : X509_VERIFY_PARAM_set1_host(param, endpoint.server_name.c_str(), 0);
      if (set != 1) {
        ec = boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                       net::error::get_ssl_category());
        fail(Stage::handshake, "TLS server name \"" + endpoint.server_name + "\" is not usable");
        co_return false;
      }
    }
    lowest().expires_at(deadline);
    co_await secure_->async_handshake(net::ssl::stream_base::client,
                                      net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      std::string detail = "TLS handshake with " + endpoint.server_name + ": " + ec.message();
      const long verify = SSL_get_verify_result(ssl);
      if (verify_peer && verify != X509_V_OK) {
        detail += " (";
        detail += X509_verify_cert_error_string(verify);
        detail += ")";
      }
      fail(Stage::handshake, std::move(detail));
      co_return false;
    }
  }
  open_ = true;
  co_return true;
}

namespace {

template <typename Stream>
net::awaitable<Exchange> run_exchange(Stream& stream, beast::tcp_stream& lowest,
                                      beast::flat_buffer& buffer, const RequestSpec& spec,
                                      TimePoint deadline, bool& gone_before_answer,
                                      boost::system::error_code& ec, bool& keep_alive,
                                      std::string* worker) {
  Exchange out;
  out.sent = Clock::now();
  lowest.expires_at(deadline);
  co_await http::async_write(stream, spec.request, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    gone_before_answer = is_connection_gone(ec);
    out.outcome = classify_error(ec, Stage::write);
    out.done = out.first_byte = Clock::now();
    co_return out;
  }
  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(spec.max_body_bytes);
  // A HEAD response has headers but no body, whatever Content-Length says.
  parser.skip(spec.request.method() == http::verb::head);
  lowest.expires_at(deadline);
  co_await http::async_read_header(stream, buffer, parser,
                                   net::redirect_error(net::use_awaitable, ec));
  out.first_byte = Clock::now();
  if (ec) {
    gone_before_answer = is_connection_gone(ec) && buffer.size() == 0;
    out.outcome = classify_error(ec, Stage::read_header);
    out.done = out.first_byte;
    co_return out;
  }
  if (!parser.is_done()) {
    lowest.expires_at(deadline);
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  }
  out.done = Clock::now();
  out.status = static_cast<int>(parser.get().result_int());
  if (ec) {
    out.outcome = classify_error(ec, Stage::read_body);
    co_return out;
  }
  keep_alive = parser.keep_alive();
  out.outcome = check_response(out.status, parser.get().body(), *spec.expect);
  if (worker) *worker = worker_of(parser.get(), *spec.worker_id);
  co_return out;
}

}  // namespace

net::awaitable<Exchange> HttpConnection::attempt(const Endpoint& endpoint, const RequestSpec& spec,
                                                 TimePoint deadline, bool& retryable) {
  retryable = false;
  Exchange out;
  out.connection_id = id_;
  const bool reused = open_;
  if (!open_) {
    out.sent = Clock::now();
    if (!co_await connect(endpoint, deadline, out)) co_return out;
  }
  boost::system::error_code ec;
  bool gone_before_answer = false;
  bool keep_alive = false;
  // A keep-alive connection is served by one worker for its life: its first
  // answer names it, the others need not be read.
  std::string* worker = spec.worker_id && worker_.empty() ? &worker_ : nullptr;
  Exchange result = secure_ ? co_await run_exchange(*secure_, lowest(), buffer_, spec, deadline,
                                                    gone_before_answer, ec, keep_alive, worker)
                            : co_await run_exchange(*plain_, lowest(), buffer_, spec, deadline,
                                                    gone_before_answer, ec, keep_alive, worker);
  result.connection_id = id_;
  if (ec) {
    last_error_ = ec.message();
    retryable = reused && gone_before_answer;
    close();
  } else {
    if (result.outcome == Outcome::bad_status) {
      last_error_ = "status " + std::to_string(result.status) + " is not in expect.status";
    } else if (result.outcome == Outcome::bad_body) {
      last_error_ = "the body does not match expect.body_regex";
    }
    if (!keep_alive) close();
  }
  co_return result;
}

namespace {

/// A CLOCK_REALTIME time from the kernel as a steady-clock time: the two
/// clocks are read together now; the span back to `t` is short (one interval).
TimePoint steady_from_realtime(const timespec& t) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const TimePoint steady = Clock::now();
  const auto ago = std::chrono::seconds(now.tv_sec - t.tv_sec) +
                   std::chrono::nanoseconds(now.tv_nsec - t.tv_nsec);
  return steady - std::chrono::duration_cast<Duration>(std::max(ago, decltype(ago)::zero()));
}

}  // namespace

void HttpConnection::release_to_polled() {
  if (!open_ || !plain_ || secure_ || !timestamps_ || raw_ >= 0) return;
  boost::system::error_code ec;
  const int fd = plain_->socket().release(ec);
  if (ec) return;  // stays with Asio: the coroutine path goes on working
  raw_ = fd;
  plain_.reset();
}

void HttpConnection::adopt_from_polled() {
  if (raw_ < 0) return;
  sockaddr_storage local{};
  socklen_t size = sizeof local;
  ::getsockname(raw_, reinterpret_cast<sockaddr*>(&local), &size);
  plain_ = std::make_unique<PlainStream>(executor_);
  boost::system::error_code ec;
  plain_->socket().assign(local.ss_family == AF_INET6 ? net::ip::tcp::v6() : net::ip::tcp::v4(),
                          raw_, ec);
  raw_ = -1;
  if (ec) close();  // reconnects on the next exchange
}

bool HttpConnection::send(const RequestSpec& spec, TimePoint& sent) {
  const int fd = raw_;
  sent = Clock::now();
  const ssize_t n = ::send(fd, spec.wire.data(), spec.wire.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(spec.wire.size())) {
    // Gone (the server closed it while idle), or a full send buffer, which a
    // request of a few hundred bytes on an idle connection never meets: in
    // any case the request is not on the wire whole; start afresh.
    close();
    return false;
  }
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(spec.max_body_bytes);
  parser_->eager(true);
  parser_->skip(spec.request.method() == http::verb::head);
  polled_ = Exchange{};
  polled_.connection_id = id_;
  polled_.sent = sent;
  polled_any_ = false;
  return true;
}

HttpConnection::Polled HttpConnection::poll(const RequestSpec& spec, TimePoint deadline,
                                            Exchange& out) {
  const int fd = raw_;
  boost::system::error_code ec;
  // `stamped`: `at` is the kernel's arrival time of the last chunk read.
  const auto finish = [&](Outcome outcome, TimePoint at, bool stamped) {
    polled_.outcome = outcome;
    if (polled_.first_byte == TimePoint{}) polled_.first_byte = at;
    polled_.done = at;
    polled_.stamped = stamped;
    out = polled_;
    parser_.reset();
    return Polled::done;
  };
  for (;;) {
    const auto space = buffer_.prepare(16 * 1024);
    iovec iov{space.data(), space.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const bool before_answer = !polled_any_;
      last_error_ = n == 0 ? "the server closed the connection" : std::strerror(errno);
      close();
      if (before_answer) return Polled::retry;  // the keep-alive race, as in exchange()
      return finish(Outcome::reset, Clock::now(), false);
    }
    TimePoint arrived{};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        arrived = steady_from_realtime(ts);
      }
    }
    const bool stamped = arrived != TimePoint{};
    if (!stamped) {
      // No kernel time: this answer is timed when read, and the connection
      // leaves the polled path.
      arrived = Clock::now();
      timestamps_ = false;
    }
    buffer_.commit(static_cast<std::size_t>(n));
    polled_any_ = true;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) {
        const Stage stage = parser_->is_header_done() ? Stage::read_body : Stage::read_header;
        last_error_ = ec.message();
        close();
        return finish(classify_error(ec, stage), arrived, stamped);
      }
      if (used == 0) break;
    }
    if (parser_->is_header_done() && polled_.first_byte == TimePoint{}) {
      polled_.first_byte = arrived;
    }
    if (parser_->is_done()) {
      polled_.status = static_cast<int>(parser_->get().result_int());
      const Outcome outcome = check_response(polled_.status, parser_->get().body(), *spec.expect);
      if (outcome == Outcome::bad_status) {
        last_error_ = "status " + std::to_string(polled_.status) + " is not in expect.status";
      } else if (outcome == Outcome::bad_body) {
        last_error_ = "the body does not match expect.body_regex";
      }
      if (spec.worker_id && worker_.empty()) worker_ = worker_of(parser_->get(), *spec.worker_id);
      const bool keep_alive = parser_->keep_alive();
      const Polled done = finish(outcome, arrived, stamped);
      if (!keep_alive) close();
      return done;
    }
  }
  if (Clock::now() >= deadline) {
    last_error_ = "no answer before the timeout";
    close();
    return finish(Outcome::timeout, deadline, false);
  }
  return Polled::waiting;
}

net::awaitable<Exchange> HttpConnection::exchange(const Endpoint& endpoint, const RequestSpec& spec,
                                                  TimePoint deadline) {
  adopt_from_polled();
  bool retryable = false;
  Exchange result = co_await attempt(endpoint, spec, deadline, retryable);
  // The classic keep-alive race: the server closed an idle connection just as
  // we reused it. That says nothing about the target; try once more, fresh.
  if (retryable && Clock::now() < deadline) {
    result = co_await attempt(endpoint, spec, deadline, retryable);
  }
  if (!cancelled_ && spec.polled) release_to_polled();
  co_return result;
}

}  // namespace loopcanary::probes
