#include "route/resolution.hpp"

namespace vpsmail::route {

const char* outcome_name(Outcome outcome) noexcept {
    switch (outcome) {
    case Outcome::deliver: return "deliver";
    case Outcome::partial: return "partial";
    case Outcome::bounce: return "bounce";
    case Outcome::tempfail: return "tempfail";
    }
    return "bounce";
}

const char* target_kind_name(TargetKind kind) noexcept {
    switch (kind) {
    case TargetKind::mailbox: return "mailbox";
    case TargetKind::remote: return "remote";
    case TargetKind::program: return "program";
    case TargetKind::file: return "file";
    }
    return "mailbox";
}

Outcome compute_outcome(const std::vector<Target>& targets, const std::vector<Failure>& failures) noexcept {
    if (!targets.empty()) return failures.empty() ? Outcome::deliver : Outcome::partial;
    for (const auto& f : failures)
        if (!f.temporary()) return Outcome::bounce;
    return Outcome::tempfail;
}

}  // namespace vpsmail::route
