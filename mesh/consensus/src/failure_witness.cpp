#include "consensus/failure_witness.h"

#include <algorithm>
#include <utility>

namespace consensus {

FailureWitness::FailureWitness(mesh::Nanos silence_limit, mesh::Nanos unknown_grace, LastHeard last_heard,
                               Silence silence)
    : silence_limit_(silence_limit),
      unknown_grace_(unknown_grace),
      last_heard_(std::move(last_heard)),
      silence_(silence) {}

FailureWitness FailureWitness::ForDetector(const mesh::FailureDetector& detector) {
  return FailureWitness(detector.config().probe_timeout, detector.config().join_grace,
                        [&detector](const std::string& node) -> std::optional<mesh::MonoTime> {
                          auto view = detector.Member(node);
                          return view ? view->last_heard : std::nullopt;
                        },
                        detector.config().probing == mesh::Probing::kSwim ? Silence::kSinceAsked
                                                                          : Silence::kSinceLastHeard);
}

bool FailureWitness::Add(const Proposal& p, const std::string& self, mesh::MonoTime now) {
  if (p.kind != ProposalKind::kNodeFailed || p.subject == self) return false;
  const bool known = std::any_of(waiting_.begin(), waiting_.end(),
                                 [&](const Waiting& w) { return w.proposal == p; });
  if (known) return false;
  waiting_.push_back({p, now});
  return true;
}

std::optional<Verdict> FailureWitness::Decide(const Waiting& w, mesh::MonoTime now) const {
  const std::optional<mesh::MonoTime> heard = last_heard_(w.proposal.subject);
  if (!heard) {
    if (now - w.received >= unknown_grace_) return Verdict::kYes;
    return std::nullopt;
  }
  if (*heard > w.received) return Verdict::kNo;
  if (now - SilentSince(*heard, w.received) >= silence_limit_) return Verdict::kYes;
  return std::nullopt;
}

std::vector<FailureWitness::Answer> FailureWitness::Due(mesh::MonoTime now) {
  std::vector<Answer> due;
  std::erase_if(waiting_, [&](const Waiting& w) {
    const std::optional<Verdict> v = Decide(w, now);
    if (v) due.push_back({w.proposal, *v});
    return v.has_value();
  });
  return due;
}

std::optional<mesh::MonoTime> FailureWitness::NextDeadline() const {
  std::optional<mesh::MonoTime> next;
  for (const Waiting& w : waiting_) {
    const std::optional<mesh::MonoTime> heard = last_heard_(w.proposal.subject);
    const mesh::MonoTime at =
        heard ? SilentSince(*heard, w.received) + silence_limit_ : w.received + unknown_grace_;
    if (!next || at < *next) next = at;
  }
  return next;
}

}  // namespace consensus
