#include "smtp/command.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <vector>

namespace vpsmail::smtp {
namespace {

constexpr std::size_t max_envid = 100;  // RFC 3461 4.4
constexpr std::size_t max_orcpt = 500;  // RFC 3461 4.2

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

bool has_non_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return true;
    return false;
}

bool iequals(std::string_view a, std::string_view b) { return upper(a) == upper(b); }

// The client's text shown in a reply, quoted and cut short; format_reply cleans control bytes.
std::string shown(std::string_view text) {
    std::string s(text.substr(0, 64));
    if (text.size() > 64) s += "...";
    return "'" + s + "'";
}

Reply syntax(std::string_view why) { return reply(ReplyId::syntax_error, fmt::format("({})", why)); }

// A path between <>: its mailbox and whether a source route preceded it.
struct Path {
    std::string_view mailbox;  ///< empty for <>
    bool source_route = false;
    bool non_ascii = false;
};

// RFC 5321 4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">". On success `rest` is what follows
// the ">". Returns a reason on failure.
std::variant<Path, std::string> take_path(std::string_view& rest) {
    if (rest.empty() || rest.front() != '<') return std::string("the address must be enclosed in <>");
    std::size_t close = std::string_view::npos;
    bool quoted = false;
    for (std::size_t i = 1; i < rest.size(); ++i) {
        char c = rest[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (c == '>' && !quoted) {
            close = i;
            break;
        }
    }
    if (close == std::string_view::npos) return std::string("the address is not closed with '>'");
    Path path;
    std::string_view inside = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    path.non_ascii = has_non_ascii(inside);
    if (!inside.empty() && inside.front() == '@') {
        // A-d-l = At-domain *( "," At-domain ): parsed, checked and dropped (RFC 5321 C).
        std::size_t i = 0;
        while (true) {
            if (i >= inside.size() || inside[i] != '@') return std::string("malformed source route");
            std::size_t start = ++i;
            if (i < inside.size() && inside[i] == '[') {
                auto end = inside.find(']', i);
                if (end == std::string_view::npos) return std::string("malformed source route");
                i = end + 1;
            } else {
                while (i < inside.size() && inside[i] != ',' && inside[i] != ':') ++i;
            }
            try {
                normalize_domain(inside.substr(start, i - start), true);
            } catch (const Error& e) {
                return std::string("malformed source route: ") + e.what();
            }
            if (i >= inside.size()) return std::string("malformed source route");
            if (inside[i] == ':') break;
            if (inside[i] != ',') return std::string("malformed source route");
            ++i;
        }
        inside.remove_prefix(i + 1);
        path.source_route = true;
        if (inside.empty()) return std::string("the source route is not followed by a mailbox");
    }
    path.mailbox = inside;
    return path;
}

// One "keyword[=value]" of the parameters after the path.
struct Parameter {
    std::string keyword;  ///< upper case
    std::optional<std::string_view> value;
};

// RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531 3.3).
std::variant<std::vector<Parameter>, Reply> take_parameters(std::string_view rest) {
    std::vector<Parameter> out;
    if (!rest.empty() && !is_space(rest.front())) return syntax("a space must follow the '>'");
    while (true) {
        while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
        if (rest.empty()) break;
        std::size_t end = 0;
        while (end < rest.size() && !is_space(rest[end])) ++end;
        std::string_view word = rest.substr(0, end);
        rest.remove_prefix(end);
        auto eq = word.find('=');
        std::string_view keyword = word.substr(0, eq);
        if (keyword.empty() || !(is_alpha(keyword.front()) || is_digit(keyword.front())))
            return syntax("malformed parameter " + shown(word));
        for (char c : keyword)
            if (!is_alpha(c) && !is_digit(c) && c != '-') return syntax("malformed parameter " + shown(word));
        Parameter p{upper(keyword), std::nullopt};
        if (eq != std::string_view::npos) {
            std::string_view value = word.substr(eq + 1);
            if (value.empty()) return syntax("empty value in " + shown(word));
            for (unsigned char c : value)
                if (c < 33 || c == '=' || c == 127) return syntax("malformed value in " + shown(word));
            p.value = value;
        }
        for (const auto& seen : out)
            if (seen.keyword == p.keyword) return syntax("repeated parameter " + p.keyword);
        out.push_back(p);
    }
    return out;
}

// "FROM:" / "TO:", case-insensitive, then optional spaces (a common client habit).
bool take_prefix(std::string_view& argument, std::string_view prefix) {
    if (argument.size() < prefix.size() || !iequals(argument.substr(0, prefix.size()), prefix)) return false;
    argument.remove_prefix(prefix.size());
    while (!argument.empty() && is_space(argument.front())) argument.remove_prefix(1);
    return true;
}

Reply needs_value(const Parameter& p) { return syntax(p.keyword + " needs a value"); }

}  // namespace

Command parse_command(std::string_view line) {
    line = trim(line);
    auto space = line.find_first_of(" \t");
    Command c;
    c.verb = upper(line.substr(0, space));
    if (space != std::string_view::npos) c.argument = std::string(trim(line.substr(space)));
    return c;
}

std::optional<std::string> decode_xtext(std::string_view text) {
    // RFC 3461 4: xtext = *( xchar / hexchar ); hexchar = "+" 2(upper-case HEXDIG)
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c == '+') {
            if (i + 2 >= text.size()) return std::nullopt;
            unsigned value = 0;
            for (std::size_t k = 1; k <= 2; ++k) {
                char h = text[i + k];
                if (is_digit(h)) value = value * 16 + static_cast<unsigned>(h - '0');
                else if (h >= 'A' && h <= 'F') value = value * 16 + static_cast<unsigned>(h - 'A' + 10);
                else return std::nullopt;
            }
            out += static_cast<char>(value);
            i += 2;
        } else if (c >= 33 && c <= 126 && c != '=') {
            out += static_cast<char>(c);
        } else {
            return std::nullopt;
        }
    }
    return out;
}

std::string encode_xtext(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if (c >= 33 && c <= 126 && c != '+' && c != '=') out += static_cast<char>(c);
        else out += fmt::format("+{:02X}", c);
    }
    return out;
}

Parsed<MailFrom> parse_mail_from(std::string_view argument) {
    if (!take_prefix(argument, "FROM:")) return syntax("use MAIL FROM:<address>");
    auto path = take_path(argument);
    if (auto* why = std::get_if<std::string>(&path)) return reply(ReplyId::bad_sender_syntax, "(" + *why + ")");
    const Path& p = std::get<Path>(path);
    MailFrom m;
    m.source_route = p.source_route;
    m.non_ascii = p.non_ascii;
    if (!p.mailbox.empty()) {
        try {
            m.sender = parse_address(p.mailbox);
        } catch (const Error& e) {
            return reply(ReplyId::bad_sender_syntax, fmt::format("({})", e.what()));
        }
    } else if (p.source_route) {
        return reply(ReplyId::bad_sender_syntax, "(a source route needs a mailbox)");
    }
    auto parameters = take_parameters(argument);
    if (auto* error = std::get_if<Reply>(&parameters)) return *error;
    for (const auto& param : std::get<std::vector<Parameter>>(parameters)) {
        const std::string& k = param.keyword;
        if (k == "SIZE") {
            // RFC 1870 6: size-value ::= 1*20DIGIT; a larger number than we can count is "too big".
            if (!param.value) return needs_value(param);
            auto v = *param.value;
            if (v.size() > 20) return syntax("SIZE takes at most 20 digits");
            std::uint64_t size = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), size);
            if (ec == std::errc::result_out_of_range) size = std::numeric_limits<std::uint64_t>::max();
            else if (ec != std::errc() || end != v.data() + v.size()) return syntax("SIZE takes a number");
            for (char c : v)
                if (!is_digit(c)) return syntax("SIZE takes a number");
            m.size = size;
        } else if (k == "BODY") {
            if (!param.value) return needs_value(param);
            auto v = upper(*param.value);
            if (v == "7BIT") m.body = Body::seven_bit;
            else if (v == "8BITMIME") m.body = Body::eight_bit_mime;  // RFC 6152 2
            else if (v == "BINARYMIME") m.body = Body::binary_mime;   // RFC 3030 3
            else return syntax("BODY takes 7BIT, 8BITMIME or BINARYMIME");
        } else if (k == "SMTPUTF8") {
            if (param.value) return syntax("SMTPUTF8 takes no value");  // RFC 6531 3.4
            m.smtputf8 = true;
        } else if (k == "RET") {
            if (!param.value) return needs_value(param);
            auto v = upper(*param.value);
            if (v == "FULL") m.ret = Ret::full;  // RFC 3461 4.3
            else if (v == "HDRS") m.ret = Ret::headers;
            else return syntax("RET takes FULL or HDRS");
        } else if (k == "ENVID") {
            if (!param.value) return needs_value(param);
            auto v = *param.value;
            auto decoded = decode_xtext(v);
            if (!decoded || decoded->empty() || v.size() > max_envid) return syntax("ENVID takes up to 100 characters of xtext");
            for (unsigned char c : *decoded)
                if (c < 33 || c > 126) return syntax("ENVID must be printable ASCII");  // RFC 3461 4.4
            m.envid = *decoded;
        } else if (k == "AUTH") {
            // RFC 4954 5: AUTH=<> or AUTH=xtext; this server does not trust it, so it is ignored.
            if (!param.value) return needs_value(param);
            auto v = *param.value;
            auto decoded = v == "<>" ? std::optional<std::string>("<>") : decode_xtext(v);
            if (!decoded) return syntax("AUTH takes <> or xtext");
            m.auth = *decoded;
        } else {
            return reply(ReplyId::unknown_parameter, "(" + k + ")");
        }
    }
    return m;
}

Parsed<RcptTo> parse_rcpt_to(std::string_view argument) {
    if (!take_prefix(argument, "TO:")) return syntax("use RCPT TO:<address>");
    auto path = take_path(argument);
    if (auto* why = std::get_if<std::string>(&path)) return reply(ReplyId::bad_recipient_syntax, "(" + *why + ")");
    const Path& p = std::get<Path>(path);
    RcptTo r;
    r.source_route = p.source_route;
    r.non_ascii = p.non_ascii;
    if (p.mailbox.empty()) return reply(ReplyId::bad_recipient_syntax, "(the recipient is empty)");
    if (!p.source_route && iequals(p.mailbox, "postmaster")) {
        r.recipient.local = "Postmaster";  // RFC 5321 4.1.1.3: <Postmaster> without a domain
    } else {
        try {
            // docs/routing.md rule 8: <\bob@d> is bob's mailbox itself (no virtusertable, alias or
            // forward). RFC 5321's Dot-string has no backslash, but sendmail takes this form
            // from SMTP with that meaning (and sends it to the next hop to say so).
            r.recipient = parse_address(p.mailbox, Backslash::allow);
        } catch (const Error& e) {
            return reply(ReplyId::bad_recipient_syntax, fmt::format("({})", e.what()));
        }
    }
    auto parameters = take_parameters(argument);
    if (auto* error = std::get_if<Reply>(&parameters)) return *error;
    for (const auto& param : std::get<std::vector<Parameter>>(parameters)) {
        if (param.keyword == "NOTIFY") {
            // RFC 3461 4.1: "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" )
            if (!param.value) return needs_value(param);
            auto v = upper(*param.value);
            Notify n;
            std::string_view list = v;
            while (true) {
                auto comma = list.find(',');
                std::string_view item = list.substr(0, comma);
                if (item == "NEVER") n.never = true;
                else if (item == "SUCCESS") n.success = true;
                else if (item == "FAILURE") n.failure = true;
                else if (item == "DELAY") n.delay = true;
                else return syntax("NOTIFY takes NEVER or a list of SUCCESS, FAILURE, DELAY");
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
            if (n.never && (n.success || n.failure || n.delay)) return syntax("NOTIFY=NEVER stands alone");
            r.notify = n;
        } else if (param.keyword == "ORCPT") {
            // RFC 3461 4.2: ORCPT=addr-type ";" xtext
            if (!param.value) return needs_value(param);
            auto v = *param.value;
            auto semi = v.find(';');
            if (semi == std::string_view::npos || !is_dot_atom(v.substr(0, semi)) || v.size() > max_orcpt)
                return syntax("ORCPT takes addr-type;xtext");
            auto decoded = decode_xtext(v.substr(semi + 1));
            if (!decoded || decoded->empty()) return syntax("ORCPT takes addr-type;xtext");
            r.orcpt = OriginalRecipient{std::string(v.substr(0, semi)), *decoded};
        } else {
            return reply(ReplyId::unknown_parameter, "(" + param.keyword + ")");
        }
    }
    return r;
}

}  // namespace vpsmail::smtp
