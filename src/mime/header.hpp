// The header section of an RFC 5322 message: splitting it into fields (with unfolding, 2.2.3),
// finding fields by name, and parsing address lists (3.4) into mailboxes through core/address,
// the one address parser. Reads text only; does not decode RFC 2047 words, MIME parts or
// bodies, and knows nothing of SMTP envelopes.
#pragma once

#include "core/address.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mime {

/// One header field as written in the message.
struct HeaderField {
    std::string name;     ///< as written, without the colon
    std::string value;    ///< unfolded (RFC 5322 2.2.3), without the line ends and the blank after ':'
    std::size_t offset = 0;  ///< where the field starts in the message
    std::size_t length = 0;  ///< its bytes, continuation lines and the last line end included
};

/// The header section of a message.
struct Header {
    std::vector<HeaderField> fields;
    /// Where the body starts: after the blank line, or at the first line that is not a field
    /// (see parse_header), or the message's size when it is all header.
    std::size_t body_offset = 0;
    /// A blank line ended the header section (false: a non-field line or the end did).
    bool blank_line = false;

    /// The first field named `name` (ASCII case-insensitive), or nullptr.
    const HeaderField* find(std::string_view name) const;
    /// Every field named `name`, in order.
    std::vector<const HeaderField*> find_all(std::string_view name) const;
};

/// Splits the header section of `message` (lines ending in CRLF or LF). RFC 5322 2.2: a field is
/// `name: value`, name being printable ASCII without ':'; a line starting with a space or tab
/// continues the field before it. The section ends at the first empty line; a line that is
/// neither a field nor a continuation (a "From " mbox line, text) also ends it, and that line
/// is the first line of the body, as Postfix's cleanup does. Never throws.
Header parse_header(std::string_view message);

/// ASCII case-insensitive equality of field names.
bool same_name(std::string_view a, std::string_view b) noexcept;

/// One mailbox of an address list (RFC 5322 3.4).
struct Mailbox {
    std::string display_name;  ///< the phrase, quotes removed, words joined by one space; may be empty
    Address address;
};

/// Parses an RFC 5322 3.4 address-list: `a@b`, `Name <a@b>`, `"Quoted, Name" <a@b>`,
/// `a@b (comment)`, groups `team: a@b, c@d;` (their members) and `undisclosed-recipients:;`
/// (none), obsolete routes `<@relay:a@b>` (dropped) and empty list elements. Each address goes
/// through parse_address, or parse_recipient when `allow_bare` (`To: root`).
/// Throws Error(bad_data) naming the value and what is wrong.
std::vector<Mailbox> parse_address_list(std::string_view value, bool allow_bare = false);

/// One element of an address list as an IMAP envelope shows it (RFC 3501 7.4.2).
struct ListEntry {
    enum class Kind { mailbox, group_start, group_end };
    Kind kind = Kind::mailbox;
    std::string display_name;  ///< the phrase, else the mailbox's comment; group_start: the group's name
    std::string route;         ///< an obsolete route (RFC 5322 4.4) "@a,@b", without the ':'; often empty
    std::string local;         ///< core/address's local part; a quoted one as written, quotes kept
    std::string domain;        ///< core/address's normalised domain; as written when the address
                               ///< does not parse; empty when there is none (`To: root`)
};

/// Parses an address list for display, in the same pass as parse_address_list but keeping
/// groups as group_start ... group_end markers (`undisclosed-recipients:;` gives the two
/// markers only). Never throws: an address core/address refuses is split at its last '@' as
/// written, and unclosed quotes, comments or brackets end at the end of the value.
std::vector<ListEntry> parse_address_entries(std::string_view value);

}  // namespace vpsmail::mime
