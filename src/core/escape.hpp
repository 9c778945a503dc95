// One value a line in the text files vpsmail writes (the spool's envelopes, the maildrop):
// '%', CR, LF and the other control bytes become %XX, so no value can forge a line. Owns the
// escaping only; each file's fields and format are its writer's.
#pragma once

#include <string>
#include <string_view>

namespace vpsmail {

/// Which hex digits unescape_value accepts after '%'.
enum class HexDigits {
    any_case,    ///< 0-9, A-F and a-f
    upper_case,  ///< 0-9 and A-F only: what escape_value writes, nothing else
};

/// `value` with '%', the C0 control bytes and DEL written as %XX (upper-case hex); every other
/// byte, 0x80-0xff included, as it is. Never throws but std::bad_alloc.
std::string escape_value(std::string_view value);

/// The bytes escape_value() was given. Throws Error(bad_data) "<what>: bad escape in '<value>'"
/// for a '%' not followed by two hex digits of `digits`.
std::string unescape_value(std::string_view value, std::string_view what, HexDigits digits = HexDigits::any_case);

}  // namespace vpsmail
