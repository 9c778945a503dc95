#include "route/targets.hpp"

#include "core/address.hpp"
#include "core/error.hpp"

#include <fmt/format.h>

#include <cctype>

namespace vpsmail::route {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && lower_ascii(s.substr(0, prefix.size())) == prefix;
}

bool is_status(std::string_view s) {  // RFC 3463: class.subject.detail
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
    std::size_t dots = 0;
    for (std::size_t i = 2; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (s[i - 1] == '.') return false;
            ++dots;
        } else if (!std::isdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return dots == 1 && s.back() != '.';
}

bool is_code(std::string_view s) {
    return s.size() == 3 && (s[0] == '4' || s[0] == '5') && std::isdigit(static_cast<unsigned char>(s[1])) &&
           std::isdigit(static_cast<unsigned char>(s[2]));
}

[[noreturn]] void bad_entry(std::string_view text, std::string_view why) {
    throw Error(ErrorKind::bad_data, fmt::format("invalid target '{}': {}", text, why));
}

}  // namespace

ErrorReply parse_error_entry(std::string_view text) {
    std::string_view rest = trim(text);
    if (!starts_with_ci(rest, "error:")) bad_entry(text, "it does not start with 'error:'");
    rest = trim(rest.substr(6));
    ErrorReply r;
    auto colon = rest.find(':');
    auto space = rest.find(' ');
    if (colon != std::string_view::npos && (space == std::string_view::npos || colon < space) &&
        is_status(rest.substr(0, colon))) {
        // error:D.S.N:CODE text
        r.status = std::string(rest.substr(0, colon));
        rest = trim(rest.substr(colon + 1));
        auto sp = rest.find(' ');
        std::string_view code = rest.substr(0, sp);
        if (is_code(code)) {
            r.code = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
            rest = sp == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp));
        } else {
            r.code = r.status[0] == '4' ? 451 : 550;
        }
        if (r.status[0] != '0' + r.code / 100)
            bad_entry(text, fmt::format("status {} and reply code {} disagree (both 4xx or both 5xx)", r.status, r.code));
    } else {
        // error:KEYWORD [CODE] text
        auto sp = rest.find(' ');
        std::string keyword(rest.substr(0, sp));
        if (keyword.empty()) bad_entry(text, "it has no keyword, status or code after 'error:'");
        rest = sp == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp));
        auto sp2 = rest.find(' ');
        std::string code(rest.substr(0, sp2));
        if (is_code(keyword)) {
            code = keyword;
            keyword.clear();
        }
        if (is_code(code) || keyword.empty()) {
            r.code = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
            r.status = r.code < 500 ? "4.0.0" : "5.0.0";
            if (!keyword.empty()) rest = sp2 == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp2));
        } else if (lower_ascii(keyword) == "tempfail") {
            // vpsmail: a temporary failure without a code is 451 4.3.0 (docs/routing.md rule 6).
            r.code = 451;
            r.status = "4.3.0";
        } else {
            r.code = 553;
            r.status = "5.3.0";
        }
    }
    for (unsigned char c : rest)
        if (c < 0x20 || c == 0x7f) bad_entry(text, "the text contains a control character");
    r.text = rest.empty() ? (r.code < 500 ? "temporary failure" : "address rejected") : std::string(rest);
    return r;
}

Entry parse_entry(std::string_view raw) {
    std::string_view text = trim(raw);
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"' &&
        (text[1] == '|' || text[1] == '/' || starts_with_ci(text.substr(1), ":include:")))
        text = text.substr(1, text.size() - 2);
    if (text.empty()) bad_entry(raw, "it is empty");
    Entry e;
    e.text = std::string(text);
    if (text.front() == '|') {
        e.kind = EntryKind::program;
        e.value = std::string(trim(text.substr(1)));
        if (e.value.empty()) bad_entry(raw, "the program after '|' is empty");
    } else if (text.front() == '/') {
        e.kind = EntryKind::file;
        e.value = std::string(text);
        for (unsigned char c : text)
            if (c < 0x20 || c == 0x7f) bad_entry(raw, "the path contains a control character");
    } else if (starts_with_ci(text, ":include:")) {
        e.kind = EntryKind::include;
        e.value = std::string(trim(text.substr(9)));
        if (e.value.empty() || e.value.front() != '/') bad_entry(raw, "an :include: needs an absolute path");
    } else if (starts_with_ci(text, "error:")) {
        e.kind = EntryKind::error;
        e.error = parse_error_entry(text);
    } else {
        Address a = parse_recipient(text, Backslash::allow);
        e.kind = a.backslash ? EntryKind::backslash : a.bare() ? EntryKind::bare : EntryKind::address;
        a.backslash = false;
        e.value = a.str();
    }
    return e;
}

std::vector<std::string> split_include(std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        if (trim(line).starts_with('#')) continue;
        std::string current;
        bool quoted = false;
        for (char c : line) {
            if (c == '"') quoted = !quoted;
            if (c == ',' && !quoted) {
                if (!trim(current).empty()) out.emplace_back(trim(current));
                current.clear();
            } else {
                current += c;
            }
        }
        if (!trim(current).empty()) out.emplace_back(trim(current));
    }
    for (auto& entry : out)
        if (entry.size() >= 2 && entry.front() == '"' && entry.back() == '"') entry = entry.substr(1, entry.size() - 2);
    return out;
}

std::string normalize_entry(std::string_view text) {
    Entry e = parse_entry(text);
    switch (e.kind) {
    case EntryKind::address:
    case EntryKind::bare: return e.value;
    case EntryKind::backslash: return "\\" + e.value;
    default: return std::string(trim(text));
    }
}

std::string check_vuser_target(std::string_view text) {
    std::string_view t = trim(text);
    if (t.find(',') != std::string_view::npos && !t.starts_with('"') && !starts_with_ci(t, "error:"))
        bad_entry(text, "a virtusertable entry takes one target; make an alias for a list and map to it");
    Entry e = parse_entry(t);
    switch (e.kind) {
    case EntryKind::program:
    case EntryKind::file:
    case EntryKind::include:
        bad_entry(text, "programs, files and :include: are not allowed here; point to an alias that holds them");
    default:
        break;
    }
    return normalize_entry(t);
}

std::string check_alias_target(std::string_view text) {
    if (starts_with_ci(trim(text), "error:"))
        bad_entry(text, "aliases take no error: entries; use 'vpsmail vuser map ADDRESS error:...' instead");
    return normalize_entry(text);
}

std::string check_forward_target(std::string_view text) {
    if (starts_with_ci(trim(text), "error:"))
        bad_entry(text, "forwards take no error: entries; use 'vpsmail vuser map ADDRESS error:...' instead");
    return normalize_entry(text);
}

VuserKey parse_vuser_key(std::string_view text) {
    std::string_view t = trim(text);
    auto at = t.rfind('@');
    if (at == std::string_view::npos)
        throw Error(ErrorKind::bad_data,
                    fmt::format("invalid virtusertable key '{}': it needs '@domain' (user@domain, user+*@domain or @domain)", text));
    VuserKey k;
    k.domain = normalize_domain(t.substr(at + 1));
    std::string_view local = t.substr(0, at);
    std::string local_norm;
    if (!local.empty()) local_norm = parse_address(std::string(local) + "@" + k.domain).local;
    k.key = lower_ascii(local_norm) + "@" + k.domain;
    return k;
}

}  // namespace vpsmail::route
