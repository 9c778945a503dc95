// Delivery status notifications: which recipients of a spooled message get reported in which
// kind of DSN (RFC 3461 NOTIFY rules), and the report message itself (RFC 3464
// multipart/report with message/delivery-status; RFC 6533 message/global-delivery-status for
// SMTPUTF8 mail; RFC 3834 Auto-Submitted). Pure text building: the runner spools the result
// with dsn_envelope() and marks the recipients with mark_dsn_sent().
#pragma once

#include "queue/spool.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::queue {

enum class DsnKind { failure, delay, success };

/// RFC 3464 2.3.3 Action.
enum class DsnAction { failed, delayed, delivered, relayed, expanded };

const char* dsn_action_name(DsnAction action) noexcept;

/// One per-recipient group of the report.
struct DsnRecipient {
    std::string final_recipient;     ///< the address tried
    std::string original_recipient;  ///< ORCPT as stored, "rfc822;addr" (decoded); empty: none
    DsnAction action = DsnAction::failed;
    std::string status;       ///< "5.1.1"
    std::string remote_mta;   ///< host name or "[ip]"; a trailing " [ip]" is dropped; empty: none
    /// What the remote server said, "550 5.1.1 no such user": becomes "Diagnostic-Code: smtp;
    /// ..." (only when the text came from a remote server). Empty: no Diagnostic-Code.
    std::string diagnostic;
    std::string text;         ///< why, for the human-readable part
    std::optional<std::int64_t> last_attempt;      ///< unix seconds
    std::optional<std::int64_t> will_retry_until;  ///< unix seconds; delays only
};

/// Everything a report says.
struct DsnReport {
    DsnKind kind = DsnKind::failure;
    std::string reporting_mta;  ///< our host name
    std::string from;           ///< empty: "MAILER-DAEMON@" + reporting_mta
    std::string return_path;    ///< the original sender: the report's To
    std::string envid;          ///< the original ENVID (decoded); empty: none
    std::string ret;            ///< the original RET: "FULL", "HDRS" or empty
    std::int64_t arrival = 0;   ///< unix seconds
    bool smtputf8 = false;      ///< use message/global-delivery-status and message/global
    bool binary = false;        ///< BINARYMIME original: only its headers can be returned
    std::vector<DsnRecipient> recipients;
    std::int64_t date = 0;      ///< the report's Date, unix seconds
    std::string message_id;     ///< the report's Message-ID without <>, unique
    /// Larger originals are returned as headers only, whatever RET says (RFC 3461 4.3 allows).
    std::size_t max_full_size = 100 * 1024;
};

/// RFC 3461 4.1 NOTIFY rules for one recipient: NEVER -> none; an explicit list -> the kinds
/// it names; no NOTIFY -> failures, and delays when `delay_warnings` (policy warn_after > 0).
bool notify_allows(std::string_view notify, DsnKind kind, bool delay_warnings);

/// The recipients of `envelope` to report in a DSN of `kind` now: failure -> bounced; delay ->
/// deferred; success -> delivered and not passed on to a DSN-capable server (it reports); each
/// only when NOTIFY allows and that DSN was not sent yet. None when the return path is null
/// (RFC 5321 4.5.5: never a report about a report, no bounce loops).
std::vector<std::size_t> dsn_recipients(const Envelope& envelope, DsnKind kind, bool delay_warnings);

/// Marks the DSN of `kind` sent for `recipients` (and the message warned for a delay).
void mark_dsn_sent(Envelope& envelope, DsnKind kind, std::span<const std::size_t> recipients);

/// The report for `recipients` of `message`, from the spool's state: actions failed/delayed,
/// and delivered (local) or relayed (remote, RFC 3464 2.3.3) for success. `will_retry_until`
/// (unix seconds) goes into delay groups. `date` and `message_id` as in DsnReport.
DsnReport make_dsn_report(const SpooledMessage& message, DsnKind kind, std::span<const std::size_t> recipients,
                          std::string_view reporting_mta, std::int64_t date, std::string message_id,
                          std::optional<std::int64_t> will_retry_until = std::nullopt);

/// The whole report message, CRLF lines none longer than 998 bytes, ready for Spool::add.
/// `original` is the spooled message (CRLF lines). Attaches the original as message/rfc822
/// (message/global) for a failure with RET=FULL or no RET, when not binary and not larger
/// than max_full_size; otherwise its header block as text/rfc822-headers
/// (message/global-headers), intact. The MIME boundary occurs nowhere in the parts.
std::string format_dsn(const DsnReport& report, std::string_view original);

/// A unique Message-ID (without <>) for a report: time, process, counter and host.
std::string make_dsn_message_id(std::string_view host, std::int64_t now);

/// The envelope to spool the report with: null return path (no report about a report), the
/// original return path as the one recipient (NOTIFY=NEVER), arrival `now`, 8BITMIME when
/// the report holds 8-bit bytes, SMTPUTF8 as the original.
Envelope dsn_envelope(const Envelope& original, std::string_view report, std::int64_t now);

/// RFC 5322 3.3 date-time in UTC: "Tue, 14 Nov 2023 22:13:20 +0000".
std::string format_rfc5322_date(std::int64_t unix_seconds);

}  // namespace vpsmail::queue
