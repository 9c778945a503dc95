#include "mime/section.hpp"

#include "core/error.hpp"
#include "mime/header.hpp"

#include <fmt/format.h>

namespace vpsmail::mime {
namespace {

[[noreturn]] void bad(std::string_view spec, std::string_view why) {
    std::string shown;
    for (unsigned char c : spec.substr(0, 80)) shown += c < 0x20 || c >= 0x7f ? '?' : static_cast<char>(c);
    throw Error(ErrorKind::bad_data, fmt::format("invalid section '{}': {}", shown, why));
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && same_name(s.substr(0, prefix.size()), prefix);
}

// The field names of a HEADER.FIELDS list: `(` astring *(SP astring) `)`.
std::vector<std::string> field_list(std::string_view spec, std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size() || text[pos] != '(') bad(spec, "HEADER.FIELDS needs a list of field names");
    ++pos;
    for (;;) {
        while (pos < text.size() && text[pos] == ' ') ++pos;
        if (pos >= text.size()) bad(spec, "the field list is not closed with ')'");
        if (text[pos] == ')') {
            ++pos;
            break;
        }
        std::string name;
        if (text[pos] == '"') {
            for (++pos;; ++pos) {
                if (pos >= text.size()) bad(spec, "a quoted field name is not closed");
                if (text[pos] == '\\' && pos + 1 < text.size()) name += text[++pos];
                else if (text[pos] == '"') break;
                else name += text[pos];
            }
            ++pos;
        } else {
            while (pos < text.size() && text[pos] != ' ' && text[pos] != ')') name += text[pos++];
        }
        if (name.empty()) bad(spec, "an empty field name");
        out.push_back(std::move(name));
    }
    if (pos != text.size()) bad(spec, "text after the field list");
    if (out.empty()) bad(spec, "the field list is empty");
    return out;
}

// The part `path` names, or nullptr; `nested` is the message the path ends in when its last
// part is a message/rfc822 part (or the top message for an empty path).
struct Target {
    const Part* part = nullptr;
    const Part* message = nullptr;  // the message whose HEADER/TEXT the path's end addresses
};

Target find(const Structure& s, const std::vector<std::uint32_t>& path) {
    Target t;
    if (s.parts.empty()) return t;
    const Part* cur = &s.parts[0];
    bool in_message = true;  // `cur` is a message's top part: "1" may be the part itself
    for (std::uint32_t n : path) {
        if (!in_message && cur->kind == Part::Kind::message) {
            if (cur->children.empty()) return {};
            cur = &s.parts[cur->children.front()];
            in_message = true;
        }
        if (cur->kind == Part::Kind::multipart) {
            if (n == 0 || n > cur->children.size()) return {};
            cur = &s.parts[cur->children[n - 1]];
        } else if (!(in_message && n == 1)) {
            return {};
        }
        in_message = false;
    }
    t.part = cur;
    if (path.empty()) t.message = cur;
    else if (cur->kind == Part::Kind::message && !cur->children.empty()) t.message = &s.parts[cur->children.front()];
    return t;
}

Range header_of(const Part& p) { return {p.header_offset, p.header_length}; }
Range body_of(const Part& p) { return {p.body_offset, p.body_length}; }

}  // namespace

Section parse_section(std::string_view spec) {
    Section s;
    std::string_view rest = spec;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
        std::size_t digits = 0;
        std::uint64_t n = 0;
        while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
            n = n * 10 + static_cast<unsigned>(rest[digits] - '0');
            if (++digits > 9) bad(spec, "a part number is too long");
        }
        if (n == 0) bad(spec, "part numbers start at 1");
        s.path.push_back(static_cast<std::uint32_t>(n));
        rest.remove_prefix(digits);
        if (rest.empty()) return s;
        if (rest.front() != '.') bad(spec, "a part number must be followed by '.'");
        rest.remove_prefix(1);
        if (rest.empty()) bad(spec, "nothing after '.'");
    }
    if (rest.empty()) return s;
    if (starts_with_nocase(rest, "HEADER.FIELDS.NOT")) {
        s.kind = Section::Kind::header_fields_not;
        s.fields = field_list(spec, rest.substr(17));
    } else if (starts_with_nocase(rest, "HEADER.FIELDS")) {
        s.kind = Section::Kind::header_fields;
        s.fields = field_list(spec, rest.substr(13));
    } else if (same_name(rest, "HEADER")) {
        s.kind = Section::Kind::header;
    } else if (same_name(rest, "TEXT")) {
        s.kind = Section::Kind::text;
    } else if (same_name(rest, "MIME")) {
        if (s.path.empty()) bad(spec, "MIME needs a part number");
        s.kind = Section::Kind::mime;
    } else {
        bad(spec, "unknown section keyword");
    }
    return s;
}

std::optional<Range> locate(const Structure& structure, const Section& section) {
    const Target t = find(structure, section.path);
    if (t.part == nullptr) return std::nullopt;
    switch (section.kind) {
        case Section::Kind::all:
            if (section.path.empty()) return Range{0, structure.size};
            return body_of(*t.part);
        case Section::Kind::mime:
            return header_of(*t.part);
        case Section::Kind::header:
        case Section::Kind::header_fields:
        case Section::Kind::header_fields_not:
            if (t.message == nullptr) return std::nullopt;
            return header_of(*t.message);
        case Section::Kind::text:
            if (t.message == nullptr) return std::nullopt;
            return body_of(*t.message);
    }
    return std::nullopt;
}

std::string select_fields(std::string_view header, const std::vector<std::string>& names, bool exclude) {
    const Header h = parse_header(header);
    std::string out;
    for (const HeaderField& f : h.fields) {
        bool named = false;
        for (const auto& n : names)
            if (same_name(f.name, n)) named = true;
        if (named == exclude) continue;
        std::string_view raw = header.substr(f.offset, f.length);
        out += raw;
        if (raw.empty() || raw.back() != '\n') out += "\r\n";
    }
    // RFC 3501 6.4.5: the subset is followed by the blank line that ends a header.
    out += header.ends_with("\r\n") || header.empty() ? "\r\n" : "\n";
    return out;
}

std::string section_bytes(const Structure& structure, const Section& section, std::string_view message) {
    const auto range = locate(structure, section);
    if (!range || range->offset > message.size() || range->length > message.size() - range->offset) return {};
    std::string_view bytes = message.substr(range->offset, range->length);
    if (section.kind == Section::Kind::header_fields || section.kind == Section::Kind::header_fields_not)
        return select_fields(bytes, section.fields, section.kind == Section::Kind::header_fields_not);
    return std::string(bytes);
}

}  // namespace vpsmail::mime
