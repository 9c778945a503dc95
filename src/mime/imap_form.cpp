#include "mime/imap_form.hpp"

#include <fmt/format.h>

namespace vpsmail::mime {
namespace {

std::string trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return std::string(s);
}

std::optional<std::string> field(const Header& h, std::string_view name) {
    const HeaderField* f = h.find(name);
    if (f == nullptr) return std::nullopt;
    return trimmed(f->value);
}

std::string nonempty(const std::string& s) {
    return s.empty() ? "NIL" : imap_string(s);
}

// The address list of field `name`, or an empty string when it holds no address.
std::string addresses(const Header& h, std::string_view name) {
    const HeaderField* f = h.find(name);
    if (f == nullptr) return {};
    std::string out;
    for (const ListEntry& e : parse_address_entries(f->value)) {
        switch (e.kind) {
            case ListEntry::Kind::group_start:
                out += "(NIL NIL " + imap_string(e.display_name) + " NIL)";
                break;
            case ListEntry::Kind::group_end:
                out += "(NIL NIL NIL NIL)";
                break;
            case ListEntry::Kind::mailbox:
                out += "(" + nonempty(e.display_name) + " " + nonempty(e.route) + " " +
                       imap_string(e.local.empty() ? "MISSING_MAILBOX" : e.local) + " " +
                       imap_string(e.domain.empty() ? "MISSING_DOMAIN" : e.domain) + ")";
                break;
        }
    }
    return out.empty() ? out : "(" + out + ")";
}

std::string params(const std::vector<Param>& list) {
    if (list.empty()) return "NIL";
    std::string out = "(";
    for (const Param& p : list) {
        if (out.size() > 1) out += ' ';
        out += imap_string(p.name) + " " + imap_string(p.value);
    }
    return out + ")";
}

std::string disposition(const Part& p) {
    if (!p.disposition) return "NIL";
    return "(" + imap_string(*p.disposition) + " " + params(p.disposition_params) + ")";
}

std::string language(const Part& p) {
    if (p.language.empty()) return "NIL";
    if (p.language.size() == 1) return imap_string(p.language.front());
    std::string out = "(";
    for (const auto& tag : p.language) out += (out.size() > 1 ? " " : "") + imap_string(tag);
    return out + ")";
}

class Writer {
public:
    Writer(const Structure& s, bool extended) : s_(s), extended_(extended) {}

    // Recursion is bounded: parse_structure and deserialize keep nesting within max_depth.
    void part(std::uint32_t index) {
        const Part& p = s_.parts[index];
        out_ += '(';
        if (p.kind == Part::Kind::multipart) {
            if (p.children.empty()) out_ += R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0))";
            for (std::uint32_t child : p.children) part(child);
            out_ += ' ';
            out_ += imap_string(p.subtype);
            if (extended_) {
                out_ += ' ' + params(p.params) + ' ' + disposition(p) + ' ' + language(p) + ' ' + imap_nstring(p.location);
            }
        } else {
            out_ += imap_string(p.type) + ' ' + imap_string(p.subtype) + ' ' + params(p.params) + ' ' +
                    imap_nstring(p.id) + ' ' + imap_nstring(p.description) + ' ' +
                    imap_string(p.encoding ? *p.encoding : "7bit") + ' ' + std::to_string(p.body_size);
            if (p.kind == Part::Kind::message && !p.children.empty()) {
                const std::uint32_t nested = p.children.front();
                out_ += ' ' + s_.parts[nested].envelope + ' ';
                part(nested);
                out_ += ' ' + std::to_string(p.body_lines);
            } else if (same_name(p.type, "text")) {
                out_ += ' ' + std::to_string(p.body_lines);
            }
            if (extended_) {
                out_ += ' ' + imap_nstring(p.md5) + ' ' + disposition(p) + ' ' + language(p) + ' ' + imap_nstring(p.location);
            }
        }
        out_ += ')';
    }

    std::string take() { return std::move(out_); }

private:
    const Structure& s_;
    bool extended_;
    std::string out_;
};

std::string write(const Structure& s, bool extended) {
    if (s.parts.empty()) return {};
    Writer w(s, extended);
    w.part(0);
    return w.take();
}

}  // namespace

std::string imap_string(std::string_view text) {
    bool quotable = text.size() <= max_quoted;
    for (std::size_t i = 0; quotable && i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == 0 || c >= 0x80 || c == '\r' || c == '\n') quotable = false;
    }
    if (!quotable) return fmt::format("{{{}}}\r\n", text.size()) + std::string(text);
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + '"';
}

std::string imap_nstring(const std::optional<std::string>& text) {
    return text ? imap_string(*text) : "NIL";
}

std::string envelope(const Header& h) {
    const std::string from = addresses(h, "From");
    std::string sender = addresses(h, "Sender");
    std::string reply_to = addresses(h, "Reply-To");
    // RFC 3501 section 7.4.2: the server defaults sender and reply-to to from.
    if (sender.empty()) sender = from;
    if (reply_to.empty()) reply_to = from;
    auto list = [](const std::string& s) { return s.empty() ? std::string("NIL") : s; };
    return "(" + imap_nstring(field(h, "Date")) + " " + imap_nstring(field(h, "Subject")) + " " + list(from) + " " +
           list(sender) + " " + list(reply_to) + " " + list(addresses(h, "To")) + " " + list(addresses(h, "Cc")) + " " +
           list(addresses(h, "Bcc")) + " " + imap_nstring(field(h, "In-Reply-To")) + " " +
           imap_nstring(field(h, "Message-ID")) + ")";
}

std::string bodystructure(const Structure& structure) {
    return write(structure, true);
}

std::string body(const Structure& structure) {
    return write(structure, false);
}

}  // namespace vpsmail::mime
