// The rules of docs/routing.md, one case per rule or example, on a real store.
#include "core/error.hpp"
#include "support/store_fixture.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using vpsmail::test::StoreFixture;
using vpsmail::route::Outcome;

namespace {

void seed_shop(StoreFixture& f) {
    f.domain("shop.test").domain("other.test");
    f.user("bob", "shop.test").user("ann", "shop.test").user("carl", "shop.test").user("bob", "other.test");
}

}  // namespace

TEST_CASE("stage order: vuser -> alias -> forward -> user -> catch-all -> bounce", "[route]") {
    StoreFixture f;
    seed_shop(f);
    CHECK(f.resolve("bob@shop.test") == "mailbox:bob@shop.test");
    CHECK(f.resolve("BOB@Shop.Test.") == "mailbox:bob@shop.test");
    CHECK(f.resolve("ghost@shop.test") == "| 550 5.1.1 ghost@shop.test");
    f.catchall("shop.test", "ann");
    CHECK(f.resolve("ghost@shop.test") == "mailbox:ann@shop.test");
    CHECK(f.resolve("bob@shop.test") == "mailbox:bob@shop.test");  // stage 5 only takes what is left
    f.forward("bob", "shop.test", {"carl"});
    CHECK(f.resolve("bob@shop.test") == "mailbox:carl@shop.test");
    f.alias("bob", {"ann"});
    CHECK(f.resolve("bob@shop.test") == "mailbox:ann@shop.test");  // rule 8: alias hides user and forward
    f.vuser("bob@shop.test", "x@remote.test");
    CHECK(f.resolve("bob@shop.test") == "remote:x@remote.test");
    CHECK(f.resolve("friend@remote.test") == "remote:friend@remote.test");
}

TEST_CASE("bare names enter at stage 2 in the current domain, without catch-alls", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.vuser("info@shop.test", "bob").vuser("info@other.test", "bob");
    CHECK(f.resolve("info@shop.test") == "mailbox:bob@shop.test");
    CHECK(f.resolve("info@other.test") == "mailbox:bob@other.test");
    f.alias("webmaster", {"bob"});
    CHECK(f.resolve("webmaster@shop.test") == "mailbox:bob@shop.test");
    CHECK(f.resolve("webmaster@other.test") == "mailbox:bob@other.test");
    f.catchall("shop.test", "ann").vuser("lost@shop.test", "nobody");
    CHECK(f.resolve("lost@shop.test") == "| 550 5.1.1 nobody@shop.test");
    f.vuser("@other.test", "carl@shop.test");
    CHECK(f.resolve("bob") == "mailbox:bob@shop.test");  // primary domain = first added
    f.options.primary_domain = "other.test";
    CHECK(f.resolve("bob") == "mailbox:bob@other.test");  // a bare recipient skips the @d key
}

TEST_CASE("virtusertable lookup order and substitution (rules 4, 5)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.vuser("@shop.test", "%1@other.test");
    CHECK(f.resolve("bob@shop.test") == "mailbox:bob@other.test");  // @d hides users
    CHECK(f.resolve("Bob+x@shop.test") == "mailbox:bob@other.test");  // detail lost without %2/%3
    f.vuser("+*@shop.test", "%1%3@other.test");
    CHECK(f.resolve("bob+tag@shop.test") == "mailbox:bob@other.test+tag");
    f.vuser("++@shop.test", "ann");
    CHECK(f.resolve("bob+tag@shop.test") == "mailbox:ann@shop.test");
    CHECK(f.resolve("bob+@shop.test") == "mailbox:bob@other.test");  // empty detail skips ++
    f.vuser("bob@shop.test", "carl");
    CHECK(f.resolve("bob+tag@shop.test") == "mailbox:carl@shop.test");  // user@d before ++@d
    f.vuser("bob+*@shop.test", "%2@other.test");
    CHECK(f.resolve("bob+ann@shop.test") == "| 550 5.1.1 ann@other.test");
    f.vuser("bob++@shop.test", "ann");
    CHECK(f.resolve("bob+x@shop.test") == "mailbox:ann@shop.test");
}

TEST_CASE("%1 keeps the case and the whole local part on an exact key", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.vuser("Bob+X@shop.test", "%1@remote.test");
    CHECK(f.resolve("Bob+X@shop.test") == "remote:Bob+X@remote.test");
    f.vuser("ann+*@shop.test", "%1-%2@remote.test");
    CHECK(f.resolve("Ann+Y@shop.test") == "remote:Ann-Y@remote.test");
}

TEST_CASE("error: entries reject, also in @d (rule 6)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.vuser("old@shop.test", "error:5.1.6:550 moved away");
    CHECK(f.resolve("old@shop.test") == "| 550 5.1.6 old@shop.test");
    f.vuser("@other.test", "error:nouser 550 nobody here");
    CHECK(f.resolve("bob@other.test") == "| 550 5.0.0 bob@other.test");
    f.vuser("busy@shop.test", "error:tempfail later");
    auto r = vpsmail::route::resolve(f.store(), "busy@shop.test", f.options);
    CHECK(r.outcome == Outcome::tempfail);
    REQUIRE(r.failures.size() == 1);
    CHECK(r.failures[0].code == 451);
    CHECK(r.failures[0].status == "4.3.0");
}

TEST_CASE("plus detail in aliases, forwards and accounts (rule 9)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    CHECK(f.resolve("bob+news@shop.test") == "mailbox:bob@shop.test+news");
    f.alias("ann+*", {"carl"});
    CHECK(f.resolve("ann+x@shop.test") == "mailbox:carl@shop.test");
    CHECK(f.resolve("ann@shop.test") == "mailbox:ann@shop.test");
    f.alias("ann+vip", {"bob"});
    CHECK(f.resolve("ann+vip@shop.test") == "mailbox:bob@shop.test");
    f.forward("carl", "shop.test", {"\\carl", "c@remote.test"});
    CHECK(f.resolve("carl+z@shop.test") == "mailbox:carl@shop.test remote:c@remote.test");  // forward drops it
    f.options.plus_detail = false;
    CHECK(f.resolve("bob+news@shop.test") == "| 550 5.1.1 bob+news@shop.test");
    f.options.plus_detail = true;
    f.options.detail_delimiter = '-';
    CHECK(f.resolve("bob-news@shop.test") == "mailbox:bob@shop.test+news");
}

TEST_CASE("backslash, disabled accounts and quoting (rules 3, 8, 11)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.user("off", "shop.test", false);
    CHECK(f.resolve("off@shop.test") == "| 550 5.2.1 off@shop.test");
    f.alias("team", {"\\bob", "\\ghost", "off"});
    CHECK(f.resolve("team@shop.test") == "mailbox:bob@shop.test | 550 5.1.1 \\ghost@shop.test 550 5.2.1 off@shop.test");
    CHECK(f.resolve("\"bob\"@shop.test") == "mailbox:bob@shop.test");
    CHECK(f.resolve("\"b o b\"@shop.test") == "| 550 5.1.1 \"b o b\"@shop.test");
    f.catchall("shop.test", "ann");
    CHECK(f.resolve("\"b o b\"@shop.test") == "mailbox:ann@shop.test");
}

TEST_CASE("a recipient written with a backslash is the mailbox itself (rule 8)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.user("off", "shop.test", false);
    f.vuser("bob@shop.test", "x@remote.test").alias("bob", {"ann"}).forward("carl", "shop.test", {"ann"});
    f.catchall("shop.test", "ann");
    CHECK(f.resolve("\\bob@shop.test") == "mailbox:bob@shop.test");  // no vuser, alias or forward
    CHECK(f.resolve("\\Carl@Shop.Test.") == "mailbox:carl@shop.test");
    CHECK(f.resolve("\\bob") == "mailbox:bob@shop.test");             // a bare name: the primary domain
    CHECK(f.resolve("\\bob+x@shop.test") == "mailbox:bob@shop.test");
    CHECK(f.resolve("\\ghost@shop.test") == "| 550 5.1.1 \\ghost@shop.test");  // no catch-all rescues it
    CHECK(f.resolve("\\off@shop.test") == "| 550 5.2.1 \\off@shop.test");
    CHECK(f.resolve("\\x@remote.test") == "remote:x@remote.test");
}

TEST_CASE("resolve_entry resolves one list entry in a domain", "[route]") {
    StoreFixture f;
    seed_shop(f);
    auto targets = [&](const char* entry, const char* domain) {
        auto r = vpsmail::route::resolve_entry(f.store(), entry, domain, f.options);
        std::string out = vpsmail::route::outcome_name(r.outcome);
        for (const auto& t : r.targets) out += " " + t.value;
        for (const auto& e : r.failures) out += " " + std::to_string(e.code) + " " + e.status + " " + e.target;
        return out;
    };
    f.catchall("shop.test", "ann");
    CHECK(targets("bob", "other.test") == "deliver bob@other.test");
    CHECK(targets("ghost", "shop.test") == "bounce 550 5.1.1 ghost@shop.test");  // a bare name has no catch-all
    CHECK(targets("ghost@shop.test", "other.test") == "deliver ann@shop.test");
    CHECK(targets("\\ghost", "shop.test") == "bounce 550 5.1.1 \\ghost@shop.test");
    CHECK(targets("|/bin/true", "shop.test") == "bounce 550 5.7.1 |/bin/true");
    CHECK(targets("x@remote.test", "shop.test") == "deliver x@remote.test");
}

TEST_CASE("loops and depth (rule 14)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.forward("bob", "shop.test", {"carl"}).forward("carl", "shop.test", {"bob"});
    CHECK(f.resolve("bob@shop.test") == "mailbox:bob@shop.test mailbox:carl@shop.test");
    f.alias("ring", {"ann"}).forward("ann", "shop.test", {"dave@shop.test"});
    f.user("dave", "shop.test").forward("dave", "shop.test", {"ring"});
    CHECK(f.resolve("ring@shop.test") == "mailbox:dave@shop.test");
    f.alias("a", {"b"}).alias("b", {"a"}).alias("self", {"self"});
    CHECK(f.resolve("a@shop.test") == "| 554 5.4.6 a");
    CHECK(f.resolve("self@shop.test") == "| 554 5.4.6 self");
    f.alias("ann", {"ann", "x@remote.test"});
    CHECK(f.resolve("ann@shop.test") == "mailbox:ann@shop.test remote:x@remote.test");
    f.vuser("x@shop.test", "y@shop.test").vuser("y@shop.test", "x@shop.test");
    CHECK(f.resolve("x@shop.test") == "| 554 5.4.6 x@shop.test");
    f.vuser("@other.test", "z@other.test");
    CHECK(f.resolve("q@other.test") == "| 554 5.4.6 z@other.test");
    f.vuser("self@other.test", "self");  // a bare right side is no loop
    f.user("self", "other.test");
    CHECK(f.resolve("self@other.test") == "mailbox:self@other.test");
}

TEST_CASE("a chain of 10 expansions works, the 11th fails", "[route]") {
    StoreFixture f;
    f.domain("d.test").user("end", "d.test");
    for (int i = 1; i <= 11; ++i) f.alias("a" + std::to_string(i), {i == 11 ? "end" : "a" + std::to_string(i + 1)});
    CHECK(f.resolve("a2@d.test") == "mailbox:end@d.test");  // a2..a11: 10 expansions
    CHECK(f.resolve("a1@d.test") == "| 554 5.4.6 a11@d.test");
}

TEST_CASE("duplicates and partial failure (rule 13)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    f.alias("all", {"bob", "BOB@shop.test", "bob+x@shop.test", "ghost", "X@Remote.test", "more", "ghost@shop.test"});
    f.alias("more", {"x@remote.test", "bob"});
    auto r = vpsmail::route::resolve(f.store(), "all@shop.test", f.options);
    CHECK(r.outcome == Outcome::partial);
    CHECK(r.targets.size() == 2);
    CHECK(r.failures.size() == 1);
}

TEST_CASE("programs, files and includes obey [delivery] (rule 12)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    std::string staff = f.dir().file("staff");
    std::ofstream(staff) << "# staff list\nbob, ann\n\"|/usr/bin/logger -t mail\"\n";
    std::string empty = f.dir().file("empty");
    std::ofstream(empty) << "# nobody\n";
    f.alias("log", {"|/usr/bin/procmail", "/var/mail/archive", "bob"});
    f.alias("staff", {":include:" + staff});
    f.alias("none", {":include:" + empty});
    f.alias("gone", {":include:" + f.dir().file("missing")});
    CHECK(f.resolve("log@shop.test") == "mailbox:bob@shop.test | 550 5.7.1 /var/mail/archive 550 5.7.1 |/usr/bin/procmail");
    CHECK(f.resolve("staff@shop.test") == "| 550 5.7.1 :include:" + staff);
    f.options.allow_programs = f.options.allow_files = f.options.allow_includes = true;
    CHECK(f.resolve("log@shop.test") == "file:/var/mail/archive mailbox:bob@shop.test program:/usr/bin/procmail");
    CHECK(f.resolve("staff@shop.test") == "mailbox:ann@shop.test mailbox:bob@shop.test program:/usr/bin/logger -t mail");
    CHECK(f.resolve("none@shop.test") == "| 550 5.1.1 :include:" + empty);
    CHECK(f.resolve("gone@shop.test") == "| 550 5.2.4 :include:" + f.dir().file("missing"));
    for (const char* direct : {"|/bin/sh", "\"|/bin/sh\"@shop.test", "/etc/passwd", ":include:/etc/aliases"}) {
        auto r = vpsmail::route::resolve(f.store(), direct, f.options);
        REQUIRE(r.failures.size() == 1);
        CHECK(r.failures[0].status == "5.7.1");
        CHECK_THAT(r.failures[0].text, Catch::StartsWith("Cannot mail directly to"));
    }
}

TEST_CASE("postmaster goes to [routing] postmaster when it would fail (rule 11)", "[route]") {
    StoreFixture f;
    seed_shop(f);
    CHECK(f.resolve("postmaster@shop.test") == "| 550 5.1.1 postmaster@shop.test");
    f.options.postmaster = "ann";
    CHECK(f.resolve("postmaster@shop.test") == "mailbox:ann@shop.test");
    CHECK(f.resolve("postmaster@other.test") == "mailbox:ann@shop.test");
    f.vuser("@other.test", "error:nouser 550 closed");
    CHECK(f.resolve("postmaster@other.test") == "mailbox:ann@shop.test");
    f.alias("postmaster", {"carl"});
    CHECK(f.resolve("postmaster@shop.test") == "mailbox:carl@shop.test");  // it does not fail: no override
}

TEST_CASE("malformed recipients throw bad_data", "[route]") {
    StoreFixture f;
    seed_shop(f);
    CHECK_THROWS_AS(vpsmail::route::resolve(f.store(), "a@b@c", f.options), vpsmail::Error);
    CHECK_THROWS_AS(vpsmail::route::resolve(f.store(), "", f.options), vpsmail::Error);
    CHECK_THROWS_AS(vpsmail::route::resolve(f.store(), "a..b@shop.test", f.options), vpsmail::Error);
    CHECK_THROWS_AS(vpsmail::route::resolve(f.store(), "\\\\bob@shop.test", f.options), vpsmail::Error);
}
