#include "core/address.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <cctype>

namespace vpsmail {
namespace {

bool is_atext(unsigned char c) {
    if (c >= 0x80) return true;  // RFC 6531 3.3: UTF-8 in atext
    if (std::isalnum(c)) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '/': case '=': case '?': case '^': case '_': case '`': case '{':
    case '|': case '}': case '~':
        return true;
    default:
        return false;
    }
}

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string printable(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if (is_control(c)) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
    if (out.size() > 80) out = out.substr(0, 77) + "...";
    return out;
}

[[noreturn]] void bad(std::string_view text, std::string_view why) {
    throw Error(ErrorKind::bad_data, fmt::format("invalid address '{}': {}", printable(text), why));
}

// Finds the end of a quoted-string starting at text[0] == '"'; returns the index of the
// closing quote, or npos.
std::size_t closing_quote(std::string_view text) {
    for (std::size_t i = 1; i < text.size(); ++i) {
        if (text[i] == '\\') { ++i; continue; }
        if (text[i] == '"') return i;
    }
    return std::string_view::npos;
}

// Validates the local part and applies rule 3 (dequote a dot-atom).
void set_local(Address& a, std::string_view whole, std::string_view local) {
    if (local.empty()) bad(whole, "the local part before '@' is empty");
    if (local.size() > max_local_part)
        bad(whole, fmt::format("the local part is {} bytes, more than {}", local.size(), max_local_part));
    for (unsigned char c : local)
        if (is_control(c)) bad(whole, "it contains a control character");
    if (local.front() == '"') {
        std::string content;
        for (std::size_t i = 1; i + 1 < local.size(); ++i) {
            if (local[i] == '\\' && i + 2 < local.size()) ++i;
            content += local[i];
        }
        if (is_dot_atom(content)) {
            a.local = content;
            a.quoted = false;
        } else {
            a.local = std::string(local);
            a.quoted = true;
        }
        return;
    }
    char prev = 0;
    for (unsigned char c : local) {
        if (c == ' ' || c == '\t') bad(whole, "it contains a space (quote the local part)");
        if (c == '@') bad(whole, "it contains more than one '@'");
        if (c != '.' && !is_atext(c)) bad(whole, fmt::format("the character '{}' is not allowed in a local part", static_cast<char>(c)));
        // RFC 5321 4.1.2: Dot-string = Atom *("." Atom)
        if (c == '.' && prev == '.') bad(whole, "the local part has two dots in a row (quote it if that is meant)");
        prev = static_cast<char>(c);
    }
    if (local.front() == '.') bad(whole, "the local part starts with a dot (quote it if that is meant)");
    if (local.back() == '.') bad(whole, "the local part ends with a dot (quote it if that is meant)");
    a.local = std::string(local);
}

}  // namespace

std::string Address::str() const {
    std::string out = backslash ? "\\" + local : local;
    return domain.empty() ? out : out + "@" + domain;
}

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool is_dot_atom(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.') return false;
    char prev = 0;
    for (char c : text) {
        if (c == '.') {
            if (prev == '.') return false;
        } else if (!is_atext(static_cast<unsigned char>(c))) {
            return false;
        }
        prev = c;
    }
    return true;
}

DetailSplit split_detail(std::string_view local, char delimiter) {
    DetailSplit s;
    auto pos = local.find(delimiter);
    if (pos == std::string_view::npos) {
        s.user = std::string(local);
        return s;
    }
    s.user = std::string(local.substr(0, pos));
    s.detail = std::string(local.substr(pos + 1));
    s.has_delimiter = true;
    return s;
}

Address parse_recipient(std::string_view text, Backslash backslash) {
    if (text.empty()) bad(text, "it is empty");
    if (text.front() == '\\') {
        if (backslash == Backslash::refuse)
            bad(text, "a leading backslash (the mailbox itself, skipping aliases and forwards) is not allowed here");
        Address a = parse_recipient(text.substr(1));
        if (a.quoted) bad(text, "a backslash cannot precede a quoted local part");
        a.backslash = true;
        return a;
    }
    if (text.size() > max_address)
        bad(text, fmt::format("it is {} bytes, more than {}", text.size(), max_address));
    for (unsigned char c : text)
        if (is_control(c)) bad(text, "it contains a control character");
    Address a;
    std::string_view local;
    std::string_view rest;
    if (text.front() == '"') {
        auto q = closing_quote(text);
        if (q == std::string_view::npos) bad(text, "the quoted local part is not closed");
        local = text.substr(0, q + 1);
        rest = text.substr(q + 1);
        if (!rest.empty() && rest.front() != '@') bad(text, "text follows the quoted local part");
    } else {
        auto at = text.rfind('@');
        if (at == std::string_view::npos) {
            local = text;
        } else {
            local = text.substr(0, at);
            rest = text.substr(at);
        }
    }
    set_local(a, text, local);
    if (!rest.empty()) {
        auto domain = rest.substr(1);
        if (domain.empty()) bad(text, "the domain after '@' is empty");
        try {
            a.domain = normalize_domain(domain, true);
        } catch (const Error& e) {
            bad(text, e.what());
        }
    }
    return a;
}

Address parse_address(std::string_view text, Backslash backslash) {
    if (text.find('@') == std::string_view::npos && !text.empty() && text.front() != '"')
        bad(text, "it has no '@domain' part");
    Address a = parse_recipient(text, backslash);
    if (a.bare()) bad(text, "it has no '@domain' part");
    return a;
}

}  // namespace vpsmail
