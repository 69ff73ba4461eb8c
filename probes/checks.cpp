#include "probes/checks.hpp"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace loopcanary::probes {

Outcome classify_error(const boost::system::error_code& ec, Stage stage) {
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  if (ec == boost::beast::error::timeout || ec == net::error::timed_out) return Outcome::timeout;
  if (stage == Stage::resolve || stage == Stage::connect) return Outcome::connect_error;
  if (stage == Stage::handshake) return Outcome::tls_error;
  if (ec == http::error::body_limit) return Outcome::bad_body;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == net::error::connection_aborted ||
      ec == net::ssl::error::stream_truncated) {
    return Outcome::reset;
  }
  if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    return Outcome::protocol_error;
  }
  return Outcome::reset;
}

Outcome check_response(int status, std::string_view body, const config::Expect& expect) {
  if (std::find(expect.status.begin(), expect.status.end(), status) == expect.status.end()) {
    return Outcome::bad_status;
  }
  if (expect.body_regex) {
    try {
      if (!boost::regex_search(body.begin(), body.end(), *expect.body_regex))
        return Outcome::bad_body;
    } catch (const std::runtime_error&) {
      // Boost.Regex gives up on pathological backtracking instead of hanging;
      // a body we cannot judge is not a body that matched.
      return Outcome::bad_body;
    }
  }
  return Outcome::ok;
}

}  // namespace loopcanary::probes
