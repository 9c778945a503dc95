// Domain name syntax and IDNA2008 conversion (libidn2), part of core/address.hpp.
#include "core/address.hpp"
#include "core/error.hpp"

#include <fmt/format.h>

#include <cctype>
#include <idn2.h>

#include <cstdlib>

namespace vpsmail {
namespace {

[[noreturn]] void bad(std::string_view text, std::string_view why) {
    throw Error(ErrorKind::bad_data, fmt::format("invalid domain '{}': {}", text, why));
}

bool has_non_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return true;
    return false;
}

std::string to_a_labels(std::string_view text) {
    char* out = nullptr;
    std::string in(text);
    // IDNA2008 with UTS #46 mapping, so that "Bücher.Example" becomes "xn--bcher-kva.example".
    int rc = idn2_to_ascii_8z(in.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) bad(text, fmt::format("not a valid internationalized name ({})", idn2_strerror(rc)));
    std::string result(out);
    idn2_free(out);
    return result;
}

}  // namespace

std::string normalize_domain(std::string_view text, bool allow_literal) {
    if (text.empty()) bad(text, "it is empty");
    if (text.front() == '[') {
        if (!allow_literal) bad(text, "an address literal is not a domain name");
        if (text.back() != ']' || text.size() < 3) bad(text, "the address literal is not closed with ']'");
        for (unsigned char c : text.substr(1, text.size() - 2))
            if (!(std::isxdigit(c) || c == '.' || c == ':' || std::isalnum(c) || c == '-'))
                bad(text, "the address literal holds a character that is not allowed");
        return lower_ascii(text);
    }
    std::string_view name = text;
    if (name.back() == '.') name.remove_suffix(1);  // an absolute name: the trailing dot is dropped
    if (name.empty()) bad(text, "it is only a dot");
    for (unsigned char c : name)
        if (c < 0x21 || c == 0x7f) bad(text, "it contains a space or control character");
    std::string ascii = has_non_ascii(name) ? to_a_labels(name) : lower_ascii(name);
    if (ascii.size() > max_domain)
        bad(text, fmt::format("it is {} bytes, more than {}", ascii.size(), max_domain));
    std::size_t start = 0;
    while (start <= ascii.size()) {
        auto end = ascii.find('.', start);
        if (end == std::string::npos) end = ascii.size();
        std::string_view label(ascii.data() + start, end - start);
        if (label.empty()) bad(text, "it has an empty label (two dots in a row or a leading dot)");
        if (label.size() > max_label)
            bad(text, fmt::format("the label '{}' is {} bytes, more than {}", label, label.size(), max_label));
        if (label.front() == '-' || label.back() == '-')
            bad(text, fmt::format("the label '{}' starts or ends with a hyphen", label));
        for (unsigned char c : label)
            if (!(std::isalnum(c) || c == '-'))
                bad(text, fmt::format("the label '{}' holds '{}'; only letters, digits and hyphens are allowed", label, static_cast<char>(c)));
        start = end + 1;
        if (end == ascii.size()) break;
    }
    return ascii;
}

}  // namespace vpsmail
