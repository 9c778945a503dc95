// Incremental CRLF line framing over a byte stream that arrives in arbitrary pieces, with a
// length limit per line and detection of bare CR and bare LF. Owns the unread input bytes and
// lets a protocol session take raw bytes from the same buffer (SMTP BDAT, IMAP literals).
// Knows no protocol: the caller chooses the limit and decides what a bad line means.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vpsmail::wire {

inline constexpr std::size_t max_command_line = 512;  // RFC 5321 4.5.3.1.4, CRLF included
inline constexpr std::size_t max_reply_line = 512;    // RFC 5321 4.5.3.1.5, CRLF included
inline constexpr std::size_t max_text_line = 1000;    // RFC 5321 4.5.3.1.6, CRLF included

/// One framed line, without its terminator.
struct Line {
    std::string text;       ///< the line without CRLF; empty when too_long
    bool too_long = false;  ///< longer than the limit: its bytes were dropped up to the next LF
    bool bare_lf = false;   ///< ended by LF without CR (also for a too_long line, whatever the split)
    bool bare_cr = false;   ///< holds a CR that is not followed by LF
};

/// The unread input of one connection, framed into lines on demand.
/// Not thread-safe; one per session.
class LineReader {
public:
    /// Appends received bytes. Never fails; memory is bounded by what is not yet read.
    void append(std::span<const char> bytes);

    /// The next complete line, or nullopt until its LF has arrived. A line whose length with
    /// CRLF exceeds `max_octets` comes back once, with too_long set and empty text, after its LF
    /// arrived; its bytes are dropped as they come, so a line without an end costs no memory.
    std::optional<Line> read_line(std::size_t max_octets);

    /// The unread bytes (for raw reads: BDAT chunks, DATA text).
    std::string_view peek() const noexcept;
    /// Drops the first `n` unread bytes (n <= peek().size()).
    void consume(std::size_t n) noexcept;
    /// Drops every unread byte and any line being skipped (RFC 3207 4.2: after STARTTLS).
    void clear() noexcept;
    std::size_t size() const noexcept { return buffer_.size() - start_; }

private:
    void compact();

    std::string buffer_;
    std::size_t start_ = 0;     ///< bytes before start_ are read
    std::size_t scanned_ = 0;   ///< unread bytes known to hold no LF: a line fed byte by byte is scanned once
    bool skipping_ = false;     ///< inside a too-long line, dropping up to its LF
    bool skipped_cr_ = false;   ///< the last byte dropped while skipping was a CR
};

}  // namespace vpsmail::wire
