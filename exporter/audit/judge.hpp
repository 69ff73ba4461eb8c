#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "exporter/audit/result.hpp"

/// The verdict rules, pure: a subject's status observed over a run in,
/// a verdict with its reasons and each finding's worst evidence out. Shared
/// by the live audit and the Prometheus mode, so both judge alike.
namespace loopcanary::exporter::audit {

struct VerdictRules {
  Level fail_on = Level::critical;
  /// INCONCLUSIVE when the status was unknown for more than this share of
  /// the judged run.
  double max_unknown = 0.1;
  /// INCONCLUSIVE when less than this was judged (seconds).
  double min_judged = 10;
  /// What the levels are of, in the reasons: "the runtime status", "the rules".
  std::string what = "the runtime status";
};

/// One look at a subject's status, standing for [at, at + dt).
struct Observation {
  double at = 0;
  double dt = 0;
  bool warmup = false;  ///< before the judged run: shown, not judged
  Level level = Level::unknown;
  std::string unknown_reason;
  /// While the status is unknown: the level the evidence loopcanary still
  /// trusts reached (samples its own lag could explain are already left
  /// out of it, so what remains is a lower bound). Unset when even that
  /// evidence cannot be trusted (no baseline yet).
  std::optional<Level> trusted_level;
  std::vector<bool> findings;                   ///< parallel to the judge's finding names
  std::vector<std::vector<Evidence>> evidence;  ///< per finding: its conditions now
};

class Judge {
 public:
  Judge(VerdictRules rules, std::vector<std::string> finding_names);

  void observe(const Observation& o);

  /// Fills `out`'s verdict, reasons, worst level, judged and unknown time,
  /// unknown reason and findings (the advice is left to the caller).
  void conclude(SubjectResult& out) const;

  const VerdictRules& rules() const { return rules_; }

 private:
  VerdictRules rules_;
  std::vector<FindingTrack> findings_;
  double judged_ = 0;
  double unknown_ = 0;
  double warmup_ = 0;
  double end_ = 0;
  std::string warmup_reason_;  ///< why the status was unknown in the warm-up, lately
  Level worst_ = Level::unknown;
  double worst_at_ = 0;
  Level last_ = Level::unknown;
  std::optional<Level> trusted_worst_;
  double trusted_worst_at_ = 0;
  /// Time unknown per kind of reason, with the latest wording of it.
  std::map<std::string, std::pair<double, std::string>> unknown_reasons_;
};

/// The kind of an unknown reason ("starved", "evidence", "baseline", …),
/// so that reasons that differ only in their numbers add up.
std::string reason_kind(const std::string& reason);

/// Tracks one value against its condition over [at, at + dt).
void track(EvidenceTrack& t, double value, bool holds, double at, double dt);

}  // namespace loopcanary::exporter::audit
