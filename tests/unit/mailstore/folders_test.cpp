// Maildir++ folders: list, create, delete, rename (with children, and INBOX's), subscriptions,
// and a missing Maildir, on real folders in a temporary directory.
#include "mailstore/folders.hpp"

#include "core/error.hpp"
#include "mailstore/maildir.hpp"
#include "support/checks.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

using vpsmail::ErrorKind;
using vpsmail::mailstore::FolderEntry;
using vpsmail::mailstore::Folders;
using vpsmail::mailstore::MailboxName;
using vpsmail::mailstore::SpecialUse;
using vpsmail::test::error_of;
using vpsmail::test::TempDir;
namespace fs = std::filesystem;

namespace {

MailboxName mbox(const std::string& name) { return MailboxName::from_utf8(name); }

void write_file(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The listing as "name attributes... [S]" lines, for one CHECK per listing.
std::vector<std::string> listing(const Folders& folders) {
    std::vector<std::string> out;
    for (const FolderEntry& e : folders.list()) {
        std::string line = e.name.str();
        for (const auto& a : vpsmail::mailstore::folder_attributes(e)) line += " " + a;
        if (e.subscribed) line += " [S]";
        out.push_back(line);
    }
    return out;
}

// The names in a folder, sorted.
std::set<std::string> files_in(const std::string& path) {
    std::set<std::string> out;
    if (!fs::exists(path)) return out;
    for (const auto& e : fs::directory_iterator(path)) out.insert(e.path().filename().string());
    return out;
}

}  // namespace

TEST_CASE("a missing Maildir lists as INBOX alone and is not created by reading", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("example.org/alice");
    Folders folders(m);
    CHECK(listing(folders) == std::vector<std::string>{"INBOX \\HasNoChildren"});
    CHECK(folders.list_subscribed().empty());
    CHECK(folders.exists(MailboxName()));
    CHECK_FALSE(folders.exists(mbox("Sent")));
    error_of([&] { folders.remove(mbox("Sent")); }, ErrorKind::not_found);
    error_of([&] { folders.rename(mbox("Sent"), mbox("Old")); }, ErrorKind::not_found);
    CHECK_FALSE(folders.unsubscribe(mbox("Sent")));
    CHECK_FALSE(fs::exists(tmp.file("example.org")));
}

TEST_CASE("create makes a whole Maildir++ folder; parents stay implicit", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("alice");
    Folders folders(m);
    folders.create(mbox("Sent"));  // makes the missing Maildir too
    for (const char* sub : {"cur", "new", "tmp"}) {
        CHECK(fs::is_directory(m + "/" + sub));
        CHECK(fs::is_directory(m + "/.Sent/" + sub));
    }
    CHECK(fs::is_regular_file(m + "/.Sent/maildirfolder"));
    struct stat st {};
    REQUIRE(::stat((m + "/.Sent").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(folders.exists(mbox("Sent")));

    error_of([&] { folders.create(mbox("Sent")); }, ErrorKind::exists);
    error_of([&] { folders.create(mbox("inbox")); }, ErrorKind::exists);
    folders.create(mbox("A/B"));
    CHECK(fs::is_directory(m + "/.A.B/cur"));
    CHECK_FALSE(fs::exists(m + "/.A"));
    folders.create(mbox("Entw\xc3\xbcrfe"));
    CHECK(fs::is_directory(m + "/.Entw&APw-rfe/new"));
    folders.create(mbox("inbox/Sub"));
    CHECK(fs::is_directory(m + "/.INBOX.Sub"));
    // No leftovers of the staging in tmp/.
    CHECK(files_in(m + "/tmp").empty());
    CHECK(listing(folders) == std::vector<std::string>{
                                  "INBOX \\HasChildren",
                                  "A \\Noselect \\HasChildren",
                                  "A/B \\HasNoChildren",
                                  "Entw\xc3\xbcrfe \\HasNoChildren",
                                  "INBOX/Sub \\HasNoChildren",
                                  "Sent \\HasNoChildren \\Sent",
                              });
    // The implicit parent can be made real afterwards.
    folders.create(mbox("A"));
    CHECK(listing(folders)[1] == "A \\HasChildren");
}

TEST_CASE("the listing skips what is no folder, and gives special-use attributes", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("alice");
    vpsmail::mailstore::ensure_maildir(m);
    for (const char* name : {"Sent", "Drafts", "Trash", "Junk", "Archive", "sent", "Sent/Archive"}) Folders(m).create(mbox(name));
    // Foreign junk: a file, a symbolic link to a folder, folders whose names do not map back.
    write_file(m + "/.NotAFolder", "x");
    write_file(m + "/dovecot-uidlist", "x");
    fs::create_directory_symlink(m + "/.Sent", m + "/.Link");
    for (const char* dir : {"plain", ".INBOX", ".inbox.x", ".a..b", ".&AGE-", "...", ".Entw\xc3\xbcrfe", ".x."})
        fs::create_directories(m + "/" + dir);
    CHECK(listing(Folders(m)) == std::vector<std::string>{
                                     "INBOX \\HasNoChildren",
                                     "Archive \\HasNoChildren \\Archive",
                                     "Drafts \\HasNoChildren \\Drafts",
                                     "Junk \\HasNoChildren \\Junk",
                                     "Sent \\HasChildren \\Sent",
                                     "Sent/Archive \\HasNoChildren",
                                     "Trash \\HasNoChildren \\Trash",
                                     "sent \\HasNoChildren",
                                 });
    CHECK(vpsmail::mailstore::special_use_of(mbox("Trash")) == SpecialUse::trash);
    CHECK(vpsmail::mailstore::special_use_of(mbox("trash")) == SpecialUse::none);
    CHECK_FALSE(Folders(m).exists(mbox("Link")));
    // An implicit parent gets no special use.
    Folders(m).remove(mbox("Trash"));
    Folders(m).create(mbox("Trash/2026"));
    CHECK(listing(Folders(m)).back() == "sent \\HasNoChildren");
    CHECK(listing(Folders(m))[6] == "Trash \\Noselect \\HasChildren");
}

TEST_CASE("delete removes the folder and all in it; children stay, the parent becomes \\Noselect", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("alice");
    Folders folders(m);
    folders.create(mbox("Trash"));
    write_file(m + "/.Trash/cur/1.M1P1Q1.h,S=3:2,S", "abc");
    write_file(m + "/.Trash/new/1.M1P1Q2.h,S=3", "abc");
    write_file(m + "/.Trash/vpsmail-index", "index");       // another module's files go with it
    write_file(m + "/.Trash/vpsmail-uidvalidity", "1234");
    folders.subscribe(mbox("Trash"));
    folders.remove(mbox("Trash"));
    CHECK_FALSE(fs::exists(m + "/.Trash"));
    CHECK(files_in(m + "/tmp").empty());
    // RFC 3501 6.3.4: deleting does not unsubscribe.
    CHECK(folders.list_subscribed() == std::vector<MailboxName>{mbox("Trash")});

    error_of([&] { folders.remove(MailboxName()); }, ErrorKind::bad_data);
    error_of([&] { folders.remove(mbox("Trash")); }, ErrorKind::not_found);

    folders.create(mbox("A"));
    folders.create(mbox("A/B"));
    write_file(m + "/.A.B/cur/1.M1P1Q3.h,S=1:2,", "x");
    folders.remove(mbox("A"));
    CHECK_FALSE(fs::exists(m + "/.A"));
    CHECK(fs::exists(m + "/.A.B/cur/1.M1P1Q3.h,S=1:2,"));
    CHECK(listing(folders) == std::vector<std::string>{"INBOX \\HasNoChildren", "A \\Noselect \\HasChildren",
                                                       "A/B \\HasNoChildren"});
    // An implicit parent cannot be deleted (RFC 3501 6.3.4: \Noselect with inferiors).
    const std::string message = error_of([&] { folders.remove(mbox("A")); }, ErrorKind::not_found);
    CHECK(message.find("only folders below it") != std::string::npos);
    folders.remove(mbox("A/B"));
    CHECK(listing(folders) == std::vector<std::string>{"INBOX \\HasNoChildren"});
    CHECK(fs::is_directory(m + "/cur"));  // INBOX untouched
}

TEST_CASE("rename moves the folder with its children, files and subscriptions", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("alice");
    Folders folders(m);
    for (const char* name : {"A", "A/B", "A/B/C", "AB", "Other"}) folders.create(mbox(name));
    write_file(m + "/.A/cur/1.M1P1Q1.h,S=3:2,S", "abc");
    write_file(m + "/.A/vpsmail-uidvalidity", "1234");
    write_file(m + "/.A.B.C/new/1.M1P1Q2.h,S=1", "x");
    folders.subscribe(mbox("A/B"));
    folders.subscribe(mbox("AB"));

    folders.rename(mbox("A"), mbox("Z/Y"));
    CHECK(read_file(m + "/.Z.Y/cur/1.M1P1Q1.h,S=3:2,S") == "abc");
    CHECK(read_file(m + "/.Z.Y/vpsmail-uidvalidity") == "1234");
    CHECK(read_file(m + "/.Z.Y.B.C/new/1.M1P1Q2.h,S=1") == "x");
    CHECK(fs::is_regular_file(m + "/.Z.Y.B/maildirfolder"));
    CHECK(listing(folders) == std::vector<std::string>{
                                  "INBOX \\HasNoChildren",
                                  "AB \\HasNoChildren [S]",
                                  "Other \\HasNoChildren",
                                  "Z \\Noselect \\HasChildren",
                                  "Z/Y \\HasChildren",
                                  "Z/Y/B \\HasChildren [S]",
                                  "Z/Y/B/C \\HasNoChildren",
                              });
    CHECK(read_file(m + "/subscriptions") == "Z.Y.B\nAB\n");

    // Refusals change nothing.
    const auto before = listing(folders);
    error_of([&] { folders.rename(mbox("Z/Y"), mbox("Other")); }, ErrorKind::exists);
    error_of([&] { folders.rename(mbox("Z/Y"), mbox("Z/Y")); }, ErrorKind::exists);
    error_of([&] { folders.rename(mbox("Z/Y"), mbox("Z/Y/B/New")); }, ErrorKind::bad_data);
    error_of([&] { folders.rename(mbox("Other"), mbox("inbox")); }, ErrorKind::exists);
    error_of([&] { folders.rename(mbox("Nothing"), mbox("New")); }, ErrorKind::not_found);
    // A child that would land on a folder that is there: refused before anything moves.
    folders.create(mbox("W/B"));
    error_of([&] { folders.rename(mbox("Z/Y"), mbox("W")); }, ErrorKind::exists);
    CHECK(fs::is_directory(m + "/.Z.Y"));
    folders.remove(mbox("W/B"));
    CHECK(listing(folders) == before);

    // An implicit parent renames its children; a child moves up over its implicit parent.
    folders.rename(mbox("Z"), mbox("Q"));
    CHECK(fs::is_directory(m + "/.Q.Y.B.C"));
    folders.rename(mbox("Q/Y/B"), mbox("Q"));
    CHECK(fs::is_directory(m + "/.Q"));
    CHECK(fs::is_directory(m + "/.Q.C"));
    CHECK(read_file(m + "/subscriptions") == "Q\nAB\n");
    CHECK(files_in(m + "/tmp").empty());
}

TEST_CASE("renaming INBOX moves its messages to a new folder and leaves INBOX empty", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("alice");
    vpsmail::mailstore::ensure_maildir(m);
    write_file(m + "/new/1.M1P1Q1.h,S=3", "one");
    write_file(m + "/cur/1.M1P1Q2.h,S=3:2,S", "two");
    write_file(m + "/cur/.hidden", "not a message");
    write_file(m + "/tmp/1.M1P1Q3.h", "being delivered");
    write_file(m + "/vpsmail-index", "INBOX's index");
    write_file(m + "/vpsmail-uidvalidity", "42");
    Folders folders(m);
    folders.create(mbox("INBOX/Child"));
    folders.create(mbox("Taken"));

    error_of([&] { folders.rename(MailboxName(), mbox("Taken")); }, ErrorKind::exists);
    error_of([&] { folders.rename(MailboxName(), MailboxName()); }, ErrorKind::exists);
    CHECK(files_in(m + "/new").size() == 1);

    folders.rename(MailboxName(), mbox("Old/2026"));
    CHECK(read_file(m + "/.Old.2026/new/1.M1P1Q1.h,S=3") == "one");
    CHECK(read_file(m + "/.Old.2026/cur/1.M1P1Q2.h,S=3:2,S") == "two");
    CHECK(files_in(m + "/new").empty());
    CHECK(files_in(m + "/cur") == std::set<std::string>{".hidden"});
    CHECK(files_in(m + "/tmp") == std::set<std::string>{"1.M1P1Q3.h"});
    CHECK(read_file(m + "/vpsmail-index") == "INBOX's index");  // only message files move
    CHECK(read_file(m + "/vpsmail-uidvalidity") == "42");
    CHECK_FALSE(fs::exists(m + "/.Old.2026/vpsmail-uidvalidity"));
    CHECK(fs::is_directory(m + "/.INBOX.Child"));  // RFC 3501 6.3.5: children are not renamed
    CHECK(listing(folders) == std::vector<std::string>{
                                  "INBOX \\HasChildren",
                                  "INBOX/Child \\HasNoChildren",
                                  "Old \\Noselect \\HasChildren",
                                  "Old/2026 \\HasNoChildren",
                                  "Taken \\HasNoChildren",
                              });

    // A missing INBOX renames into an empty new folder.
    TempDir other;
    Folders fresh(other.file("bob"));
    fresh.rename(MailboxName(), mbox("Empty"));
    CHECK(fs::is_directory(other.file("bob/.Empty/cur")));
}

TEST_CASE("subscriptions: one name per line, atomic rewrites, foreign lines kept", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("alice");
    Folders folders(m);
    CHECK(folders.subscribe(mbox("Sent")));  // makes the Maildir
    CHECK_FALSE(folders.subscribe(mbox("Sent")));
    CHECK(folders.subscribe(mbox("Entw\xc3\xbcrfe/2026")));
    CHECK(folders.subscribe(mbox("inbox")));
    CHECK(folders.subscribe(mbox("Never/Created")));  // RFC 3501 6.3.6: need not exist
    CHECK(read_file(m + "/subscriptions") == "Sent\nEntw&APw-rfe.2026\nINBOX\nNever.Created\n");
    CHECK(folders.list_subscribed() == std::vector<MailboxName>{mbox("Sent"), mbox("Entw\xc3\xbcrfe/2026"), MailboxName(),
                                                               mbox("Never/Created")});
    CHECK(folders.unsubscribe(mbox("Never/Created")));
    CHECK_FALSE(folders.unsubscribe(mbox("Never/Created")));
    CHECK(files_in(m + "/tmp").empty());
    struct stat st {};
    REQUIRE(::stat((m + "/subscriptions").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    // A file from elsewhere: CRLF, blank lines, lines that name nothing here (kept as they are).
    write_file(m + "/subscriptions", "V\t2\r\n\r\ninbox\r\nTrash\nbad..line\nTrash\n&AGE-\n");
    CHECK(folders.list_subscribed() == std::vector<MailboxName>{MailboxName(), mbox("Trash")});
    CHECK(folders.subscribe(mbox("Drafts")));
    CHECK(read_file(m + "/subscriptions") == "V\t2\ninbox\nTrash\nbad..line\nTrash\n&AGE-\nDrafts\n");
    CHECK(folders.unsubscribe(mbox("Trash")));  // every line naming it goes
    CHECK(read_file(m + "/subscriptions") == "V\t2\ninbox\nbad..line\n&AGE-\nDrafts\n");
    folders.create(mbox("Drafts"));
    CHECK(listing(folders) == std::vector<std::string>{"INBOX \\HasNoChildren [S]", "Drafts \\HasNoChildren \\Drafts [S]"});
}

TEST_CASE("a rename that would make a child's name too long or deep moves nothing", "[mailstore][folders]") {
    TempDir tmp;
    const std::string m = tmp.file("alice");
    Folders folders(m);
    std::string deep = "d";
    for (int i = 1; i < 16; ++i) deep += "/d";  // 16 levels: the most
    folders.create(mbox("d"));
    folders.create(mbox(deep));
    const auto before = listing(folders);
    const std::string message = error_of([&] { folders.rename(mbox("d"), mbox("x/y")); }, ErrorKind::bad_data);
    CHECK(message.find("more than 16 levels") != std::string::npos);
    error_of([&] { folders.rename(mbox("d"), mbox(std::string(230, 'x'))); }, ErrorKind::bad_data);
    CHECK(listing(folders) == before);
}
