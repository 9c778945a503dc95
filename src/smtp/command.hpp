// Parsing of SMTP command lines: the verb and argument, the MAIL and RCPT paths (RFC 5321
// 4.1.2, through core/address, the one address parser) and their ESMTP parameters: SIZE
// (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461),
// AUTH (RFC 4954 5). Syntax only: whether a value is allowed here (limits, state, which
// extensions were negotiated) is the session's call.
#pragma once

#include "core/address.hpp"
#include "smtp/codes.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace vpsmail::smtp {

/// A command line split at the first space: the verb in upper case, the rest with surrounding
/// spaces removed ("mail FROM:<a@b>" -> "MAIL", "FROM:<a@b>").
struct Command {
    std::string verb;
    std::string argument;
};

/// Splits a command line (without CRLF). Never fails; an empty line gives an empty verb.
Command parse_command(std::string_view line);

enum class Body { unspecified, seven_bit, eight_bit_mime, binary_mime };
enum class Ret { unspecified, full, headers };

/// MAIL FROM:<reverse-path> [parameters]
struct MailFrom {
    std::optional<Address> sender;  ///< absent: the null reverse-path <> (RFC 5321 4.5.5)
    bool source_route = false;      ///< "<@a,@b:user@c>": the route was dropped (RFC 5321 C)
    bool non_ascii = false;         ///< the path holds non-ASCII bytes (needs SMTPUTF8)
    std::optional<std::uint64_t> size;  ///< SIZE=
    Body body = Body::unspecified;
    bool smtputf8 = false;
    Ret ret = Ret::unspecified;
    std::string envid;                ///< ENVID=, xtext-decoded; empty when absent
    std::optional<std::string> auth;  ///< AUTH=, xtext-decoded; accepted and ignored (RFC 4954 5)
};

/// NOTIFY= of RCPT (RFC 3461 4.1): NEVER alone, or any of SUCCESS, FAILURE, DELAY.
struct Notify {
    bool never = false;
    bool success = false;
    bool failure = false;
    bool delay = false;
    bool operator==(const Notify&) const = default;
};

/// ORCPT=addr-type;xtext (RFC 3461 4.2), decoded.
struct OriginalRecipient {
    std::string type;     ///< "rfc822", as written
    std::string address;  ///< xtext-decoded
    bool operator==(const OriginalRecipient&) const = default;
};

/// RCPT TO:<forward-path> [parameters]
struct RcptTo {
    Address recipient;             ///< the mailbox; bare "Postmaster" for <Postmaster> (RFC 5321 4.1.1.3)
    bool source_route = false;     ///< a route was given and dropped (RFC 5321 C)
    bool non_ascii = false;        ///< the path holds non-ASCII bytes (needs SMTPUTF8)
    std::optional<Notify> notify;
    std::optional<OriginalRecipient> orcpt;
};

/// What parsing a MAIL or RCPT argument gives: the command, or the reply refusing it
/// (501 5.1.7 bad sender, 501 5.1.3 bad recipient, 501 5.5.4 bad syntax or parameter value,
/// 555 5.5.4 unknown or repeated parameter).
template <class T>
using Parsed = std::variant<T, Reply>;

/// Parses the argument of MAIL ("FROM:<a@b> SIZE=10"). Accepts spaces after the colon.
Parsed<MailFrom> parse_mail_from(std::string_view argument);

/// Parses the argument of RCPT ("TO:<a@b> NOTIFY=NEVER"). Accepts spaces after the colon.
Parsed<RcptTo> parse_rcpt_to(std::string_view argument);

/// Decodes RFC 3461 4 xtext ("a+2Bb" -> "a+b"), or nullopt when malformed.
std::optional<std::string> decode_xtext(std::string_view text);

/// Encodes as xtext: '+', '=' and bytes outside 33..126 become "+XX".
std::string encode_xtext(std::string_view text);

}  // namespace vpsmail::smtp
