// What a failed exchange is counted as (the `reason` label), and whether a
// complete response is what the canary expects.

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/system/error_code.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <tuple>

#include "probes/checks.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;
using loopcanary::config::Expect;
using loopcanary::probes::check_response;
using loopcanary::probes::classify_error;
using loopcanary::probes::name;
using loopcanary::probes::Outcome;
using loopcanary::probes::Stage;

struct Case {
  const char* what;
  error_code ec;
  Stage stage;
  Outcome want;
};

Expect expect(std::vector<int> status, const char* regex = nullptr) {
  Expect e;
  e.status = std::move(status);
  if (regex) {
    e.body_regex = std::make_shared<const boost::regex>(regex, boost::regex::perl);
    e.body_regex_source = regex;
  }
  return e;
}

}  // namespace

TEST_CASE("classify_error maps (error, stage) to the reason it is counted under", "[checks]") {
  const auto c = GENERATE(values<Case>({
      // A deadline that fired is a timeout wherever it fired.
      {"beast timeout at connect", beast::error::timeout, Stage::connect, Outcome::timeout},
      {"beast timeout at read_header", beast::error::timeout, Stage::read_header, Outcome::timeout},
      {"beast timeout at read_body", beast::error::timeout, Stage::read_body, Outcome::timeout},
      {"beast timeout at handshake", beast::error::timeout, Stage::handshake, Outcome::timeout},
      {"asio timed_out at read_header", net::error::timed_out, Stage::read_header,
       Outcome::timeout},
      // Nothing reached the target.
      {"refused at connect", net::error::connection_refused, Stage::connect,
       Outcome::connect_error},
      {"unreachable at connect", net::error::host_unreachable, Stage::connect,
       Outcome::connect_error},
      {"host not found at resolve", net::error::host_not_found, Stage::resolve,
       Outcome::connect_error},
      {"reset at connect", net::error::connection_reset, Stage::connect, Outcome::connect_error},
      // TLS.
      {"truncated at handshake", net::ssl::error::stream_truncated, Stage::handshake,
       Outcome::tls_error},
      {"reset at handshake", net::error::connection_reset, Stage::handshake, Outcome::tls_error},
      {"eof at handshake", net::error::eof, Stage::handshake, Outcome::tls_error},
      {"openssl error at handshake", error_code(0x14090086, net::error::get_ssl_category()),
       Stage::handshake, Outcome::tls_error},
      // The connection went away before the response ended.
      {"eof at read_header", net::error::eof, Stage::read_header, Outcome::reset},
      {"end_of_stream at read_header", http::error::end_of_stream, Stage::read_header,
       Outcome::reset},
      {"partial_message at read_body", http::error::partial_message, Stage::read_body,
       Outcome::reset},
      {"connection_reset at read_header", net::error::connection_reset, Stage::read_header,
       Outcome::reset},
      {"connection_reset at read_body", net::error::connection_reset, Stage::read_body,
       Outcome::reset},
      {"broken_pipe at write", net::error::broken_pipe, Stage::write, Outcome::reset},
      {"connection_aborted at write", net::error::connection_aborted, Stage::write, Outcome::reset},
      {"TLS stream truncated at read_body", net::ssl::error::stream_truncated, Stage::read_body,
       Outcome::reset},
      // The body was larger than the canary allows.
      {"body_limit at read_body", http::error::body_limit, Stage::read_body, Outcome::bad_body},
      // Not valid HTTP/1.1.
      {"bad_version at read_header", http::error::bad_version, Stage::read_header,
       Outcome::protocol_error},
      {"bad_chunk at read_body", http::error::bad_chunk, Stage::read_body, Outcome::protocol_error},
      {"header_limit at read_header", http::error::header_limit, Stage::read_header,
       Outcome::protocol_error},
      {"bad_status at read_header", http::error::bad_status, Stage::read_header,
       Outcome::protocol_error},
      {"bad_field at read_header", http::error::bad_field, Stage::read_header,
       Outcome::protocol_error},
      {"bad_content_length at read_header", http::error::bad_content_length, Stage::read_header,
       Outcome::protocol_error},
  }));
  CAPTURE(c.what, c.ec.message());
  CHECK(name(classify_error(c.ec, c.stage)) == name(c.want));
}

TEST_CASE("check_response: the status must be one of the expected ones", "[checks]") {
  const Expect e = expect({200, 204});
  int status;
  Outcome want;
  std::tie(status, want) = GENERATE(table<int, Outcome>({
      {200, Outcome::ok},
      {204, Outcome::ok},
      {201, Outcome::bad_status},
      {301, Outcome::bad_status},
      {500, Outcome::bad_status},
      {503, Outcome::bad_status},
      {0, Outcome::bad_status},
  }));
  CAPTURE(status);
  CHECK(name(check_response(status, "anything", e)) == name(want));
}

TEST_CASE("check_response: the body regex is searched, not anchored", "[checks]") {
  const Expect e = expect({200}, R"("status":\s*"ok")");
  CHECK(check_response(200, R"({"status": "ok"})", e) == Outcome::ok);
  CHECK(check_response(200, R"({"db": 1, "status":"ok", "x": 2})", e) == Outcome::ok);
  CHECK(check_response(200, R"({"status": "degraded"})", e) == Outcome::bad_body);
  CHECK(check_response(200, "", e) == Outcome::bad_body);
  // The status is judged first: a wrong status with a matching body is bad_status.
  CHECK(check_response(500, R"({"status": "ok"})", e) == Outcome::bad_status);
}

TEST_CASE("check_response without a regex accepts any body", "[checks]") {
  const Expect e = expect({200});
  CHECK(check_response(200, "", e) == Outcome::ok);
  CHECK(check_response(200, std::string(64 * 1024, 'x'), e) == Outcome::ok);
}

TEST_CASE("check_response on a 64 KiB body: matches, mismatches, and never hangs or crashes",
          "[checks]") {
  const std::string big(64 * 1024, 'a');
  SECTION("a match at the very end") {
    CHECK(check_response(200, big + "\"ok\"", expect({200}, R"("ok")")) == Outcome::ok);
  }
  SECTION("a mismatch scans the whole body") {
    CHECK(check_response(200, big, expect({200}, R"("ok")")) == Outcome::bad_body);
  }
  SECTION("a greedy regex across the whole body") {
    CHECK(check_response(200, big + "z", expect({200}, "^a*z$")) == Outcome::ok);
  }
  SECTION("catastrophic backtracking is a bad body, not a hang or a crash") {
    // (a+)+b against a run of a's without b is exponential for a backtracker;
    // Boost.Regex gives up, and a body we cannot judge did not match.
    CHECK(check_response(200, big, expect({200}, "(a+)+b")) == Outcome::bad_body);
    CHECK(check_response(200, big, expect({200}, "(a|aa)+$b")) == Outcome::bad_body);
  }
}
