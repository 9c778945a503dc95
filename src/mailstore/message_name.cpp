#include "mailstore/message_name.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <strings.h>

namespace vpsmail::mailstore {
namespace {

constexpr std::string_view uid_tag = ",VU=";

struct Letter {
    char letter;
    std::uint32_t flag;
};
// Maildir spec: info letters in ASCII order.
constexpr Letter letters[] = {{'D', flag_draft}, {'F', flag_flagged}, {'P', flag_forwarded},
                              {'R', flag_answered}, {'S', flag_seen}, {'T', flag_deleted}};

std::optional<std::uint64_t> field(std::string_view file_name, std::string_view tag, std::size_t max_digits) {
    std::string_view stem = name_stem(file_name);
    // The last one is the field: fields follow the host, which could hold the tag itself.
    auto at = stem.rfind(tag);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view digits = stem.substr(at + tag.size());
    digits = digits.substr(0, digits.find(','));
    if (digits.empty() || digits.size() > max_digits) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

}  // namespace

std::uint32_t take_forwarded(std::vector<std::string>& keywords) {
    auto it = std::remove_if(keywords.begin(), keywords.end(), [](const std::string& k) {
        return k.size() == 10 && ::strncasecmp(k.c_str(), "$forwarded", 10) == 0;
    });
    const bool found = it != keywords.end();
    keywords.erase(it, keywords.end());
    return found ? static_cast<std::uint32_t>(flag_forwarded) : 0u;
}

std::string_view name_stem(std::string_view file_name) {
    // Maildir spec: the info starts at the first ":" (a ":" in the host is escaped).
    return file_name.substr(0, file_name.find(':'));
}

std::uint32_t parse_flags(std::string_view file_name) {
    auto colon = file_name.find(':');
    if (colon == std::string_view::npos || file_name.substr(colon, 3) != ":2,") return 0;
    std::uint32_t flags = 0;
    for (char c : file_name.substr(colon + 3))
        for (const Letter& l : letters)
            if (l.letter == c) flags |= l.flag;
    return flags;
}

std::string format_flags(std::uint32_t flags) {
    std::string out;
    for (const Letter& l : letters)
        if ((flags & l.flag) != 0) out.push_back(l.letter);
    return out;
}

std::optional<std::uint32_t> find_uid(std::string_view file_name) {
    auto uid = field(file_name, uid_tag, 10);
    if (!uid || *uid == 0 || *uid > 0xffffffffu) return std::nullopt;
    return static_cast<std::uint32_t>(*uid);
}

std::optional<std::uint64_t> find_crlf_size(std::string_view file_name) { return field(file_name, ",W=", 19); }

std::string with_uid(std::string_view stem, std::uint32_t uid) {
    auto at = stem.rfind(uid_tag);
    if (at == std::string_view::npos) return fmt::format("{}{}{}", stem, uid_tag, uid);
    auto end = stem.find(',', at + uid_tag.size());
    std::string_view rest = end == std::string_view::npos ? std::string_view() : stem.substr(end);
    return fmt::format("{}{}{}{}", stem.substr(0, at), uid_tag, uid, rest);
}

std::string format_indexed_name(std::string_view base, std::uint64_t size, std::uint64_t crlf_size, std::uint32_t uid) {
    return fmt::format("{},S={},W={}{}{}", base, size, crlf_size, uid_tag, uid);
}

std::string cur_name(std::string_view stem, std::uint32_t flags) { return fmt::format("{}:2,{}", stem, format_flags(flags)); }

}  // namespace vpsmail::mailstore
