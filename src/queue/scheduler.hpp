// The queue's clock: which recipients of a spooled message are due, when to retry after a
// failure (exponential backoff), when a message expires, when a delay warning is due. Pure
// functions of the envelope, the time and the policy: no I/O, no clock of its own, so tests
// drive it with a fake time. Does not send, store or write DSNs: the runner does.
#pragma once

#include "queue/spool.hpp"
#include "queue/transport.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace vpsmail::queue {

using TimePoint = std::chrono::system_clock::time_point;

struct Policy {
    std::chrono::seconds retry_min{300};        ///< wait after the first failed attempt
    std::chrono::seconds retry_max{3600};       ///< the backoff's cap
    std::chrono::seconds max_age{5 * 86400};    ///< then deferred recipients bounce
    std::chrono::seconds warn_after{4 * 3600};  ///< delay DSN after this; 0: no delay DSNs
};

/// The enhanced status of a recipient that bounces because its message expired
/// (RFC 3463 X.4.7 "delivery time expired", a persistent transient condition).
inline constexpr const char* expired_status = "4.4.7";

/// What is due for one message at one moment.
struct Plan {
    /// Recipients to attempt now: pending, or deferred with next_attempt <= now. Empty while
    /// the message is held.
    std::vector<std::size_t> due;
    /// Recipients to bounce now without another attempt (expire()): tried at least once, not
    /// final, and the message is max_age old. A pending recipient never tried is due instead:
    /// it gets one attempt, and record() bounces it if that one is deferred.
    std::vector<std::size_t> expired;
    /// Recipients to list in a delay DSN now (dsn.hpp's rules): warn_after passed, the message
    /// not yet warned, deferred, not expiring, NOTIFY allows DELAY, a return path to report to.
    std::vector<std::size_t> warn;
    /// The earliest future moment something becomes due (an attempt, an expiry, a warning);
    /// nullopt: nothing will without an outside event (held, or every recipient final).
    std::optional<TimePoint> next;
};

/// The wait after the `attempts`-th failed attempt: retry_min * 2^(attempts-1), capped at
/// retry_max. attempts 0 -> 0.
std::chrono::seconds backoff(std::uint32_t attempts, const Policy& policy) noexcept;

/// What is due for `message` at `now`. A held message has nothing due, expires not and warns
/// not (the admin decides); `next` is then nullopt.
Plan plan(const SpooledMessage& message, TimePoint now, const Policy& policy);

/// The state transition for one recipient after an attempt, with a history line:
/// delivered -> delivered; bounced -> bounced; deferred -> deferred with attempts + 1,
/// next_attempt by backoff(), last error, code, status, remote MTA; a deferral at or past
/// max_age -> bounced with expired_status. last_error is the reply as one line ("451 4.4.1
/// text"), cleared on delivery. A recipient already final is left alone.
/// Throws Error(internal) for an index out of range.
void record(SpooledMessage& message, std::size_t recipient, const RecipientOutcome& outcome, TimePoint now,
            const Policy& policy);

/// Bounces the recipients `plan.expired` names with expired_status and a history line saying
/// so. Their last error, code, remote MTA and remote_reply stay those of the last attempt, so
/// the DSN's Diagnostic-Code shows what the remote said. Returns how many changed.
std::size_t expire(SpooledMessage& message, const std::vector<std::size_t>& recipients, TimePoint now);

/// Unix seconds of a time point, and back.
std::int64_t to_unix(TimePoint t) noexcept;
TimePoint from_unix(std::int64_t seconds) noexcept;

}  // namespace vpsmail::queue
