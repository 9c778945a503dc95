#include "mailstore/sqlite_index.hpp"

#include "core/error.hpp"
#include "mailstore/delivery.hpp"
#include "mailstore/index_pool.hpp"
#include "mailstore/message_name.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <fcntl.h>
#include <sys/stat.h>

using namespace vpsmail::mailstore;
using vpsmail::ErrorKind;
using vpsmail::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct Account {
    TempDir tmp;
    std::string maildir = tmp.file("Maildir");
    MailboxRef inbox{"INBOX", maildir};
    MailboxRef sent{"Sent", maildir + "/.Sent"};
};

// Delivers `text` into the mailbox through Delivery, indexed; returns its UID.
std::uint32_t deliver(MailboxIndex& index, const MailboxRef& mailbox, const std::string& text, IndexedDelivery options = {}) {
    Delivery d;
    options.index = &index;
    options.mailbox = mailbox.name;
    d.add(mailbox.path, options);
    d.write(text);
    auto files = d.commit();
    REQUIRE(files.size() == 1);
    return files[0].uid;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::vector<std::string> names_in(const std::string& folder) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(folder, ec)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::uint32_t> uids(MailboxIndex& index, const MailboxRef& mailbox) {
    std::vector<std::uint32_t> out;
    for (const auto& r : index.list(mailbox)) out.push_back(r.uid);
    return out;
}

}  // namespace

TEST_CASE("a missing Maildir is an empty mailbox", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    MailboxStatus s = index->status(a.inbox);
    CHECK(s.messages == 0);
    CHECK(s.uidnext == 1);
    CHECK(s.uidvalidity != 0);
    CHECK(index->list(a.inbox).empty());
    CHECK(index->usage().bytes == 0);
    CHECK(fs::exists(a.maildir + "/vpsmail-uidvalidity"));
}

TEST_CASE("delivered messages get ascending UIDs in their names and rows", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    CHECK(deliver(*index, a.inbox, "Subject: a\n\nline\n") == 1);
    CHECK(deliver(*index, a.inbox, "Subject: b\r\n\r\nx\r\n") == 2);
    auto list = index->list(a.inbox);
    REQUIRE(list.size() == 2);
    CHECK(list[0].uid == 1);
    CHECK(list[0].size == 17);
    CHECK(list[0].crlf_size == 20);  // three bare LFs become CRLF
    CHECK(list[1].crlf_size == list[1].size);
    CHECK(list[0].file.rfind("new/", 0) == 0);
    CHECK(find_uid(list[0].file.substr(4)) == 1u);
    CHECK(find_uid(list[1].file.substr(4)) == 2u);
    MailboxStatus s = index->status(a.inbox);
    CHECK(s.messages == 2);
    CHECK(s.unseen == 2);
    CHECK(s.uidnext == 3);
    CHECK(s.bytes == list[0].size + list[1].size);
    CHECK(s.highest_modseq >= 2);
    CHECK(index->usage().bytes == s.bytes);
    auto usage = find_index_usage(a.maildir);
    REQUIRE(usage);
    CHECK(usage->bytes == s.bytes);
    CHECK(usage->messages == 2);
    CHECK(!find_index_usage(a.tmp.file("nobody")));
}

TEST_CASE("APPEND goes into cur/ with its flags, keywords and internal date", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    IndexedDelivery o;
    o.into_cur = true;
    o.flags = flag_seen | flag_draft;
    o.keywords = {"$Forwarded", "Work"};
    o.internal_date = 1000000000;
    std::uint32_t uid = deliver(*index, a.sent, "hello\r\n", o);
    auto r = index->find(a.sent, uid);
    REQUIRE(r);
    CHECK(r->file.rfind("cur/", 0) == 0);
    CHECK(r->file.substr(r->file.size() - 6) == ":2,DPS");  // $Forwarded is P
    CHECK(r->flags == (flag_seen | flag_draft | flag_forwarded));
    CHECK(r->keywords == std::vector<std::string>{"Work"});
    CHECK(r->internal_date == 1000000000);
    struct stat st {};
    REQUIRE(::stat((a.sent.path + "/" + r->file).c_str(), &st) == 0);
    CHECK(st.st_mtime == 1000000000);
    CHECK(index->status(a.sent).unseen == 0);
}

TEST_CASE("byte ranges read at the edges", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    std::uint32_t uid = deliver(*index, a.inbox, "0123456789");
    CHECK(index->read(a.inbox, uid, 0, 10) == "0123456789");
    CHECK(index->read(a.inbox, uid, 0, 100) == "0123456789");
    CHECK(index->read(a.inbox, uid, 3, 4) == "3456");
    CHECK(index->read(a.inbox, uid, 9, 5) == "9");
    CHECK(index->read(a.inbox, uid, 10, 5) == "");
    CHECK(index->read(a.inbox, uid, 50, 5) == "");
    CHECK(index->read(a.inbox, uid, 2, 0) == "");
    try {
        index->read(a.inbox, uid + 1, 0, 1);
        FAIL("read of a missing UID did not throw");
    } catch (const vpsmail::Error& e) {
        CHECK(e.kind() == ErrorKind::no_such_user);
    }
}

TEST_CASE("flags are mirrored in the file name and read back after a rename behind the index", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    std::uint32_t uid = deliver(*index, a.inbox, "x\n");
    const std::uint64_t before = index->status(a.inbox).highest_modseq;
    MessageRecord r = index->set_flags(a.inbox, uid, FlagChange::add, flag_seen | flag_flagged, {"Work"});
    CHECK(r.flags == (flag_seen | flag_flagged));
    CHECK(r.modseq > before);
    CHECK(index->status(a.inbox).highest_modseq == r.modseq);
    CHECK(index->status(a.inbox).unseen == 0);
    CHECK(names_in(a.maildir + "/new").empty());
    auto cur = names_in(a.maildir + "/cur");
    REQUIRE(cur.size() == 1);
    CHECK(cur[0].substr(cur[0].size() - 5) == ":2,FS");
    CHECK(index->set_flags(a.inbox, uid, FlagChange::add, flag_seen, {}).modseq == r.modseq);  // no change, no bump
    r = index->set_flags(a.inbox, uid, FlagChange::remove, flag_flagged, {"Work"});
    CHECK(r.flags == flag_seen);
    CHECK(r.keywords.empty());
    CHECK(index->read(a.inbox, uid, 0, 10) == "x\n");

    // mutt marks it replied and unread, renaming the file itself.
    const std::string old_path = a.maildir + "/" + r.file;
    const std::string new_path = a.maildir + "/cur/" + cur_name(name_stem(r.file.substr(4)), flag_answered);
    REQUIRE(::rename(old_path.c_str(), new_path.c_str()) == 0);
    CHECK(index->read(a.inbox, uid, 0, 10) == "x\n");  // finds the new name by a sync
    auto after = index->find(a.inbox, uid);
    REQUIRE(after);
    CHECK(after->flags == flag_answered);
    CHECK(after->modseq > r.modseq);
    CHECK(index->status(a.inbox).unseen == 1);
}

TEST_CASE("a file dropped in by hand gets a new UID, renamed to carry it", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    deliver(*index, a.inbox, "one\n");
    write_file(a.maildir + "/new/1700000000.hand.host", "dropped\n");
    write_file(a.maildir + "/cur/1700000001.mutt.host:2,S", "seen\n");
    SyncResult s = index->sync(a.inbox);
    CHECK(s.added == 2);
    CHECK(s.renumbered == 2);
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{1, 2, 3});
    auto r2 = index->find(a.inbox, 2);
    REQUIRE(r2);
    CHECK(r2->file == "new/1700000000.hand.host,VU=2");
    CHECK(r2->size == 8);
    CHECK(r2->crlf_size == 9);
    auto r3 = index->find(a.inbox, 3);
    REQUIRE(r3);
    CHECK(r3->file == "cur/1700000001.mutt.host,VU=3:2,S");
    CHECK(r3->flags == flag_seen);
    CHECK(names_in(a.maildir + "/new").size() == 2);  // never under two names
    CHECK(index->sync(a.inbox).added == 0);
    CHECK(index->status(a.inbox).messages == 3);
}

TEST_CASE("a vanished file is expunged at sync and MODSEQ bumps", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    deliver(*index, a.inbox, "one\n");
    std::uint32_t two = deliver(*index, a.inbox, "two\n");
    index->cache_put(a.inbox, two, "envelope", "(NIL)");
    const std::uint64_t before = index->status(a.inbox).highest_modseq;
    auto r = index->find(a.inbox, two);
    REQUIRE(r);
    REQUIRE(::unlink((a.maildir + "/" + r->file).c_str()) == 0);
    SyncResult s = index->sync(a.inbox);
    CHECK(s.expunged == 1);
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{1});
    CHECK(index->status(a.inbox).highest_modseq > before);
    CHECK(index->status(a.inbox).messages == 1);
    CHECK(index->status(a.inbox).uidnext == 3);  // UIDs are never reused
    CHECK(!index->cache_get(a.inbox, two, "envelope"));
}

TEST_CASE("expunge removes the file and the row", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    for (int i = 0; i < 4; ++i) deliver(*index, a.inbox, "m\n");
    index->set_flags(a.inbox, 2, FlagChange::add, flag_deleted, {});
    index->set_flags(a.inbox, 4, FlagChange::add, flag_deleted, {});
    CHECK(index->expunge_deleted(a.inbox) == std::vector<std::uint32_t>{2, 4});
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{1, 3});
    CHECK(names_in(a.maildir + "/new").size() + names_in(a.maildir + "/cur").size() == 2);
    CHECK(index->expunge(a.inbox, {3, 3, 99}) == std::vector<std::uint32_t>{3});
    CHECK(index->status(a.inbox).messages == 1);
    CHECK(index->status(a.inbox).bytes == 2);
    CHECK(index->expunge_before(a.inbox, 1000).empty());                // all are newer
    CHECK(index->expunge_before(a.inbox, 4102444800) == std::vector<std::uint32_t>{1});  // 2100
    CHECK(index->usage().messages == 0);
}

TEST_CASE("copy links into another folder; move expunges the source", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    std::uint32_t uid = deliver(*index, a.inbox, "copy me\n");
    index->set_flags(a.inbox, uid, FlagChange::add, flag_seen, {"Work"});
    index->cache_put(a.inbox, uid, "bodystructure", "(TEXT)");
    std::uint32_t copied = index->copy(a.inbox, uid, a.sent);
    CHECK(copied == 1);
    auto src = index->find(a.inbox, uid);
    auto dst = index->find(a.sent, copied);
    REQUIRE(src);
    REQUIRE(dst);
    struct stat s1 {}, s2 {};
    REQUIRE(::stat((a.inbox.path + "/" + src->file).c_str(), &s1) == 0);
    REQUIRE(::stat((a.sent.path + "/" + dst->file).c_str(), &s2) == 0);
    CHECK(s1.st_ino == s2.st_ino);  // a hard link
    CHECK(dst->flags == flag_seen);
    CHECK(dst->keywords == std::vector<std::string>{"Work"});
    CHECK(find_uid(dst->file.substr(4)) == copied);
    CHECK(index->cache_get(a.sent, copied, "bodystructure") == std::string("(TEXT)"));
    CHECK(index->usage().messages == 2);

    std::uint32_t moved = index->move(a.inbox, uid, a.sent);
    CHECK(moved == 2);
    CHECK(index->list(a.inbox).empty());
    CHECK(uids(*index, a.sent) == std::vector<std::uint32_t>{1, 2});
    CHECK(index->read(a.sent, moved, 0, 100) == "copy me\n");
}

TEST_CASE("a deleted index is rebuilt with the same UIDVALIDITY and UIDs", "[mailstore][index]") {
    Account a;
    MailboxStatus before;
    {
        auto index = open_sqlite_index(a.maildir);
        for (int i = 0; i < 3; ++i) deliver(*index, a.inbox, "m\n");
        deliver(*index, a.sent, "s\n");
        index->expunge(a.inbox, {1});
        index->set_flags(a.inbox, 3, FlagChange::add, flag_seen, {});
        before = index->status(a.inbox);
    }
    for (const char* f : {"vpsmail.index", "vpsmail.index-wal", "vpsmail.index-shm"}) fs::remove(a.maildir + "/" + f);
    auto index = open_sqlite_index(a.maildir);
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{2, 3});
    MailboxStatus after = index->status(a.inbox);
    CHECK(after.uidvalidity == before.uidvalidity);
    CHECK(after.uidnext == 4);
    CHECK(after.unseen == 1);
    CHECK(index->find(a.inbox, 3)->flags == flag_seen);
    CHECK(uids(*index, a.sent) == std::vector<std::uint32_t>{1});  // Maildir++ folders are found
    CHECK(index->usage().messages == 3);
}

TEST_CASE("a corrupt index is moved aside and rebuilt", "[mailstore][index]") {
    Account a;
    std::uint32_t uidvalidity = 0;
    {
        auto index = open_sqlite_index(a.maildir);
        deliver(*index, a.inbox, "m\n");
        deliver(*index, a.inbox, "n\n");
        uidvalidity = index->status(a.inbox).uidvalidity;
    }
    for (const char* f : {"vpsmail.index-wal", "vpsmail.index-shm"}) fs::remove(a.maildir + "/" + f);
    write_file(a.maildir + "/vpsmail.index", std::string(8192, '\x5a'));
    auto index = open_sqlite_index(a.maildir);
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{1, 2});
    CHECK(index->status(a.inbox).uidvalidity == uidvalidity);
    CHECK(fs::exists(a.maildir + "/vpsmail.index.corrupt"));
    CHECK(deliver(*index, a.inbox, "o\n") == 3);
}

TEST_CASE("a file moved from another folder with a clashing UID tag gets a new UID", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    deliver(*index, a.inbox, "inbox 1\n");
    deliver(*index, a.inbox, "inbox 2\n");
    std::uint32_t sent_uid = deliver(*index, a.sent, "sent 1\n");
    index->expunge(a.inbox, {2});  // UID 2 is below UIDNEXT and free now
    std::uint32_t sent_two = deliver(*index, a.sent, "sent 2\n");
    CHECK(sent_two == 2);
    // mv .Sent/new/* new/: tags 1 (taken) and 2 (below UIDNEXT, not in the index).
    for (std::uint32_t uid : {sent_uid, sent_two}) {
        auto r = index->find(a.sent, uid);
        REQUIRE(r);
        REQUIRE(::rename((a.sent.path + "/" + r->file).c_str(), (a.maildir + "/" + r->file).c_str()) == 0);
    }
    SyncResult s = index->sync(a.inbox);
    CHECK(s.added == 2);
    CHECK(s.renumbered == 2);
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{1, 3, 4});
    CHECK(index->read(a.inbox, 1, 0, 100) == "inbox 1\n");
    CHECK(index->read(a.inbox, 3, 0, 100) + index->read(a.inbox, 4, 0, 100) == "sent 1\nsent 2\n");
    CHECK(index->sync(a.sent).expunged == 2);
}

TEST_CASE("a file whose UID tag is at or above UIDNEXT is adopted with it (a lost index transaction)", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    deliver(*index, a.inbox, "one\n");
    write_file(a.maildir + "/new/" + format_indexed_name("1700000000.lost.host", 4, 5, 7), "two\n");
    SyncResult s = index->sync(a.inbox);
    CHECK(s.added == 1);
    CHECK(s.renumbered == 0);
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{1, 7});
    CHECK(index->status(a.inbox).uidnext == 8);
}

TEST_CASE("two index objects on one file see each other's changes", "[mailstore][index]") {
    Account a;
    auto one = open_sqlite_index(a.maildir);
    auto two = open_sqlite_index(a.maildir);
    std::uint32_t uid = deliver(*one, a.inbox, "shared\n");
    CHECK(uids(*two, a.inbox) == std::vector<std::uint32_t>{uid});
    CHECK(deliver(*two, a.inbox, "second\n") == uid + 1);
    two->set_flags(a.inbox, uid, FlagChange::add, flag_seen, {});
    CHECK(one->find(a.inbox, uid)->flags == flag_seen);
    CHECK(one->status(a.inbox).uidnext == uid + 2);
    one->expunge(a.inbox, {uid});
    CHECK(uids(*two, a.inbox) == std::vector<std::uint32_t>{uid + 1});
}

TEST_CASE("the cache stores fields per message", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    std::uint32_t uid = deliver(*index, a.inbox, "m\n");
    CHECK(!index->cache_get(a.inbox, uid, "envelope"));
    index->cache_put(a.inbox, uid, "envelope", std::string("a\0b", 3));
    CHECK(index->cache_get(a.inbox, uid, "envelope") == std::string("a\0b", 3));
    index->cache_put(a.inbox, uid, "envelope", "c");
    CHECK(index->cache_get(a.inbox, uid, "envelope") == std::string("c"));
    index->cache_put(a.inbox, 99, "envelope", "x");  // no such message: ignored
    CHECK(!index->cache_get(a.inbox, 99, "envelope"));
}

TEST_CASE("a Delivery to several indexed and plain Maildirs indexes each indexed one", "[mailstore][index]") {
    Account a;
    Account b;
    auto ia = open_sqlite_index(a.maildir);
    auto ib = open_sqlite_index(b.maildir);
    const std::string plain = a.tmp.file("plain");
    Delivery d;
    IndexedDelivery oa;
    oa.index = ia.get();
    IndexedDelivery ob;
    ob.index = ib.get();
    CHECK(d.add(a.maildir, oa));
    CHECK(d.add(plain));
    CHECK(d.add(b.maildir, ob));
    CHECK(!d.add(a.maildir, oa));
    d.write("multi\n");
    auto files = d.commit();
    REQUIRE(files.size() == 3);
    CHECK(files[0].uid == 1);
    CHECK(files[1].uid == 0);
    CHECK(files[2].uid == 1);
    CHECK(read_file(files[0].path()) == "multi\n");
    CHECK(read_file(files[2].path()) == "multi\n");
    CHECK(ia->usage().bytes == 6);
    CHECK(ib->usage().bytes == 6);
}

TEST_CASE("sync skips a folder whose mtime a scan saw settled, and reads it again once it changes", "[mailstore][index]") {
    Account a;
    auto index = open_sqlite_index(a.maildir);
    deliver(*index, a.inbox, "one\n");
    auto set_mtime = [&](const char* sub, std::int64_t seconds) {
        const timespec times[2] = {{seconds, 0}, {seconds, 0}};
        REQUIRE(::utimensat(AT_FDCWD, (a.maildir + "/" + sub).c_str(), times, 0) == 0);
    };
    set_mtime("new", 946684800);  // 2000-01-01: long settled
    set_mtime("cur", 946684800);
    index->sync(a.inbox);  // scans, and records the settled mtimes
    write_file(a.maildir + "/new/1700000000.hand.host", "dropped\n");
    set_mtime("new", 946684800);  // the change hidden behind an unchanged mtime
    CHECK(index->sync(a.inbox).added == 0);  // proves the skip
    set_mtime("new", 946684801);
    CHECK(index->sync(a.inbox).added == 1);
    CHECK(uids(*index, a.inbox) == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("the index pool reuses an idle index, and not one whose file was replaced", "[mailstore][index]") {
    Account a;
    MailboxIndex* first = nullptr;
    {
        IndexLease lease = borrow_index(a.maildir);
        first = lease.get();
        CHECK(deliver(*lease.get(), a.inbox, "m\n") == 1);
    }
    {
        IndexLease again = borrow_index(a.maildir);
        CHECK(again.get() == first);  // the idle one
        IndexLease second = borrow_index(a.maildir);
        CHECK(second.get() != first);  // in use: a new one
        CHECK(deliver(*second.get(), a.inbox, "n\n") == 2);
        CHECK(again->status(a.inbox).uidnext == 3);
    }
    for (const char* f : {"vpsmail.index", "vpsmail.index-wal", "vpsmail.index-shm"}) fs::remove(a.maildir + "/" + f);
    IndexLease fresh = borrow_index(a.maildir);
    CHECK(uids(*fresh.get(), a.inbox) == std::vector<std::uint32_t>{1, 2});  // rebuilt, not the stale connection
    CHECK(deliver(*fresh.get(), a.inbox, "o\n") == 3);
    CHECK(fs::exists(a.maildir + "/vpsmail.index"));
}
