#include "core/address.hpp"
#include "core/error.hpp"

#include <catch2/catch.hpp>

using vpsmail::Error;
using vpsmail::ErrorKind;

TEST_CASE("parse_address accepts and normalises", "[core][address]") {
    struct Case {
        const char* input;
        const char* local;
        const char* domain;
        bool quoted;
    };
    const Case cases[] = {
        {"alice@example.org", "alice", "example.org", false},
        {"Alice@Example.ORG", "Alice", "example.org", false},       // case kept in the local part
        {"bob@example.org.", "bob", "example.org", false},          // trailing dot dropped
        {"\"info\"@shop.test", "info", "shop.test", false},         // dot-atom content is dequoted
        {"\"a b\"@shop.test", "\"a b\"", "shop.test", true},        // other quoted content stays quoted
        {"a+x+y@d.test", "a+x+y", "d.test", false},
        {"user%host@d.test", "user%host", "d.test", false},         // % is an ordinary character
        {"j\xc3\xb6rg@b\xc3\xbc" "cher.example", "j\xc3\xb6rg", "xn--bcher-kva.example", false},  // IDN
        {"x@[127.0.0.1]", "x", "[127.0.0.1]", false},
    };
    for (const auto& c : cases) {
        SECTION(c.input) {
            auto a = vpsmail::parse_address(c.input);
            INFO("got local " << a.local << " domain " << a.domain);
            CHECK(a.local == c.local);
            CHECK(a.domain == c.domain);
            CHECK(a.quoted == c.quoted);
        }
    }
}

TEST_CASE("parse_address refuses malformed addresses with bad_data", "[core][address]") {
    std::string long_local(65, 'a');
    std::string long_address = std::string(60, 'a') + "@" + std::string(60, 'b') + "." + std::string(60, 'c') + "." +
                               std::string(60, 'd') + "." + std::string(20, 'e') + ".test";
    struct Case {
        std::string input;
        const char* why;
    };
    const Case cases[] = {
        {"alice", "no '@domain'"},
        {"a@b@c.test", "more than one '@'"},
        {"@example.org", "local part before '@' is empty"},
        {"al ice@example.org", "space"},
        {"al\x01ice@example.org", "control character"},
        {long_local + "@example.org", "more than 64"},
        {long_address, "more than 254"},
        {"alice@", "domain after '@' is empty"},
        {"alice@exa mple.org", "space or control"},
        {"alice@-bad.org", "hyphen"},
        {"alice@" + std::string(64, 'x') + ".org", "more than 63"},
        {"alice@a..org", "empty label"},
        {"\"open@example.org", "not closed"},
        {"a(b)@example.org", "not allowed"},
        {"", "empty"},
        {"a..b@example.org", "two dots in a row"},          // RFC 5321 4.1.2: Dot-string
        {".alice@example.org", "starts with a dot"},
        {"alice.@example.org", "ends with a dot"},
        {"\\bob@example.org", "leading backslash"},       // only where Backslash::allow says
    };
    for (const auto& c : cases) {
        SECTION(c.input) {
            try {
                vpsmail::parse_address(c.input);
                FAIL("accepted " << c.input);
            } catch (const Error& e) {
                CHECK(e.kind() == ErrorKind::bad_data);
                CHECK_THAT(e.what(), Catch::Contains(c.why));
            }
        }
    }
}

TEST_CASE("a quoted local part may hold any dots", "[core][address]") {
    auto a = vpsmail::parse_address("\"a..b\"@example.org");
    CHECK(a.quoted);
    CHECK(a.local == "\"a..b\"");
    CHECK(vpsmail::parse_recipient("a.b.c").local == "a.b.c");
    CHECK_THROWS_AS(vpsmail::parse_recipient("a..b"), Error);  // bare names too
}

TEST_CASE("a leading backslash where it is allowed (docs/routing.md rule 8)", "[core][address]") {
    using vpsmail::Backslash;
    auto a = vpsmail::parse_address("\\Bob@B\xc3\xbc" "cher.example", Backslash::allow);
    CHECK(a.backslash);
    CHECK(a.local == "Bob");
    CHECK(a.domain == "xn--bcher-kva.example");
    CHECK(a.str() == "\\Bob@xn--bcher-kva.example");
    auto bare = vpsmail::parse_recipient("\\bob", Backslash::allow);
    CHECK(bare.backslash);
    CHECK(bare.bare());
    CHECK(bare.str() == "\\bob");
    CHECK_FALSE(vpsmail::parse_address("bob@d.test", Backslash::allow).backslash);
    CHECK_THROWS_AS(vpsmail::parse_address("\\\\bob@d.test", Backslash::allow), Error);
    CHECK_THROWS_AS(vpsmail::parse_address("\\\"a b\"@d.test", Backslash::allow), Error);
    CHECK_THROWS_AS(vpsmail::parse_address("\\bob", Backslash::allow), Error);  // no domain
}

TEST_CASE("normalize_domain", "[core][address]") {
    CHECK(vpsmail::normalize_domain("Example.ORG.") == "example.org");
    CHECK(vpsmail::normalize_domain("xn--bcher-kva.example") == "xn--bcher-kva.example");
    CHECK(vpsmail::normalize_domain("B\xc3\xbc" "cher.Example") == "xn--bcher-kva.example");
    CHECK_THROWS_AS(vpsmail::normalize_domain("[1.2.3.4]"), Error);
    CHECK_THROWS_AS(vpsmail::normalize_domain("."), Error);
    CHECK_THROWS_AS(vpsmail::normalize_domain("a_b.test"), Error);
    CHECK_THROWS_AS(vpsmail::normalize_domain("bad-.test"), Error);
}

TEST_CASE("split_detail splits at the first delimiter", "[core][address]") {
    auto s = vpsmail::split_detail("a+x+y", '+');
    CHECK(s.user == "a");
    CHECK(s.detail == "x+y");
    CHECK(s.has_delimiter);
    s = vpsmail::split_detail("user+", '+');
    CHECK(s.user == "user");
    CHECK(s.detail.empty());
    CHECK(s.has_delimiter);
    s = vpsmail::split_detail("plain", '+');
    CHECK_FALSE(s.has_delimiter);
    s = vpsmail::split_detail("a-b", '-');
    CHECK(s.user == "a");
    CHECK(s.detail == "b");
}
