// Mail loop detection at end of data (RFC 5321 6.3): counts the trace fields of a message's
// header section as its text streams in, in any split, holding no more of it than one field.
// Knows nothing of the limit or the reply: the session decides (554 5.4.6, Postfix's
// hopcount_limit).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vpsmail::smtp {

class HopCounter {
public:
    /// Takes the next piece of the message text (lines ending in CRLF or LF). After the empty
    /// line that ends the header section, everything is ignored.
    void scan(std::string_view text);

    /// The text ended: counts a last field that no line followed.
    void finish();

    /// Received: fields seen (RFC 5321 4.4: one per hop).
    std::size_t received() const noexcept { return received_; }

    /// Delivered-To: fields naming `address` (case-insensitive, angle brackets and spaces
    /// around it ignored): each is a local delivery this message went through already.
    std::size_t delivered_to(std::string_view address) const;

private:
    void end_field();

    // The field being read: its name and the start of its value, at most max_field octets
    // (a Delivered-To value longer than any address names no recipient).
    std::string field_;
    bool truncated_ = false;
    bool line_start_ = true;  ///< the next octet starts a line
    bool in_field_ = false;   ///< field_ holds a field that a folded line may continue
    bool done_ = false;       ///< the header section ended
    std::size_t received_ = 0;
    /// Lower-case values and how often each came, at most max_delivered_to of them.
    std::vector<std::pair<std::string, std::size_t>> delivered_to_;
};

}  // namespace vpsmail::smtp
