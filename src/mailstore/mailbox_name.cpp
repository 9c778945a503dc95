#include "mailstore/mailbox_name.hpp"

#include "core/error.hpp"
#include "core/escape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace vpsmail::mailstore {
namespace {

// Anything longer cannot fit max_folder_file_name once encoded; refused before any work.
constexpr std::size_t max_input = 1024;
// RFC 3501 5.1.3: modified BASE64, ',' instead of '/', no padding.
constexpr std::string_view base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

bool decode_utf8(std::string_view text, std::u32string& out) {
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        std::size_t n = 0;
        char32_t cp = 0;
        if (c < 0x80) {
            cp = c;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;  // a continuation byte first, 0xc0/0xc1 (overlong), 0xf5 and up
        }
        if (i + n >= text.size()) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 (RFC 3629 3).
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        out.push_back(cp);
        i += n + 1;
    }
    return true;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

bool printable_ascii(char32_t cp) { return cp >= 0x20 && cp <= 0x7e; }

std::string decode_utf7(std::string_view text);

// The name as an error message shows it, one safe log line: control bytes and '%' as %XX
// (core/escape), and so are C1 controls and, in what is not UTF-8, every byte past 0x7f; cut
// after 100 bytes.
std::string shown(std::string_view text) {
    std::u32string ignored;
    const bool utf8 = decode_utf8(text, ignored);
    std::string out;
    std::size_t cut = std::min<std::size_t>(text.size(), 100);
    // Not inside a UTF-8 sequence: the message stays UTF-8.
    while (utf8 && cut < text.size() && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
    const std::string_view head = text.substr(0, cut);
    for (std::size_t i = 0; i < head.size(); ++i) {
        const auto c = static_cast<unsigned char>(head[i]);
        const bool c1 = c == 0xc2 && i + 1 < head.size() && static_cast<unsigned char>(head[i + 1]) <= 0x9f;
        if (c1 || (!utf8 && c >= 0x80)) {
            out += fmt::format("%{:02X}", c);
            if (c1) out += fmt::format("%{:02X}", static_cast<unsigned char>(head[++i]));
        } else {
            out += escape_value(head.substr(i, 1));
        }
    }
    if (cut < text.size()) out += "...";
    return out;
}

[[noreturn]] void refuse(std::string_view name, std::string_view why) {
    throw Error(ErrorKind::bad_data, fmt::format("invalid mailbox name '{}': {}", shown(name), why));
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = text.find(separator, start);
        out.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return out;
        start = end + 1;
    }
}

bool equals_inbox(std::string_view level) {
    if (level.size() != 5) return false;
    for (std::size_t i = 0; i < 5; ++i)
        if ((level[i] | 0x20) != "inbox"[i]) return false;
    return true;
}

std::string encode_levels(std::string_view canonical) {
    std::string out;
    for (std::string_view level : split(canonical, '/')) {
        out += '.';
        out += encode_modified_utf7(level);
    }
    return out;
}

// The checks every MailboxName passes (the class comment); `shown_as` is what the caller gave.
std::string canonical_name(std::string_view utf8, std::string_view shown_as) {
    if (shown_as.size() > max_input || utf8.size() > max_input)
        refuse(shown_as, fmt::format("longer than {} bytes", max_input));
    if (utf8.empty()) refuse(shown_as, "the name is empty");
    std::u32string cps;
    if (!decode_utf8(utf8, cps)) refuse(shown_as, "not valid UTF-8");
    for (char32_t cp : cps)
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) refuse(shown_as, "it contains a control character");
    if (utf8.front() == '/' || utf8.back() == '/') refuse(shown_as, "a leading or trailing '/'");
    const auto levels = split(utf8, '/');
    for (std::string_view level : levels) {
        if (level.empty()) refuse(shown_as, "an empty level ('//')");
        if (level == "." || level == "..") refuse(shown_as, "'.' and '..' cannot be levels of a name");
        if (level.find('.') != std::string_view::npos)
            refuse(shown_as, "'.' cannot be part of a name: Maildir++ folders use it between levels (use '/')");
    }
    if (levels.size() > max_mailbox_depth)
        refuse(shown_as, fmt::format("more than {} levels", max_mailbox_depth));
    std::string canonical(utf8);
    // RFC 3501 5.1: INBOX is case-insensitive, also as the top of a hierarchy.
    if (equals_inbox(levels.front())) canonical.replace(0, 5, "INBOX");
    if (canonical != "INBOX" && encode_levels(canonical).size() > max_folder_file_name)
        refuse(shown_as, fmt::format("its folder name would be longer than {} bytes", max_folder_file_name));
    return canonical;
}

}  // namespace

MailboxName MailboxName::from_utf8(std::string_view text) { return MailboxName(canonical_name(text, text)); }

MailboxName MailboxName::from_utf7(std::string_view wire) {
    if (wire.size() > max_input) refuse(wire, fmt::format("longer than {} bytes", max_input));
    std::string utf8;
    try {
        utf8 = decode_utf7(wire);
    } catch (const Error& e) {
        refuse(wire, fmt::format("not modified UTF-7: {}", e.what()));
    }
    return MailboxName(canonical_name(utf8, wire));
}

std::string MailboxName::utf7() const { return encode_modified_utf7(name_); }

std::vector<std::string> MailboxName::levels() const {
    std::vector<std::string> out;
    for (std::string_view level : split(name_, '/')) out.emplace_back(level);
    return out;
}

std::optional<MailboxName> MailboxName::parent() const {
    const std::size_t slash = name_.rfind('/');
    if (slash == std::string::npos) return std::nullopt;
    return MailboxName(name_.substr(0, slash));
}

bool MailboxName::is_ancestor_of(const MailboxName& other) const noexcept {
    return other.name_.size() > name_.size() && other.name_.starts_with(name_) && other.name_[name_.size()] == '/';
}

MailboxName MailboxName::rebased(const MailboxName& from, const MailboxName& to) const {
    if (from != *this && !from.is_ancestor_of(*this))
        throw Error(ErrorKind::bad_data, fmt::format("mailbox '{}' is not under '{}'", shown(name_), shown(from.name_)));
    const std::string moved = to.name_ + name_.substr(from.name_.size());
    return MailboxName(canonical_name(moved, moved));
}

std::string encode_modified_utf7(std::string_view utf8) {
    std::u32string cps;
    if (!decode_utf8(utf8, cps)) throw Error(ErrorKind::bad_data, fmt::format("'{}' is not valid UTF-8", shown(utf8)));
    std::string out;
    for (std::size_t i = 0; i < cps.size();) {
        if (printable_ascii(cps[i])) {
            out += cps[i] == U'&' ? std::string("&-") : std::string(1, static_cast<char>(cps[i]));
            ++i;
            continue;
        }
        std::u16string units;
        for (; i < cps.size() && !printable_ascii(cps[i]); ++i) {
            const char32_t cp = cps[i];
            if (cp < 0x10000) {
                units.push_back(static_cast<char16_t>(cp));
            } else {
                units.push_back(static_cast<char16_t>(0xd800 + ((cp - 0x10000) >> 10)));
                units.push_back(static_cast<char16_t>(0xdc00 + ((cp - 0x10000) & 0x3ff)));
            }
        }
        out += '&';
        std::uint32_t bits = 0;
        int count = 0;
        for (char16_t unit : units) {
            bits = (bits << 16) | unit;
            count += 16;
            while (count >= 6) {
                count -= 6;
                out += base64_alphabet[(bits >> count) & 0x3f];
            }
            bits &= (1u << count) - 1;
        }
        if (count > 0) out += base64_alphabet[(bits << (6 - count)) & 0x3f];
        out += '-';
    }
    return out;
}

namespace {

// decode_modified_utf7, throwing Error(bad_data) with only the reason as its message.
std::string decode_utf7(std::string_view text) {
    auto bad = [](std::string why) { return Error(ErrorKind::bad_data, std::move(why)); };
    for (unsigned char c : text)
        if (c < 0x20 || c > 0x7e) throw bad(fmt::format("byte 0x{:02X} (only printable ASCII is sent as is)", c));
    std::string out;
    bool after_run = false;  // the previous character ended an encoded run
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c != '&') {
            out += static_cast<char>(c);
            after_run = false;
            ++i;
            continue;
        }
        const std::size_t end = text.find('-', i + 1);
        if (end == std::string_view::npos) throw bad("an '&' without its closing '-'");
        if (end == i + 1) {
            out += '&';
            after_run = false;
            i = end + 1;
            continue;
        }
        // RFC 3501 5.1.3: one run for consecutive characters, so two in a row is another spelling.
        if (after_run) throw bad("two encoded runs in a row (not the shortest form)");
        std::u16string units;
        std::uint32_t bits = 0;
        int count = 0;
        for (char ch : text.substr(i + 1, end - i - 1)) {
            const std::size_t value = base64_alphabet.find(ch);
            if (value == std::string_view::npos) throw bad(fmt::format("'{}' is not a modified base64 character", ch));
            bits = (bits << 6) | static_cast<std::uint32_t>(value);
            count += 6;
            if (count >= 16) {
                count -= 16;
                units.push_back(static_cast<char16_t>((bits >> count) & 0xffff));
                bits &= (1u << count) - 1;
            }
        }
        if (count >= 6) throw bad("a base64 character too many");
        if (bits != 0) throw bad("leftover bits that are not zero");
        for (std::size_t k = 0; k < units.size(); ++k) {
            char32_t cp = units[k];
            if (cp >= 0xdc00 && cp <= 0xdfff) throw bad("an unpaired surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (k + 1 >= units.size() || units[k + 1] < 0xdc00 || units[k + 1] > 0xdfff) throw bad("an unpaired surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (units[k + 1] - 0xdc00);
                ++k;
            }
            if (printable_ascii(cp)) throw bad("an encoded printable ASCII character (not the shortest form)");
            append_utf8(out, cp);
        }
        after_run = true;
        i = end + 1;
    }
    return out;
}

}  // namespace

std::string decode_modified_utf7(std::string_view text) {
    try {
        return decode_utf7(text);
    } catch (const Error& e) {
        throw Error(ErrorKind::bad_data, fmt::format("'{}' is not modified UTF-7: {}", shown(text), e.what()));
    }
}

std::string folder_file_name(const MailboxName& name) { return name.is_inbox() ? std::string() : encode_levels(name.str()); }

std::string folder_path(const std::string& account_maildir, const MailboxName& name) {
    // docs/architecture.md section 10: one component below the Maildir, never "." or "..".
    return name.is_inbox() ? account_maildir : account_maildir + "/" + folder_file_name(name);
}

std::optional<MailboxName> find_folder_name(std::string_view file_name) {
    if (file_name.size() < 2 || file_name.front() != '.' || file_name.size() > max_folder_file_name) return std::nullopt;
    try {
        std::string utf8;
        bool first = true;
        for (std::string_view level : split(file_name.substr(1), '.')) {
            if (!first) utf8 += '/';
            first = false;
            utf8 += decode_utf7(level);
        }
        MailboxName name = MailboxName::from_utf8(utf8);
        if (folder_file_name(name) != file_name) return std::nullopt;
        return name;
    } catch (const Error&) {
        return std::nullopt;
    }
}

}  // namespace vpsmail::mailstore
