// The DATA text of SMTP (RFC 5321 4.1.1.4, 4.5.2): dot-unstuffing and the end-of-data mark
// CRLF.CRLF found across any split of the input, with bare CR / bare LF detection (SMTP
// smuggling) and NUL detection, and the reverse (dot-stuffing) for clients. Also a bare CR/LF
// and NUL scanner for text that arrives or leaves without dot-stuffing (BDAT). Knows nothing of
// replies or limits policy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vpsmail::wire {

/// Decodes the text that follows a DATA command's 354 reply. The message is everything up to,
/// not including, the CRLF.CRLF mark; its lines keep their CRLF. Only CRLF.CRLF ends it: a
/// "LF.LF" or "CR.CR" does not, and marks the text as holding a bare LF or bare CR; a NUL
/// anywhere marks it too (RFC 5321 4.1.1.4 text is lines of characters; RFC 2045 2.7 and 2.8:
/// neither 7bit nor 8bit data has NUL). Not thread-safe; one per message.
class DotDecoder {
public:
    /// `max_size`: message bytes past this many are counted but not stored; 0 = no limit.
    explicit DotDecoder(std::uint64_t max_size = 0) : max_size_(max_size) {}

    struct Progress {
        std::size_t consumed = 0;  ///< bytes of `input` used; the rest follow the message
        bool done = false;         ///< the end-of-data mark was consumed
    };

    /// Decodes as much of `input` as possible, appending message bytes to `message`. After
    /// done, further calls consume nothing.
    Progress decode(std::string_view input, std::string& message);

    bool done() const noexcept { return state_ == State::done; }
    bool bare_cr() const noexcept { return bare_cr_; }  ///< a CR not followed by LF was seen
    bool bare_lf() const noexcept { return bare_lf_; }  ///< an LF not preceded by CR was seen
    bool nul() const noexcept { return nul_; }          ///< a NUL byte was seen (stored or not)
    /// Message bytes decoded so far, stored or not.
    std::uint64_t size() const noexcept { return size_; }
    /// size() passed max_size: the message is incomplete and must be refused.
    bool too_big() const noexcept { return max_size_ != 0 && size_ > max_size_; }

private:
    enum class State { line_start, middle, cr, dot, dot_cr, done };

    void put(std::string& message, std::string_view bytes);
    void middle_byte(char c, std::string& message);

    std::uint64_t max_size_;
    std::uint64_t size_ = 0;
    State state_ = State::line_start;
    bool bare_cr_ = false;
    bool bare_lf_ = false;
    bool nul_ = false;
};

/// Scans text in pieces for bare CR, bare LF and NUL; a CR at the end of one piece may be followed
/// by the LF at the start of the next. Not thread-safe; one per message.
class NewlineCheck {
public:
    void scan(std::string_view piece) noexcept;
    /// The text ended: a CR left pending at the very end is bare.
    void finish() noexcept;
    bool bare_cr() const noexcept { return bare_cr_; }
    bool bare_lf() const noexcept { return bare_lf_; }
    bool nul() const noexcept { return nul_; }
    /// None of the three: the text may go over DATA as 7BIT or 8BITMIME (RFC 2045 2.7, 2.8).
    bool lines_only() const noexcept { return !bare_cr_ && !bare_lf_ && !nul_; }

private:
    bool pending_cr_ = false;
    bool bare_cr_ = false;
    bool bare_lf_ = false;
    bool nul_ = false;
};

/// The DATA text for `message` (lines ending in CRLF): every line starting with "." gets
/// another ".", a missing final CRLF is added, and ".\r\n" ends it (RFC 5321 4.5.2). Whatever
/// the bytes, a "." after any CR or LF is doubled, so that no receiver, however it reads bare
/// CR or LF, finds an end of data inside the message (SMTP smuggling); callers still send only
/// text without bare CR or LF (NewlineCheck) over DATA.
std::string stuff_data(std::string_view message);

}  // namespace vpsmail::wire
