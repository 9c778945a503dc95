#include "core/log.hpp"

#include <cerrno>
#include <ctime>
#include <unistd.h>

namespace vpsmail::log {
namespace {

bool timestamps = false;

bool needs_quotes(std::string_view value) {
    if (value.empty()) return true;
    for (unsigned char c : value)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
    return false;
}

void append_value(std::string& out, std::string_view value) {
    if (!needs_quotes(value)) {
        out += value;
        return;
    }
    static const char hex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : value) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < ' ' || c == 0x7f) {
            // A client's bytes must not forge a second log line.
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
}

}  // namespace

std::string format_line(std::string_view event, std::initializer_list<Field> fields) {
    std::string out(event);
    for (const auto& [key, value] : fields) {
        out += ' ';
        out += key;
        out += '=';
        append_value(out, value);
    }
    out += '\n';
    return out;
}

void line(std::string_view event, std::initializer_list<Field> fields) noexcept {
    try {
        std::string text = format_line(event, fields);
        if (timestamps) {
            char stamp[32];
            std::time_t now = std::time(nullptr);
            std::tm tm {};
            ::gmtime_r(&now, &tm);
            std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ ", &tm);
            text.insert(0, stamp);
        }
        std::size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            done += static_cast<std::size_t>(n);
        }
    } catch (...) {
        // Out of memory while logging: drop the line rather than the connection.
    }
}

void set_timestamps(bool on) noexcept { timestamps = on; }

}  // namespace vpsmail::log
