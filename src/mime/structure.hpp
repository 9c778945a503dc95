// The MIME structure of a stored message (RFC 5322, RFC 2045/2046): its tree of parts, with
// each part's header and body byte ranges in the stored file, its content fields, its sizes as
// IMAP reports them, and for message/rfc822 parts the nested message. Computed once per message
// and cached by the mailbox index (mime/structure_codec); IMAP's wire forms are in
// mime/imap_form and section addressing in mime/section. Does not decode bodies or RFC 2047.
#pragma once

#include "mime/content_type.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mime {

/// Parts nested deeper than this (a multipart or message/rfc822 inside this many others) are
/// not opened: they are one opaque application/octet-stream part.
inline constexpr std::size_t max_depth = 100;
/// At most this many parts per message; delimiters past it start no part (the text up to the
/// next delimiter belongs to the multipart only, like a preamble).
inline constexpr std::size_t max_parts = 10000;

/// One part of a message. Offsets and lengths are bytes of the stored file as it is (LF or
/// CRLF line ends); the `*_size` figures are octets as IMAP sends them, each bare LF counted as
/// CRLF (RFC 3501 section 7.4.2 sizes, for a server that sends the message with CRLF).
struct Part {
    enum class Kind : std::uint8_t {
        leaf,       ///< no children
        multipart,  ///< children: its body parts, in order (maybe none)
        message,    ///< message/rfc822: one child, the nested message's top part
    };
    Kind kind = Kind::leaf;
    /// The top part of a message (the stored message's, or a message/rfc822 part's child):
    /// its header is the message's header and `envelope` is set.
    bool message_root = false;
    std::vector<std::uint32_t> children;  ///< indexes into Structure::parts, each larger than this part's

    std::size_t header_offset = 0;  ///< the header, its blank line included when there is one
    std::size_t header_length = 0;
    std::size_t body_offset = 0;    ///< the body; in a multipart, up to the line end before the next delimiter
    std::size_t body_length = 0;
    std::size_t header_size = 0;    ///< header octets in CRLF form
    std::size_t body_size = 0;      ///< body octets in CRLF form
    std::size_t body_lines = 0;     ///< line ends (LF) in the body

    /// Content-Type as written (`text`, `plain`); from RFC 2045 5.2's default (text/plain;
    /// charset=us-ascii, or message/rfc822 in a multipart/digest) when absent or malformed.
    std::string type, subtype;
    std::vector<Param> params;
    std::optional<std::string> encoding;     ///< Content-Transfer-Encoding token; absent means 7BIT
    std::optional<std::string> id;           ///< Content-ID, unfolded
    std::optional<std::string> description;  ///< Content-Description, unfolded, RFC 2047 words as written
    std::optional<std::string> md5;          ///< Content-MD5
    std::optional<std::string> disposition;  ///< Content-Disposition token (RFC 2183)
    std::vector<Param> disposition_params;
    std::vector<std::string> language;       ///< Content-Language tags (RFC 3282)
    std::optional<std::string> location;     ///< Content-Location (RFC 2557)
    std::string envelope;                    ///< message_root: the IMAP ENVELOPE (mime/imap_form)

    bool operator==(const Part&) const = default;
};

/// A message's parts: `parts[0]` is the top part (message_root), children after their parent.
struct Structure {
    std::vector<Part> parts;
    std::size_t size = 0;       ///< the stored message's bytes
    std::size_t crlf_size = 0;  ///< its octets in CRLF form: RFC822.SIZE

    bool operator==(const Structure&) const = default;
};

/// Parses a whole stored message. RFC 2046 5.1.1: a delimiter is a line `--boundary` with
/// optional trailing white space, the close delimiter `--boundary--`; the line end before a
/// delimiter belongs to it; preamble and epilogue belong to no part; a delimiter of an
/// enclosing multipart also ends the inner ones (a missing close delimiter is tolerated, and
/// the last part then runs to the end of the enclosing body). A multipart without a boundary
/// parameter is an opaque leaf, like parts past max_depth. Linear time, no recursion, bounded by max_depth and max_parts.
/// Never throws except std::bad_alloc.
Structure parse_structure(std::string_view message);

/// Octets of `text` in CRLF form: its size plus one per LF not preceded by CR.
std::size_t crlf_size(std::string_view text) noexcept;
/// `text` with each LF not preceded by CR made CRLF: what IMAP sends of a stored range.
std::string to_crlf(std::string_view text);

}  // namespace vpsmail::mime
