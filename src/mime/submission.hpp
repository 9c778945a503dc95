// A message handed to `vpsmail sendmail` on standard input, made ready for delivery the way
// Postfix's cleanup does it: line ends made CRLF, the end at a lone "." (without -i), the
// recipients of -t taken from the header, Bcc removed, and From, Date and Message-ID added
// when missing. Text in, text out: the caller supplies the date, the ids and the sender.
#pragma once

#include "core/address.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mime {

struct SubmitOptions {
    bool dot_ends = true;             ///< without -i/-oi: a line holding only "." ends the message
    bool extract_recipients = false;  ///< -t: recipients from To, Cc, Bcc (or Resent-To/Cc/Bcc)
    std::string from_address;         ///< the From: address added when the message has none
    std::string from_name;            ///< -F: its display name
    std::string date;                 ///< the Date: value added when missing (RFC 5322 3.3)
    std::string message_id;           ///< the Message-ID: value added when missing, "<x@host>"
    std::uint64_t max_size = 0;       ///< octets of input; 0 = no limit
};

struct Submission {
    std::string message;              ///< CRLF line ends, Bcc removed, missing fields added
    std::vector<Address> recipients;  ///< with -t: from the header, in order, without duplicates
};

/// Prepares `input` (see the file comment). RFC 5322 3.6.6: when a Resent- field is present,
/// -t reads Resent-To, Resent-Cc and Resent-Bcc instead of To, Cc and Bcc. Bcc and Resent-Bcc
/// fields are always removed. A header line that is not a field ends the header (parse_header):
/// the added fields then go before it, with a blank line between.
/// Throws Error(bad_data) for a NUL byte (naming the line) or a malformed address in a
/// recipient field with -t (naming the field), Error(limit) when the input exceeds max_size.
Submission prepare_submission(std::string_view input, const SubmitOptions& options);

/// The display name as an RFC 5322 phrase: as is when it is atoms and spaces, else quoted.
std::string format_phrase(std::string_view name);

}  // namespace vpsmail::mime
