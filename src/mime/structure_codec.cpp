#include "mime/structure_codec.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

namespace vpsmail::mime {
namespace {

// Bits of Part's optional fields, in the order they follow.
enum : std::uint8_t {
    has_encoding = 1,
    has_id = 2,
    has_description = 4,
    has_md5 = 8,
    has_disposition = 16,
    has_location = 32,
    is_message_root = 64,
};

void put_number(std::string& out, std::uint64_t n) {
    while (n >= 0x80) {
        out += static_cast<char>((n & 0x7f) | 0x80);
        n >>= 7;
    }
    out += static_cast<char>(n);
}

void put_string(std::string& out, std::string_view s) {
    put_number(out, s.size());
    out += s;
}

void put_params(std::string& out, const std::vector<Param>& params) {
    put_number(out, params.size());
    for (const auto& p : params) {
        put_string(out, p.name);
        put_string(out, p.value);
    }
}

class Reader {
public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}

    [[noreturn]] void fail(std::string_view why) const {
        throw Error(ErrorKind::bad_data, fmt::format("invalid cached message structure: {} (at byte {})", why, pos_));
    }

    std::uint8_t byte() {
        if (pos_ >= bytes_.size()) fail("it ends early");
        return static_cast<std::uint8_t>(bytes_[pos_++]);
    }

    std::uint64_t number() {
        std::uint64_t n = 0;
        for (int shift = 0;; shift += 7) {
            if (shift > 63) fail("a number is too long");
            const std::uint8_t b = byte();
            n |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return n;
        }
    }

    // A count of things that each take at least one more byte.
    std::size_t count() {
        const std::uint64_t n = number();
        if (n > bytes_.size() - pos_) fail("a count is larger than the input");
        return static_cast<std::size_t>(n);
    }

    std::string string() {
        const std::size_t n = count();
        std::string s(bytes_.substr(pos_, n));
        pos_ += n;
        return s;
    }

    std::vector<Param> params() {
        std::vector<Param> out(count());
        for (auto& p : out) {
            p.name = string();
            p.value = string();
        }
        return out;
    }

    bool done() const { return pos_ == bytes_.size(); }

private:
    std::string_view bytes_;
    std::size_t pos_ = 0;
};

}  // namespace

std::string serialize(const Structure& s) {
    std::string out;
    out += static_cast<char>(structure_format);
    put_number(out, s.size);
    put_number(out, s.crlf_size);
    put_number(out, s.parts.size());
    for (const Part& p : s.parts) {
        out += static_cast<char>(p.kind);
        const std::uint8_t flags = (p.encoding ? has_encoding : 0) | (p.id ? has_id : 0) |
                                   (p.description ? has_description : 0) | (p.md5 ? has_md5 : 0) |
                                   (p.disposition ? has_disposition : 0) | (p.location ? has_location : 0) |
                                   (p.message_root ? is_message_root : 0);
        out += static_cast<char>(flags);
        put_number(out, p.children.size());
        for (auto c : p.children) put_number(out, c);
        for (std::size_t n : {p.header_offset, p.header_length, p.body_offset, p.body_length, p.header_size,
                              p.body_size, p.body_lines})
            put_number(out, n);
        put_string(out, p.type);
        put_string(out, p.subtype);
        put_params(out, p.params);
        if (p.encoding) put_string(out, *p.encoding);
        if (p.id) put_string(out, *p.id);
        if (p.description) put_string(out, *p.description);
        if (p.md5) put_string(out, *p.md5);
        if (p.disposition) {
            put_string(out, *p.disposition);
            put_params(out, p.disposition_params);
        }
        if (p.location) put_string(out, *p.location);
        put_number(out, p.language.size());
        for (const auto& tag : p.language) put_string(out, tag);
        put_string(out, p.envelope);
    }
    return out;
}

Structure deserialize(std::string_view bytes) {
    Reader r(bytes);
    if (bytes.empty()) r.fail("it is empty");
    if (const auto v = r.byte(); v != structure_format) r.fail(fmt::format("format version {}, want {}", v, structure_format));
    Structure s;
    s.size = r.number();
    s.crlf_size = r.number();
    s.parts.resize(r.count());
    if (s.parts.empty()) r.fail("no part");
    std::vector<std::size_t> depth(s.parts.size(), 0);
    std::vector<bool> has_parent(s.parts.size(), false);
    depth[0] = 1;
    for (std::size_t i = 0; i < s.parts.size(); ++i) {
        Part& p = s.parts[i];
        const std::uint8_t kind = r.byte();
        if (kind > static_cast<std::uint8_t>(Part::Kind::message)) r.fail("unknown part kind");
        p.kind = static_cast<Part::Kind>(kind);
        const std::uint8_t flags = r.byte();
        if (flags >= 128) r.fail("unknown flags");
        p.message_root = (flags & is_message_root) != 0;
        if (i != 0 && !has_parent[i]) r.fail("a part without a parent");
        p.children.resize(r.count());
        for (auto& c : p.children) {
            const std::uint64_t n = r.number();
            if (n <= i || n >= s.parts.size() || has_parent[n]) r.fail("a child index out of order");
            c = static_cast<std::uint32_t>(n);
            has_parent[n] = true;
            depth[n] = depth[i] + 1;
            // parse_structure opens no part deeper; the wire writers recurse this deep at most.
            if (depth[n] > max_depth) r.fail("parts nested too deep");
        }
        if (p.kind == Part::Kind::leaf && !p.children.empty()) r.fail("a leaf with children");
        if (p.kind == Part::Kind::message && p.children.size() != 1) r.fail("a message part without its message");
        for (std::size_t* n : {&p.header_offset, &p.header_length, &p.body_offset, &p.body_length, &p.header_size,
                               &p.body_size, &p.body_lines})
            *n = r.number();
        if (p.header_offset > s.size || p.header_length > s.size - p.header_offset || p.body_offset > s.size ||
            p.body_length > s.size - p.body_offset)
            r.fail("a range past the message's end");
        p.type = r.string();
        p.subtype = r.string();
        p.params = r.params();
        if (flags & has_encoding) p.encoding = r.string();
        if (flags & has_id) p.id = r.string();
        if (flags & has_description) p.description = r.string();
        if (flags & has_md5) p.md5 = r.string();
        if (flags & has_disposition) {
            p.disposition = r.string();
            p.disposition_params = r.params();
        }
        if (flags & has_location) p.location = r.string();
        p.language.resize(r.count());
        for (auto& tag : p.language) tag = r.string();
        p.envelope = r.string();
    }
    for (std::size_t i = 0; i < s.parts.size(); ++i)
        if (s.parts[i].kind == Part::Kind::message && !s.parts[s.parts[i].children.front()].message_root)
            r.fail("a message part whose child is not a message");
    if (!s.parts[0].message_root) r.fail("the top part is not a message");
    if (!r.done()) r.fail("bytes after the end");
    return s;
}

}  // namespace vpsmail::mime
