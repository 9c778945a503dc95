#include "smtp/command.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace vpsmail::smtp;

namespace {

// "code status" of a refusal, or "" when the argument parsed.
template <class T>
std::string refusal(const Parsed<T>& parsed) {
    if (auto* r = std::get_if<Reply>(&parsed)) return std::to_string(r->code) + " " + r->status;
    return "";
}

MailFrom mail(std::string_view argument) {
    auto parsed = parse_mail_from(argument);
    INFO(argument << " -> " << refusal(parsed));
    REQUIRE(std::holds_alternative<MailFrom>(parsed));
    return std::get<MailFrom>(parsed);
}

RcptTo rcpt(std::string_view argument) {
    auto parsed = parse_rcpt_to(argument);
    INFO(argument << " -> " << refusal(parsed));
    REQUIRE(std::holds_alternative<RcptTo>(parsed));
    return std::get<RcptTo>(parsed);
}

}  // namespace

TEST_CASE("parse_command splits verb and argument", "[smtp][command]") {
    struct Case {
        const char* line;
        const char* verb;
        const char* argument;
    };
    const Case cases[] = {
        {"EHLO client.example", "EHLO", "client.example"},
        {"mail FROM:<a@b.example>", "MAIL", "FROM:<a@b.example>"},
        {"  noop   x  ", "NOOP", "x"},
        {"QUIT", "QUIT", ""},
        {"DATA\t", "DATA", ""},
        {"", "", ""},
        {"rcpt TO:<a@b.example> NOTIFY=NEVER", "RCPT", "TO:<a@b.example> NOTIFY=NEVER"},
    };
    for (const auto& c : cases) {
        INFO(c.line);
        auto cmd = parse_command(c.line);
        CHECK(cmd.verb == c.verb);
        CHECK(cmd.argument == c.argument);
    }
}

TEST_CASE("parse_mail_from: paths", "[smtp][command]") {
    auto m = mail("FROM:<Alice@Example.ORG>");
    REQUIRE(m.sender);
    CHECK(m.sender->str() == "Alice@example.org");
    CHECK_FALSE(m.source_route);
    CHECK_FALSE(m.non_ascii);

    CHECK_FALSE(mail("FROM:<>").sender);                       // RFC 5321 4.5.5 null reverse-path
    CHECK(mail("from: <bob@example.org>").sender->str() == "bob@example.org");  // space after colon
    CHECK(mail("FROM:<\"a>b\"@example.org>").sender->local == "\"a>b\"");       // '>' inside quotes

    auto routed = mail("FROM:<@relay.example,@[192.0.2.1]:carol@example.net>");
    CHECK(routed.source_route);
    CHECK(routed.sender->str() == "carol@example.net");

    auto utf8 = mail("FROM:<j\xc3\xb6rg@example.org> SMTPUTF8");
    CHECK(utf8.non_ascii);
    CHECK(utf8.smtputf8);
}

TEST_CASE("parse_mail_from: parameters", "[smtp][command]") {
    auto m = mail("FROM:<a@example.org> SIZE=12345 BODY=8bitmime RET=HDRS ENVID=QQ+2B314159 AUTH=<>");
    CHECK(m.size == 12345u);
    CHECK(m.body == Body::eight_bit_mime);
    CHECK(m.ret == Ret::headers);
    CHECK(m.envid == "QQ+314159");
    CHECK(m.auth == "<>");
    CHECK(mail("FROM:<> BODY=BINARYMIME").body == Body::binary_mime);
    CHECK(mail("FROM:<> body=7bit").body == Body::seven_bit);
    CHECK(mail("FROM:<> RET=full").ret == Ret::full);
    CHECK(mail("FROM:<> AUTH=alice+40example.org").auth == "alice@example.org");
    CHECK(mail("FROM:<>   SIZE=1    SMTPUTF8").smtputf8);
    // RFC 1870: up to 20 digits; beyond what 64 bits hold it is simply too big.
    CHECK(mail("FROM:<> SIZE=99999999999999999999").size == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("parse_mail_from refuses with the right reply", "[smtp][command]") {
    struct Case {
        const char* argument;
        const char* want;
    };
    const Case cases[] = {
        {"<a@example.org>", "501 5.5.4"},                  // no FROM:
        {"TO:<a@example.org>", "501 5.5.4"},
        {"FROM:a@example.org", "501 5.1.7"},               // no <>
        {"FROM:<a@example.org", "501 5.1.7"},              // not closed
        {"FROM:<a b@example.org>", "501 5.1.7"},
        {"FROM:<alice>", "501 5.1.7"},                     // no domain
        {"FROM:<@relay.example>", "501 5.1.7"},            // route without mailbox
        {"FROM:<@relay.example:>", "501 5.1.7"},
        {"FROM:<@bad..domain:a@example.org>", "501 5.1.7"},
        {"FROM:<a@example.org>SIZE=1", "501 5.5.4"},       // no space after '>'
        {"FROM:<a@example.org> SIZE=", "501 5.5.4"},
        {"FROM:<a@example.org> SIZE=12x", "501 5.5.4"},
        {"FROM:<a@example.org> SIZE=-1", "501 5.5.4"},
        {"FROM:<a@example.org> SIZE=123456789012345678901", "501 5.5.4"},  // 21 digits
        {"FROM:<a@example.org> SIZE", "501 5.5.4"},
        {"FROM:<a@example.org> BODY=9BIT", "501 5.5.4"},
        {"FROM:<a@example.org> SMTPUTF8=yes", "501 5.5.4"},
        {"FROM:<a@example.org> RET=ALL", "501 5.5.4"},
        {"FROM:<a@example.org> ENVID=a+2", "501 5.5.4"},   // truncated hexchar
        {"FROM:<a@example.org> ENVID=a+2b", "501 5.5.4"},  // lower-case hex is not xtext
        {"FROM:<a@example.org> ENVID=a+0A", "501 5.5.4"},  // decodes to a control byte
        {"FROM:<a@example.org> SIZE=1 SIZE=2", "501 5.5.4"},
        {"FROM:<a@example.org> -X=1", "501 5.5.4"},
        {"FROM:<a@example.org> X=a=b", "501 5.5.4"},
        {"FROM:<a@example.org> NOTIFY=NEVER", "555 5.5.4"},  // a RCPT parameter
        {"FROM:<a@example.org> XFORWARD=1", "555 5.5.4"},
    };
    for (const auto& c : cases) {
        INFO(c.argument);
        CHECK(refusal(parse_mail_from(c.argument)) == c.want);
    }
    std::string long_envid = "FROM:<> ENVID=" + std::string(101, 'x');
    CHECK(refusal(parse_mail_from(long_envid)) == "501 5.5.4");
    CHECK(refusal(parse_mail_from("FROM:<> ENVID=" + std::string(100, 'x'))).empty());
}

TEST_CASE("parse_rcpt_to: paths and DSN parameters", "[smtp][command]") {
    auto r = rcpt("TO:<bob@example.org> NOTIFY=success,FAILURE ORCPT=rfc822;bob+2Bx@example.org");
    CHECK(r.recipient.str() == "bob@example.org");
    REQUIRE(r.notify);
    CHECK(*r.notify == Notify{false, true, true, false});
    REQUIRE(r.orcpt);
    CHECK(r.orcpt->type == "rfc822");
    CHECK(r.orcpt->address == "bob+x@example.org");
    CHECK(rcpt("TO:<b@example.org> NOTIFY=NEVER").notify == Notify{true, false, false, false});
    CHECK(rcpt("TO:<b@example.org> NOTIFY=DELAY").notify == Notify{false, false, false, true});

    auto postmaster = rcpt("TO:<postMaster>");  // RFC 5321 4.1.1.3
    CHECK(postmaster.recipient.bare());
    CHECK(postmaster.recipient.local == "Postmaster");

    auto routed = rcpt("TO:<@hop1.example,@hop2.example:dave@example.org>");
    CHECK(routed.source_route);
    CHECK(routed.recipient.str() == "dave@example.org");
    CHECK(rcpt("TO:<d\xc3\xa9@example.org>").non_ascii);

    // docs/routing.md rule 8: <\bob@d> is bob's mailbox itself; the backslash is kept for routing.
    auto direct = rcpt("TO:<\\Bob@Example.ORG>");
    CHECK(direct.recipient.backslash);
    CHECK(direct.recipient.local == "Bob");
    CHECK(direct.recipient.str() == "\\Bob@example.org");
}

TEST_CASE("parse_rcpt_to refuses with the right reply", "[smtp][command]") {
    struct Case {
        const char* argument;
        const char* want;
    };
    const Case cases[] = {
        {"<b@example.org>", "501 5.5.4"},
        {"FROM:<b@example.org>", "501 5.5.4"},
        {"TO:<>", "501 5.1.3"},
        {"TO:<bob>", "501 5.1.3"},              // only Postmaster may lack a domain
        {"TO:<@hop:postmaster>", "501 5.1.3"},
        {"TO:b@example.org", "501 5.1.3"},
        {"TO:<b@@example.org>", "501 5.1.3"},
        {"TO:<b@example.org> NOTIFY=NEVER,SUCCESS", "501 5.5.4"},
        {"TO:<b@example.org> NOTIFY=SOMETIMES", "501 5.5.4"},
        {"TO:<b@example.org> NOTIFY=SUCCESS,", "501 5.5.4"},
        {"TO:<b@example.org> ORCPT=bob@example.org", "501 5.5.4"},  // no addr-type
        {"TO:<b@example.org> ORCPT=;bob@example.org", "501 5.5.4"},
        {"TO:<b@example.org> ORCPT=rfc822;", "501 5.5.4"},
        {"TO:<b@example.org> SIZE=10", "555 5.5.4"},  // a MAIL parameter
        {"TO:<a..b@example.org>", "501 5.1.3"},         // RFC 5321 4.1.2 dot-string
        {"TO:<.a@example.org>", "501 5.1.3"},
        {"TO:<a.@example.org>", "501 5.1.3"},
        {"TO:<\\bob>", "501 5.1.3"},                   // still needs a domain
        {"TO:<\\\\bob@example.org>", "501 5.1.3"},
        {"TO:<\\\"a b\"@example.org>", "501 5.1.3"},
    };
    for (const auto& c : cases) {
        INFO(c.argument);
        CHECK(refusal(parse_rcpt_to(c.argument)) == c.want);
    }
}

TEST_CASE("xtext round-trips and is strict", "[smtp][command]") {
    CHECK(encode_xtext("a+b=c d") == "a+2Bb+3Dc+20d");
    CHECK(decode_xtext("a+2Bb+3Dc+20d") == std::optional<std::string>("a+b=c d"));
    std::string all;
    for (int i = 1; i < 256; ++i) all += static_cast<char>(i);
    CHECK(decode_xtext(encode_xtext(all)) == std::optional<std::string>(all));
    CHECK(decode_xtext("") == std::optional<std::string>(""));
    for (const char* bad : {"a b", "a=b", "+", "+4", "+4g", "+4a", "\x80"}) {
        INFO(bad);
        CHECK_FALSE(decode_xtext(bad));
    }
}
