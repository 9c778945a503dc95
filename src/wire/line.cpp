#include "wire/line.hpp"

#include <algorithm>

namespace vpsmail::wire {

void LineReader::append(std::span<const char> bytes) {
    compact();
    buffer_.append(bytes.data(), bytes.size());
}

std::string_view LineReader::peek() const noexcept {
    return std::string_view(buffer_).substr(start_);
}

void LineReader::consume(std::size_t n) noexcept {
    n = std::min(n, size());
    start_ += n;
    scanned_ = scanned_ > n ? scanned_ - n : 0;
    if (start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
    }
}

void LineReader::clear() noexcept {
    buffer_.clear();
    start_ = 0;
    scanned_ = 0;
    skipping_ = false;
    skipped_cr_ = false;
}

void LineReader::compact() {
    // Moving the unread tail to the front once it is at least half of the buffer keeps appends
    // amortised linear without copying on every read.
    if (start_ > 0 && start_ >= buffer_.size() / 2) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
}

std::optional<Line> LineReader::read_line(std::size_t max_octets) {
    std::string_view unread = peek();
    auto lf = unread.find('\n', scanned_);
    if (lf == std::string_view::npos) scanned_ = unread.size();
    if (skipping_) {
        if (lf == std::string_view::npos) {
            const bool cr = unread.empty() ? skipped_cr_ : unread.back() == '\r';
            clear();
            skipping_ = true;
            skipped_cr_ = cr;
            return std::nullopt;
        }
        // Whether the LF ends the line bare must not depend on where the dropped bytes were
        // split: the CR before it may have been dropped with an earlier piece.
        Line line;
        line.too_long = true;
        line.bare_lf = lf > 0 ? unread[lf - 1] != '\r' : !skipped_cr_;
        consume(lf + 1);
        skipping_ = false;
        return line;
    }
    if (lf == std::string_view::npos) {
        // Without its LF the line is already at least size() + 1 octets long.
        if (unread.size() >= max_octets) {
            const bool cr = !unread.empty() && unread.back() == '\r';
            clear();
            skipping_ = true;
            skipped_cr_ = cr;
        }
        return std::nullopt;
    }
    Line line;
    std::size_t end = lf;
    if (end > 0 && unread[end - 1] == '\r') --end;
    else line.bare_lf = true;
    if (end + 2 > max_octets) {
        line.too_long = true;
    } else {
        line.text.assign(unread.substr(0, end));
        line.bare_cr = line.text.find('\r') != std::string::npos;
    }
    consume(lf + 1);
    return line;
}

}  // namespace vpsmail::wire
