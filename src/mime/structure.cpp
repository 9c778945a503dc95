#include "mime/structure.hpp"

#include "core/address.hpp"
#include "mime/header.hpp"
#include "mime/imap_form.hpp"

#include <algorithm>
#include <unordered_map>

namespace vpsmail::mime {
namespace {

// Line ends counted before a position: all LFs, and LFs without a CR before them.
struct Count {
    std::size_t lf = 0;
    std::size_t bare = 0;
};

std::string trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return std::string(s);
}

// RFC 5322 2.2, as mime/header reads it: printable ASCII but ':' before the colon.
bool is_field_line(std::string_view line) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (name.empty()) return false;
    return std::all_of(name.begin(), name.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c >= 33 && c <= 126 && c != ':';
    });
}

// Lets the boundary table be searched with a string_view, without a copy per line.
struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// The content fields of a part from its header (RFC 2045 5, 6, 7, 8; RFC 2183; RFC 3282).
void read_content_fields(Part& part, const Header& h, bool digest_parent) {
    bool typed = false;
    if (const HeaderField* f = h.find("Content-Type")) {
        ContentValue v = parse_content_value(f->value);
        if (split_media_type(v.value, part.type, part.subtype)) {
            part.params = std::move(v.params);
            typed = true;
        }
    }
    if (!typed) {
        // RFC 2045 5.2; RFC 2046 5.1.5: in a digest the default is message/rfc822.
        if (digest_parent) {
            part.type = "message";
            part.subtype = "rfc822";
        } else {
            part.type = "text";
            part.subtype = "plain";
            part.params = {Param{"charset", "us-ascii"}};
        }
    }
    if (const HeaderField* f = h.find("Content-Transfer-Encoding")) {
        ContentValue v = parse_content_value(f->value);
        if (!v.value.empty()) part.encoding = v.value;
    }
    if (const HeaderField* f = h.find("Content-ID")) part.id = trimmed(f->value);
    if (const HeaderField* f = h.find("Content-Description")) part.description = trimmed(f->value);
    if (const HeaderField* f = h.find("Content-MD5")) part.md5 = trimmed(f->value);
    if (const HeaderField* f = h.find("Content-Location")) part.location = trimmed(f->value);
    if (const HeaderField* f = h.find("Content-Disposition")) {
        ContentValue v = parse_content_value(f->value);
        if (!v.value.empty()) {
            part.disposition = v.value;
            part.disposition_params = std::move(v.params);
        }
    }
    if (const HeaderField* f = h.find("Content-Language")) {
        std::string_view rest = f->value;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            std::string tag = trimmed(rest.substr(0, comma));
            if (!tag.empty()) part.language.push_back(std::move(tag));
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
}

class Parser {
public:
    explicit Parser(std::string_view message) : msg_(message) {}

    Structure run() {
        start_entity(0, Count{}, true, false);
        std::size_t pos = 0;
        Count at{};  // line ends before `pos`
        while (pos < msg_.size()) {
            auto nl = msg_.find('\n', pos);
            const std::size_t next = nl == std::string_view::npos ? msg_.size() : nl + 1;
            std::string_view line = msg_.substr(pos, (nl == std::string_view::npos ? msg_.size() : nl) - pos);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            Count after = at;
            if (nl != std::string_view::npos) {
                ++after.lf;
                if (nl == 0 || msg_[nl - 1] != '\r') ++after.bare;
            }

            bool close = false;
            const std::size_t level = delimiter_level(line, close);
            if (level != npos) {
                // A header that the delimiter cuts short ends here (a message/rfc822 part opens
                // its nested message first, which the delimiter then closes too).
                while (in_header_) finish_header(pos, at);
                on_delimiter(level, close, pos, at, next, after);
            } else if (in_header_) {
                if (line.empty()) {
                    finish_header(next, after);
                } else if (((line.front() == ' ' || line.front() == '\t') && header_fields_) || is_field_line(line)) {
                    header_fields_ = true;
                } else {
                    // RFC 5322 2.2 as mime/header reads it: a non-field line starts the body.
                    finish_header(pos, at);
                    continue;  // the same line again: a nested message's header may start with it
                }
            }
            pos = next;
            at = after;
        }
        while (in_header_) finish_header(pos, at);
        while (!open_.empty()) close_entity(msg_.size(), at);
        out_.size = msg_.size();
        out_.crlf_size = msg_.size() + at.bare;
        return std::move(out_);
    }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    struct Open {
        std::uint32_t part;
        Count body;  // counts at the body's start
    };
    struct Boundary {
        std::string text;
        std::size_t open_index;  // the multipart's place in open_
        std::size_t shadowed;    // the level of an outer boundary with the same text, or npos
    };

    // The innermost active boundary whose delimiter `line` is, or npos. One hash lookup per
    // candidate, whatever the depth: linear time however many boundaries are active.
    std::size_t delimiter_level(std::string_view line, bool& close) const {
        if (bounds_.empty() || line.size() < 2 || line[0] != '-' || line[1] != '-') return npos;
        std::string_view rest = line.substr(2);
        while (!rest.empty() && is_space(rest.back())) rest.remove_suffix(1);
        std::size_t level = npos;
        if (auto it = level_of_.find(rest); it != level_of_.end()) {
            level = it->second;
            close = false;
        }
        if (rest.size() >= 2 && rest.ends_with("--")) {
            auto it = level_of_.find(rest.substr(0, rest.size() - 2));
            if (it != level_of_.end() && (level == npos || it->second > level)) {
                level = it->second;
                close = true;
            }
        }
        return level;
    }

    void push_boundary(const std::string& text, bool digest) {
        auto it = level_of_.find(text);
        bounds_.push_back(Boundary{text, open_.size() - 1, it == level_of_.end() ? npos : it->second});
        digest_of_.push_back(digest);
        level_of_[bounds_.back().text] = bounds_.size() - 1;
    }

    void pop_boundaries(std::size_t keep) {
        while (bounds_.size() > keep) {
            const Boundary& b = bounds_.back();
            if (b.shadowed == npos) level_of_.erase(b.text);
            else level_of_[b.text] = b.shadowed;
            bounds_.pop_back();
            digest_of_.pop_back();
        }
    }

    void start_entity(std::size_t offset, Count count, bool message_root, bool digest_parent) {
        const auto index = static_cast<std::uint32_t>(out_.parts.size());
        Part part;
        part.message_root = message_root;
        part.header_offset = offset;
        out_.parts.push_back(std::move(part));
        if (!open_.empty()) out_.parts[open_.back().part].children.push_back(index);
        open_.push_back(Open{index, count});
        in_header_ = true;
        header_fields_ = false;
        header_start_ = offset;
        header_count_ = count;
        digest_parent_ = digest_parent;
    }

    // The current header ends at `end` (after its blank line, when it has one).
    void finish_header(std::size_t end, Count count) {
        in_header_ = false;
        Open& e = open_.back();
        e.body = count;
        const std::uint32_t index = e.part;
        const Header h = parse_header(msg_.substr(header_start_, end - header_start_));
        {
            Part& part = out_.parts[index];
            part.header_length = end - header_start_;
            part.header_size = part.header_length + count.bare - header_count_.bare;
            part.body_offset = end;
            read_content_fields(part, h, digest_parent_);
            if (part.message_root) part.envelope = envelope(h);
        }
        Part& part = out_.parts[index];
        const bool room = open_.size() < max_depth;
        if (same_name(part.type, "multipart")) {
            const std::string* boundary = find_param(part.params, "boundary");
            // RFC 2046 5.1.1 needs a boundary; without one the parts cannot be found.
            if (boundary == nullptr || boundary->empty() || !room) return opaque(part);
            part.kind = Part::Kind::multipart;
            push_boundary(*boundary, same_name(part.subtype, "digest"));
        } else if (same_name(part.type, "message") && same_name(part.subtype, "rfc822")) {
            if (!room || out_.parts.size() >= max_parts) return opaque(part);
            part.kind = Part::Kind::message;
            start_entity(end, count, true, false);
        }
    }

    // Too deep or too many: shown as one part of unknown content.
    static void opaque(Part& part) {
        part.type = "application";
        part.subtype = "octet-stream";
        part.params.clear();
    }

    void close_entity(std::size_t end, Count count) {
        const Open e = open_.back();
        open_.pop_back();
        Part& part = out_.parts[e.part];
        if (end < part.body_offset) end = part.body_offset;
        part.body_length = end - part.body_offset;
        part.body_size = part.body_length + count.bare - e.body.bare;
        part.body_lines = count.lf - e.body.lf;
    }

    void on_delimiter(std::size_t level, bool close, std::size_t pos, Count at, std::size_t next, Count after) {
        // RFC 2046 5.1.1: the line end before the delimiter is part of it.
        std::size_t end = pos;
        Count end_count = at;
        if (pos >= 1 && msg_[pos - 1] == '\n') {
            --end;
            --end_count.lf;
            if (pos >= 2 && msg_[pos - 2] == '\r') --end;
            else --end_count.bare;
        }
        const std::size_t multipart = bounds_[level].open_index;
        while (open_.size() > multipart + 1) {
            const Open& e = open_.back();
            if (end < out_.parts[e.part].body_offset) close_entity(out_.parts[e.part].body_offset, e.body);
            else close_entity(end, end_count);
        }
        pop_boundaries(close ? level : level + 1);
        if (close) return;
        if (out_.parts.size() >= max_parts) return;
        start_entity(next, after, false, digest_of_.back());
    }

    std::string_view msg_;
    Structure out_;
    std::vector<Open> open_;
    std::vector<Boundary> bounds_;
    // Each active boundary text -> its innermost level in bounds_.
    std::unordered_map<std::string, std::size_t, TextHash, std::equal_to<>> level_of_;
    std::vector<bool> digest_of_;  // per boundary: its multipart is a digest
    bool in_header_ = false;
    bool header_fields_ = false;
    bool digest_parent_ = false;
    std::size_t header_start_ = 0;
    Count header_count_{};
};

}  // namespace

Structure parse_structure(std::string_view message) {
    return Parser(message).run();
}

std::size_t crlf_size(std::string_view text) noexcept {
    std::size_t n = text.size();
    for (std::size_t i = 0; i < text.size(); ++i)
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) ++n;
    return n;
}

std::string to_crlf(std::string_view text) {
    std::string out;
    out.reserve(crlf_size(text));
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
        out += text[i];
    }
    return out;
}

}  // namespace vpsmail::mime
