// MIME header values of the form `token[/token] *(; attribute=value)` (RFC 2045 5.1, RFC 2183):
// Content-Type and Content-Disposition, with their parameters unquoted and RFC 2231
// continuations joined. Text only: does not decode RFC 2047 words or RFC 2231 charsets, and
// knows nothing of parts (mime/structure does).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mime {

/// One parameter. `name` is lower case (names are case-insensitive, RFC 2045 5.1); `value` is
/// unquoted (quoted-pairs resolved). RFC 2231 3: continuations `name*0=`, `name*1=` ... are
/// joined in index order into `name`; when the first piece is extended (`name*=` or
/// `name*0*=`), the result is the one extended parameter `name*` whose value keeps the
/// `charset'language'%XX` form (plain pieces after it are %-encoded where needed), which is
/// what an IMAP client decodes (RFC 2231 4). Percent-decoding and charsets are left to it.
struct Param {
    std::string name;
    std::string value;
    bool operator==(const Param&) const = default;
};

/// A parsed header value: `value` is the leading token (`text/plain`, `attachment`) as
/// written, without comments and white space; empty when there is none.
struct ContentValue {
    std::string value;
    std::vector<Param> params;  ///< in the order written; a repeated name keeps its first value
};

/// Parses a Content-Type or Content-Disposition value. Never throws: a parameter without '='
/// or with a bad name is skipped, an unclosed quoted string ends at the end of the value.
/// Comments (RFC 822 style, nested) are skipped between the tokens.
ContentValue parse_content_value(std::string_view text);

/// The value of parameter `name` (ASCII case-insensitive), or nullptr.
const std::string* find_param(const std::vector<Param>& params, std::string_view name);

/// Splits `type/subtype` into its halves; false when `value` is not two RFC 2045 tokens
/// around one '/'.
bool split_media_type(std::string_view value, std::string& type, std::string& subtype);

}  // namespace vpsmail::mime
