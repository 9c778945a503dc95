#include "core/error.hpp"
#include "mime/section.hpp"
#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace vpsmail;
using vpsmail::test::error_of;

namespace {

// Dovecot's imaptest vectors: tests/fetch-body-mime(.mbox), fetch-body-message-rfc822-mime,
// fetch-body-message-rfc822-x2. The expected texts are those tests' FETCH results.
const char* const mixed =
    "From: user@domain.org\n"
    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    "Mime-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"foo\n"
    " bar\"\n"
    "\n"
    "Root MIME prologue\n"
    "\n"
    "--foo bar\n"
    "Content-Type: text/x-myown; charset=us-ascii\n"
    "\n"
    "hello\n"
    "\n"
    "--foo bar\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: sub@domain.org\n"
    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
    "Subject: submsg\n"
    "Content-Type: multipart/alternative; boundary=\"sub1\"\n"
    "\n"
    "Sub MIME prologue\n"
    "--sub1\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>Hello world</p>\n"
    "\n"
    "--sub1\n"
    "Content-Type: text/plain\n"
    "\n"
    "Hello another world\n"
    "\n"
    "--sub1--\n"
    "Sub MIME epilogue\n"
    "\n"
    "--foo bar--\n"
    "Root MIME epilogue\n";

const char* const digest =
    "From: user@domain.org\n"
    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    "Mime-Version: 1.0\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: sub@domain.org\n"
    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
    "Subject: submsg\n"
    "Content-Type: multipart/digest; boundary=\"foo\"\n"
    "\n"
    "prologue\n"
    "\n"
    "--foo \n"
    "\n"
    "From: m1@example.com\n"
    "Subject: m1\n"
    "\n"
    "m1 body\n"
    "\n"
    "--foo \n"
    "X-Mime: m2 header\n"
    "\n"
    "From: m2@example.com\n"
    "Subject: m2\n"
    "\n"
    "m2 body\n"
    "\n"
    "--foo--\n"
    "\n"
    "epilogue\n";

const char* const twice =
    "From: user@domain.org\n"
    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    "Mime-Version: 1.0\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: user2@domain.org\n"
    "Date: Fri, 23 Mar 2007 11:22:33 +0200\n"
    "Mime-Version: 1.0\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: sub@domain.org\n"
    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
    "Subject: submsg\n"
    "\n"
    "Hello world\n";

struct Case {
    const char* section;
    const char* want;
};

void check_sections(std::string_view message, std::initializer_list<Case> cases) {
    for (const bool crlf : {false, true}) {
        const std::string stored = crlf ? mime::to_crlf(message) : std::string(message);
        const auto s = mime::parse_structure(stored);
        for (const auto& c : cases) {
            INFO("BODY[" << c.section << "]" << (crlf ? " of the CRLF file" : ""));
            const std::string got = mime::section_bytes(s, mime::parse_section(c.section), stored);
            CHECK(mime::to_crlf(got) == mime::to_crlf(c.want));
        }
    }
}

}  // namespace

TEST_CASE("sections of a multipart with a message/rfc822 part", "[mime][section]") {
    const std::string_view m = mixed;
    const std::string text(m.substr(m.find("Root MIME prologue")));
    check_sections(mixed, {
        {"", mixed},
        {"TEXT", text.c_str()},
        {"1", "hello\n"},
        {"1.MIME", "Content-Type: text/x-myown; charset=us-ascii\n\n"},
        {"2.MIME", "Content-Type: message/rfc822\n\n"},
        {"2.HEADER",
         "From: sub@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\n"
         "Content-Type: multipart/alternative; boundary=\"sub1\"\n\n"},
        {"2.HEADER.FIELDS (from subject X-foo)", "From: sub@domain.org\nSubject: submsg\n\n"},
        {"2.header.fields.not (from \"subject\" X-foo)",
         "Date: Sun, 12 Aug 2012 12:34:56 +0300\nContent-Type: multipart/alternative; boundary=\"sub1\"\n\n"},
        {"2.TEXT",
         "Sub MIME prologue\n--sub1\nContent-Type: text/html\n\n<p>Hello world</p>\n\n--sub1\nContent-Type: text/plain\n\n"
         "Hello another world\n\n--sub1--\nSub MIME epilogue\n"},
        {"2.1.MIME", "Content-Type: text/html\n\n"},
        {"2.1", "<p>Hello world</p>\n"},
        {"2.2.MIME", "Content-Type: text/plain\n\n"},
        {"2.2", "Hello another world\n"},
        {"HEADER.FIELDS (xyz)", "\n"},
        {"HEADER.FIELDS (From FROM date)", "From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\n\n"},
        // Sections the message does not have: empty.
        {"3", ""},
        {"1.1", ""},
        {"1.HEADER", ""},
        {"1.TEXT", ""},
        {"2.3", ""},
        {"2.1.1", ""},
        {"4000000.1", ""},
    });
    const auto s = mime::parse_structure(mixed);
    const auto whole = mime::section_bytes(s, mime::parse_section("2"), mixed);
    CHECK(whole.starts_with("From: sub@domain.org\n"));
    CHECK(whole.ends_with("--sub1--\nSub MIME epilogue\n"));
}

TEST_CASE("sections of nested message/rfc822 parts and a digest", "[mime][section]") {
    const std::string_view d = digest;
    const std::string inner(d.substr(d.find("From: sub@")));
    check_sections(digest, {
        {"1", inner.c_str()},
        {"TEXT", inner.c_str()},
        {"1.HEADER",
         "From: sub@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\n"
         "Content-Type: multipart/digest; boundary=\"foo\"\n\n"},
        {"1.1", "From: m1@example.com\nSubject: m1\n\nm1 body\n"},
        {"1.1.MIME", "\n"},
        {"1.1.HEADER", "From: m1@example.com\nSubject: m1\n\n"},
        {"1.1.TEXT", "m1 body\n"},
        {"1.2", "From: m2@example.com\nSubject: m2\n\nm2 body\n"},
        {"1.2.MIME", "X-Mime: m2 header\n\n"},
        {"1.2.HEADER", "From: m2@example.com\nSubject: m2\n\n"},
        {"1.2.TEXT", "m2 body\n"},
        {"1.3", ""},
    });
    const std::string_view t = twice;
    const std::string second(t.substr(t.find("From: user2@")));
    const std::string third(t.substr(t.find("From: sub@")));
    check_sections(twice, {
        {"TEXT", second.c_str()},
        {"1", second.c_str()},
        {"1.1", third.c_str()},
        {"1.HEADER", "From: user2@domain.org\nDate: Fri, 23 Mar 2007 11:22:33 +0200\nMime-Version: 1.0\nContent-Type: message/rfc822\n\n"},
        {"1.TEXT", third.c_str()},
        {"1.1.1", "Hello world\n"},
        {"1.1.HEADER", "From: sub@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\n\n"},
        {"1.1.TEXT", "Hello world\n"},
        {"1.1.1.1", ""},
    });
}

TEST_CASE("sections of a message that is not multipart", "[mime][section]") {
    const char* message = "Subject: s\nX-Long: a\n b\n\nbody\n";
    check_sections(message, {
        {"1", "body\n"},
        {"TEXT", "body\n"},
        {"HEADER", "Subject: s\nX-Long: a\n b\n\n"},
        {"1.MIME", "Subject: s\nX-Long: a\n b\n\n"},
        {"HEADER.FIELDS (x-long)", "X-Long: a\n b\n\n"},
        {"HEADER.FIELDS.NOT (x-long)", "Subject: s\n\n"},
        {"2", ""},
        {"1.1", ""},
    });
    // A header that the message's end cuts short still ends its fields with a line end.
    const auto s = mime::parse_structure("Subject: s");
    CHECK(mime::section_bytes(s, mime::parse_section("HEADER.FIELDS (subject)"), "Subject: s") == "Subject: s\r\n\n");
    CHECK(mime::locate(s, mime::parse_section("")) == mime::Range{0, 10});
    CHECK(mime::locate(s, mime::parse_section("2")) == std::nullopt);
}

TEST_CASE("parse_section", "[mime][section]") {
    CHECK(mime::parse_section("") == mime::Section{});
    CHECK(mime::parse_section("1.22.3") == mime::Section{{1, 22, 3}, mime::Section::Kind::all, {}});
    CHECK(mime::parse_section("header") == mime::Section{{}, mime::Section::Kind::header, {}});
    CHECK(mime::parse_section("4.Text") == mime::Section{{4}, mime::Section::Kind::text, {}});
    CHECK(mime::parse_section("4.MIME") == mime::Section{{4}, mime::Section::Kind::mime, {}});
    CHECK(mime::parse_section("HEADER.FIELDS (From  \"X y\")") ==
          mime::Section{{}, mime::Section::Kind::header_fields, {"From", "X y"}});
    CHECK(mime::parse_section("2.HEADER.FIELDS.NOT (a)") == mime::Section{{2}, mime::Section::Kind::header_fields_not, {"a"}});
    for (const char* bad : {"0", "1.0", "1.", "1..2", ".1", "MIME", "1.BODY", "HEADER.FIELDS", "HEADER.FIELDS ()",
                            "HEADER.FIELDS (a", "HEADER.FIELDS (a) x", "HEADER.FIELDS (\"a)", "1234567890", "HEADERX", "1x"}) {
        INFO(bad);
        error_of([&] { mime::parse_section(bad); }, ErrorKind::bad_data);
    }
}
