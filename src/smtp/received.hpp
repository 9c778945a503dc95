// The Received trace header the SMTP server prepends to each message (RFC 5321 4.4), with
// the protocol names of RFC 3848 and RFC 6531 3.7.3 and an RFC 5322 3.3 date. Formatting only:
// the session decides what goes in.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vpsmail::smtp {

struct Trace {
    std::string helo;          ///< the EHLO/HELO argument
    std::string peer_name;     ///< reverse DNS name; empty: "unknown"
    std::string peer_address;  ///< "192.0.2.1" or "2001:db8::1"; empty when not known
    std::string hostname;      ///< this server
    bool esmtp = true;         ///< EHLO (false: HELO)
    bool tls = false;
    bool authenticated = false;
    bool smtputf8 = false;
    std::string id;
    std::optional<std::string> recipient;  ///< the "for" clause: only with a single recipient
    std::chrono::system_clock::time_point when;
};

/// "SMTP", "ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA" (RFC 3848), or "UTF8SMTP", "UTF8SMTPA",
/// "UTF8SMTPS", "UTF8SMTPSA" for SMTPUTF8 transactions (RFC 6531 3.7.3).
std::string protocol_name(const Trace& trace);

/// "Tue, 02 Jan 2024 03:04:05 +0000" (RFC 5322 3.3), in UTC.
std::string format_date(std::chrono::system_clock::time_point when);

/// The whole header, folded, ending in CRLF:
/// "Received: from helo (name [address])\r\n\tby host with ESMTPS id X\r\n\tfor <r>;\r\n\tdate\r\n".
std::string format_received(const Trace& trace);

}  // namespace vpsmail::smtp
