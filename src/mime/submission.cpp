#include "mime/submission.hpp"

#include "core/error.hpp"
#include "mime/header.hpp"

#include <fmt/format.h>

#include <cctype>

namespace vpsmail::mime {
namespace {

bool is_atext_or_space(unsigned char c) {
    if (c >= 0x80 || std::isalnum(c) || c == ' ') return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

// LF or CRLF in, CRLF out; the text ends at a lone "." line when dot_ends. CRs just before an
// LF belong to the line end (PHP's mail() writes "\r\r\n" when a script's headers end in CRLF):
// a CR anywhere else stays, and check_local_message refuses it as a bare CR.
std::string normalize_lines(std::string_view input, bool dot_ends) {
    std::string out;
    out.reserve(input.size() + input.size() / 32 + 2);
    std::size_t pos = 0, number = 0;
    while (pos < input.size()) {
        auto nl = input.find('\n', pos);
        const bool last = nl == std::string_view::npos;
        std::string_view line = input.substr(pos, last ? std::string_view::npos : nl - pos);
        pos = last ? input.size() : nl + 1;
        ++number;
        while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find('\0') != std::string_view::npos)
            throw Error(ErrorKind::bad_data, fmt::format("the message contains a NUL byte (line {})", number));
        // sendmail(8) without -i: a line with a single dot ends the input.
        if (dot_ends && line == ".") break;
        out += line;
        out += "\r\n";
    }
    return out;
}

}  // namespace

std::string format_phrase(std::string_view name) {
    bool plain = !name.empty() && name.front() != ' ' && name.back() != ' ';
    for (unsigned char c : name) plain = plain && is_atext_or_space(c);
    if (plain) return std::string(name);
    std::string out = "\"";
    for (char c : name) {
        if (c == '"' || c == '\\') out += '\\';
        if (c != '\r' && c != '\n') out += c;
    }
    return out + "\"";
}

Submission prepare_submission(std::string_view input, const SubmitOptions& options) {
    if (options.max_size != 0 && input.size() > options.max_size)
        throw Error(ErrorKind::limit, fmt::format("the message is larger than the limit of {} bytes ([limits] max_message_size)",
                                                  options.max_size));
    const std::string text = normalize_lines(input, options.dot_ends);
    const Header header = parse_header(text);

    Submission s;
    if (options.extract_recipients) {
        bool resent = false;
        for (const auto& f : header.fields) resent = resent || (f.name.size() > 7 && same_name(f.name.substr(0, 7), "Resent-"));
        const char* const names[] = {resent ? "Resent-To" : "To", resent ? "Resent-Cc" : "Cc", resent ? "Resent-Bcc" : "Bcc"};
        for (const char* name : names)
            for (const HeaderField* f : header.find_all(name)) {
                std::vector<Mailbox> list;
                try {
                    list = parse_address_list(f->value, true);
                } catch (const Error& e) {
                    throw Error(ErrorKind::bad_data, fmt::format("{} field: {}", f->name, e.what()));
                }
                for (auto& m : list) {
                    bool seen = false;
                    for (const auto& r : s.recipients) seen = seen || lower_ascii(r.str()) == lower_ascii(m.address.str());
                    if (!seen) s.recipients.push_back(std::move(m.address));
                }
            }
    }

    std::string added;
    if (!header.find("From")) {
        added += options.from_name.empty() ? fmt::format("From: {}\r\n", options.from_address)
                                           : fmt::format("From: {} <{}>\r\n", format_phrase(options.from_name), options.from_address);
    }
    if (!header.find("Date") && !options.date.empty()) added += fmt::format("Date: {}\r\n", options.date);
    if (!header.find("Message-ID") && !options.message_id.empty()) added += fmt::format("Message-ID: {}\r\n", options.message_id);

    std::string& out = s.message;
    out.reserve(text.size() + added.size() + 2);
    std::size_t copied = 0;
    for (const auto& f : header.fields) {
        out.append(text, copied, f.offset - copied);
        copied = f.offset + f.length;
        // Bcc recipients must not see each other, nor the others see them (RFC 5322 3.6.3).
        if (same_name(f.name, "Bcc") || same_name(f.name, "Resent-Bcc")) continue;
        out.append(text, f.offset, f.length);
    }
    out.append(text, copied, header.body_offset - copied - (header.blank_line ? 2 : 0));
    out += added;
    // A body that began without a blank line gets one, so that it stays the body.
    if (header.blank_line || header.body_offset < text.size()) out += "\r\n";
    out.append(text, header.body_offset);
    return s;
}

}  // namespace vpsmail::mime
