#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "exporter/audit/advice.hpp"
#include "exporter/audit/audit.hpp"

/// Turns `loopcanary audit`'s flag text into options, so main.cpp only
/// declares flags. Each returns false after printing what is wrong.
namespace loopcanary::exporter::audit {

bool parse_duration_flag(const std::string& flag, const std::string& text,
                         std::optional<std::chrono::milliseconds>& out);

bool parse_common_flags(const std::string& fail_on, const std::string& max_unknown,
                        const std::string& warmup, const std::string& min_duration,
                        const std::vector<std::string>& reports, const std::string& output,
                        const std::string& runbook_url, bool progress, AuditCommon& out);

}  // namespace loopcanary::exporter::audit
