#include "core/error.hpp"
#include "mime/header.hpp"
#include "mime/submission.hpp"
#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace vpsmail;
using vpsmail::test::error_of;

namespace {

// "name=value|name=value" of every field, then "#" and the body.
std::string summary(std::string_view message) {
    mime::Header h = mime::parse_header(message);
    std::string out;
    for (const auto& f : h.fields) out += (out.empty() ? "" : "|") + f.name + "=" + f.value;
    return out + "#" + std::string(message.substr(h.body_offset)) + (h.blank_line ? "" : "(no blank)");
}

// "name <address>, ..." of a parsed address list.
std::string mailboxes(std::string_view value, bool bare = false) {
    std::string out;
    for (const auto& m : mime::parse_address_list(value, bare))
        out += (out.empty() ? "" : ", ") + m.display_name + "<" + m.address.str() + ">";
    return out;
}

}  // namespace

TEST_CASE("parse_header splits and unfolds fields", "[mime][header]") {
    struct Case {
        const char* message;
        const char* want;
    };
    const Case cases[] = {
        {"Subject: hi\r\nTo: a@b.test\r\n\r\nbody\r\n", "Subject=hi|To=a@b.test#body\r\n"},
        {"Subject: hi\nTo: a@b.test\n\nbody\n", "Subject=hi|To=a@b.test#body\n"},  // LF only
        {"Subject: one\r\n two\r\n\tthree\r\n\r\n", "Subject=one two\tthree#"},     // RFC 5322 2.2.3
        {"X-Empty:\r\n\r\nb", "X-Empty=#b"},
        {"Subject : obsolete\r\n\r\n", "Subject=obsolete#"},                          // RFC 5322 4.5
        {"Subject: hi\r\nnot a field\r\nmore\r\n", "Subject=hi#not a field\r\nmore\r\n(no blank)"},
        {"From someone Tue Jan 1\r\nSubject: x\r\n", "#From someone Tue Jan 1\r\nSubject: x\r\n(no blank)"},
        {"Subject: all header\r\n", "Subject=all header#(no blank)"},
        {"", "#(no blank)"},
        {" leading space\r\n\r\n", "# leading space\r\n\r\n(no blank)"},
    };
    for (const auto& c : cases) {
        SECTION(c.message) {
            std::string got = summary(c.message);
            INFO("got " << got << " want " << c.want);
            CHECK(got == c.want);
        }
    }
}

TEST_CASE("Header::find is case-insensitive and keeps order", "[mime][header]") {
    auto h = mime::parse_header("to: a@b.test\r\nCC: c@d.test\r\nTO: e@f.test\r\n\r\n");
    REQUIRE(h.find("To") != nullptr);
    CHECK(h.find("To")->value == "a@b.test");
    CHECK(h.find("cc")->value == "c@d.test");
    CHECK(h.find("Bcc") == nullptr);
    auto all = h.find_all("To");
    REQUIRE(all.size() == 2);
    CHECK(all[1]->value == "e@f.test");
}

TEST_CASE("parse_address_list reads names, comments, groups and routes", "[mime][header]") {
    struct Case {
        const char* value;
        const char* want;
    };
    const Case cases[] = {
        {"a@b.test", "<a@b.test>"},
        {"a@b.test, c@d.test", "<a@b.test>, <c@d.test>"},
        {"Ann Example <ann@b.test>", "Ann Example<ann@b.test>"},
        {"\"Example, Ann\" <ann@b.test>, bob@b.test", "Example, Ann<ann@b.test>, <bob@b.test>"},
        {"bob@b.test (Bob (the) Builder)", "<bob@b.test>"},
        {"undisclosed-recipients:;", ""},
        {"team: a@b.test, c@d.test;, e@f.test", "<a@b.test>, <c@d.test>, <e@f.test>"},
        {"<@relay.test,@other.test:a@b.test>", "<a@b.test>"},
        {"a@b.test,, ,c@d.test", "<a@b.test>, <c@d.test>"},
        {"\"john doe\"@b.test", "<\"john doe\"@b.test>"},
        {"A@B.TEST", "<A@b.test>"},
        {"", ""},
        {"x@[127.0.0.1]", "<x@[127.0.0.1]>"},
    };
    for (const auto& c : cases) {
        SECTION(c.value) {
            std::string got = mailboxes(c.value);
            INFO("got " << got << " want " << c.want);
            CHECK(got == c.want);
        }
    }
}

TEST_CASE("parse_address_list takes bare names only when asked", "[mime][header]") {
    CHECK(mailboxes("root, Bob <bob>", true) == "<root>, Bob<bob>");
    CHECK(error_of([] { mime::parse_address_list("root"); }, ErrorKind::bad_data).find("root") != std::string::npos);
}

TEST_CASE("parse_address_list refuses malformed lists naming the value", "[mime][header]") {
    const char* cases[] = {
        "<a@b.test",            // '<' not closed
        "\"open <a@b.test>",    // quoted string not closed
        "a@b.test (comment",    // comment not closed
        "team: a@b.test",       // group not closed
        "<a@b.test> extra",     // text after '>'
        "<>",                   // no address
        "Bob Smith bob@b.test", // a phrase without angle brackets
        "a@b@c.test",
    };
    for (const char* value : cases) {
        SECTION(value) {
            std::string message = error_of([&] { mime::parse_address_list(value); }, ErrorKind::bad_data);
            CHECK(!message.empty());
        }
    }
}

TEST_CASE("prepare_submission converts line ends and stops at a lone dot", "[mime][submission]") {
    struct Case {
        const char* input;
        bool dot_ends;
        const char* want;
    };
    const Case cases[] = {
        {"Subject: x\n\nline\n", true, "Subject: x\r\n\r\nline\r\n"},
        {"Subject: x\r\n\r\nline\r\n", true, "Subject: x\r\n\r\nline\r\n"},
        {"Subject: x\n\nno newline", true, "Subject: x\r\n\r\nno newline\r\n"},
        {"Subject: x\n\none\n.\ntwo\n", true, "Subject: x\r\n\r\none\r\n"},
        {"Subject: x\n\none\n.\ntwo\n", false, "Subject: x\r\n\r\none\r\n.\r\ntwo\r\n"},  // -i
        {"Subject: x\n\n..\n", true, "Subject: x\r\n\r\n..\r\n"},  // no dot-unstuffing
    };
    for (const auto& c : cases) {
        SECTION(c.input) {
            mime::SubmitOptions o;
            o.dot_ends = c.dot_ends;
            o.from_address = "u@h.test";  // the message has no From: it is added at the end of the header
            std::string got = mime::prepare_submission(c.input, o).message;
            std::string want = c.want;
            want.insert(want.find("\r\n\r\n") + 2, "From: u@h.test\r\n");
            INFO("got " << got);
            CHECK(got == want);
        }
    }
}

TEST_CASE("prepare_submission adds From, Date and Message-ID when missing", "[mime][submission]") {
    mime::SubmitOptions o;
    o.from_address = "cron@h.test";
    o.date = "Tue, 02 Jan 2024 03:04:05 +0000";
    o.message_id = "<1.2@h.test>";
    struct Case {
        const char* input;
        const char* from_name;
        const char* want;
    };
    const Case cases[] = {
        {"Subject: s\n\nb\n", "",
         "Subject: s\r\nFrom: cron@h.test\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <1.2@h.test>\r\n\r\nb\r\n"},
        {"Subject: s\n\nb\n", "CronDaemon",
         "Subject: s\r\nFrom: CronDaemon <cron@h.test>\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <1.2@h.test>\r\n\r\nb\r\n"},
        {"from: a@b.test\nDATE: x\nmessage-id: <m@b>\n\nb\n", "Ignored",
         "from: a@b.test\r\nDATE: x\r\nmessage-id: <m@b>\r\n\r\nb\r\n"},
        // A body with no header: the added fields and a blank line go before it.
        {"just text\n", "",
         "From: cron@h.test\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <1.2@h.test>\r\n\r\njust text\r\n"},
        {"", "Smith, J.",
         "From: \"Smith, J.\" <cron@h.test>\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <1.2@h.test>\r\n"},
    };
    for (const auto& c : cases) {
        SECTION(c.input) {
            o.from_name = c.from_name;
            std::string got = mime::prepare_submission(c.input, o).message;
            INFO("got " << got);
            CHECK(got == c.want);
        }
    }
}

TEST_CASE("prepare_submission with -t reads recipients and removes Bcc", "[mime][submission]") {
    mime::SubmitOptions o;
    o.extract_recipients = true;
    struct Case {
        const char* input;
        const char* recipients;
        const char* header;  // the header as delivered
    };
    const Case cases[] = {
        {"From: a@h.test\nTo: Bob <bob@x.test>, ann@x.test\nCc: carl@y.test\nBcc: dora@z.test\n\nb\n",
         "bob@x.test ann@x.test carl@y.test dora@z.test",
         "From: a@h.test\r\nTo: Bob <bob@x.test>, ann@x.test\r\nCc: carl@y.test\r\n"},
        {"From: a@h.test\nBCC: hidden@z.test,\n  other@z.test\nTo: root\n\nb\n", "root hidden@z.test other@z.test",
         "From: a@h.test\r\nTo: root\r\n"},
        {"From: a@h.test\nTo: bob@x.test\nCc: BOB@x.test, bob@x.test\n\nb\n", "bob@x.test",
         "From: a@h.test\r\nTo: bob@x.test\r\nCc: BOB@x.test, bob@x.test\r\n"},
        // RFC 5322 3.6.6: a resent message goes to the Resent- recipients only.
        {"From: a@h.test\nTo: old@x.test\nResent-From: a@h.test\nResent-To: new@x.test\nResent-Bcc: sec@x.test\n\nb\n",
         "new@x.test sec@x.test", "From: a@h.test\r\nTo: old@x.test\r\nResent-From: a@h.test\r\nResent-To: new@x.test\r\n"},
        {"From: a@h.test\nTo: undisclosed-recipients:;\n\nb\n", "", "From: a@h.test\r\nTo: undisclosed-recipients:;\r\n"},
        {"From: a@h.test\nSubject: none\n\nb\n", "", "From: a@h.test\r\nSubject: none\r\n"},
    };
    for (const auto& c : cases) {
        SECTION(c.input) {
            auto s = mime::prepare_submission(c.input, o);
            std::string got;
            for (const auto& r : s.recipients) got += (got.empty() ? "" : " ") + r.str();
            INFO("got recipients " << got << " message " << s.message);
            CHECK(got == c.recipients);
            CHECK(s.message == std::string(c.header) + "\r\nb\r\n");
        }
    }
}

TEST_CASE("prepare_submission refuses bad input naming it", "[mime][submission]") {
    mime::SubmitOptions o;
    o.extract_recipients = true;
    o.max_size = 100;
    CHECK(error_of([&] { mime::prepare_submission(std::string("To: a@b.test\n\nx\0y\n", 18), o); }, ErrorKind::bad_data)
              .find("NUL byte (line 3)") != std::string::npos);
    CHECK(error_of([&] { mime::prepare_submission("To: a@b@c.test\n\n", o); }, ErrorKind::bad_data).find("To field") !=
          std::string::npos);
    CHECK(error_of([&] { mime::prepare_submission(std::string(101, 'x'), o); }, ErrorKind::limit).find("100") !=
          std::string::npos);
}

TEST_CASE("format_phrase quotes what is not atoms", "[mime][submission]") {
    CHECK(mime::format_phrase("Cron Daemon") == "Cron Daemon");
    CHECK(mime::format_phrase("Smith, J.") == "\"Smith, J.\"");
    CHECK(mime::format_phrase("say \"hi\"") == "\"say \\\"hi\\\"\"");
}

TEST_CASE("parse_address_entries keeps groups and never throws", "[mime][header]") {
    // "kind:name|route|local@domain" per entry; kinds m(ailbox), g(roup start), e(nd of group).
    auto shown = [](std::string_view value) {
        std::string out;
        for (const auto& e : mime::parse_address_entries(value)) {
            const char kind = e.kind == mime::ListEntry::Kind::mailbox ? 'm' : e.kind == mime::ListEntry::Kind::group_start ? 'g' : 'e';
            out += std::string(out.empty() ? "" : " ") + kind + ":" + e.display_name + "|" + e.route + "|" + e.local + "@" + e.domain;
        }
        return out;
    };
    struct Case {
        const char* value;
        const char* want;
    };
    const Case cases[] = {
        {"", ""},
        {"a@B.Test", "m:||a@b.test"},
        {"\"Q \\\"x\\\"\" <a@b.test>, c@d.test (C (nested) name)", "m:Q \"x\"||a@b.test m:C (nested) name||c@d.test"},
        {"g: a@b.test, c@d.test;, h:;", "g:g||@ m:||a@b.test m:||c@d.test e:||@ g:h||@ e:||@"},
        {"g: a@b.test", "g:g||@ m:||a@b.test e:||@"},                      // a group not closed
        {"<@r1,@r2:a@b.test>", "m:|@r1,@r2|a@b.test"},
        {"root", "m:||root@"},
        {"a@@b", "m:||a@@b"},                                               // refused: as written
        {"\"unclosed", ""},
        {"(unclosed", ""},
        {"<a@b.test", "m:||a@b.test"},
        {"a@[1.2.3.4", "m:||a@[1.2.3.4"},
        {"<a@b.test> x, <>", "m:||a@b.test"},
    };
    for (const auto& c : cases) {
        INFO(c.value);
        CHECK(shown(c.value) == c.want);
    }
    // The strict parser still refuses what the tolerant one takes.
    error_of([] { mime::parse_address_list("g: a@b.test"); }, ErrorKind::bad_data);
    error_of([] { mime::parse_address_list("<a@b.test"); }, ErrorKind::bad_data);
    CHECK(mailboxes("a@b.test (Name)") == "<a@b.test>");
}
