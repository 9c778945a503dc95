#include "core/error.hpp"
#include "route/targets.hpp"

#include <catch2/catch.hpp>

using namespace vpsmail::route;

TEST_CASE("parse_entry classifies entries", "[route][targets]") {
    struct Case {
        const char* text;
        EntryKind kind;
        const char* value;
    };
    const Case cases[] = {
        {"bob", EntryKind::bare, "bob"},
        {"bob@Example.ORG", EntryKind::address, "bob@example.org"},
        {"\\bob", EntryKind::backslash, "bob"},
        {"\\bob@d.test", EntryKind::backslash, "bob@d.test"},
        {"|/usr/bin/procmail -d bob", EntryKind::program, "/usr/bin/procmail -d bob"},
        {"\"|/usr/bin/logger -t mail\"", EntryKind::program, "/usr/bin/logger -t mail"},
        {"/var/mail/archive", EntryKind::file, "/var/mail/archive"},
        {":include:/etc/mail/staff", EntryKind::include, "/etc/mail/staff"},
        {"  ann@remote.test  ", EntryKind::address, "ann@remote.test"},
    };
    for (const auto& c : cases) {
        SECTION(c.text) {
            auto e = parse_entry(c.text);
            CHECK(e.kind == c.kind);
            CHECK(e.value == c.value);
        }
    }
    CHECK_THROWS_AS(parse_entry(""), vpsmail::Error);
    CHECK_THROWS_AS(parse_entry(":include:relative"), vpsmail::Error);
    CHECK_THROWS_AS(parse_entry("|"), vpsmail::Error);
    CHECK_THROWS_AS(parse_entry("a@b@c"), vpsmail::Error);
}

TEST_CASE("error: right sides give their replies (rule 6)", "[route][targets]") {
    struct Case {
        const char* text;
        int code;
        const char* status;
        const char* message;
    };
    const Case cases[] = {
        {"error:5.7.0:550 Address invalid", 550, "5.7.0", "Address invalid"},
        {"error:4.7.1:451 try later", 451, "4.7.1", "try later"},
        {"error:nouser 550 No such user here", 550, "5.0.0", "No such user here"},
        {"error:nouser 450 mailbox busy", 450, "4.0.0", "mailbox busy"},
        {"error:nouser No such user", 553, "5.3.0", "No such user"},
        {"error:tempfail try again", 451, "4.3.0", "try again"},
        {"error:550 gone", 550, "5.0.0", "gone"},
    };
    for (const auto& c : cases) {
        SECTION(c.text) {
            auto r = parse_error_entry(c.text);
            CHECK(r.code == c.code);
            CHECK(r.status == c.status);
            CHECK(r.text == c.message);
        }
    }
    CHECK_THROWS_AS(parse_error_entry("error:"), vpsmail::Error);
    CHECK_THROWS_AS(parse_error_entry("error:5.1.1:451 mixed classes"), vpsmail::Error);
}

TEST_CASE("write-time checks of targets", "[route][targets]") {
    CHECK_NOTHROW(check_vuser_target("bob"));
    CHECK_NOTHROW(check_vuser_target("%1@other.test"));
    CHECK_NOTHROW(check_vuser_target("error:nouser 550 gone"));
    CHECK_THROWS_WITH(check_vuser_target("a@b.test, c@d.test"), Catch::Contains("one target"));
    CHECK_THROWS_WITH(check_vuser_target("|/bin/cat"), Catch::Contains("not allowed"));
    CHECK_THROWS_WITH(check_vuser_target(":include:/x"), Catch::Contains("not allowed"));
    CHECK_THROWS_WITH(check_alias_target("error:nouser 550 x"), Catch::Contains("vuser map"));
    CHECK_THROWS_WITH(check_forward_target("error:nouser 550 x"), Catch::Contains("vuser map"));
    CHECK_NOTHROW(check_alias_target("|/usr/bin/procmail"));
    CHECK_THROWS_AS(check_alias_target("bad address@x"), vpsmail::Error);
    CHECK_THROWS_AS(check_alias_target("a..b"), vpsmail::Error);
}

TEST_CASE("targets are stored normalised: A-labels, no trailing dot, dot-atoms dequoted", "[route][targets]") {
    using vpsmail::route::normalize_entry;
    CHECK(normalize_entry("hans@B\xc3\xbc" "cher.Example.") == "hans@xn--bcher-kva.example");
    CHECK(normalize_entry("\\Hans@B\xc3\xbc" "cher.example") == "\\Hans@xn--bcher-kva.example");
    CHECK(normalize_entry("\"hans\"@SHOP.test") == "hans@shop.test");
    CHECK(normalize_entry("\"a b\"@SHOP.test") == "\"a b\"@shop.test");
    CHECK(normalize_entry("%1%3@B\xc3\xbc" "cher.example") == "%1%3@xn--bcher-kva.example");
    CHECK(normalize_entry(" Bob ") == "Bob");
    CHECK(normalize_entry("|/usr/bin/procmail -d x@B\xc3\xbc" "cher.example") == "|/usr/bin/procmail -d x@B\xc3\xbc" "cher.example");
    CHECK(normalize_entry("error:nouser 550 Gone@Here") == "error:nouser 550 Gone@Here");
    CHECK(check_vuser_target("x@B\xc3\xbc" "cher.example") == "x@xn--bcher-kva.example");
    CHECK(check_alias_target("x@B\xc3\xbc" "cher.example") == "x@xn--bcher-kva.example");
    CHECK(check_forward_target("\\bob") == "\\bob");
}

TEST_CASE("vuser keys", "[route][targets]") {
    CHECK(parse_vuser_key("Info@Shop.Test").key == "info@shop.test");
    CHECK(parse_vuser_key("@shop.test").key == "@shop.test");
    CHECK(parse_vuser_key("user+*@shop.test").key == "user+*@shop.test");
    CHECK(parse_vuser_key("++@shop.test").key == "++@shop.test");
    CHECK(parse_vuser_key("+*@shop.test").domain == "shop.test");
    CHECK_THROWS_AS(parse_vuser_key("nodomain"), vpsmail::Error);
    CHECK_THROWS_AS(parse_vuser_key("a b@shop.test"), vpsmail::Error);
}

TEST_CASE("include files: commas, newlines, quotes, comments", "[route][targets]") {
    auto entries = split_include("# staff\nann, bob\n\"|/usr/bin/logger -t mail\"\n  # indented comment\ncarl@remote.test\n\n");
    REQUIRE(entries.size() == 4);
    CHECK(entries[0] == "ann");
    CHECK(entries[1] == "bob");
    CHECK(entries[2] == "|/usr/bin/logger -t mail");
    CHECK(entries[3] == "carl@remote.test");
    CHECK(split_include("# only a comment\n").empty());
}
