#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "exporter/audit/result.hpp"

/// The audit's report writers, one per --report format. Pure: a result in,
/// the report's text out.
namespace loopcanary::exporter::audit {

std::string text_report(const AuditResult& result);
std::string json_report(const AuditResult& result);
std::string junit_report(const AuditResult& result);

using ReportWriter = std::string (*)(const AuditResult&);

/// --report's formats: one visible table, no registration.
inline const std::map<std::string_view, ReportWriter>& report_writers() {
  static const std::map<std::string_view, ReportWriter> writers{
      {"text", &text_report}, {"json", &json_report}, {"junit", &junit_report}};
  return writers;
}

}  // namespace loopcanary::exporter::audit
