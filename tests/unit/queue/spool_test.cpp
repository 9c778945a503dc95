#include "core/error.hpp"
#include "queue/spool.hpp"
#include "support/checks.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace vpsmail::queue;
using vpsmail::ErrorKind;
using vpsmail::test::error_of;
using vpsmail::test::eventually;
using vpsmail::test::FsyncGate;
using vpsmail::test::TempDir;

namespace {

SpoolRecipient recipient(std::string address, RecipientState state = RecipientState::pending) {
    SpoolRecipient r;
    r.address = std::move(address);
    r.state = state;
    return r;
}

Envelope simple_envelope() {
    Envelope e;
    e.return_path = "ann@example.org";
    e.created = 1700000000;
    e.recipients.push_back(recipient("bob@remote.test"));
    return e;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void set_age(const std::string& path, std::chrono::seconds age) {
    namespace fs = std::filesystem;
    fs::last_write_time(path, fs::file_time_type::clock::now() - age);
}

}  // namespace

TEST_CASE("spool: envelopes survive the round trip, odd bytes and every v2 field included", "[queue][spool]") {
    Envelope e;
    e.return_path = "ann@example.org";
    e.body = "8BITMIME";
    e.smtputf8 = true;
    e.envid = "abc%def\r\nx";
    e.ret = "HDRS";
    e.received_from = "client.example [192.0.2.1]";
    e.created = 1700000000;
    e.held = true;
    e.warned = true;
    e.size = 4321;
    SpoolRecipient a = recipient("bob@remote.test");
    a.notify = "SUCCESS,FAILURE";
    a.orcpt = "rfc822;bob@remote.test";
    a.part = "program:|/usr/bin/x\nend";  // a newline cannot end the entry early
    e.recipients.push_back(a);
    SpoolRecipient b = recipient("jöhn@remote.test", RecipientState::deferred);
    b.last_error = "451 4.4.1 no answer\r\nend\nheld 0";
    b.local = true;
    b.attempts = 3;
    b.next_attempt = 1700001200;
    b.last_attempt = 1700000600;
    b.code = 451;
    b.status = "4.4.1";
    b.remote_mta = "mx.remote.test [192.0.2.7]";
    b.remote_reply = true;
    b.dsn_passed_on = true;
    b.dsn_sent = {true, false, true};
    b.history = {{1700000000, "451 4.4.1 first"}, {1700000600, "451 4.4.1 second\nrcpt bounced x@y"}};
    e.recipients.push_back(b);
    e.recipients.push_back(recipient("carl@remote.test", RecipientState::bounced));
    e.recipients.push_back(recipient("dora@remote.test", RecipientState::delivered));

    const std::string text = format_envelope(e);
    CHECK(text.starts_with("vpsmail-envelope 2\n"));
    Envelope back = parse_envelope(text);
    CHECK(back.return_path == e.return_path);
    CHECK(back.body == "8BITMIME");
    CHECK(back.smtputf8);
    CHECK(back.envid == e.envid);
    CHECK(back.ret == "HDRS");
    CHECK(back.received_from == e.received_from);
    CHECK(back.created == e.created);
    CHECK(back.held);
    CHECK(back.warned);
    CHECK(back.size == std::optional<std::uint64_t>(4321));
    REQUIRE(back.recipients.size() == 4);
    CHECK(back.recipients[0].notify == "SUCCESS,FAILURE");
    CHECK(back.recipients[0].orcpt == "rfc822;bob@remote.test");
    CHECK(back.recipients[0].part == "program:|/usr/bin/x\nend");
    CHECK(back.recipients[1].part.empty());
    CHECK(back.recipients[0].state == RecipientState::pending);
    CHECK_FALSE(back.recipients[0].local);
    CHECK(back.recipients[0].dsn_sent == DsnSent{});
    const SpoolRecipient& got = back.recipients[1];
    CHECK(got.address == "jöhn@remote.test");
    CHECK(got.state == RecipientState::deferred);
    CHECK(got.last_error == b.last_error);
    CHECK(got.local);
    CHECK(got.attempts == 3);
    CHECK(got.next_attempt == 1700001200);
    CHECK(got.last_attempt == 1700000600);
    CHECK(got.code == 451);
    CHECK(got.status == "4.4.1");
    CHECK(got.remote_mta == b.remote_mta);
    CHECK(got.remote_reply);
    CHECK(got.dsn_passed_on);
    CHECK(got.dsn_sent == b.dsn_sent);
    CHECK(got.history == b.history);
    CHECK(back.recipients[2].state == RecipientState::bounced);
    CHECK(back.recipients[3].state == RecipientState::delivered);
    // The same text again: nothing is lost or added by a second round.
    CHECK(format_envelope(back) == text);
}

TEST_CASE("spool: no value can forge a line of the envelope", "[queue][spool]") {
    Envelope e = simple_envelope();
    e.return_path = "x@y\nheld 1\nrcpt bounced evil@z";
    e.recipients[0].address = "bob@remote.test\nwarned 1";
    const std::string text = format_envelope(e);
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        INFO("line: " << line);
        CHECK(line != "held 1");
        CHECK(line != "warned 1");
        CHECK_FALSE(line.starts_with("rcpt bounced"));
    }
    Envelope back = parse_envelope(text);
    CHECK(back.return_path == e.return_path);
    CHECK_FALSE(back.held);
    CHECK_FALSE(back.warned);
    REQUIRE(back.recipients.size() == 1);
    CHECK(back.recipients[0].address == e.recipients[0].address);
}

TEST_CASE("spool: version 1 envelopes are still read", "[queue][spool]") {
    const std::string v1 =
        "vpsmail-envelope 1\ncreated 1690000000\nreturn-path ann@example.org\nbody 7BIT\nsmtputf8 0\n"
        "envid e1\nret FULL\nfrom c.example [192.0.2.1]\n"
        "rcpt pending bob@remote.test\nnotify FAILURE\norcpt rfc822;bob@remote.test\n"
        "rcpt deferred carl@remote.test\nerror 451 4.4.1 no answer\nend\n";
    Envelope e = parse_envelope(v1);
    CHECK(e.created == 1690000000);
    CHECK(e.return_path == "ann@example.org");
    CHECK(e.envid == "e1");
    CHECK(e.ret == "FULL");
    CHECK_FALSE(e.size.has_value());
    CHECK_FALSE(e.held);
    REQUIRE(e.recipients.size() == 2);
    CHECK(e.recipients[0].notify == "FAILURE");
    CHECK(e.recipients[1].state == RecipientState::deferred);
    CHECK(e.recipients[1].last_error == "451 4.4.1 no answer");
    CHECK(e.recipients[1].attempts == 0);
    CHECK(format_envelope(e).starts_with("vpsmail-envelope 2\n"));
}

TEST_CASE("spool: the body type is kept, BINARYMIME included; without a body line it is 7BIT", "[queue][spool]") {
    for (const char* body : {"7BIT", "8BITMIME", "BINARYMIME"}) {
        Envelope e = simple_envelope();
        e.body = body;
        CHECK(parse_envelope(format_envelope(e)).body == body);
    }
    CHECK(parse_envelope("vpsmail-envelope 1\ncreated 1\nrcpt pending x@y\nend\n").body == "7BIT");
}

TEST_CASE("spool: a cut-off, foreign or malformed envelope is refused", "[queue][spool]") {
    const std::string good = format_envelope(simple_envelope());
    struct Case {
        const char* why;
        std::string text;
    };
    const Case cases[] = {
        {"cut off", good.substr(0, good.size() - 4)},
        {"no end line", good.substr(0, good.size() - 4) + "\n"},
        {"newer version", "vpsmail-envelope 3\nend\n"},
        {"line after end", good + "rcpt pending x@y\n"},
        {"bad escape", "vpsmail-envelope 2\nreturn-path a%zz\nend\n"},
        {"unknown field", "vpsmail-envelope 2\nfrobnicate 1\nend\n"},
        {"recipient field before rcpt", "vpsmail-envelope 2\nattempts 1\nend\n"},
        {"bad state", "vpsmail-envelope 2\nrcpt lost x@y\nend\n"},
        {"bad number", "vpsmail-envelope 2\ncreated 12x\nend\n"},
        {"empty number", "vpsmail-envelope 2\nsize \nend\n"},
        {"bad flag", "vpsmail-envelope 2\nheld yes\nend\n"},
        {"unknown body type", "vpsmail-envelope 2\nbody 8bitmime\nend\n"},
        {"empty body type", "vpsmail-envelope 2\nbody \nend\n"},
        {"bad dsn-sent", "vpsmail-envelope 2\nrcpt pending x@y\ndsn-sent failure,sometimes\nend\n"},
        {"bad history time", "vpsmail-envelope 2\nrcpt pending x@y\nhistory soon 451 x\nend\n"},
        {"negative attempts", "vpsmail-envelope 2\nrcpt pending x@y\nattempts -1\nend\n"},
        {"empty", ""},
    };
    for (const auto& c : cases) {
        INFO(c.why);
        error_of([&] { parse_envelope(c.text); }, ErrorKind::bad_data);
    }
}

TEST_CASE("spool: history keeps the last ten attempts", "[queue][spool]") {
    SpoolRecipient r = recipient("bob@remote.test");
    for (int i = 0; i < 13; ++i) add_history(r, 1000 + i, "451 try " + std::to_string(i) + "\r\nforged");
    REQUIRE(r.history.size() == max_history);
    CHECK(r.history.front().time == 1003);
    CHECK(r.history.back().result == "451 try 12  forged");
    // A file with more than ten (written by hand) is cut to ten as well.
    std::string text = "vpsmail-envelope 2\nrcpt pending x@y\n";
    for (int i = 0; i < 12; ++i) text += "history " + std::to_string(i) + " r\n";
    Envelope e = parse_envelope(text + "end\n");
    REQUIRE(e.recipients[0].history.size() == max_history);
    CHECK(e.recipients[0].history.front().time == 2);
}

TEST_CASE("spool: add writes message and envelope; list, find, get and read_content read them back", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    CHECK(spool.list().empty());
    const std::string one = "Subject: one\r\n\r\nbody\r\n";
    std::string id1 = spool.add(simple_envelope(), one);
    std::string id2 = spool.add(simple_envelope(), "Subject: two\r\n\r\n");
    CHECK(id1 != id2);
    auto all = spool.list();
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == id1);
    CHECK(all[0].size == one.size());
    CHECK(all[0].envelope.size == std::optional<std::uint64_t>(one.size()));
    CHECK(all[0].envelope.recipients.at(0).address == "bob@remote.test");
    CHECK(spool.find(id2).has_value());
    CHECK(spool.get(id2).id == id2);
    CHECK(spool.read_content(id1) == one);
    CHECK(spool.read_content(all[0]) == one);
    CHECK_FALSE(spool.find("../env/" + id2).has_value());
    CHECK_FALSE(spool.find("ffff").has_value());
    CHECK(std::filesystem::is_empty(dir.file("spool/tmp")));
    // Files and folders are private.
    CHECK((std::filesystem::status(dir.file("spool/env/" + id1)).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    CHECK((std::filesystem::status(dir.file("spool/corrupt")).permissions() & std::filesystem::perms::all) ==
          std::filesystem::perms::owner_all);
}

TEST_CASE("spool: ids are checked before they become paths", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    for (const char* bad : {"", "../env/x", "a/b", ".hidden", "ABC", "12 34", "0123456789abcdefg"}) {
        INFO("id '" << bad << "'");
        error_of([&] { check_queue_id(bad); }, ErrorKind::bad_data);
        error_of([&] { spool.get(bad); }, ErrorKind::bad_data);
        error_of([&] { spool.remove(bad); }, ErrorKind::bad_data);
        error_of([&] { spool.hold(bad); }, ErrorKind::bad_data);
        error_of([&] { spool.quarantine(bad, "x"); }, ErrorKind::bad_data);
    }
    check_queue_id("0123456789abcdef");
    // A good id that is not queued: not_found (the CLI's exit 66), naming the id.
    const std::string message = error_of([&] { spool.get("0123456789abcdef"); }, ErrorKind::not_found);
    CHECK(message.find("0123456789abcdef") != std::string::npos);
    error_of([&] { spool.remove("0123456789abcdef"); }, ErrorKind::not_found);
    error_of([&] { spool.retry("0123456789abcdef"); }, ErrorKind::not_found);
    error_of([&] { spool.bounce("0123456789abcdef", "x"); }, ErrorKind::not_found);
    error_of([&] { spool.read_content("0123456789abcdef"); }, ErrorKind::not_found);
}

TEST_CASE("spool: update rewrites the envelope durably and never brings a removed message back", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    const std::string id = spool.add(simple_envelope(), "Subject: x\r\n\r\n");
    SpooledMessage m = spool.get(id);
    m.envelope.recipients[0].state = RecipientState::deferred;
    m.envelope.recipients[0].attempts = 1;
    m.envelope.recipients[0].next_attempt = 1700000300;
    spool.update(m);
    SpooledMessage back = spool.get(id);
    CHECK(back.envelope.recipients[0].state == RecipientState::deferred);
    CHECK(back.envelope.recipients[0].next_attempt == 1700000300);
    CHECK(back.envelope.size == m.envelope.size);
    CHECK(std::filesystem::is_empty(dir.file("spool/tmp")));

    spool.remove(id);
    CHECK_FALSE(std::filesystem::exists(dir.file("spool/env/" + id)));
    CHECK_FALSE(std::filesystem::exists(dir.file("spool/msg/" + id)));
    error_of([&] { spool.update(m); }, ErrorKind::not_found);
    CHECK_FALSE(std::filesystem::exists(dir.file("spool/env/" + id)));
    error_of([&] { spool.remove(id); }, ErrorKind::not_found);
    CHECK(spool.list().empty());
}

TEST_CASE("spool: scan reports damaged entries, list skips them, quarantine moves them aside", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    const std::string good = spool.add(simple_envelope(), "Subject: good\r\n\r\n");
    const std::string garbled = spool.add(simple_envelope(), "Subject: garbled\r\n\r\n");
    const std::string truncated = spool.add(simple_envelope(), "Subject: truncated\r\n\r\nbody\r\n");
    const std::string missing = spool.add(simple_envelope(), "Subject: missing\r\n\r\n");
    const std::string orphan = spool.add(simple_envelope(), "Subject: orphan\r\n\r\n");
    const std::string young_orphan = spool.add(simple_envelope(), "Subject: young orphan\r\n\r\n");
    std::ofstream(dir.file("spool/env/" + garbled), std::ios::trunc) << "garbage";
    std::filesystem::resize_file(dir.file("spool/msg/" + truncated), 5);
    std::filesystem::remove(dir.file("spool/msg/" + missing));
    std::filesystem::remove(dir.file("spool/env/" + orphan));
    std::filesystem::remove(dir.file("spool/env/" + young_orphan));
    set_age(dir.file("spool/msg/" + orphan), std::chrono::hours(2));
    std::ofstream(dir.file("spool/env/not-an-id")) << "ignored";

    ScanResult scan = spool.scan();
    REQUIRE(scan.messages.size() == 1);
    CHECK(scan.messages[0].id == good);
    std::map<std::string, std::string> damaged;
    for (const auto& d : scan.damaged) damaged[d.id] = d.reason;
    CHECK(damaged.size() == 4);
    CHECK(damaged[garbled].find("envelope") != std::string::npos);
    CHECK(damaged[truncated] == "message file has 5 bytes, the envelope says 28");
    CHECK(damaged[missing] == "message file missing");
    CHECK(damaged[orphan] == "orphan message file (no envelope)");
    CHECK(damaged.count(young_orphan) == 0);  // maybe an add() in progress

    // list() and find() never throw for them; read_content refuses the truncated file.
    CHECK(spool.list().size() == 1);
    CHECK_FALSE(spool.find(truncated).has_value());
    error_of([&] { spool.get(truncated); }, ErrorKind::bad_data);
    SpooledMessage stale;
    stale.id = truncated;
    stale.envelope.size = 28;
    error_of([&] { spool.read_content(stale); }, ErrorKind::bad_data);

    for (const auto& d : scan.damaged) spool.quarantine(d.id, d.reason);
    CHECK(slurp(dir.file("spool/corrupt/" + truncated + ".why")) == damaged[truncated] + "\n");
    CHECK(std::filesystem::exists(dir.file("spool/corrupt/" + truncated + ".env")));
    CHECK(std::filesystem::file_size(dir.file("spool/corrupt/" + truncated + ".msg")) == 5);
    CHECK(slurp(dir.file("spool/corrupt/" + garbled + ".env")) == "garbage");
    CHECK(std::filesystem::exists(dir.file("spool/corrupt/" + orphan + ".msg")));
    CHECK_FALSE(std::filesystem::exists(dir.file("spool/corrupt/" + orphan + ".env")));
    ScanResult after = spool.scan();
    CHECK(after.damaged.empty());
    CHECK(after.messages.size() == 1);
    CHECK(std::filesystem::is_empty(dir.file("spool/tmp")));
}

TEST_CASE("spool: remove_stale_tmp deletes only old leftovers", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    std::ofstream(dir.file("spool/tmp/old.msg")) << "x";
    std::ofstream(dir.file("spool/tmp/new.msg")) << "x";
    set_age(dir.file("spool/tmp/old.msg"), std::chrono::hours(3));
    CHECK(spool.remove_stale_tmp() == 1);
    CHECK_FALSE(std::filesystem::exists(dir.file("spool/tmp/old.msg")));
    CHECK(std::filesystem::exists(dir.file("spool/tmp/new.msg")));
    CHECK(spool.remove_stale_tmp(std::chrono::system_clock::now() + std::chrono::hours(2)) == 1);
    CHECK(std::filesystem::is_empty(dir.file("spool/tmp")));
}

TEST_CASE("spool: the runner lock is exclusive and released with its holder", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    Spool other(dir.file("spool"));  // flock is per open file: a second opener is refused too
    {
        std::optional<SpoolLock> held = spool.try_lock();
        REQUIRE(held.has_value());
        CHECK_FALSE(other.try_lock().has_value());
        CHECK_FALSE(spool.try_lock().has_value());
        SpoolLock moved = std::move(*held);
        held.reset();
        CHECK_FALSE(other.try_lock().has_value());  // the moved-to lock still holds it
    }
    CHECK(other.try_lock().has_value());
    Spool missing(dir.file("missing"));
    error_of([&] { missing.try_lock(); }, ErrorKind::temporary);
}

TEST_CASE("spool: admin operations hold, release, retry and bounce", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("spool"));
    spool.create();
    Envelope e = simple_envelope();
    e.recipients.push_back(recipient("carl@remote.test", RecipientState::deferred));
    e.recipients.push_back(recipient("dora@remote.test", RecipientState::delivered));
    e.recipients[1].next_attempt = 1800000000;
    e.recipients[2].next_attempt = 5;  // final: left alone
    const std::string id = spool.add(e, "Subject: x\r\n\r\n");

    CHECK(spool.hold(id).envelope.held);
    CHECK(spool.get(id).envelope.held);
    SpooledMessage retried = spool.retry(id);
    CHECK(retried.envelope.held);  // retry does not release
    CHECK(retried.envelope.recipients[1].next_attempt == 0);
    CHECK(retried.envelope.recipients[2].next_attempt == 5);
    CHECK_FALSE(spool.release(id).envelope.held);
    CHECK_FALSE(spool.get(id).envelope.held);

    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000500));
    SpooledMessage bounced = spool.bounce(id, "spam run, removed by admin", now);
    const auto& rs = spool.get(id).envelope.recipients;
    CHECK(bounced.envelope.recipients[0].state == rs[0].state);
    for (std::size_t i : {0, 1}) {
        INFO("recipient " << i);
        CHECK(rs[i].state == RecipientState::bounced);
        CHECK(rs[i].status == "5.0.0");
        CHECK(rs[i].last_error == "spam run, removed by admin");
        CHECK_FALSE(rs[i].remote_reply);
        REQUIRE(rs[i].history.size() == 1);
        CHECK(rs[i].history[0].time == 1700000500);
    }
    CHECK(rs[2].state == RecipientState::delivered);
    CHECK(rs[2].history.empty());
    // In memory, the same edits.
    Envelope copy = e;
    CHECK(bounce(copy, "x", 1) == 2);
    CHECK(bounce(copy, "x", 1) == 0);
}

TEST_CASE("spool: a spool that cannot be written throws temporary or permission and leaves nothing", "[queue][spool]") {
    TempDir dir;
    Spool spool(dir.file("missing/spool"));  // never created
    try {
        spool.add(Envelope{}, "x");
        FAIL("accepted");
    } catch (const vpsmail::Error& err) {
        CHECK((err.kind() == ErrorKind::temporary || err.kind() == ErrorKind::permission));
    }
}

TEST_CASE("spool: a failed folder fsync fails the write as temporary and leaves nothing queued", "[queue][spool]") {
    TempDir dir;
    std::atomic<bool> fail{false};
    Spool spool(dir.file("spool"), [&](int fd) {
        if (fail) {
            errno = EIO;
            return -1;
        }
        return ::fsync(fd);
    });
    spool.create();
    const std::string id = spool.add(simple_envelope(), "Subject: x\r\n\r\n");
    fail = true;
    error_of([&] { spool.add(simple_envelope(), "Subject: y\r\n\r\n"); }, ErrorKind::temporary);
    error_of([&] { spool.update(spool.get(id)); }, ErrorKind::temporary);
    CHECK(spool.list().size() == 1);
    CHECK(std::filesystem::is_empty(dir.file("spool/tmp")));
}

TEST_CASE("spool: concurrent updates share folder fsyncs (group commit)", "[queue][spool]") {
    TempDir dir;
    // Once armed, the first folder fsync blocks until released: every update arriving meanwhile
    // must wait for one more fsync, which they then share.
    FsyncGate gate(false);
    Spool spool(dir.file("spool"), [&gate](int fd) { return gate.fsync(fd); });
    spool.create();
    constexpr int count = 8;
    std::vector<SpooledMessage> messages;
    for (int i = 0; i < count; ++i) messages.push_back(spool.get(spool.add(simple_envelope(), "Subject: x\r\n\r\n")));

    // Without concurrency, one fsync per update.
    const auto before = spool.sync_counters();
    spool.update(messages[0]);
    spool.update(messages[1]);
    CHECK(spool.sync_counters().fsyncs - before.fsyncs == 2);

    const auto base = spool.sync_counters();
    gate.arm();
    std::thread leader([&] { spool.update(messages[0]); });
    gate.wait_entered();
    std::atomic<int> returned{0};
    std::vector<std::thread> followers;
    for (int i = 1; i < count; ++i)
        followers.emplace_back([&, i] {
            spool.update(messages[static_cast<std::size_t>(i)]);
            ++returned;
        });
    const bool all_waiting = eventually([&] { return spool.sync_counters().requests == base.requests + count; });
    CHECK(returned == 0);
    gate.release();
    leader.join();
    for (auto& f : followers) f.join();
    REQUIRE(all_waiting);
    CHECK(returned == count - 1);
    // got: the leader's fsync plus one shared by the seven followers; want 2, not 8.
    CHECK(spool.sync_counters().fsyncs - base.fsyncs == 2);
    CHECK(spool.list().size() == count);
}
