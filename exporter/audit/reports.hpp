#pragma once

#include <map>
#include <string>
#include <string_view>

#include "exporter/audit/result.hpp"

/// The audit's report writers, one per --report format. Pure: a report in,
/// its text out.
namespace loopcanary::exporter::audit {

/// For a person: the verdict and why, each finding's worst evidence with
/// what it means and what to do, loopcanary's own health, the signals, the
/// canaries and the routes driven.
std::string text_report(const AuditReport& report);
/// Everything, for machines (docs/audit-report.schema.json, kSchemaVersion).
std::string json_report(const AuditReport& report);
/// One testcase for the verdict and one per finding, per subject.
std::string junit_report(const AuditReport& report);
/// One self-contained page (no external assets, no script): verdict,
/// findings and plots over the run (html_report.cpp).
std::string html_report(const AuditReport& report);

using ReportWriter = std::string (*)(const AuditReport&);

/// --report's formats: one visible table, no registration.
inline const std::map<std::string_view, ReportWriter>& report_writers() {
  static const std::map<std::string_view, ReportWriter> writers{{"text", &text_report},
                                                                {"json", &json_report},
                                                                {"junit", &junit_report},
                                                                {"html", &html_report}};
  return writers;
}

/// Helpers the writers share.
std::string xml_escape(std::string_view s);
/// "stall_max_seconds 19.5 s ≥ 500 ms (critical)" for a tracked condition's worst value.
std::string describe_worst(const EvidenceTrack& e);
/// "12.3 s" / "850 ms": a duration of the run for a person.
std::string duration_text(double seconds);
std::string optional_seconds(const std::optional<double>& s);
std::string failures_text(const std::map<std::string, std::uint64_t>& failures);
/// What the report says about loopcanary's own CPU starvation ("" when there was none).
std::string starvation_text(const SubjectResult& s);

}  // namespace loopcanary::exporter::audit
