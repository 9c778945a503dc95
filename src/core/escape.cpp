#include "core/escape.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <charconv>

namespace vpsmail {

std::string escape_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (unsigned char c : value) {
        if (c == '%' || c < 0x20 || c == 0x7f) out += fmt::format("%{:02X}", c);
        else out += static_cast<char>(c);
    }
    return out;
}

std::string unescape_value(std::string_view value, std::string_view what, HexDigits digits) {
    const std::string_view allowed = digits == HexDigits::upper_case ? "0123456789ABCDEF" : "0123456789ABCDEFabcdef";
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '%') {
            out += value[i];
            continue;
        }
        const std::string_view hex = value.substr(i + 1, 2);
        if (hex.size() != 2 || hex.find_first_not_of(allowed) != std::string_view::npos)
            throw Error(ErrorKind::bad_data, fmt::format("{}: bad escape in '{}'", what, value));
        unsigned byte = 0;
        std::from_chars(hex.data(), hex.data() + 2, byte, 16);
        out += static_cast<char>(byte);
        i += 2;
    }
    return out;
}

}  // namespace vpsmail
