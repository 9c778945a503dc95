// The result of resolving one recipient (docs/routing.md): the stages consulted, the final targets
// and the failures. Plain data: route test prints it, the SMTP server acts on it.
#pragma once

#include <string>
#include <vector>

namespace vpsmail::route {

enum class TargetKind { mailbox, remote, program, file };

struct Target {
    TargetKind kind = TargetKind::mailbox;
    std::string value;   ///< mailbox/remote: the address; program: the command; file: the path
    std::string detail;  ///< mailbox only: the +detail the message carries (rule 9), else empty
};

/// A failed recipient or list member, with its SMTP reply (RFC 3463 enhanced status).
struct Failure {
    std::string target;  ///< the address or entry that failed
    int code = 550;
    std::string status;  ///< "5.1.1"
    std::string text;
    bool temporary() const noexcept { return code >= 400 && code < 500; }
};

/// One stage consulted: "vuser" "alias" "forward" "user" "catchall" "bounce" "postmaster"
/// "include" "remote" "loop" "direct".
struct Step {
    std::string stage;
    std::string key;     ///< what was looked up
    std::string result;  ///< what it gave ("bob, ann@remote.test", "mailbox", "not found")
    bool matched = false;
    int depth = 0;       ///< nesting of the expansion tree
};

enum class Outcome { deliver, partial, bounce, tempfail };

struct Resolution {
    std::string address;  ///< as given
    Outcome outcome = Outcome::bounce;
    std::vector<Target> targets;
    std::vector<Failure> failures;
    std::vector<Step> steps;
    std::vector<std::string> loops;  ///< every loop met, dropped or failed, described
};

const char* outcome_name(Outcome outcome) noexcept;
const char* target_kind_name(TargetKind kind) noexcept;

/// deliver: targets and no failure; partial: both; bounce: only failures, at least one
/// permanent; tempfail: only failures, all temporary (or nothing at all).
Outcome compute_outcome(const std::vector<Target>& targets, const std::vector<Failure>& failures) noexcept;

}  // namespace vpsmail::route
