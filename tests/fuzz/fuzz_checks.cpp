// Fuzzes what the prober concludes from the bytes a target sends back.
// Input: byte 0 chooses the expectation (low 2 bits), HEAD (bit 2) and how the
// bytes arrive (bits 3-4: all at once, or 1, 3 or 512 bytes per read); bytes
// 1-2 are a status code (int16) for the direct check; the rest is both a body
// for check_response and a raw response read as probes/http_client.cpp reads
// it (read_header, then read, 16 KiB header and 64 KiB body limits).
// Contract: never crashes; check_response says ok, bad_status or bad_body and
// `ok` only for a listed status; every read error is a failure outcome
// (reset, protocol_error or bad_body), never ok.

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/regex.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "fuzz_check.hpp"
#include "probes/checks.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using loopcanary::config::Expect;
using loopcanary::fuzz::require;
using loopcanary::probes::Outcome;
using loopcanary::probes::Stage;

constexpr std::size_t kHeaderLimit = 16 * 1024;  // probes/http_client.cpp
constexpr std::size_t kBodyLimit = 64 * 1024;    // config::Canary::max_body_bytes default
constexpr std::array<std::size_t, 4> kReadSizes{0, 1, 3, 512};  // 0: as much as is there

/// An expectation and how much of a body the fuzzer lets it judge.
struct Expectation {
  Expect expect;
  std::size_t judged_bytes = kBodyLimit;
};

Expectation make_expectation(std::vector<int> status, const char* regex,
                             std::size_t judged_bytes = kBodyLimit) {
  Expectation e;
  e.expect.status = std::move(status);
  if (regex) {
    e.expect.body_regex = std::make_shared<const boost::regex>(regex, boost::regex::perl);
    e.expect.body_regex_source = regex;
  }
  e.judged_bytes = judged_bytes;
  return e;
}

const Expectation& fixed_expectation(std::size_t index) {
  static const std::array<Expectation, 4> all{
      make_expectation({200}, nullptr),
      make_expectation({200, 204}, R"re("status"\s*:\s*"(ok|up)")re"),
      // Catastrophic backtracking: Boost.Regex must give up (bad_body), not hang
      // or crash. The time it takes to give up grows with the body (seconds at
      // 16 KiB even optimised, see bench/README.md), so the fuzzer only feeds it
      // 64 bytes, which already have 2^64 paths, and stays fast.
      make_expectation({200}, "(a+)+$", 64),
      make_expectation({500, 503}, R"(^\s*(error|fail)\w*\s*$)"),
  };
  return all[index % all.size()];
}

bool is_judgement(Outcome o) {
  return o == Outcome::ok || o == Outcome::bad_status || o == Outcome::bad_body;
}

void check_direct(int status, std::string_view body, const Expectation& expectation) {
  const Expect& e = expectation.expect;
  body = body.substr(0, expectation.judged_bytes);
  const Outcome o = loopcanary::probes::check_response(status, body, e);
  require(is_judgement(o), "check_response judges ok, bad_status or bad_body");
  if (o == Outcome::ok) {
    require(std::find(e.status.begin(), e.status.end(), status) != e.status.end(),
            "ok only for an expected status");
  }
}

void check_read(std::string_view bytes, const Expectation& e, bool head, std::size_t read_size) {
  static net::io_context io;  // never run: the test stream only needs it to exist
  beast::test::stream stream(io, bytes);
  stream.close_remote();  // the peer closes after its last byte: reads end in eof
  if (read_size) stream.read_size(read_size);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  parser.skip(head);
  boost::system::error_code ec;
  Stage stage = Stage::read_header;
  http::read_header(stream, buffer, parser, ec);
  if (!ec && !parser.is_done()) {
    stage = Stage::read_body;
    http::read(stream, buffer, parser, ec);
  }
  if (ec) {
    const Outcome o = loopcanary::probes::classify_error(ec, stage);
    require(o == Outcome::reset || o == Outcome::protocol_error || o == Outcome::bad_body,
            "a read error is reset, protocol_error or bad_body");
    return;
  }
  require(parser.is_done(), "a read without error has the whole response");
  const int status = static_cast<int>(parser.get().result_int());
  require(status >= 0 && status <= 999, "a parsed status has three digits");
  require(!head || parser.get().body().empty(), "a HEAD response has no body");
  check_direct(status, parser.get().body(), e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t flags = data[0];
  const Expectation& e = fixed_expectation(flags & 3u);
  const bool head = (flags & 4u) != 0;
  const std::size_t read_size = kReadSizes[(flags >> 3) & 3u];
  const int status = static_cast<std::int16_t>((data[1] << 8) | data[2]);
  const std::string_view rest(reinterpret_cast<const char*>(data + 3), size - 3);
  check_direct(status, rest, e);
  check_read(rest, e, head, read_size);
  return 0;
}
