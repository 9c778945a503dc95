#include "mime/header.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

namespace vpsmail::mime {
namespace {

// RFC 5322 2.2: field names are printable US-ASCII except ':'.
bool is_field_name(std::string_view name) {
    if (name.empty()) return false;
    for (unsigned char c : name)
        if (c < 33 || c > 126 || c == ':') return false;
    return true;
}

// One line of `text` from `pos`: its content without the line end, and where the next starts.
struct Line {
    std::string_view content;
    std::size_t next = 0;
};

Line line_at(std::string_view text, std::size_t pos) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return {text.substr(pos), text.size()};
    std::string_view content = text.substr(pos, nl - pos);
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    return {content, nl + 1};
}

std::string shown(std::string_view value) {
    std::string out;
    for (unsigned char c : value) out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    if (out.size() > 80) out = out.substr(0, 77) + "...";
    return out;
}

// The address-list parser: one pass over the value, collecting per mailbox the phrase words,
// the addr-spec text outside angle brackets, and the text inside them. In tolerant mode (the
// entries of an IMAP envelope) it never throws: what is malformed is taken as written, and
// groups are kept as markers.
class ListParser {
public:
    ListParser(std::string_view value, bool allow_bare, bool tolerant = false)
        : value_(value), allow_bare_(allow_bare), tolerant_(tolerant) {}

    std::vector<ListEntry> entries() {
        run();
        return std::move(entries_);
    }

    std::vector<Mailbox> run() {
        for (pos_ = 0; pos_ < value_.size();) {
            const char c = value_[pos_];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                space_ = true;
                ++pos_;
            } else if (c == '(') {
                skip_comment();
                space_ = true;
            } else if (c == '"') {
                quoted_string();
            } else if (c == '<') {
                angle();
            } else if (c == '[') {
                literal();
            } else if (c == ',') {
                finish();
                ++pos_;
            } else if (c == ':' && !angle_seen_ && !in_group_) {
                // RFC 5322 3.4: group = display-name ":" [group-list] ";"
                in_group_ = true;
                if (tolerant_) entries_.push_back(ListEntry{ListEntry::Kind::group_start, phrase_, {}, {}, {}});
                reset();
                ++pos_;
            } else if (c == ';' && in_group_) {
                finish();
                in_group_ = false;
                if (tolerant_) entries_.push_back(ListEntry{ListEntry::Kind::group_end, {}, {}, {}, {}});
                ++pos_;
            } else {
                if (angle_seen_) {
                    fail(fmt::format("unexpected '{}' after '>'", c));
                    ++pos_;
                    continue;
                }
                // Words apart ("Bob Smith bob@b") are a phrase: only right for a name before <...>.
                if (space_ && !spec_.empty() && spec_.back() != '.' && spec_.back() != '@' && c != '.' && c != '@')
                    spaced_words_ = true;
                word_char(c);
                spec_ += c;
                ++pos_;
            }
        }
        if (in_group_) fail("a group is not closed with ';'");
        finish();
        if (in_group_ && tolerant_) entries_.push_back(ListEntry{ListEntry::Kind::group_end, {}, {}, {}, {}});
        return std::move(out_);
    }

private:
    // Throws, except in tolerant mode, where the caller goes on with what it has.
    void fail(std::string_view why) const {
        if (tolerant_) return;
        throw Error(ErrorKind::bad_data, fmt::format("invalid address list '{}': {}", shown(value_), why));
    }

    void word_char(char c) {
        if (space_ && !phrase_.empty()) phrase_ += ' ';
        space_ = false;
        phrase_ += c;
    }

    // RFC 5322 3.2.2: comments nest and may hold quoted-pairs.
    // The text of the comment is kept: an envelope shows `a@b (Name)` with the name "Name".
    void skip_comment() {
        int depth = 0;
        std::string text;
        for (; pos_ < value_.size(); ++pos_) {
            const char c = value_[pos_];
            if (c == '\\' && pos_ + 1 < value_.size()) {
                text += value_[++pos_];
                continue;
            }
            if (c == '(' && depth++ == 0) continue;
            if (c == ')' && --depth == 0) {
                ++pos_;
                comment_ = std::move(text);
                return;
            }
            text += c;
        }
        fail("a comment is not closed with ')'");
        comment_ = std::move(text);
    }

    void quoted_string() {
        if (angle_seen_) fail("unexpected quoted text after '>'");
        const std::size_t start = pos_++;
        std::string content;
        for (; pos_ < value_.size(); ++pos_) {
            const char c = value_[pos_];
            if (c == '\\' && pos_ + 1 < value_.size()) {
                content += value_[++pos_];
            } else if (c == '"') {
                ++pos_;
                spec_ += value_.substr(start, pos_ - start);
                if (space_ && !phrase_.empty()) phrase_ += ' ';
                space_ = false;
                phrase_ += content;
                return;
            } else {
                content += c;
            }
        }
        fail("a quoted string is not closed");
        if (space_ && !phrase_.empty()) phrase_ += ' ';
        phrase_ += content;
    }

    void angle() {
        if (angle_seen_) fail("two '<' in one mailbox");
        angle_seen_ = false;
        const std::size_t start = ++pos_;
        bool quoted = false;
        for (; pos_ < value_.size(); ++pos_) {
            const char c = value_[pos_];
            if (c == '\\' && quoted) ++pos_;
            else if (c == '"') quoted = !quoted;
            else if (c == '>' && !quoted) {
                angle_ = std::string(value_.substr(start, pos_ - start));
                angle_seen_ = true;
                ++pos_;
                return;
            }
        }
        fail("'<' is not closed with '>'");
        angle_ = std::string(value_.substr(start));
        angle_seen_ = true;
    }

    void literal() {
        auto end = value_.find(']', pos_);
        if (end == std::string_view::npos) {
            fail("'[' is not closed with ']'");
            end = value_.size() - 1;
        }
        if (angle_seen_) {
            fail("unexpected '[' after '>'");
            pos_ = end + 1;
            return;
        }
        spec_ += value_.substr(pos_, end + 1 - pos_);
        space_ = false;
        pos_ = end + 1;
    }

    void reset() {
        phrase_.clear();
        spec_.clear();
        angle_.clear();
        comment_.clear();
        angle_seen_ = false;
        space_ = false;
        spaced_words_ = false;
    }

    Address parse(std::string_view text) const {
        return allow_bare_ ? parse_recipient(text) : parse_address(text);
    }

    void finish() {
        if (angle_seen_) {
            std::string_view spec = angle_;
            while (!spec.empty() && (spec.front() == ' ' || spec.front() == '\t')) spec.remove_prefix(1);
            while (!spec.empty() && (spec.back() == ' ' || spec.back() == '\t')) spec.remove_suffix(1);
            std::string_view route;
            // RFC 5322 4.4: an obsolete route "@a,@b:" before the address is dropped (an
            // envelope shows it as the adl).
            if (spec.starts_with("@")) {
                auto colon = spec.find(':');
                if (colon == std::string_view::npos) {
                    fail("a route in '<...>' has no ':'");
                    colon = spec.size() - 1;
                }
                route = spec.substr(0, colon);
                spec.remove_prefix(colon + 1);
            }
            if (spec.empty()) fail("'<>' holds no address");
            else add(tolerant_ && phrase_.empty() ? comment_ : phrase_, route, spec);
        } else if (!spec_.empty()) {
            if (spaced_words_) fail("a name needs its address in '<...>'");
            add(tolerant_ ? comment_ : std::string(), {}, spec_);
        }
        reset();
    }

    void add(const std::string& name, std::string_view route, std::string_view spec) {
        if (!tolerant_) {
            out_.push_back(Mailbox{name, parse(spec)});
            return;
        }
        ListEntry e{ListEntry::Kind::mailbox, name, std::string(route), {}, {}};
        try {
            Address a = parse(spec);
            e.local = a.local;
            e.domain = a.domain;
        } catch (const Error&) {
            // Not a valid address: shown as written, split at the last '@'.
            auto at = spec.rfind('@');
            e.local = std::string(spec.substr(0, at));
            if (at != std::string_view::npos) e.domain = std::string(spec.substr(at + 1));
        }
        entries_.push_back(std::move(e));
    }


    std::string_view value_;
    bool allow_bare_;
    bool tolerant_;
    std::size_t pos_ = 0;
    bool in_group_ = false;
    bool space_ = false;
    bool angle_seen_ = false;
    bool spaced_words_ = false;
    std::string phrase_, spec_, angle_, comment_;
    std::vector<Mailbox> out_;
    std::vector<ListEntry> entries_;
};

}  // namespace

bool same_name(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

const HeaderField* Header::find(std::string_view name) const {
    for (const auto& f : fields)
        if (same_name(f.name, name)) return &f;
    return nullptr;
}

std::vector<const HeaderField*> Header::find_all(std::string_view name) const {
    std::vector<const HeaderField*> out;
    for (const auto& f : fields)
        if (same_name(f.name, name)) out.push_back(&f);
    return out;
}

Header parse_header(std::string_view message) {
    Header h;
    std::size_t pos = 0;
    while (pos < message.size()) {
        Line line = line_at(message, pos);
        if (line.content.empty()) {
            h.blank_line = true;
            h.body_offset = line.next;
            return h;
        }
        const char first = line.content.front();
        if ((first == ' ' || first == '\t') && !h.fields.empty()) {
            // RFC 5322 2.2.3: unfolding removes the line end before the white space.
            HeaderField& f = h.fields.back();
            f.value += line.content;
            f.length = line.next - f.offset;
            pos = line.next;
            continue;
        }
        auto colon = line.content.find(':');
        std::string_view name = colon == std::string_view::npos ? std::string_view() : line.content.substr(0, colon);
        // Obsolete syntax (RFC 5322 4.5) allows white space before the colon.
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        if (!is_field_name(name)) {
            h.body_offset = pos;
            return h;
        }
        std::string_view value = line.content.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        h.fields.push_back(HeaderField{std::string(name), std::string(value), pos, line.next - pos});
        pos = line.next;
    }
    h.body_offset = message.size();
    return h;
}

std::vector<Mailbox> parse_address_list(std::string_view value, bool allow_bare) {
    return ListParser(value, allow_bare).run();
}

std::vector<ListEntry> parse_address_entries(std::string_view value) {
    return ListParser(value, true, true).entries();
}

}  // namespace vpsmail::mime
