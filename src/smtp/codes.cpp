#include "smtp/codes.hpp"

#include <array>

namespace vpsmail::smtp {
namespace {

struct Row {
    ReplyId id;
    int code;
    std::string_view status;
    std::string_view text;
};

// The one table. Rows are in ReplyId order (checked below); texts say what the client can do.
constexpr Row rows[] = {
    {ReplyId::greeting, 220, "", "ESMTP vpsmail"},
    {ReplyId::hello, 250, "", ""},
    {ReplyId::closing, 221, "2.0.0", "Bye"},
    {ReplyId::help, 214, "2.0.0", "Commands:"},
    {ReplyId::tls_ready, 220, "2.0.0", "Ready to start TLS"},  // RFC 3207 4
    {ReplyId::auth_ok, 235, "2.7.0", "Authentication successful"},  // RFC 4954 6
    {ReplyId::ok, 250, "2.0.0", "Ok"},
    {ReplyId::sender_ok, 250, "2.1.0", "Sender ok"},
    {ReplyId::recipient_ok, 250, "2.1.5", "Recipient ok"},
    {ReplyId::queued, 250, "2.0.0", "Ok: queued as"},
    {ReplyId::chunk_ok, 250, "2.0.0", "Ok: octets received:"},
    // RFC 5321 7.3: 252 when the server will not verify but will accept mail.
    {ReplyId::cannot_vrfy, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"},
    {ReplyId::auth_challenge, 334, "", ""},
    {ReplyId::start_data, 354, "", "End data with <CR><LF>.<CR><LF>"},
    {ReplyId::timeout, 421, "4.4.2", "Timeout exceeded, closing connection"},
    {ReplyId::shutting_down, 421, "4.3.2", "Service shutting down, try again later"},
    {ReplyId::too_many_errors, 421, "4.7.0", "Too many errors, closing connection"},
    {ReplyId::too_many_auth_failures, 421, "4.7.0", "Too many authentication failures, closing connection"},
    {ReplyId::internal_error, 421, "4.3.0", "Internal error, closing connection"},
    {ReplyId::mailbox_busy, 450, "4.2.0", "Mailbox busy, try again later"},  // RFC 5321 4.2.2
    {ReplyId::temporary_failure, 451, "4.3.0", "Temporary failure, try again later"},
    {ReplyId::insufficient_storage, 452, "4.3.1", "Insufficient system storage, try again later"},  // RFC 3463 X.3.1
    {ReplyId::too_many_recipients, 452, "4.5.3", "Too many recipients"},  // RFC 5321 4.5.3.1.10
    {ReplyId::tls_unavailable, 454, "4.7.0", "TLS not available"},         // RFC 3207 4
    {ReplyId::auth_temporary, 454, "4.7.0", "Temporary authentication failure"},  // RFC 4954 6
    {ReplyId::unknown_command, 500, "5.5.2", "Command not recognized"},
    {ReplyId::bare_newline_command, 500, "5.5.2", "Command lines must end with CRLF"},
    {ReplyId::line_too_long, 500, "5.5.6", "Line too long"},
    {ReplyId::syntax_error, 501, "5.5.4", "Syntax error"},
    {ReplyId::bad_sender_syntax, 501, "5.1.7", "Bad sender address syntax"},
    {ReplyId::bad_recipient_syntax, 501, "5.1.3", "Bad recipient address syntax"},
    {ReplyId::auth_cancelled, 501, "5.0.0", "Authentication cancelled"},  // RFC 4954 4
    {ReplyId::auth_malformed, 501, "5.5.2", "Cannot decode response"},    // RFC 4954 4
    {ReplyId::not_implemented, 502, "5.5.1", "Command not implemented"},
    {ReplyId::bad_sequence, 503, "5.5.1", "Bad sequence of commands"},
    {ReplyId::need_helo, 503, "5.5.1", "Send EHLO or HELO first"},
    {ReplyId::need_mail, 503, "5.5.1", "Need MAIL command"},
    {ReplyId::need_rcpt, 503, "5.5.1", "Need RCPT command"},
    {ReplyId::nested_mail, 503, "5.5.1", "Nested MAIL command"},
    {ReplyId::already_authenticated, 503, "5.5.1", "Already authenticated"},  // RFC 4954 4
    {ReplyId::auth_in_transaction, 503, "5.5.1", "AUTH is not allowed during a mail transaction"},  // RFC 4954 4
    {ReplyId::tls_already_active, 503, "5.5.1", "TLS already active"},
    {ReplyId::binarymime_needs_bdat, 503, "5.5.1", "BODY=BINARYMIME needs BDAT, not DATA"},  // RFC 3030 3
    {ReplyId::improper_pipelining, 503, "5.5.0", "Improper use of SMTP command pipelining"},  // RFC 2920 3.1
    {ReplyId::auth_mechanism_unknown, 504, "5.5.4", "Unrecognized authentication type"},  // RFC 4954 4
    {ReplyId::auth_required, 530, "5.7.0", "Authentication required"},  // RFC 4954 6
    {ReplyId::auth_failed, 535, "5.7.8", "Authentication credentials invalid"},  // RFC 4954 6
    {ReplyId::auth_needs_tls, 538, "5.7.11", "Encryption required for requested authentication mechanism"},  // RFC 4954 6
    {ReplyId::recipient_unknown, 550, "5.1.1", "Recipient address rejected: user unknown"},
    {ReplyId::domain_unknown, 550, "5.1.2", "Recipient address rejected: domain unknown"},
    {ReplyId::relay_denied, 550, "5.7.1", "Relay access denied"},
    {ReplyId::permission_denied, 550, "5.7.1", "Not allowed"},
    // RFC 2045 2.7, 2.8: no NUL in 7bit or 8bit text; only BODY=BINARYMIME with BDAT carries it.
    {ReplyId::nul_data, 550, "5.6.0", "Message refused: NUL bytes need BODY=BINARYMIME and BDAT"},
    {ReplyId::size_exceeded, 552, "5.3.4", "Message size exceeds fixed maximum message size"},  // RFC 1870 6
    {ReplyId::mailbox_full, 552, "5.2.2", "Mailbox full"},  // RFC 3463 X.2.2
    {ReplyId::sender_not_owned, 553, "5.7.1", "Sender address not owned by the authenticated user"},
    {ReplyId::utf8_needed, 553, "5.6.7", "Non-ASCII address needs the SMTPUTF8 parameter"},  // RFC 6531 3.5
    {ReplyId::bare_newline_data, 554, "5.6.0", "Message refused: bare CR or LF (lines must end with CRLF)"},
    // RFC 6152 3: 8-bit text needs BODY=8BITMIME (refused only with [smtp] strict_8bitmime).
    {ReplyId::undeclared_8bit, 554, "5.6.0", "Message contains 8-bit data but BODY=8BITMIME was not declared"},
    {ReplyId::transaction_failed, 554, "5.0.0", "Transaction failed"},
    {ReplyId::too_many_hops, 554, "5.4.6", "Too many hops: mail loop detected"},  // RFC 3463 X.4.6 routing loop
    {ReplyId::unknown_parameter, 555, "5.5.4", "Parameter not recognized"},  // RFC 5321 4.1.1.11
};

constexpr bool rows_in_order() {
    for (std::size_t i = 0; i < std::size(rows); ++i)
        if (static_cast<std::size_t>(rows[i].id) != i) return false;
    return static_cast<std::size_t>(ReplyId::unknown_parameter) + 1 == std::size(rows);
}
static_assert(rows_in_order(), "reply rows must follow the order of ReplyId, one row each");

std::string clean_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    return out;
}

}  // namespace

Reply reply(ReplyId id, std::string_view detail) {
    const Row& row = rows[static_cast<std::size_t>(id)];
    Reply r{row.code, std::string(row.status), std::string(row.text)};
    if (!detail.empty()) {
        if (!r.text.empty()) r.text += ' ';
        r.text += detail;
    }
    return r;
}

Reply reply_for(const Error& error) {
    switch (error.kind()) {
    case ErrorKind::temporary: return reply(ReplyId::temporary_failure);
    case ErrorKind::no_space: return reply(ReplyId::insufficient_storage);
    case ErrorKind::no_such_user: return reply(ReplyId::recipient_unknown);
    case ErrorKind::not_found: return reply(ReplyId::recipient_unknown);
    case ErrorKind::in_use: return reply(ReplyId::mailbox_busy);
    case ErrorKind::over_quota: return reply(ReplyId::mailbox_full);
    case ErrorKind::no_such_domain: return reply(ReplyId::domain_unknown);
    case ErrorKind::permission: return reply(ReplyId::permission_denied);
    case ErrorKind::limit: return reply(ReplyId::size_exceeded);
    case ErrorKind::bad_data: return reply(ReplyId::syntax_error);
    case ErrorKind::usage:
    case ErrorKind::exists:
    case ErrorKind::config:
    case ErrorKind::internal: return reply(ReplyId::internal_error);
    }
    return reply(ReplyId::internal_error);
}

std::string format_reply(const Reply& r) {
    std::string line = std::to_string(r.code);
    line += ' ';
    if (!r.status.empty()) {
        line += r.status;
        if (!r.text.empty()) line += ' ';
    }
    line += clean_text(r.text);
    if (line.size() > 510) line.resize(510);
    line += "\r\n";
    return line;
}

std::string format_reply_lines(int code, std::string_view status, std::span<const std::string> lines) {
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string line = std::to_string(code);
        line += i + 1 == lines.size() ? ' ' : '-';
        if (!status.empty()) {
            line += status;
            line += ' ';
        }
        line += clean_text(lines[i]);
        if (line.size() > 510) line.resize(510);
        out += line;
        out += "\r\n";
    }
    return out;
}

}  // namespace vpsmail::smtp
