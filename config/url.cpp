#include "config/url.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <string_view>

#include "config/yaml_reader.hpp"

namespace loopcanary::config {

std::optional<Url> parse_url(const std::string& text, std::string& problem) {
  const auto fail = [&](std::string_view why) {
    problem = fmt::format("{} {}", quoted(text), why);
    return std::nullopt;
  };
  Url url;
  url.text = text;
  std::string_view rest = text;
  if (rest.rfind("http://", 0) == 0) {
    url.scheme = "http";
    url.port = 80;
    rest.remove_prefix(7);
  } else if (rest.rfind("https://", 0) == 0) {
    url.scheme = "https";
    url.port = 443;
    rest.remove_prefix(8);
  } else {
    return fail("is not an http:// or https:// URL");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail("must not have a query or fragment; put them in the canary and route paths");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    url.base_path = std::string(rest.substr(slash));
    while (!url.base_path.empty() && url.base_path.back() == '/') url.base_path.pop_back();
  }
  if (authority.find('@') != std::string_view::npos) {
    // Not `fail`: the message would copy the password into logs.
    problem =
        "must not contain user:password@ (not echoed here); set an Authorization header "
        "on the canaries and routes instead";
    return std::nullopt;
  }
  std::string_view host = authority;
  std::optional<std::string_view> port_text;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("has an IPv6 host without the closing ']'");
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return fail("has text after the IPv6 host where :port should be");
      }
      port_text = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return fail("has no host");
  if (host.find_first_of(" \t") != std::string_view::npos)
    return fail("has whitespace in the host");
  if (port_text) {
    if (port_text->empty()) return fail("has ':' but no port after it");
    std::uint64_t port = 0;
    auto [end, ec] =
        std::from_chars(port_text->data(), port_text->data() + port_text->size(), port);
    if (end != port_text->data() + port_text->size() ||
        (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
      return fail(
          fmt::format("has a port {} that is not a number", quoted(std::string(*port_text))));
    }
    if (ec == std::errc::result_out_of_range || port == 0 || port > 65535) {
      return fail(fmt::format("has port {}; a port is between 1 and 65535", *port_text));
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  url.host = std::string(host);
  return url;
}

}  // namespace loopcanary::config
