#include "core/size.hpp"

#include "core/address.hpp"
#include "core/error.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>

namespace vpsmail {

std::uint64_t parse_size(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return Error(ErrorKind::bad_data,
                     fmt::format("invalid size '{}': {} (use a number of bytes or 500K, 500M, 2G, 1T; 0 = none)", text, why));
    };
    if (text.empty()) throw bad("it is empty");
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) throw bad("it is too large");
    if (ec != std::errc() || end == text.data()) throw bad("it does not start with a number");
    std::string unit = lower_ascii(std::string_view(end, text.data() + text.size() - end));
    if (unit.size() > 1 && (unit.ends_with("ib") || unit.ends_with("b"))) unit.resize(unit.ends_with("ib") ? unit.size() - 2 : unit.size() - 1);
    else if (unit == "b") unit.clear();
    unsigned shift = 0;
    if (unit.empty()) shift = 0;
    else if (unit == "k") shift = 10;
    else if (unit == "m") shift = 20;
    else if (unit == "g") shift = 30;
    else if (unit == "t") shift = 40;
    else throw bad(fmt::format("unknown unit '{}'", std::string_view(end, text.data() + text.size() - end)));
    if (shift && value > (std::numeric_limits<std::uint64_t>::max() >> shift)) throw bad("it is too large");
    std::uint64_t bytes = value << shift;
    if (bytes > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) throw bad("it is too large");
    return bytes;
}

std::string format_size(std::uint64_t bytes) {
    static constexpr const char* units[] = {"T", "G", "M", "K"};
    static constexpr unsigned shifts[] = {40, 30, 20, 10};
    if (bytes == 0) return "0";
    for (int i = 0; i < 4; ++i) {
        std::uint64_t unit = std::uint64_t{1} << shifts[i];
        if (bytes % unit == 0) return fmt::format("{}{}", bytes / unit, units[i]);
    }
    return fmt::format("{}", bytes);
}

}  // namespace vpsmail
