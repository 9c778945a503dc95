// FETCH BODY[section] addressing (RFC 3501 section 6.4.5, RFC 9051 6.4.5): a section spec
// such as `1.2.HEADER.FIELDS (From To)` parsed, and located in a Structure as a byte range of
// the stored message, or (HEADER.FIELDS) computed from the header it names. Partial fetches
// <a.b>, \Seen and the CRLF conversion of what is sent (mime/structure's to_crlf) are IMAP's.
#pragma once

#include "mime/structure.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mime {

/// A parsed section spec.
struct Section {
    enum class Kind { all, header, header_fields, header_fields_not, text, mime };
    std::vector<std::uint32_t> path;  ///< part numbers, from 1; empty: the whole message
    Kind kind = Kind::all;            ///< all: the part's body (the whole message when path is empty)
    std::vector<std::string> fields;  ///< HEADER.FIELDS[.NOT]: the field names, as written

    bool operator==(const Section&) const = default;
};

/// Parses the text between the brackets of BODY[...] (`""`, `TEXT`, `1.2`, `2.MIME`,
/// `HEADER.FIELDS (From "To")`), keywords case-insensitive. Throws Error(bad_data) naming the
/// spec for bad syntax: a part number 0 or over 9 digits, MIME without a part number, an
/// unknown keyword, a HEADER.FIELDS list missing or empty.
Section parse_section(std::string_view spec);

/// A byte range of the stored message.
struct Range {
    std::size_t offset = 0;
    std::size_t length = 0;
    bool operator==(const Range&) const = default;
};

/// Where `section` is in the stored message: for HEADER.FIELDS[.NOT], the header it selects
/// from. RFC 3501 6.4.5: part 1 of a message that is not multipart is its body; HEADER, TEXT
/// and HEADER.FIELDS after a part number address the nested message of a message/rfc822 part
/// (nothing else); MIME is the part's own header. std::nullopt for a section the message does
/// not have (the server then sends an empty string). Never throws.
std::optional<Range> locate(const Structure& structure, const Section& section);

/// The fields of `header` (stored bytes of a header section, as locate gives it) whose names
/// are (`exclude`: are not) among `names`, ASCII case-insensitive, in message order, each with
/// its continuation lines and line end, followed by a blank line: the HEADER.FIELDS[.NOT]
/// result, in stored form (send it through to_crlf). Never throws.
std::string select_fields(std::string_view header, const std::vector<std::string>& names, bool exclude);

/// The bytes of `section` of `message` (the stored file `structure` was parsed from), in
/// stored form; empty when the message has no such section. Never throws but std::bad_alloc.
std::string section_bytes(const Structure& structure, const Section& section, std::string_view message);

}  // namespace vpsmail::mime
