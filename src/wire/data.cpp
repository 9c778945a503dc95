#include "wire/data.hpp"

namespace vpsmail::wire {

void DotDecoder::put(std::string& message, std::string_view bytes) {
    if (!nul_ && bytes.find('\0') != std::string_view::npos) nul_ = true;
    if (max_size_ == 0 || size_ + bytes.size() <= max_size_) {
        message.append(bytes);
    } else if (size_ < max_size_) {
        message.append(bytes.substr(0, static_cast<std::size_t>(max_size_ - size_)));
    }
    size_ += bytes.size();
}

// One byte inside a line (not a CR): LF here is bare (RFC 5321 2.3.8).
void DotDecoder::middle_byte(char c, std::string& message) {
    if (c == '\r') {
        state_ = State::cr;
        return;
    }
    if (c == '\n') bare_lf_ = true;
    put(message, std::string_view(&c, 1));
    state_ = State::middle;
}

DotDecoder::Progress DotDecoder::decode(std::string_view input, std::string& message) {
    std::size_t i = 0;
    const std::size_t n = input.size();
    while (i < n && state_ != State::done) {
        char c = input[i];
        switch (state_) {
        case State::middle: {
            // The common case: copy the run up to the next CR or LF at once.
            std::size_t end = input.find_first_of("\r\n", i);
            if (end == std::string_view::npos) end = n;
            if (end > i) {
                put(message, input.substr(i, end - i));
                i = end;
                continue;
            }
            middle_byte(c, message);
            break;
        }
        case State::line_start:
            if (c == '.') state_ = State::dot;
            else middle_byte(c, message);
            break;
        case State::cr:
            if (c == '\n') {
                put(message, "\r\n");
                state_ = State::line_start;
            } else {
                bare_cr_ = true;
                put(message, "\r");
                middle_byte(c, message);
            }
            break;
        case State::dot:
            // RFC 5321 4.5.2: a line starting with "." and holding more has that "." removed.
            if (c == '\r') state_ = State::dot_cr;
            else middle_byte(c, message);
            break;
        case State::dot_cr:
            if (c == '\n') {
                state_ = State::done;  // RFC 5321 4.1.1.4: CRLF.CRLF ends the mail data
            } else {
                bare_cr_ = true;
                put(message, "\r");
                middle_byte(c, message);
            }
            break;
        case State::done:
            break;
        }
        ++i;
    }
    return Progress{i, state_ == State::done};
}

void NewlineCheck::scan(std::string_view piece) noexcept {
    for (char c : piece) {
        if (pending_cr_ && c != '\n') bare_cr_ = true;
        if (c == '\n' && !pending_cr_) bare_lf_ = true;
        if (c == '\0') nul_ = true;
        pending_cr_ = c == '\r';
    }
}

void NewlineCheck::finish() noexcept {
    if (pending_cr_) bare_cr_ = true;
    pending_cr_ = false;
}

std::string stuff_data(std::string_view message) {
    std::string out;
    out.reserve(message.size() + message.size() / 64 + 5);
    bool line_start = true;
    for (char c : message) {
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n' || c == '\r';
    }
    if (!message.empty() && !message.ends_with("\r\n")) out += "\r\n";
    out += ".\r\n";
    return out;
}

}  // namespace vpsmail::wire
