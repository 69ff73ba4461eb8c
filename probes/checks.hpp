#pragma once

#include <boost/system/error_code.hpp>
#include <string_view>

#include "config/config.hpp"
#include "probes/sample.hpp"

/// Pure judgements about a response, shared by canaries and routes (and fuzzed).
namespace loopcanary::probes {

/// Where in an exchange an error happened; the same error means different
/// things at different stages (EOF before the response vs. in the middle of it).
enum class Stage { resolve, connect, handshake, write, read_header, read_body };

/// Maps a transport or parser error to the reason it is counted under.
Outcome classify_error(const boost::system::error_code& ec, Stage stage);

/// `ok`, `bad_status` or `bad_body` for a complete response.
Outcome check_response(int status, std::string_view body, const config::Expect& expect);

}  // namespace loopcanary::probes
