// The SMTP server's replies: one table of (code, enhanced status, text), the mapping of
// vpsmail::ErrorKind to replies (docs/architecture.md section 6), and the reply writer. Nowhere else in
// smtp/ writes a reply code inline. Does not decide when a reply is sent: the session does.
#pragma once

#include "core/error.hpp"

#include <span>
#include <string>
#include <string_view>

namespace vpsmail::smtp {

/// One reply. RFC 2034 3: every 2xx/4xx/5xx reply carries an enhanced status (RFC 3463);
/// `status` is empty only for the 220 greeting, the EHLO lines and the 334/354 intermediates.
struct Reply {
    int code = 250;
    std::string status;  ///< "2.0.0"
    std::string text;

    bool positive() const noexcept { return code < 400; }
    bool temporary() const noexcept { return code >= 400 && code < 500; }
    bool closes() const noexcept { return code == 421; }  ///< RFC 5321 3.8: 421 ends the session
    bool operator==(const Reply&) const = default;
};

/// The rows of the reply table.
enum class ReplyId {
    greeting,                ///< 220, the hostname goes first (RFC 5321 4.2)
    hello,                   ///< 250, HELO and the EHLO lines (RFC 2034 3: no status)
    closing,                 ///< 221 2.0.0 QUIT
    help,                    ///< 214 2.0.0
    tls_ready,               ///< 220 2.0.0 STARTTLS accepted
    auth_ok,                 ///< 235 2.7.0
    ok,                      ///< 250 2.0.0
    sender_ok,               ///< 250 2.1.0
    recipient_ok,            ///< 250 2.1.5
    queued,                  ///< 250 2.0.0 message accepted
    chunk_ok,                ///< 250 2.0.0 BDAT chunk taken
    cannot_vrfy,             ///< 252 2.5.0
    auth_challenge,          ///< 334
    start_data,              ///< 354
    timeout,                 ///< 421 4.4.2
    shutting_down,           ///< 421 4.3.2
    too_many_errors,         ///< 421 4.7.0
    too_many_auth_failures,  ///< 421 4.7.0
    internal_error,          ///< 421 4.3.0
    mailbox_busy,            ///< 450 4.2.0 locked by another session (RFC 5321 4.2.2: "mailbox busy")
    temporary_failure,       ///< 451 4.3.0
    insufficient_storage,    ///< 452 4.3.1 disk full (ENOSPC)
    too_many_recipients,     ///< 452 4.5.3
    tls_unavailable,         ///< 454 4.7.0
    auth_temporary,          ///< 454 4.7.0
    unknown_command,         ///< 500 5.5.2
    bare_newline_command,    ///< 500 5.5.2
    line_too_long,           ///< 500 5.5.6
    syntax_error,            ///< 501 5.5.4
    bad_sender_syntax,       ///< 501 5.1.7
    bad_recipient_syntax,    ///< 501 5.1.3
    auth_cancelled,          ///< 501 5.0.0
    auth_malformed,          ///< 501 5.5.2
    not_implemented,         ///< 502 5.5.1
    bad_sequence,            ///< 503 5.5.1
    need_helo,               ///< 503 5.5.1
    need_mail,               ///< 503 5.5.1
    need_rcpt,               ///< 503 5.5.1
    nested_mail,             ///< 503 5.5.1
    already_authenticated,   ///< 503 5.5.1
    auth_in_transaction,     ///< 503 5.5.1
    tls_already_active,      ///< 503 5.5.1
    binarymime_needs_bdat,   ///< 503 5.5.1
    improper_pipelining,     ///< 503 5.5.0 a command sent before the reply it had to wait for
    auth_mechanism_unknown,  ///< 504 5.5.4
    auth_required,           ///< 530 5.7.0
    auth_failed,             ///< 535 5.7.8
    auth_needs_tls,          ///< 538 5.7.11
    recipient_unknown,       ///< 550 5.1.1
    domain_unknown,          ///< 550 5.1.2
    relay_denied,            ///< 550 5.7.1
    permission_denied,       ///< 550 5.7.1
    nul_data,                ///< 550 5.6.0
    size_exceeded,           ///< 552 5.3.4
    mailbox_full,            ///< 552 5.2.2 the account's quota (RFC 3463 X.2.2)
    sender_not_owned,        ///< 553 5.7.1
    utf8_needed,             ///< 553 5.6.7
    bare_newline_data,       ///< 554 5.6.0
    undeclared_8bit,         ///< 554 5.6.0 [smtp] strict_8bitmime
    transaction_failed,      ///< 554 5.0.0
    too_many_hops,           ///< 554 5.4.6 a mail loop (RFC 5321 6.3)
    unknown_parameter,       ///< 555 5.5.4
};

/// The table's reply; `detail`, when not empty, is appended after a space.
Reply reply(ReplyId id, std::string_view detail = {});

/// The reply for an error a port threw (the SMTP row of docs/architecture.md section 6): temporary ->
/// 451 4.3.0, no_space -> 452 4.3.1, in_use -> 450 4.2.0, no_such_user and not_found -> 550 5.1.1,
/// no_such_domain -> 550 5.1.2, permission -> 550 5.7.1, limit -> 552 5.3.4, over_quota -> 552 5.2.2,
/// bad_data -> 501 5.5.4; usage, exists, config and internal are
/// unexpected and give 421 4.3.0, which ends the session.
Reply reply_for(const Error& error);

/// "250 2.1.0 Sender ok\r\n". Control bytes in the text become '?' and the line is cut at
/// 512 octets (RFC 5321 4.5.3.1.5), so no text from a port can inject a reply line.
std::string format_reply(const Reply& reply);

/// A multi-line reply, "250-a\r\n250-b\r\n250 c\r\n" (RFC 5321 4.2.1); `status`, when not
/// empty, prefixes every line (RFC 2034 3). Nothing when `lines` is empty.
std::string format_reply_lines(int code, std::string_view status, std::span<const std::string> lines);

}  // namespace vpsmail::smtp
