#include "exporter/audit/flags.hpp"

#include <iostream>

#include "config/units.hpp"

namespace loopcanary::exporter::audit {

bool parse_duration_flag(const std::string& flag, const std::string& text,
                         std::optional<std::chrono::milliseconds>& out) {
  if (text.empty()) return true;
  const auto d = config::parse_duration(text);
  if (!d) {
    std::cerr << "loopcanary audit: " << flag << " \"" << text
              << "\" is not a duration (like 30s, 2m, 1m30s)\n";
    return false;
  }
  out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  return true;
}

bool parse_common_flags(const std::string& fail_on, const std::string& max_unknown,
                        const std::string& warmup, const std::string& min_duration,
                        const std::vector<std::string>& reports, const std::string& output,
                        const std::string& runbook_url, bool progress, AuditCommon& out) {
  out.fail_on = fail_on == "degraded"   ? Level::degraded
                : fail_on == "critical" ? Level::critical
                                        : Level::unresponsive;
  const auto ratio = config::parse_ratio(max_unknown);
  if (!ratio) {
    std::cerr << "loopcanary audit: --max-unknown \"" << max_unknown
              << "\" is not a share (like 0.1 or 10%)\n";
    return false;
  }
  out.max_unknown = *ratio;
  std::optional<std::chrono::milliseconds> w;
  if (!parse_duration_flag("--warmup", warmup, w) ||
      !parse_duration_flag("--min-duration", min_duration, out.min_duration)) {
    return false;
  }
  out.warmup = w.value_or(std::chrono::milliseconds(0));
  out.reports.clear();
  for (const std::string& r : reports) {
    const auto eq = r.find('=');
    ReportSpec spec;
    spec.format = r.substr(0, eq);
    spec.output = eq == std::string::npos ? output : r.substr(eq + 1);
    if (spec.output.empty()) {
      std::cerr << "loopcanary audit: --report " << r << " names no file after '='\n";
      return false;
    }
    out.reports.push_back(spec);
  }
  if (out.reports.empty()) out.reports.push_back({"text", output});
  out.runbook_url = runbook_url;
  out.progress = progress;
  return true;
}

}  // namespace loopcanary::exporter::audit
