#include "core/error.hpp"
#include "queue/spool.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace vpsmail::queue;

TEST_CASE("spool: envelopes survive the round trip, odd bytes included", "[queue][spool]") {
    Envelope e;
    e.return_path = "ann@example.org";
    e.body = "8BITMIME";
    e.smtputf8 = true;
    e.envid = "abc%def\r\nx";
    e.ret = "HDRS";
    e.received_from = "client.example [192.0.2.1]";
    e.created = 1700000000;
    e.recipients.push_back({"bob@remote.test", RecipientState::pending, "SUCCESS,FAILURE", "rfc822;bob@remote.test", ""});
    e.recipients.push_back({"jöhn@remote.test", RecipientState::deferred, "", "", "451 4.4.1 no answer"});
    Envelope back = parse_envelope(format_envelope(e));
    CHECK(back.return_path == e.return_path);
    CHECK(back.body == "8BITMIME");
    CHECK(back.smtputf8);
    CHECK(back.envid == e.envid);
    CHECK(back.ret == "HDRS");
    CHECK(back.received_from == e.received_from);
    CHECK(back.created == e.created);
    REQUIRE(back.recipients.size() == 2);
    CHECK(back.recipients[0].notify == "SUCCESS,FAILURE");
    CHECK(back.recipients[0].orcpt == "rfc822;bob@remote.test");
    CHECK(back.recipients[1].address == "jöhn@remote.test");
    CHECK(back.recipients[1].state == RecipientState::deferred);
    CHECK(back.recipients[1].last_error == "451 4.4.1 no answer");
}

TEST_CASE("spool: a cut-off or foreign envelope is refused", "[queue][spool]") {
    std::string text = format_envelope(Envelope{});
    CHECK_THROWS_AS(parse_envelope(text.substr(0, text.size() - 4)), vpsmail::Error);
    CHECK_THROWS_AS(parse_envelope("vpsmail-envelope 2\nend\n"), vpsmail::Error);
    CHECK_THROWS_AS(parse_envelope(text + "rcpt pending x@y\n"), vpsmail::Error);
    CHECK_THROWS_AS(parse_envelope("vpsmail-envelope 1\nreturn-path a%zz\nend\n"), vpsmail::Error);
}

TEST_CASE("spool: add writes message and envelope; list and find read them back", "[queue][spool]") {
    vpsmail::test::TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    CHECK(spool.list().empty());
    Envelope e;
    e.return_path = "ann@example.org";
    e.recipients.push_back({"bob@remote.test", RecipientState::pending, "", "", ""});
    std::string id1 = spool.add(e, "Subject: one\r\n\r\nbody\r\n");
    std::string id2 = spool.add(e, "Subject: two\r\n\r\n");
    CHECK(id1 != id2);
    auto all = spool.list();
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == id1);
    CHECK(all[0].size == 22);
    CHECK(all[0].envelope.recipients.at(0).address == "bob@remote.test");
    CHECK(spool.find(id2).has_value());
    CHECK_FALSE(spool.find("../env/" + id2).has_value());
    CHECK_FALSE(spool.find("ffff").has_value());
    CHECK(std::filesystem::is_empty(dir.file("spool/tmp")));
    // A damaged envelope is skipped, not fatal.
    std::ofstream(dir.file("spool/env/" + id1), std::ios::trunc) << "garbage";
    CHECK(spool.list().size() == 1);
}

TEST_CASE("spool: a spool that cannot be written throws temporary or permission and leaves nothing", "[queue][spool]") {
    vpsmail::test::TempDir dir;
    Spool spool(dir.file("missing/spool"));  // never created
    Envelope e;
    try {
        spool.add(e, "x");
        FAIL("accepted");
    } catch (const vpsmail::Error& err) {
        CHECK((err.kind() == vpsmail::ErrorKind::temporary || err.kind() == vpsmail::ErrorKind::permission));
    }
}
