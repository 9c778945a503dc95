#include "queue/dsn.hpp"

#include "queue/scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <functional>
#include <unistd.h>

namespace vpsmail::queue {
namespace {

constexpr std::size_t max_line = 998;  // RFC 5322 2.1.1, without the CRLF
constexpr std::size_t soft_line = 78;

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
           });
}

bool has_8bit(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// A field value on one line: control bytes become spaces; without `utf8` (message/
// delivery-status is ASCII, RFC 3464 2.1) 8-bit bytes become '?'.
std::string one_line(std::string_view text, bool utf8) {
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) out += ' ';
        else if (c >= 0x80 && !utf8) out += '?';
        else out += ch;
    }
    return out;
}

// A header field as CRLF lines, folded before a space when longer than 78 bytes (RFC 5322
// 2.2.3) and, lacking spaces, cut with an inserted one so that no line exceeds 998.
std::string field(std::string_view name, std::string_view value) {
    const std::string line = fmt::format("{}: {}", name, value);
    std::string out;
    std::string_view rest = line;
    bool first = true;
    while (rest.size() > soft_line) {
        // Fold only after the field name (and after the first character of a continuation).
        const std::size_t from = first ? name.size() + 2 : 1;
        std::size_t cut = rest.rfind(' ', soft_line);
        if (cut == std::string_view::npos || cut < from) cut = rest.find(' ', soft_line);
        if (cut == std::string_view::npos || cut > max_line) {
            if (rest.size() <= max_line) break;
            cut = max_line - 1;
            out.append(rest.substr(0, cut)).append("\r\n ");
            rest.remove_prefix(cut);
            first = false;
            continue;
        }
        out.append(rest.substr(0, cut)).append("\r\n");
        rest.remove_prefix(cut);  // the continuation line starts with the space
        first = false;
    }
    out.append(rest).append("\r\n");
    return out;
}

// Plain text wrapped at 76 columns where it has spaces; a word longer than a line is cut at
// 998 bytes. Every line ends in CRLF.
std::string wrap(std::string_view text) {
    std::string out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        std::string_view paragraph = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (!paragraph.empty() && paragraph.back() == '\r') paragraph.remove_suffix(1);
        do {
            std::string_view line = paragraph;
            if (line.size() > 76) {
                std::size_t cut = line.rfind(' ', 76);
                if (cut == std::string_view::npos || cut == 0) cut = std::min(line.find(' '), max_line);
                if (cut == std::string_view::npos) cut = std::min(line.size(), max_line);
                line = line.substr(0, cut);
                paragraph.remove_prefix(std::min(paragraph.size(), cut + (cut < paragraph.size() && paragraph[cut] == ' ' ? 1 : 0)));
            } else {
                paragraph = {};
            }
            out.append(line).append("\r\n");
        } while (!paragraph.empty());
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

// RFC 3464 2.1.2: the address types; RFC 6533 3: "utf-8" for an address with UTF-8 in it.
std::string typed_address(std::string_view address, bool utf8) {
    if (utf8 && has_8bit(address)) return fmt::format("utf-8; {}", one_line(address, true));
    return fmt::format("rfc822; {}", one_line(address, utf8));
}

// ORCPT as stored, "rfc822;addr": type and address again, each made safe for one line.
std::string original_recipient(std::string_view orcpt, bool utf8) {
    const auto semi = orcpt.find(';');
    if (semi == std::string_view::npos) return typed_address(orcpt, utf8);
    return fmt::format("{}; {}", one_line(orcpt.substr(0, semi), false), one_line(orcpt.substr(semi + 1), utf8));
}

// "mx.example.org [192.0.2.1]" -> "mx.example.org"; "[192.0.2.1]" stays.
std::string mta_name(std::string_view remote_mta) {
    const auto space = remote_mta.find(' ');
    return std::string(remote_mta.substr(0, space));
}

// The original's header block with its lines' CRLFs (everything before the empty line).
std::string_view header_block(std::string_view content) {
    if (content.starts_with("\r\n")) return {};
    const auto end = content.find("\r\n\r\n");
    return end == std::string_view::npos ? content : content.substr(0, end + 2);
}

bool lines_fit(std::string_view text) {
    std::size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
        const std::size_t length = end - start - (end > start && text[end - 1] == '\r' ? 1 : 0);
        if (length > max_line) return false;
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    return true;
}

std::uint32_t next_counter() {
    static std::atomic<std::uint32_t> counter{0};
    return counter.fetch_add(1);
}

const char* subject_of(DsnKind kind) {
    switch (kind) {
    case DsnKind::failure: return "Undelivered Mail Returned to Sender";
    case DsnKind::delay: return "Delayed Mail (still being retried)";
    case DsnKind::success: return "Successful Mail Delivery Report";
    }
    return "";
}

}  // namespace

const char* dsn_action_name(DsnAction action) noexcept {
    switch (action) {
    case DsnAction::failed: return "failed";
    case DsnAction::delayed: return "delayed";
    case DsnAction::delivered: return "delivered";
    case DsnAction::relayed: return "relayed";
    case DsnAction::expanded: return "expanded";
    }
    return "failed";
}

std::string format_rfc5322_date(std::int64_t unix_seconds) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                       tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool notify_allows(std::string_view notify, DsnKind kind, bool delay_warnings) {
    // RFC 3461 4.1: absent NOTIFY means FAILURE or FAILURE,DELAY, at the MTA's choice.
    if (notify.empty()) return kind == DsnKind::failure || (kind == DsnKind::delay && delay_warnings);
    const std::string_view want = kind == DsnKind::failure ? "FAILURE" : kind == DsnKind::delay ? "DELAY" : "SUCCESS";
    bool found = false;
    while (!notify.empty()) {
        const auto comma = notify.find(',');
        const std::string_view word = notify.substr(0, comma);
        if (equals_ignoring_case(word, "NEVER")) return false;
        if (equals_ignoring_case(word, want)) found = true;
        notify = comma == std::string_view::npos ? std::string_view() : notify.substr(comma + 1);
    }
    return found;
}

std::vector<std::size_t> dsn_recipients(const Envelope& envelope, DsnKind kind, bool delay_warnings) {
    std::vector<std::size_t> out;
    // RFC 5321 4.5.5: nothing is ever sent to the null reverse-path (no bounce loops).
    if (envelope.return_path.empty()) return out;
    for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
        const SpoolRecipient& r = envelope.recipients[i];
        if (!notify_allows(r.notify, kind, delay_warnings)) continue;
        switch (kind) {
        case DsnKind::failure:
            if (r.state == RecipientState::bounced && !r.dsn_sent.failure) out.push_back(i);
            break;
        case DsnKind::delay:
            if (r.state == RecipientState::deferred && !r.dsn_sent.delay) out.push_back(i);
            break;
        case DsnKind::success:
            // RFC 3461 4.1: a DSN-capable next hop that took NOTIFY reports success itself.
            if (r.state == RecipientState::delivered && !r.dsn_passed_on && !r.dsn_sent.success) out.push_back(i);
            break;
        }
    }
    return out;
}

void mark_dsn_sent(Envelope& envelope, DsnKind kind, std::span<const std::size_t> recipients) {
    for (std::size_t i : recipients) {
        if (i >= envelope.recipients.size()) continue;
        DsnSent& sent = envelope.recipients[i].dsn_sent;
        (kind == DsnKind::failure ? sent.failure : kind == DsnKind::delay ? sent.delay : sent.success) = true;
    }
    if (kind == DsnKind::delay) envelope.warned = true;
}

DsnReport make_dsn_report(const SpooledMessage& message, DsnKind kind, std::span<const std::size_t> recipients,
                          std::string_view reporting_mta, std::int64_t date, std::string message_id,
                          std::optional<std::int64_t> will_retry_until) {
    const Envelope& e = message.envelope;
    DsnReport report;
    report.kind = kind;
    report.reporting_mta = std::string(reporting_mta);
    report.return_path = e.return_path;
    report.envid = e.envid;
    report.ret = e.ret;
    report.arrival = e.created;
    report.smtputf8 = e.smtputf8;
    report.binary = e.body == "BINARYMIME";
    report.date = date;
    report.message_id = std::move(message_id);
    for (std::size_t i : recipients) {
        if (i >= e.recipients.size()) continue;
        const SpoolRecipient& r = e.recipients[i];
        DsnRecipient d;
        d.final_recipient = r.address;
        d.original_recipient = r.orcpt;
        d.remote_mta = r.remote_mta.empty() ? std::string() : mta_name(r.remote_mta);
        if (r.remote_reply && kind != DsnKind::success) d.diagnostic = r.last_error;
        if (r.last_attempt != 0) d.last_attempt = r.last_attempt;
        const std::string last = r.last_error.empty() ? std::string("no reason recorded") : r.last_error;
        switch (kind) {
        case DsnKind::failure:
            d.action = DsnAction::failed;
            d.status = r.status.empty() ? "5.0.0" : r.status;
            d.text = d.status == expired_status
                         ? fmt::format("gave up after {} attempts over {} hours; the last one: {}", r.attempts,
                                       (date - e.created) / 3600, last)
                         : last;
            break;
        case DsnKind::delay:
            d.action = DsnAction::delayed;
            d.status = r.status.empty() || r.status[0] != '4' ? "4.0.0" : r.status;
            d.will_retry_until = will_retry_until;
            d.text = fmt::format("not delivered yet, still trying; the last attempt: {}", last);
            break;
        case DsnKind::success:
            // RFC 3464 2.3.3: past a next hop that sends no DSNs we can only say "relayed".
            d.action = r.local ? DsnAction::delivered : DsnAction::relayed;
            d.status = r.status.empty() || r.status[0] != '2' ? "2.0.0" : r.status;
            d.text = r.local ? "delivered to the mailbox"
                             : fmt::format("handed over to {}, which sends no delivery reports",
                                           d.remote_mta.empty() ? std::string("the next server") : d.remote_mta);
            break;
        }
        report.recipients.push_back(std::move(d));
    }
    return report;
}

std::string make_dsn_message_id(std::string_view host, std::int64_t now) {
    return fmt::format("{:x}.{:x}.{:x}.dsn@{}", now, static_cast<unsigned>(::getpid()), next_counter(), host);
}

std::string format_dsn(const DsnReport& report, std::string_view original) {
    const bool utf8 = report.smtputf8;
    const std::string host = one_line(report.reporting_mta, false);

    // (1) the human-readable part.
    std::string human;
    human += fmt::format("This is the mail system at {}.\n\n", host);
    switch (report.kind) {
    case DsnKind::failure:
        human += "Your message could not be delivered to one or more recipients. This report is automatic; "
                 "the reasons follow.\n";
        break;
    case DsnKind::delay:
        human += "Your message has not been delivered yet to one or more recipients. This is only a warning: "
                 "the mail system keeps trying";
        if (!report.recipients.empty() && report.recipients.front().will_retry_until)
            human += fmt::format(" until {}", format_rfc5322_date(*report.recipients.front().will_retry_until));
        human += ". You need not send it again.\n";
        break;
    case DsnKind::success:
        human += "Your message was delivered or handed on to the recipients below, as you asked.\n";
        break;
    }
    for (const auto& r : report.recipients)
        human += fmt::format("\n<{}>: {}\n", one_line(r.final_recipient, true), one_line(r.text, true));
    const std::string human_part = wrap(human);

    // (2) the machine-readable part (RFC 3464 2.2 per-message, 2.3 per-recipient fields).
    std::string status;
    status += field("Reporting-MTA", "dns; " + host);
    if (!report.envid.empty()) status += field("Original-Envelope-Id", one_line(report.envid, utf8));
    status += field("Arrival-Date", format_rfc5322_date(report.arrival));
    for (const auto& r : report.recipients) {
        status += "\r\n";
        if (!r.original_recipient.empty()) status += field("Original-Recipient", original_recipient(r.original_recipient, utf8));
        status += field("Final-Recipient", typed_address(r.final_recipient, utf8));
        status += field("Action", dsn_action_name(r.action));
        status += field("Status", one_line(r.status, false));
        if (!r.remote_mta.empty()) status += field("Remote-MTA", "dns; " + one_line(r.remote_mta, utf8));
        if (!r.diagnostic.empty()) status += field("Diagnostic-Code", "smtp; " + one_line(r.diagnostic, utf8));
        if (r.last_attempt) status += field("Last-Attempt-Date", format_rfc5322_date(*r.last_attempt));
        if (r.will_retry_until) status += field("Will-Retry-Until", format_rfc5322_date(*r.will_retry_until));
    }

    // (3) the original, whole or its header block (RFC 3461 4.3: RET applies to failures only;
    // delays and successes return the headers).
    const bool full = report.kind == DsnKind::failure && report.ret != "HDRS" && !report.binary &&
                      original.size() <= report.max_full_size && lines_fit(original);
    std::string returned(full ? original : header_block(original));
    if (!returned.empty() && !returned.ends_with("\r\n")) returned += "\r\n";

    // RFC 2046 5.1.1: the boundary must occur in none of the parts.
    std::string boundary;
    const std::size_t seed = std::hash<std::string>{}(report.message_id);
    for (unsigned n = 0;; ++n) {
        boundary = fmt::format("=_vpsmail_report_{:016x}_{}", seed, n);
        if (original.find(boundary) == std::string_view::npos && human_part.find(boundary) == std::string::npos &&
            status.find(boundary) == std::string::npos)
            break;
    }

    std::string out;
    const std::string from = report.from.empty() ? "MAILER-DAEMON@" + host : one_line(report.from, utf8);
    out += field("From", fmt::format("Mail Delivery System <{}>", from));
    out += field("To", fmt::format("<{}>", one_line(report.return_path, utf8)));
    out += field("Subject", subject_of(report.kind));
    out += field("Date", format_rfc5322_date(report.date));
    out += field("Message-ID", fmt::format("<{}>", one_line(report.message_id, false)));
    out += field("Auto-Submitted", "auto-replied");  // RFC 3834 5
    out += field("MIME-Version", "1.0");
    out += field("Content-Type", fmt::format("multipart/report; report-type=delivery-status; boundary=\"{}\"", boundary));
    out += "\r\n";
    out += "This is a MIME-encapsulated delivery status notification (RFC 3464).\r\n";

    const bool human_8bit = has_8bit(human_part);
    out += fmt::format("\r\n--{}\r\n", boundary);
    out += field("Content-Type", human_8bit ? "text/plain; charset=utf-8" : "text/plain; charset=us-ascii");
    out += field("Content-Transfer-Encoding", human_8bit ? "8bit" : "7bit");
    out += field("Content-Description", "Notification");
    out += "\r\n" + human_part;

    // RFC 6533 3: the UTF-8 variants for internationalised mail.
    out += fmt::format("\r\n--{}\r\n", boundary);
    out += field("Content-Type", utf8 ? "message/global-delivery-status" : "message/delivery-status");
    if (has_8bit(status)) out += field("Content-Transfer-Encoding", "8bit");
    out += field("Content-Description", "Delivery report");
    out += "\r\n" + status;

    if (!returned.empty()) {
        out += fmt::format("\r\n--{}\r\n", boundary);
        const char* type = full ? (utf8 ? "message/global" : "message/rfc822")
                                : (utf8 ? "message/global-headers" : "text/rfc822-headers");
        out += field("Content-Type", type);
        // RFC 2046 5.2.1: message/rfc822 is 7bit, 8bit or binary; we never send binary here.
        if (has_8bit(returned)) out += field("Content-Transfer-Encoding", "8bit");
        out += field("Content-Description", full ? "Undelivered message" : "Message headers");
        out += "\r\n" + returned;
    }
    out += fmt::format("\r\n--{}--\r\n", boundary);
    return out;
}

Envelope dsn_envelope(const Envelope& original, std::string_view report, std::int64_t now) {
    Envelope e;
    // RFC 5321 4.5.5: a notification is sent with a null return path, so it causes no other.
    e.return_path.clear();
    SpoolRecipient r;
    r.address = original.return_path;
    r.notify = "NEVER";
    e.recipients.push_back(std::move(r));
    e.body = has_8bit(report) ? "8BITMIME" : "7BIT";
    e.smtputf8 = original.smtputf8;
    e.created = now;
    return e;
}

}  // namespace vpsmail::queue
