#include "core/safe_name.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

namespace vpsmail {

void check_safe_name(std::string_view name, std::string_view what) {
    auto bad = [&](std::string_view why) {
        return Error(ErrorKind::bad_data, fmt::format("invalid {} '{}': {}", what, name, why));
    };
    if (name.empty()) throw bad("it is empty");
    if (name.front() == '.') throw bad("it starts with '.', which names hidden files and Maildir++ folders");
    for (unsigned char c : name) {
        if (c == '/') throw bad("it contains '/', which would leave its mail folder");
        if (c < 0x20 || c == 0x7f) throw bad("it contains a control character");
    }
}

}  // namespace vpsmail
