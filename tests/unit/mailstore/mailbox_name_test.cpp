// Mailbox names: modified UTF-7 both ways, the canonical form, every refusal, and that no
// accepted name, however hostile, maps outside the account's Maildir.
#include "mailstore/mailbox_name.hpp"

#include "core/error.hpp"
#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

using vpsmail::ErrorKind;
using vpsmail::mailstore::decode_modified_utf7;
using vpsmail::mailstore::encode_modified_utf7;
using vpsmail::mailstore::find_folder_name;
using vpsmail::mailstore::folder_file_name;
using vpsmail::mailstore::folder_path;
using vpsmail::mailstore::MailboxName;
using vpsmail::test::error_of;

namespace {

std::string repeat(const std::string& level, std::size_t times, const std::string& separator) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out += (i == 0 ? "" : separator) + level;
    return out;
}

// What must hold for every name that was accepted (docs/architecture.md section 10).
void check_stays_inside(const MailboxName& name) {
    const std::string root = "/srv/mail/example.org/alice";
    const std::string path = folder_path(root, name);
    INFO("name '" << name.str() << "' -> path '" << path << "'");
    if (name.is_inbox()) {
        CHECK(path == root);
        return;
    }
    REQUIRE(path.size() > root.size() + 1);
    CHECK(path.substr(0, root.size() + 1) == root + "/");
    const std::string file = path.substr(root.size() + 1);
    CHECK(file == folder_file_name(name));
    CHECK(file.find('/') == std::string::npos);
    CHECK(file.find('\0') == std::string::npos);
    CHECK(file != ".");
    CHECK(file != "..");
    CHECK(file.front() == '.');
    CHECK(file.find("..") == std::string::npos);
    CHECK(file.size() <= vpsmail::mailstore::max_folder_file_name);
    CHECK(std::filesystem::path(path).lexically_normal().parent_path() == std::filesystem::path(root));
    bool printable = true;
    for (unsigned char c : file) printable = printable && c >= 0x20 && c < 0x7f;
    CHECK(printable);
    // One way and back: the directory lists as the very name, the wire form parses to it.
    CHECK(find_folder_name(file) == name);
    CHECK(MailboxName::from_utf7(name.utf7()) == name);
    CHECK(MailboxName::from_utf8(name.str()) == name);
}

}  // namespace

TEST_CASE("modified UTF-7 encodes as RFC 3501 5.1.3 shows and decodes back", "[mailstore][mailbox_name]") {
    struct Case {
        std::string utf8, utf7;
    };
    const Case cases[] = {
        {"INBOX", "INBOX"},
        {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
         "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},  // RFC 3501 5.1.3's example
        {"&", "&-"},
        {"Tom & Jerry", "Tom &- Jerry"},
        {"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
        {"\xe2\x98\xba", "&Jjo-"},                          // U+263A
        {"\xf0\x9f\x98\x80", "&2D3eAA-"},                   // U+1F600, a surrogate pair
        {"\xc3\xa9\xc3\xa9&", "&AOkA6Q-&-"},                // one run, then '&'
        {"a\xc3\xa9" "b\xc3\xa9", "a&AOk-b&AOk-"},
        {"", ""},
    };
    for (const Case& c : cases) {
        INFO("utf8 '" << c.utf8 << "' utf7 '" << c.utf7 << "'");
        CHECK(encode_modified_utf7(c.utf8) == c.utf7);
        CHECK(decode_modified_utf7(c.utf7) == c.utf8);
    }
}

TEST_CASE("modified UTF-7 refuses every other spelling", "[mailstore][mailbox_name]") {
    const std::string bad[] = {
        "&Jjo",          // unterminated
        "abc&",          // unterminated, empty
        "&Jj!-",         // not modified base64
        "&Jj/o-",        // '/' is plain base64's, not IMAP's
        "&Jjo=-",        // no padding in modified base64
        "&AGE-",         // encodes 'a': printable ASCII is sent as is
        "&AC8-",         // encodes '/'
        "&AC4-",         // encodes '.'
        "&ACY-",         // encodes '&' (that is "&-")
        "&Jjo-&Jjo-",    // two runs in a row: one run is the shortest form
        "&2D0-",         // a high surrogate alone
        "&3gA-",         // a low surrogate alone
        "&2D3YPQ-",      // a high surrogate followed by another high one
        "&Jjp-",         // leftover bits that are not zero
        "&JjoA-",        // a base64 character too many
        "&AA-",          // 12 bits: not even one character
        "Entw\xc3\xbcrfe",  // 8-bit: IMAP4rev1 names are 7-bit
        std::string("a\0b", 3),
        "a\tb",
        "a\x7f",
    };
    for (const std::string& text : bad) {
        INFO("text '" << text << "'");
        const std::string message = error_of([&] { decode_modified_utf7(text); }, ErrorKind::bad_data);
        CHECK(message.find("not modified UTF-7") != std::string::npos);
        CHECK(message.find('\0') == std::string::npos);
        error_of([&] { MailboxName::from_utf7(text); }, ErrorKind::bad_data);
    }
    error_of([] { encode_modified_utf7("\xff"); }, ErrorKind::bad_data);
}

TEST_CASE("mailbox names have one canonical form, INBOX in any case", "[mailstore][mailbox_name]") {
    struct Case {
        std::string given, want;
    };
    const Case cases[] = {
        {"INBOX", "INBOX"},           {"inbox", "INBOX"},           {"InBoX", "INBOX"},
        {"inbox/Sub", "INBOX/Sub"},   {"Inboxes", "Inboxes"},       {"Sent/inbox", "Sent/inbox"},
        {"Sent", "Sent"},             {"sent", "sent"},             {"A/B/C", "A/B/C"},
        {"%2F", "%2F"},               {"a b", "a b"},               {"~", "~"},
        {"*", "*"},                   {"&", "&"},                   {"&Jjo-", "&Jjo-"},
        {"Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe"},
    };
    for (const Case& c : cases) {
        INFO("given '" << c.given << "'");
        const MailboxName name = MailboxName::from_utf8(c.given);
        CHECK(name.str() == c.want);
        CHECK(name.is_inbox() == (c.want == "INBOX"));
        check_stays_inside(name);
    }
    CHECK(MailboxName().is_inbox());
    CHECK(MailboxName::from_utf7("inbox/Entw&APw-rfe").str() == "INBOX/Entw\xc3\xbcrfe");
    CHECK(MailboxName::from_utf7("&Jjo-").str() == "\xe2\x98\xba");
    CHECK(MailboxName::from_utf7("&-Jjo-").str() == "&Jjo-");
    CHECK(MailboxName::from_utf8("&Jjo-").utf7() == "&-Jjo-");
}

TEST_CASE("mailbox names: levels, parents, ancestors and renames", "[mailstore][mailbox_name]") {
    const MailboxName abc = MailboxName::from_utf8("A/B/C");
    CHECK(abc.levels() == std::vector<std::string>{"A", "B", "C"});
    REQUIRE(abc.parent());
    CHECK(abc.parent()->str() == "A/B");
    CHECK_FALSE(MailboxName::from_utf8("A").parent());
    CHECK(MailboxName::from_utf8("inbox/x").parent() == MailboxName());
    const MailboxName a = MailboxName::from_utf8("A");
    CHECK(a.is_ancestor_of(abc));
    CHECK_FALSE(a.is_ancestor_of(a));
    CHECK_FALSE(a.is_ancestor_of(MailboxName::from_utf8("AB")));
    CHECK_FALSE(abc.is_ancestor_of(a));
    CHECK(abc.rebased(a, MailboxName::from_utf8("Z/Y")).str() == "Z/Y/B/C");
    CHECK(a.rebased(a, MailboxName::from_utf8("Q")).str() == "Q");
    error_of([&] { abc.rebased(MailboxName::from_utf8("B"), a); }, ErrorKind::bad_data);
    // A rename that makes a child too deep is refused.
    const MailboxName deep = MailboxName::from_utf8(repeat("d", 16, "/"));
    error_of([&] { deep.rebased(MailboxName::from_utf8("d"), MailboxName::from_utf8("x/y")); }, ErrorKind::bad_data);
}

TEST_CASE("mailbox names refuse what could escape or confuse the Maildir", "[mailstore][mailbox_name]") {
    struct Case {
        std::string name;
        ErrorKind kind;
    };
    const Case cases[] = {
        {"", ErrorKind::bad_data},
        {"/", ErrorKind::bad_data},
        {"/a", ErrorKind::bad_data},
        {"a/", ErrorKind::bad_data},
        {"a//b", ErrorKind::bad_data},
        {".", ErrorKind::bad_data},
        {"..", ErrorKind::bad_data},
        {"../x", ErrorKind::bad_data},
        {"a/../../b", ErrorKind::bad_data},
        {"a/./b", ErrorKind::bad_data},
        {"&Jjo-/..", ErrorKind::bad_data},
        {"a.b", ErrorKind::bad_data},
        {".hidden", ErrorKind::bad_data},
        {"a/.b", ErrorKind::bad_data},
        {std::string("a\0b", 3), ErrorKind::bad_data},
        {std::string("\0", 1), ErrorKind::bad_data},
        {"a\nb", ErrorKind::bad_data},
        {"a\rb", ErrorKind::bad_data},
        {"a\x1b[31m", ErrorKind::bad_data},
        {"a\x7f", ErrorKind::bad_data},
        {"a\xc2\x85", ErrorKind::bad_data},      // U+0085, a C1 control
        {"\xff", ErrorKind::bad_data},           // not UTF-8
        {"a\xc3", ErrorKind::bad_data},          // truncated
        {"\xc0\xaf", ErrorKind::bad_data},       // overlong '/'
        {"\xe0\x80\xae\xe0\x80\xae", ErrorKind::bad_data},  // overlong ".."
        {"\xed\xa0\x80", ErrorKind::bad_data},   // a surrogate in UTF-8
        {"\xf4\x90\x80\x80", ErrorKind::bad_data},  // past U+10FFFF
        {repeat("a", 17, "/"), ErrorKind::bad_data},
        {std::string(255, 'a'), ErrorKind::bad_data},  // ".aaa..." is 256 bytes
        {repeat("\xe2\x98\xba", 100, ""), ErrorKind::bad_data},
        {std::string(5000, 'a'), ErrorKind::bad_data},
        {repeat("a", 3000, "/"), ErrorKind::bad_data},
    };
    for (const Case& c : cases) {
        INFO("name '" << c.name << "'");
        const std::string message = error_of([&] { MailboxName::from_utf8(c.name); }, c.kind);
        CHECK(message.starts_with("invalid mailbox name '"));
        // The message is one safe log line: no control bytes, nothing that is not UTF-8.
        bool safe = true;
        for (unsigned char ch : message) safe = safe && ch >= 0x20 && ch != 0x7f && ch != 0xff && ch != 0x85;
        CHECK(safe);
        CHECK(message.size() < 300);
        // The same refusals come from the wire form (8-bit names are refused there anyway).
        bool ascii = true;
        for (unsigned char ch : c.name) ascii = ascii && ch < 0x80;
        if (ascii) error_of([&] { MailboxName::from_utf7(c.name); }, c.kind);
    }
    CHECK(error_of([] { MailboxName::from_utf8("a\xc2\x85"); }, ErrorKind::bad_data).find("a%C2%85") != std::string::npos);
    CHECK(error_of([] { MailboxName::from_utf8("a\nb"); }, ErrorKind::bad_data).find("a%0Ab") != std::string::npos);
    // A long name is cut on a character boundary: the message stays UTF-8.
    const std::string cut = error_of([] { MailboxName::from_utf8("a" + repeat("\xe2\x98\xba", 100, "")); }, ErrorKind::bad_data);
    CHECK(cut.find("'a" + repeat("\xe2\x98\xba", 33, "") + "...'") != std::string::npos);
    // Smuggled through modified UTF-7: NUL, '/', '.'.
    for (const char* wire : {"&AAA-", "a&AC8-..", "&AC4AL-", "x/&AC4-&AC4-", "&ACAAIA-"}) {
        INFO("wire '" << wire << "'");
        error_of([&] { MailboxName::from_utf7(wire); }, ErrorKind::bad_data);
    }
    // The longest accepted: 254 bytes in the folder file name, 16 levels.
    check_stays_inside(MailboxName::from_utf8(std::string(254, 'a')));
    check_stays_inside(MailboxName::from_utf8(repeat("a", 16, "/")));
}

TEST_CASE("folder file names are Dovecot's Maildir++ names, and only those map back", "[mailstore][mailbox_name]") {
    struct Case {
        std::string name, file;
    };
    const Case cases[] = {
        {"INBOX", ""},
        {"Sent", ".Sent"},
        {"A/B", ".A.B"},
        {"inbox/x", ".INBOX.x"},
        {"Entw\xc3\xbcrfe/2026", ".Entw&APw-rfe.2026"},
        {"&", ".&-"},
        {"%2F", ".%2F"},
    };
    for (const Case& c : cases) {
        INFO("name '" << c.name << "'");
        const MailboxName name = MailboxName::from_utf8(c.name);
        CHECK(folder_file_name(name) == c.file);
        CHECK(folder_path("/m", name) == (c.file.empty() ? "/m" : "/m/" + c.file));
        if (!c.file.empty()) CHECK(find_folder_name(c.file) == name);
    }
    const std::string junk[] = {
        "", ".", "..", "...", "Sent", "cur", "tmp", ".a..b", ".a.", "..a", ".INBOX", ".inbox", ".Inbox",
        ".inbox.x", ".&AGE-", ".&Jjo-&Jjo-", ".&Jjo", ".Entw\xc3\xbcrfe", ".a\tb", ".&AAA-", ".&AC8-",
        "." + std::string(255, 'a'), "." + repeat("a", 17, "."),
    };
    for (const std::string& file : junk) {
        INFO("file '" << file << "'");
        CHECK_FALSE(find_folder_name(file));
    }
}

TEST_CASE("no accepted name, random or hostile, leaves the Maildir", "[mailstore][mailbox_name]") {
    // A fixed seed: the same names every run. Pieces chosen to hit separators, dots, encodings.
    const std::vector<std::string> pieces = {
        "a", "B", "/", "/", ".", "..", "&", "-", "&-", "&Jjo-", "&AC8-", "&AC4-", "&AAA-", "%2F", " ",
        "inbox", "INBOX", "\xc3\xa9", "\xe2\x98\xba", "\xf0\x9f\x98\x80", std::string("\0", 1), "\n", "\xff",
        "\xc0\xaf", "\\", "~", "*", ",", "+",
    };
    std::mt19937 random(20261203);
    std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1), length(1, 12);
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string text;
        for (std::size_t n = length(random); n > 0; --n) text += pieces[pick(random)];
        for (bool wire : {false, true}) {
            try {
                const MailboxName name = wire ? MailboxName::from_utf7(text) : MailboxName::from_utf8(text);
                ++accepted;
                check_stays_inside(name);
            } catch (const vpsmail::Error& e) {
                const bool refused = e.kind() == ErrorKind::bad_data;
                CHECK(refused);
            }
        }
    }
    CHECK(accepted > 1000);  // the test proves something only if many names get through
}
