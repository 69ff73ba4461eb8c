#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"

namespace loopcanary::config {

/// Parses a target's `http(s)://host[:port][/base]`; on failure `problem` says
/// what is wrong with it, quoting the URL unless it holds a password. Pure.
std::optional<Url> parse_url(const std::string& text, std::string& problem);

}  // namespace loopcanary::config
