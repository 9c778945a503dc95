// The IMAP wire forms of a message's structure (RFC 3501 section 7.4.2, RFC 9051 7.5.2):
// ENVELOPE from a header, BODYSTRUCTURE and BODY from a parsed Structure, and the IMAP string
// rule they share. Text in, text out: no session, no literals' continuation handling.
#pragma once

#include "mime/header.hpp"
#include "mime/structure.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace vpsmail::mime {

/// Longest text sent as a quoted string; longer text is a literal.
inline constexpr std::size_t max_quoted = 1024;

/// `text` as an IMAP string (RFC 3501 section 4.3). The one rule: a quoted string, with '"' and
/// '\' escaped, when every byte is 0x01-0x7F but CR and LF and there are at most max_quoted of
/// them; otherwise a literal `{n}\r\n` followed by the bytes (8-bit header text included, as
/// IMAP4rev1 needs).
std::string imap_string(std::string_view text);

/// imap_string, or NIL when absent.
std::string imap_nstring(const std::optional<std::string>& text);

/// The ENVELOPE of a message header (RFC 3501 section 7.4.2): (date subject from sender
/// reply-to to cc bcc in-reply-to message-id). Each field is the first of its name, unfolded,
/// white space trimmed, RFC 2047 words as written; NIL when absent. Address lists become lists
/// of (name adl mailbox host) through parse_address_entries (groups as (NIL NIL "group" NIL)
/// ... (NIL NIL NIL NIL)), NIL when they hold nothing; Sender and Reply-To default to From. A
/// mailbox without a domain gets the host "MISSING_DOMAIN" (a NIL host would mean a group),
/// one without a local part "MISSING_MAILBOX", as Dovecot does. Never throws.
std::string envelope(const Header& header);

/// BODYSTRUCTURE: the extensible form with, per part, MD5 (non-multipart), disposition,
/// language and location, and for multiparts their parameters. Sizes in CRLF octets
/// (Part::body_size). A multipart with no part is shown with one empty text/plain part, as
/// the grammar needs one. Never throws.
std::string bodystructure(const Structure& structure);

/// BODY: the same without the extension data (RFC 3501 section 7.4.2 "BODY"). Never throws.
std::string body(const Structure& structure);

}  // namespace vpsmail::mime
