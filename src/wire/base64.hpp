// Base64 (RFC 4648 section 4, the standard alphabet with padding) for SASL exchanges
// (RFC 4954 4, RFC 4616). Strict decoding: what a SASL peer must send, nothing more lenient.
// Not the MIME transfer encoding (line breaks, ignored garbage): that belongs to mime/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vpsmail::wire {

/// Encodes `bytes` with padding and no line breaks.
std::string encode_base64(std::string_view bytes);

/// Decodes `text`, or nullopt when it is not canonical base64: a length that is not a multiple
/// of 4, a byte outside the alphabet (spaces and line breaks included), padding anywhere but
/// in the last one or two places, or non-zero bits left over before the padding
/// (RFC 4648 3.5). The empty text decodes to the empty string.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace vpsmail::wire
