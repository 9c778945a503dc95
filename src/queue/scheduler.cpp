#include "queue/scheduler.hpp"

#include "core/error.hpp"
#include "queue/dsn.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace vpsmail::queue {
namespace {

void earliest(std::optional<std::int64_t>& next, std::int64_t t) {
    if (!next || t < *next) next = t;
}

// "451 4.4.1 text": what `queue list` shows and, for a remote reply, the DSN's Diagnostic-Code.
std::string reply_line(const RecipientOutcome& o) {
    std::string out;
    if (o.code != 0) out = std::to_string(o.code);
    if (!o.status.empty()) out += (out.empty() ? "" : " ") + o.status;
    if (!o.text.empty()) out += (out.empty() ? "" : " ") + o.text;
    std::replace_if(out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    return out;
}

std::string age_text(std::int64_t seconds) {
    if (seconds >= 2 * 86400) return fmt::format("{} days", seconds / 86400);
    if (seconds >= 2 * 3600) return fmt::format("{} hours", seconds / 3600);
    return fmt::format("{} minutes", seconds / 60);
}

// Bounces a recipient whose message is too old; its last reply stays for the DSN.
void expire_recipient(SpoolRecipient& r, std::int64_t now, std::int64_t created) {
    r.state = RecipientState::bounced;
    r.status = expired_status;
    r.next_attempt = 0;
    add_history(r, now, fmt::format("{} expired: gave up after {} attempts in {}", expired_status, r.attempts,
                                    age_text(now - created)));
}

bool tried(const SpoolRecipient& r) {
    return r.attempts > 0 || r.state == RecipientState::deferred;
}

}  // namespace

std::int64_t to_unix(TimePoint t) noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint from_unix(std::int64_t seconds) noexcept {
    return TimePoint(std::chrono::seconds(seconds));
}

std::chrono::seconds backoff(std::uint32_t attempts, const Policy& policy) noexcept {
    if (attempts == 0) return std::chrono::seconds(0);
    const std::uint32_t doublings = attempts - 1;
    // Past 2^40 any sane retry_min exceeds any cap: no overflow.
    if (doublings >= 40) return policy.retry_max;
    const auto wait = policy.retry_min * (std::int64_t{1} << doublings);
    return std::min(wait, policy.retry_max);
}

Plan plan(const SpooledMessage& message, TimePoint now, const Policy& policy) {
    Plan p;
    const Envelope& e = message.envelope;
    if (e.held) return p;
    const std::int64_t now_s = to_unix(now);
    const std::int64_t expiry = e.created + policy.max_age.count();
    std::optional<std::int64_t> next;
    for (std::size_t i = 0; i < e.recipients.size(); ++i) {
        const SpoolRecipient& r = e.recipients[i];
        if (is_final(r.state)) continue;
        if (tried(r) && now_s >= expiry) {
            p.expired.push_back(i);
            continue;
        }
        if (r.state == RecipientState::pending || r.next_attempt <= now_s) {
            p.due.push_back(i);
        } else {
            earliest(next, r.next_attempt);
            earliest(next, expiry);
        }
    }
    const bool warnings = policy.warn_after.count() > 0;
    if (warnings && !e.warned) {
        std::vector<std::size_t> candidates;
        for (std::size_t i : dsn_recipients(e, DsnKind::delay, true))
            if (std::find(p.expired.begin(), p.expired.end(), i) == p.expired.end()) candidates.push_back(i);
        const std::int64_t warn_at = e.created + policy.warn_after.count();
        if (now_s >= warn_at) p.warn = std::move(candidates);
        else if (!candidates.empty()) earliest(next, warn_at);
    }
    if (next) p.next = from_unix(*next);
    return p;
}

void record(SpooledMessage& message, std::size_t recipient, const RecipientOutcome& outcome, TimePoint now,
            const Policy& policy) {
    if (recipient >= message.envelope.recipients.size())
        throw Error(ErrorKind::internal, fmt::format("queued message '{}' has no recipient {}", message.id, recipient));
    SpoolRecipient& r = message.envelope.recipients[recipient];
    if (is_final(r.state)) return;
    const std::int64_t now_s = to_unix(now);
    const std::string reply = reply_line(outcome);
    r.attempts += 1;
    r.last_attempt = now_s;
    r.code = outcome.code;
    r.status = outcome.status;
    r.remote_mta = outcome.remote_mta;
    r.remote_reply = outcome.remote_reply;
    add_history(r, now_s, outcome.remote_mta.empty() ? reply : fmt::format("{} ({})", reply, outcome.remote_mta));
    switch (outcome.kind) {
    case RecipientOutcome::Kind::delivered:
        r.state = RecipientState::delivered;
        r.last_error.clear();
        r.next_attempt = 0;
        r.dsn_passed_on = outcome.dsn_passed_on;
        return;
    case RecipientOutcome::Kind::bounced:
        r.state = RecipientState::bounced;
        r.last_error = reply;
        r.next_attempt = 0;
        return;
    case RecipientOutcome::Kind::deferred:
        r.last_error = reply;
        if (now_s >= message.envelope.created + policy.max_age.count()) {
            expire_recipient(r, now_s, message.envelope.created);
            return;
        }
        r.state = RecipientState::deferred;
        r.next_attempt = now_s + backoff(r.attempts, policy).count();
        return;
    }
}

std::size_t expire(SpooledMessage& message, const std::vector<std::size_t>& recipients, TimePoint now) {
    std::size_t changed = 0;
    for (std::size_t i : recipients) {
        if (i >= message.envelope.recipients.size()) continue;
        SpoolRecipient& r = message.envelope.recipients[i];
        if (is_final(r.state)) continue;
        expire_recipient(r, to_unix(now), message.envelope.created);
        ++changed;
    }
    return changed;
}

}  // namespace vpsmail::queue
