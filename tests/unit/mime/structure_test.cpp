#include "mime/header.hpp"
#include "mime/imap_form.hpp"
#include "mime/structure.hpp"

#include <catch2/catch.hpp>

#include <iterator>
#include <random>
#include <string>

using namespace vpsmail;

namespace {

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return s;
}

std::string bodystructure(std::string_view message) {
    return mime::bodystructure(mime::parse_structure(message));
}

std::string body(std::string_view message) {
    return mime::body(mime::parse_structure(message));
}

std::string envelope(std::string_view message) {
    return mime::envelope(mime::parse_header(message));
}

// The message's parts as "type/subtype[header_offset+header_length,body_offset+body_length]".
std::string ranges(std::string_view message) {
    const auto s = mime::parse_structure(message);
    std::string out;
    for (const auto& p : s.parts)
        out += p.type + "/" + p.subtype + "[" + std::to_string(p.header_offset) + "+" + std::to_string(p.header_length) +
               "," + std::to_string(p.body_offset) + "+" + std::to_string(p.body_length) + "]";
    return out;
}

const char* const simple =
    "From: Alice <alice@example.org>\n"
    "To: bob@example.net\n"
    "Subject: hi\n"
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
    "Message-ID: <1@example.org>\n"
    "\n"
    "Hello\n"
    "World\n";

// From Dovecot's imaptest (tests/fetch-body-mime.mbox): a folded boundary, a message/rfc822
// part holding a multipart/alternative, prologues and epilogues.
const char* const nested =
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

}  // namespace

TEST_CASE("a simple text message", "[mime][structure]") {
    const auto s = mime::parse_structure(simple);
    REQUIRE(s.parts.size() == 1);
    const auto& p = s.parts[0];
    CHECK(p.kind == mime::Part::Kind::leaf);
    CHECK(p.message_root);
    CHECK(p.header_offset == 0);
    CHECK(p.body_offset == std::string_view(simple).find("Hello"));
    CHECK(p.body_length == 12);
    CHECK(p.body_size == 14);
    CHECK(p.body_lines == 2);
    CHECK(p.header_size == p.header_length + 6);
    CHECK(s.size == std::string_view(simple).size());
    CHECK(s.crlf_size == s.size + 8);
    CHECK(mime::bodystructure(s) == R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2 NIL NIL NIL NIL))");
    CHECK(mime::body(s) == R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2))");
    CHECK(p.envelope ==
          R"(("Mon, 1 Jan 2024 00:00:00 +0000" "hi" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) )"
          R"((("Alice" NIL "alice" "example.org")) ((NIL NIL "bob" "example.net")) NIL NIL NIL "<1@example.org>"))");
}

TEST_CASE("an empty message and one without a body", "[mime][structure]") {
    CHECK(body("") == R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0))");
    CHECK(envelope("") == "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    CHECK(ranges("Subject: x") == "text/plain[0+10,10+0]");
    CHECK(ranges("Subject: x\n") == "text/plain[0+11,11+0]");
    CHECK(ranges("Subject: x\n\n") == "text/plain[0+12,12+0]");
    CHECK(ranges("\nbody") == "text/plain[0+1,1+4]");
    // A line that is not a field ends the header and starts the body (as mime/header reads it).
    CHECK(ranges("Subject: x\nnot a field\n") == "text/plain[0+11,11+12]");
}

TEST_CASE("multipart/alternative", "[mime][structure]") {
    const char* message =
        "Content-Type: multipart/alternative; boundary=b1\n"
        "\n"
        "--b1\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "caf=C3=A9\n"
        "--b1\n"
        "Content-Type: text/html; charset=utf-8\n"
        "\n"
        "<p>caf&eacute;</p>\n"
        "--b1--\n";
    CHECK(bodystructure(message) ==
          R"((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 9 0 NIL NIL NIL NIL))"
          R"(("text" "html" ("charset" "utf-8") NIL NIL "7bit" 18 0 NIL NIL NIL NIL) "alternative" ("boundary" "b1") NIL NIL NIL))");
    CHECK(body(message) ==
          R"((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 9 0)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 18 0) "alternative"))");
}

TEST_CASE("multipart/mixed with a base64 attachment and an RFC 2231 file name", "[mime][structure]") {
    const char* message =
        "From: a@example.org\n"
        "Content-Type: multipart/mixed;\n"
        "\tboundary=\"==outer==\"\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        "--==outer==\n"
        "\n"
        "See the file.\n"
        "--==outer==\n"
        "Content-Type: application/pdf;\n"
        " name*0=\"report \";\n"
        " name*1=\"2024.pdf\"\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment;\n"
        " filename*=utf-8''r%C3%A9sum%C3%A9.pdf; size=6\n"
        "Content-ID: <part2@example.org>\n"
        "Content-Description: =?utf-8?q?R=C3=A9sum=C3=A9?=\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "Content-Language: en, fr\n"
        "Content-Location: http://example.org/r.pdf\n"
        "\n"
        "SGVsbG8h\n"
        "--==outer==--\n"
        "epilogue\n";
    CHECK(bodystructure(message) ==
          R"((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL))"
          R"(("application" "pdf" ("name" "report 2024.pdf") "<part2@example.org>" "=?utf-8?q?R=C3=A9sum=C3=A9?=" "base64" 8 )"
          R"("Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename*" "utf-8''r%C3%A9sum%C3%A9.pdf" "size" "6")) ("en" "fr") )"
          R"("http://example.org/r.pdf") "mixed" ("boundary" "==outer==") NIL NIL NIL))");
}

TEST_CASE("a message/rfc822 part holding a multipart (Dovecot's imaptest vector)", "[mime][structure]") {
    const auto s = mime::parse_structure(nested);
    CHECK(s.parts.size() == 6);
    CHECK(lower(mime::body(s)) ==
          lower(R"((("text" "x-myown" ("charset" "us-ascii") NIL NIL "7bit" 7 1)("message" "rfc822" NIL NIL NIL "7bit" 298 )"
                R"(("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) )"
                R"(((NIL NIL "sub" "domain.org")) NIL NIL NIL NIL NIL) )"
                R"((("text" "html" NIL NIL NIL "7bit" 20 1)("text" "plain" NIL NIL NIL )"
                R"("7bit" 21 1) "alternative") 18) "mixed"))"));
}

TEST_CASE("Dovecot's imaptest BODY vector (fetch-bodystructure)", "[mime][structure]") {
    const char* message =
        "From: user@domain.org\n"
        "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
        "Mime-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"foo\n"
        " bar\"\n"
        "\n"
        "--foo bar\n"
        "Content-Type: text/x-myown; charset=us-ascii\n"
        "\n"
        "hello\n"
        "\n"
        "--foo bar--\n";
    // imaptest compares atoms and strings without case.
    CHECK(lower(body(message)) == lower(R"((("TEXT" "x-MYOWN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1) "MIXED"))"));
}

TEST_CASE("a digest's parts default to message/rfc822", "[mime][structure]") {
    const char* message =
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
    const auto s = mime::parse_structure(message);
    REQUIRE(s.parts.size() == 5);
    CHECK(s.parts[1].type == "message");
    CHECK(s.parts[1].kind == mime::Part::Kind::message);
    CHECK(s.parts[2].message_root);
    CHECK(mime::body(s) ==
          R"((("message" "rfc822" NIL NIL NIL "7bit" 46 (NIL "m1" ((NIL NIL "m1" "example.com")) ((NIL NIL "m1" "example.com")) )"
          R"(((NIL NIL "m1" "example.com")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 1) 4))"
          R"(("message" "rfc822" NIL NIL NIL "7bit" 46 (NIL "m2" ((NIL NIL "m2" "example.com")) ((NIL NIL "m2" "example.com")) )"
          R"(((NIL NIL "m2" "example.com")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 1) 4) "digest"))");
}

TEST_CASE("delimiters: a missing close, trailing white space, boundaries that are prefixes", "[mime][structure]") {
    SECTION("a missing close delimiter: the last part runs to the end") {
        CHECK(ranges("Content-Type: multipart/mixed; boundary=x\n\n--x\n\none\n--x\n\ntwo\n") ==
              "multipart/mixed[0+43,43+18]text/plain[47+1,48+3]text/plain[56+1,57+4]");
    }
    SECTION("an outer delimiter ends an inner multipart that is not closed") {
        const char* message =
            "Content-Type: multipart/mixed; boundary=a\n"
            "\n"
            "--a\n"
            "Content-Type: multipart/alternative; boundary=ab\n"
            "\n"
            "--ab\n"
            "\n"
            "inner\n"
            "--a\n"
            "\n"
            "second\n"
            "--a--\n";
        CHECK(body(message) ==
              R"(((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0) "alternative")("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 0) "mixed"))");
    }
    SECTION("an inner boundary that the outer one is a prefix of, and the reverse") {
        const char* message =
            "Content-Type: multipart/mixed; boundary=ab\n"
            "\n"
            "--ab\n"
            "Content-Type: multipart/mixed; boundary=a\n"
            "\n"
            "--a\n"
            "\n"
            "x\n"
            "--abc\n"
            "--a--\n"
            "--ab\t \n"
            "\n"
            "y\n"
            "--ab--  \n";
        CHECK(body(message) ==
              R"(((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 1) "mixed")("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1 0) "mixed"))");
    }
    SECTION("a delimiter right after a part's header: an empty body") {
        CHECK(ranges("Content-Type: multipart/mixed; boundary=x\n\n--x\nX-A: 1\n--x--\n") ==
              "multipart/mixed[0+43,43+17]text/plain[47+7,54+0]");
    }
    SECTION("no delimiter at all: a multipart without parts gets one empty text part on the wire") {
        CHECK(body("Content-Type: multipart/mixed; boundary=x\n\nno parts\n") ==
              R"((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed"))");
    }
}

TEST_CASE("malformed Content-Type fields fall back to the defaults", "[mime][structure]") {
    const char* base = R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1))";
    for (const char* field : {"Content-Type: text\n", "Content-Type: /plain\n", "Content-Type: \n",
                              "Content-Type: ;charset=utf-8\n", "Content-Type: te xt/plain\n"}) {
        INFO(field);
        CHECK(body(std::string(field) + "\nx\n") == base);
    }
    // A multipart without a boundary cannot be split: one opaque part.
    CHECK(body("Content-Type: multipart/mixed\n\n--x\n\nx\n") ==
          R"(("application" "octet-stream" NIL NIL NIL "7bit" 10))");
    // Odd but valid.
    CHECK(body("Content-Type: TEXT/Plain;charset=\"ISO-8859-1\"(c)\nContent-Transfer-Encoding: 8BIT (x)\n\nx\n") ==
          R"(("TEXT" "Plain" ("charset" "ISO-8859-1") NIL NIL "8BIT" 3 1))");
}

TEST_CASE("LF and CRLF files give the same wire forms", "[mime][structure]") {
    const char* multipart =
        "Content-Type: multipart/alternative; boundary=b1\n\n--b1\n\nplain\n--b1\nContent-Type: text/html\n\n<p>x</p>\n--b1--\n";
    for (const char* message : {simple, nested, multipart}) {
        const auto lf = mime::parse_structure(message);
        const std::string crlf_text = mime::to_crlf(message);
        const auto crlf = mime::parse_structure(crlf_text);
        CHECK(mime::bodystructure(lf) == mime::bodystructure(crlf));
        CHECK(lf.parts[0].envelope == crlf.parts[0].envelope);
        CHECK(lf.crlf_size == crlf_text.size());
        CHECK(crlf.crlf_size == crlf_text.size());
        REQUIRE(lf.parts.size() == crlf.parts.size());
        for (std::size_t i = 0; i < lf.parts.size(); ++i) {
            CHECK(lf.parts[i].body_size == crlf.parts[i].body_length);
            CHECK(lf.parts[i].header_size == crlf.parts[i].header_length);
        }
    }
}

TEST_CASE("crlf_size and to_crlf", "[mime][structure]") {
    CHECK(mime::crlf_size("") == 0);
    CHECK(mime::crlf_size("a\nb\r\nc\r") == 8);
    CHECK(mime::to_crlf("a\nb\r\nc\r\n\n") == "a\r\nb\r\nc\r\n\r\n");
    CHECK(mime::to_crlf("\n") == "\r\n");
}

TEST_CASE("hostile nesting and part counts stay bounded", "[mime][structure]") {
    SECTION("multiparts nested past max_depth become opaque") {
        std::string message;
        const int levels = 5000;
        for (int i = 0; i < levels; ++i)
            message += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
        message += "\ntext\n";
        const auto s = mime::parse_structure(message);
        CHECK(s.parts.size() == mime::max_depth);
        CHECK(s.parts.back().type == "application");
        CHECK(!mime::bodystructure(s).empty());
    }
    SECTION("message/rfc822 nested past max_depth") {
        std::string message;
        for (int i = 0; i < 5000; ++i) message += "Content-Type: message/rfc822\n\n";
        message += "x\n";
        const auto s = mime::parse_structure(message);
        CHECK(s.parts.size() == mime::max_depth);
        CHECK(s.parts.back().type == "application");
        CHECK(s.parts.back().kind == mime::Part::Kind::leaf);
    }
    SECTION("more delimiters than max_parts") {
        std::string message = "Content-Type: multipart/mixed; boundary=x\n\n";
        for (std::size_t i = 0; i < mime::max_parts + 500; ++i) message += "--x\n\np\n";
        message += "--x--\n";
        const auto s = mime::parse_structure(message);
        CHECK(s.parts.size() == mime::max_parts);
        CHECK(s.parts[0].children.size() == mime::max_parts - 1);
        CHECK(s.parts[0].body_length == message.size() - s.parts[0].body_offset);
    }
}

TEST_CASE("envelopes: Dovecot's imaptest vectors (fetch-envelope)", "[mime][envelope]") {
    struct Case {
        const char* header;
        const char* want;
    };
    const Case cases[] = {
        {"Message-ID: <msg@id>\nIn-Reply-To: <reply@to.id>\nDate: Thu, 15 Feb 2007 01:02:03 +0200\n"
         "Subject: subject header\nFrom: From Real <fromuser@fromdomain.org>\nTo: To Real <touser@todomain.org>\n"
         "Cc: Cc Real <ccuser@ccdomain.org>\nBcc: Bcc Real <bccuser@bccdomain.org>\n"
         "Sender: Sender Real <senderuser@senderdomain.org>\nReply-To: ReplyTo Real <replytouser@replytodomain.org>\n\nbody\n",
         R"(("Thu, 15 Feb 2007 01:02:03 +0200" "subject header" (("From Real" NIL "fromuser" "fromdomain.org")) )"
         R"((("Sender Real" NIL "senderuser" "senderdomain.org")) (("ReplyTo Real" NIL "replytouser" "replytodomain.org")) )"
         R"((("To Real" NIL "touser" "todomain.org")) (("Cc Real" NIL "ccuser" "ccdomain.org")) )"
         R"((("Bcc Real" NIL "bccuser" "bccdomain.org")) "<reply@to.id>" "<msg@id>"))"},
        {"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain\n\nbody\n",
         R"(("Thu, 15 Feb 2007 01:02:03 +0200" NIL ((NIL NIL "user" "domain")) ((NIL NIL "user" "domain")) )"
         R"(((NIL NIL "user" "domain")) NIL NIL NIL NIL NIL))"},
        {"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain (Real Name)\n"
         "To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\nCc: group:;, group2: (foo) ;\n\nbody\n",
         R"(("Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) )"
         R"((("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org"))"
         R"((NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) )"
         R"(((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) NIL NIL NIL))"},
        {"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain (Real Name)\nSender: \nReply-To: \n\nbody\n",
         R"(("Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) )"
         R"((("Real Name" NIL "user" "domain")) NIL NIL NIL NIL NIL))"},
        {"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: <@route:user@domain>\n\nbody\n",
         R"(("Thu, 15 Feb 2007 01:02:03 +0200" NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) )"
         R"(((NIL "@route" "user" "domain")) NIL NIL NIL NIL NIL))"},
    };
    for (const auto& c : cases) {
        INFO(c.header);
        CHECK(envelope(c.header) == c.want);
    }
}

TEST_CASE("envelopes: quoting, 8-bit text, folding, broken addresses", "[mime][envelope]") {
    struct Case {
        const char* header;
        const char* want;
    };
    const Case cases[] = {
        // Quoted names with escaped quotes and backslashes, re-escaped for IMAP.
        {"From: \"Smith, \\\"Bob\\\" \\\\ Jr\" <bob@example.org>\n\n",
         R"((NIL NIL (("Smith, \"Bob\" \\ Jr" NIL "bob" "example.org")) (("Smith, \"Bob\" \\ Jr" NIL "bob" "example.org")) )"
         R"((("Smith, \"Bob\" \\ Jr" NIL "bob" "example.org")) NIL NIL NIL NIL NIL))"},
        // 8-bit header text is a literal; RFC 2047 words stay as written; folding is undone.
        {"Subject: caf\xc3\xa9\nX: y\n\n", "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)"},
        {"Subject: =?utf-8?q?caf=C3=A9?=\n and\n\tmore\n\n", "(NIL \"=?utf-8?q?caf=C3=A9?= and\tmore\" NIL NIL NIL NIL NIL NIL NIL NIL)"},
        // The first of a repeated field; quoted local parts keep their quotes; the domain is
        // normalised by core/address.
        {"To: \"a b\"@Example.ORG, c@d\nTo: e@f\n\n",
         R"((NIL NIL NIL NIL NIL ((NIL NIL "\"a b\"" "example.org")(NIL NIL "c" "d")) NIL NIL NIL NIL))"},
        // Addresses core/address refuses are shown as written; a missing domain is named.
        {"To: root, x..y@bad@dom, <>, \"unclosed\n\n",
         R"((NIL NIL NIL NIL NIL ((NIL NIL "root" "MISSING_DOMAIN")(NIL NIL "x..y@bad" "dom")) NIL NIL NIL NIL))"},
        {"To: undisclosed-recipients:;\n\n", R"((NIL NIL NIL NIL NIL ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL))"},
        {"To: team: a@b.test\n\n", R"((NIL NIL NIL NIL NIL ((NIL NIL "team" NIL)(NIL NIL "a" "b.test")(NIL NIL NIL NIL)) NIL NIL NIL NIL))"},
    };
    for (const auto& c : cases) {
        INFO(c.header);
        CHECK(envelope(c.header) == c.want);
    }
}

TEST_CASE("imap_string quotes or sends a literal", "[mime][envelope]") {
    CHECK(mime::imap_string("") == "\"\"");
    CHECK(mime::imap_string("a \"b\" \\c") == R"("a \"b\" \\c")");
    CHECK(mime::imap_string("a\r\nb") == "{4}\r\na\r\nb");
    CHECK(mime::imap_string(std::string_view("a\0b", 3)) == std::string("{3}\r\na\0b", 8));
    CHECK(mime::imap_string(std::string(mime::max_quoted, 'x')).front() == '"');
    CHECK(mime::imap_string(std::string(mime::max_quoted + 1, 'x')).starts_with("{1025}\r\n"));
    CHECK(mime::imap_nstring(std::nullopt) == "NIL");
}

TEST_CASE("the RFC 3501 section 7.4.2 example shapes", "[mime][structure]") {
    // BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN"
    // ("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>"
    // "Compiler diff" "BASE64" 4554 73) "MIXED"), here with smaller bodies.
    const char* message =
        "Content-Type: MULTIPART/MIXED; BOUNDARY=\"x\"\n"
        "\n"
        "--x\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
        "\n"
        "line 1\n"
        "line 2\n"
        "--x\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\n"
        "Content-ID: <960723163407.20117h@cac.washington.edu>\n"
        "Content-Description: Compiler diff\n"
        "Content-Transfer-Encoding: BASE64\n"
        "\n"
        "AAAA\n"
        "--x--\n";
    CHECK(body(message) ==
          R"((("TEXT" "PLAIN" ("charset" "US-ASCII") NIL NIL "7bit" 14 1)("TEXT" "PLAIN" ("charset" "US-ASCII" "name" "cc.diff") )"
          R"("<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4 0) "MIXED"))");
    // The ENVELOPE example's shape: a Date with a comment, a list of several addresses.
    CHECK(envelope("Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\nSubject: IMAP4rev1 WG mtg summary and minutes\n"
                   "From: Terry Gray <gray@cac.washington.edu>\nTo: imap@cac.washington.edu\n"
                   "Cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
                   "Message-Id: <B27397-0100000@cac.washington.edu>\n\n") ==
          R"x(("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" )x"
          R"((("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) )"
          R"((("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) )"
          R"(((NIL NIL "minutes" "cnri.reston.va.us")("John Klensin" NIL "KLENSIN" "mit.edu")) NIL NIL )"
          R"("<B27397-0100000@cac.washington.edu>"))");
}

TEST_CASE("random messages: the LF and CRLF forms agree and ranges stay inside", "[mime][structure]") {
    // Messages glued from MIME-ish lines, with a fixed seed: deterministic.
    const char* lines[] = {"Content-Type: multipart/mixed; boundary=a", "Content-Type: multipart/digest; boundary=b",
                           "Content-Type: message/rfc822", "Content-Type: text/plain", "From: A <a@b.test>",
                           "To: g: c@d.test;", "Subject: x", "--a", "--a--", "--b", "--b--", "", "", "text", " folded",
                           "--a  ", "--ab", "Content-Type: multipart/alternative; boundary=\"a\""};
    std::mt19937 random(7);
    for (int round = 0; round < 3000; ++round) {
        std::string message;
        const int n = static_cast<int>(random() % 40);
        for (int i = 0; i < n; ++i) {
            message += lines[random() % std::size(lines)];
            message += random() % 2 == 0 ? "\n" : "\r\n";
        }
        const auto lf = mime::parse_structure(message);
        const auto crlf = mime::parse_structure(mime::to_crlf(message));
        INFO(message);
        REQUIRE(mime::bodystructure(lf) == mime::bodystructure(crlf));
        REQUIRE(lf.parts[0].envelope == crlf.parts[0].envelope);
        for (const auto& p : lf.parts) {
            REQUIRE(p.header_offset + p.header_length == p.body_offset);
            REQUIRE(p.body_offset + p.body_length <= message.size());
        }
    }
}
