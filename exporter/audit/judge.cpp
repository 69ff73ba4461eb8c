#include "exporter/audit/judge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace loopcanary::exporter::audit {

namespace {

std::string percent(double share) { return fmt::format("{:.0f} %", share * 100); }

bool holds(double value, const std::string& op, double threshold) {
  return op == "<=" ? value <= threshold : value >= threshold;
}

}  // namespace

std::string_view name(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass:
      return "PASS";
    case Verdict::fail:
      return "FAIL";
    case Verdict::inconclusive:
      return "INCONCLUSIVE";
  }
  return "INCONCLUSIVE";
}

int exit_code(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass:
      return kExitPass;
    case Verdict::fail:
      return kExitFail;
    case Verdict::inconclusive:
      return kExitInconclusive;
  }
  return kExitInconclusive;
}

const EvidenceTrack* FindingTrack::worst() const {
  const EvidenceTrack* best = nullptr;
  auto beyond = [](const EvidenceTrack& e) {
    if (e.threshold == 0) return e.worst;
    return e.op == "<=" ? e.threshold / std::max(e.worst, 1e-12) : e.worst / e.threshold;
  };
  for (const EvidenceTrack& e : evidence) {
    if (!e.held()) continue;
    if (!best || e.level > best->level || (e.level == best->level && beyond(e) > beyond(*best))) {
      best = &e;
    }
  }
  return best;
}

Level FindingTrack::level() const {
  // Healthy when no condition held; unknown for conditions that only make
  // the status unknown (a starved prober).
  std::optional<Level> out;
  for (const EvidenceTrack& e : evidence) {
    if (e.held() && (!out || e.level > *out)) out = e.level;
  }
  return out.value_or(Level::healthy);
}

void track(EvidenceTrack& t, double value, bool holding, double at, double dt) {
  const bool worse = !t.seen || (t.op == "<=" ? value < t.worst : value > t.worst);
  if (worse) {
    t.worst = value;
    t.worst_at = at;
  }
  t.seen = true;
  if (holding) {
    if (t.hold_since < 0) t.hold_since = at;
    t.held_seconds += dt;
    t.longest_hold = std::max(t.longest_hold, at + dt - t.hold_since);
  } else {
    t.hold_since = -1;
  }
}

std::string reason_kind(const std::string& reason) {
  if (reason.find("starved") != std::string::npos) return "starved";
  if (reason.find("reliably timed") != std::string::npos) return "evidence";
  if (reason.find("baseline") != std::string::npos) return "baseline";
  if (reason.find("no data") != std::string::npos) return "no data";
  return reason;
}

Judge::Judge(VerdictRules rules, std::vector<std::string> finding_names) : rules_(rules) {
  for (auto& n : finding_names) {
    FindingTrack f;
    f.name = std::move(n);
    findings_.push_back(std::move(f));
  }
}

void Judge::observe(const Observation& observed) {
  end_ = std::max(end_, observed.at + observed.dt);
  if (observed.warmup) {
    warmup_ += observed.dt;
    if (observed.level == Level::unknown) warmup_reason_ = observed.unknown_reason;
    return;
  }
  // The first judged look may have begun a moment before the judged start.
  Observation o = observed;
  o.at = std::max(0.0, o.at);
  judged_ += o.dt;
  last_ = o.level;
  if (o.level == Level::unknown) {
    unknown_ += o.dt;
    auto& [seconds, text] = unknown_reasons_[reason_kind(o.unknown_reason)];
    seconds += o.dt;
    text = o.unknown_reason;
    if (o.trusted_level && (!trusted_worst_ || *o.trusted_level > *trusted_worst_)) {
      trusted_worst_ = o.trusted_level;
      trusted_worst_at_ = o.at;
    }
  } else if (worst_ == Level::unknown || o.level > worst_) {
    worst_ = o.level;
    worst_at_ = o.at;
  }
  for (std::size_t i = 0; i < findings_.size(); ++i) {
    FindingTrack& f = findings_[i];
    const bool active = i < o.findings.size() && o.findings[i];
    if (active) {
      if (!f.seen) f.first_at = o.at;
      f.seen = true;
      f.active_seconds += o.dt;
    }
    if (i >= o.evidence.size()) continue;
    for (const Evidence& e : o.evidence[i]) {
      auto it = std::find_if(f.evidence.begin(), f.evidence.end(), [&](const EvidenceTrack& t) {
        return t.signal == e.signal && t.level == e.level && t.op == e.op;
      });
      if (it == f.evidence.end()) {
        EvidenceTrack t;
        t.signal = e.signal;
        t.op = e.op;
        t.level = e.level;
        t.unit = e.unit;
        f.evidence.push_back(t);
        it = std::prev(f.evidence.end());
      }
      it->threshold = e.threshold;
      track(*it, e.value, holds(e.value, e.op, e.threshold), o.at, o.dt);
    }
  }
}

void Judge::conclude(SubjectResult& out) const {
  out.worst = worst_;
  out.worst_at = worst_at_;
  out.final_level = last_;
  out.judged_seconds = judged_;
  out.unknown_seconds = unknown_;
  out.warmup_seconds = warmup_;
  out.findings = findings_;
  out.unknown_reason.clear();
  double longest = 0;
  for (const auto& [kind, entry] : unknown_reasons_) {
    if (entry.first > longest) {
      longest = entry.first;
      out.unknown_reason = entry.second;
    }
  }
  out.reasons.clear();
  const std::string fail_on(name(rules_.fail_on));

  // A fail seen at any moment stays a fail, whatever came after it.
  if (worst_ != Level::unknown && worst_ >= rules_.fail_on) {
    out.verdict = Verdict::fail;
    out.reasons.push_back(fmt::format("{} reached {} at +{:.1f} s (fails on {})", rules_.what,
                                      name(worst_), worst_at_, fail_on));
  }
  if (trusted_worst_ && *trusted_worst_ >= rules_.fail_on && out.reasons.empty()) {
    out.verdict = Verdict::fail;
    out.reasons.push_back(fmt::format(
        "while the status was unknown, the evidence loopcanary could still trust reached {} at "
        "+{:.1f} s (fails on {})",
        name(*trusted_worst_), trusted_worst_at_, fail_on));
  }
  if (!out.reasons.empty()) return;

  if (judged_ == 0 && warmup_ > 0) {
    out.verdict = Verdict::inconclusive;
    out.reasons.push_back(
        fmt::format("nothing was judged: {} never became known in {:.1f} s{}", rules_.what, warmup_,
                    warmup_reason_.empty() ? "" : " (lately because " + warmup_reason_ + ")"));
    return;
  }
  if (judged_ < rules_.min_judged) {
    out.verdict = Verdict::inconclusive;
    out.reasons.push_back(
        fmt::format("the run was too short to judge: {:.1f} s judged, at least {:.1f} s needed",
                    judged_, rules_.min_judged));
  }
  const double share = judged_ > 0 ? unknown_ / judged_ : 1.0;
  if (judged_ > 0 && share > rules_.max_unknown) {
    out.verdict = Verdict::inconclusive;
    out.reasons.push_back(fmt::format(
        "{} was unknown for {:.1f} s of {:.1f} s judged ({}, more than the {} allowed by "
        "--max-unknown){}",
        rules_.what, unknown_, judged_, percent(share), percent(rules_.max_unknown),
        out.unknown_reason.empty() ? "" : ": " + out.unknown_reason));
  }
  if (!out.reasons.empty()) return;

  out.verdict = Verdict::pass;
  out.reasons.push_back(fmt::format(
      "the runtime status stayed below {} (worst: {}){}", fail_on, name(worst_),
      unknown_ > 0 ? fmt::format("; unknown for {:.1f} s ({})", unknown_, percent(share))
                   : std::string()));
}

void conclude(AuditReport& report) {
  report.reasons.clear();
  bool any_fail = false, any_inconclusive = report.subjects.empty();
  for (const SubjectResult& s : report.subjects) {
    any_fail = any_fail || s.verdict == Verdict::fail;
    any_inconclusive = any_inconclusive || s.verdict == Verdict::inconclusive;
  }
  report.verdict = any_fail           ? Verdict::fail
                   : any_inconclusive ? Verdict::inconclusive
                                      : Verdict::pass;
  if (report.subjects.empty()) report.reasons.push_back("nothing was audited");
  for (const SubjectResult& s : report.subjects) {
    if (s.verdict != report.verdict) continue;
    for (const std::string& r : s.reasons) {
      report.reasons.push_back(report.subjects.size() > 1 ? s.name + ": " + r : r);
    }
  }
}

}  // namespace loopcanary::exporter::audit
