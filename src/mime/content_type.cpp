#include "mime/content_type.hpp"

#include "core/address.hpp"
#include "mime/header.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>

namespace vpsmail::mime {
namespace {

// RFC 2045 5.1: tspecials, which a token may not hold.
bool is_token_char(unsigned char c) {
    if (c <= 32 || c >= 127) return false;
    switch (c) {
        case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
        case '\\': case '"': case '/': case '[': case ']': case '?': case '=':
            return false;
        default:
            return true;
    }
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_token_char(static_cast<unsigned char>(c)); });
}

class ValueParser {
public:
    explicit ValueParser(std::string_view text) : text_(text) {}

    // White space and comments (nested, with quoted-pairs).
    void skip_cfws() {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                ++pos_;
            } else if (c == '(') {
                int depth = 0;
                for (; pos_ < text_.size(); ++pos_) {
                    const char d = text_[pos_];
                    if (d == '\\') ++pos_;
                    else if (d == '(') ++depth;
                    else if (d == ')' && --depth == 0) break;
                }
                if (pos_ < text_.size()) ++pos_;
            } else {
                return;
            }
        }
    }

    bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
    bool done() const { return pos_ >= text_.size(); }
    void advance() { ++pos_; }

    // A token, or a media type, or an unquoted value (`equals`: '=' does not end it). Some
    // mailers send bad bytes here, so anything up to white space, ';' or '(' is taken.
    std::string word(bool equals) {
        const std::size_t start = pos_;
        while (pos_ < text_.size()) {
            const unsigned char c = static_cast<unsigned char>(text_[pos_]);
            if (c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == '"') break;
            if (!equals && c == '=') break;
            ++pos_;
        }
        return std::string(text_.substr(start, pos_ - start));
    }

    std::string quoted() {
        std::string out;
        ++pos_;
        for (; pos_ < text_.size(); ++pos_) {
            const char c = text_[pos_];
            if (c == '\\' && pos_ + 1 < text_.size()) {
                out += text_[++pos_];
            } else if (c == '"') {
                ++pos_;
                return out;
            } else {
                out += c;
            }
        }
        return out;
    }

    void skip_to_semicolon() {
        while (pos_ < text_.size() && text_[pos_] != ';') {
            if (text_[pos_] == '"') quoted();
            else ++pos_;
        }
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

struct Piece {
    std::string base;
    int index = -1;      // -1: no "*N" section
    bool extended = false;
    std::string value;
    std::size_t order = 0;
};

// RFC 2231 7: attribute-char, what an extended value may hold without %-encoding.
bool is_attribute_char(unsigned char c) {
    return is_token_char(c) && c != '*' && c != '\'' && c != '%';
}

std::string percent_encode(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (is_attribute_char(c)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Splits `name*N*` into its base, index and extended flag.
Piece split_name(std::string name) {
    Piece p;
    if (!name.empty() && name.back() == '*') {
        p.extended = true;
        name.pop_back();
    }
    auto star = name.rfind('*');
    if (star != std::string::npos && star + 1 < name.size() && name.size() - star - 1 <= 4 &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(star) + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        p.index = std::stoi(name.substr(star + 1));
        name.resize(star);
    }
    p.base = std::move(name);
    return p;
}

std::vector<Param> join_pieces(std::vector<Piece> pieces) {
    // The first appearance of each base fixes its place; pieces of one base sort by index.
    std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.base < b.base; });
    struct Joined {
        std::size_t order;
        Param param;
    };
    std::vector<Joined> joined;
    for (std::size_t i = 0; i < pieces.size();) {
        std::size_t j = i;
        while (j < pieces.size() && pieces[j].base == pieces[i].base) ++j;
        std::size_t first_order = pieces[i].order;
        for (std::size_t k = i; k < j; ++k) first_order = std::min(first_order, pieces[k].order);
        // A plain `name=` wins when present; else the continuations, in index order.
        std::optional<Param> plain;
        std::vector<const Piece*> sections;
        for (std::size_t k = i; k < j; ++k) {
            const Piece& p = pieces[k];
            if (p.index < 0 && !p.extended) {
                if (!plain) plain = Param{p.base, p.value};
            } else {
                sections.push_back(&p);
            }
        }
        if (plain) {
            joined.push_back({first_order, *plain});
        } else {
            std::stable_sort(sections.begin(), sections.end(), [](const Piece* a, const Piece* b) {
                return std::max(a->index, 0) < std::max(b->index, 0);
            });
            const bool extended = sections.front()->extended;
            Param out{sections.front()->base + (extended ? "*" : ""), {}};
            int last = -2;
            for (const Piece* p : sections) {
                if (std::max(p->index, 0) == last) continue;  // a repeated index keeps its first
                last = std::max(p->index, 0);
                out.value += extended && !p->extended ? percent_encode(p->value) : p->value;
            }
            joined.push_back({first_order, std::move(out)});
        }
        i = j;
    }
    std::sort(joined.begin(), joined.end(), [](const Joined& a, const Joined& b) { return a.order < b.order; });
    std::vector<Param> out;
    out.reserve(joined.size());
    for (auto& j : joined) out.push_back(std::move(j.param));
    return out;
}

}  // namespace

ContentValue parse_content_value(std::string_view text) {
    ContentValue out;
    ValueParser p(text);
    p.skip_cfws();
    out.value = p.word(true);
    std::vector<Piece> pieces;
    while (!p.done()) {
        p.skip_to_semicolon();
        if (p.done()) break;
        p.advance();  // ';'
        p.skip_cfws();
        std::string name = lower_ascii(p.word(false));
        p.skip_cfws();
        if (!p.at('=')) continue;
        p.advance();
        p.skip_cfws();
        std::string value = p.at('"') ? p.quoted() : p.word(true);
        if (!is_token(name)) continue;
        Piece piece = split_name(std::move(name));
        if (piece.base.empty()) continue;
        piece.value = std::move(value);
        piece.order = pieces.size();
        pieces.push_back(std::move(piece));
    }
    if (!pieces.empty()) out.params = join_pieces(std::move(pieces));
    return out;
}

const std::string* find_param(const std::vector<Param>& params, std::string_view name) {
    for (const auto& p : params)
        if (same_name(p.name, name)) return &p.value;
    return nullptr;
}

bool split_media_type(std::string_view value, std::string& type, std::string& subtype) {
    auto slash = value.find('/');
    if (slash == std::string_view::npos) return false;
    std::string_view t = value.substr(0, slash), s = value.substr(slash + 1);
    if (!is_token(t) || !is_token(s)) return false;
    type = std::string(t);
    subtype = std::string(s);
    return true;
}

}  // namespace vpsmail::mime
