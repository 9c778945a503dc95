#include "core/error.hpp"
#include "mailstore/maildir.hpp"
#include "server/maildrop.hpp"
#include "server/server.hpp"
#include "store/store.hpp"
#include "support/checks.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace vpsmail;
using vpsmail::server::MaildropEntry;
using vpsmail::test::error_of;
namespace fs = std::filesystem;

namespace {

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

MaildropEntry entry(std::vector<std::string> recipients) {
    MaildropEntry e;
    e.created = now_seconds();
    e.sender = "cron@mx.example.test";
    e.recipients = std::move(recipients);
    e.message = "Subject: hi\r\n\r\nbody\r\n";
    return e;
}

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> out;
    if (!fs::is_directory(dir)) return out;
    for (const auto& f : fs::directory_iterator(dir)) out.push_back(f.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A store with example.test and bob, a configuration in the temp dir, and a Server on them.
struct World {
    test::TempDir dir;
    Config config;
    std::string db;
    std::unique_ptr<server::Server> server;
    std::vector<std::string> bounced;  // "rcpt code" per refusal, from the recording bounce
    std::vector<std::string> bounced_messages;
    std::unique_ptr<server::MaildropPickup> pickups;

    World() {
        config.server.hostname = "mx.example.test";
        config.server.user = "";
        config.paths.state_dir = dir.file("state");
        config.paths.mail_root = dir.file("mail");
        config.paths.spool_dir = dir.file("state/spool");
        config.limits.max_message_size = 4096;
        config.limits.max_recipients = 5;
        fs::create_directories(config.paths.state_dir);
        db = dir.file("state/vpsmail.db");
        auto store = store::Store::open(db);
        store->create_domain("example.test");
        store::NewUser u;
        u.local = "bob";
        u.domain = "example.test";
        u.password_hash = "$y$j9T$abc$def";
        store->create_user(u);
        server = std::make_unique<server::Server>(config, db);
        auto bounce = [this](const smtp::Envelope& envelope, const std::string& message, const std::vector<server::Refusal>& refused) {
            record(envelope, message, refused);
        };
        pickups = std::make_unique<server::MaildropPickup>(*server, bounce);
    }
    void record(const smtp::Envelope& envelope, const std::string& message, const std::vector<server::Refusal>& refused) {
        CHECK((message.empty() || message.find("Received: by mx.example.test (vpsmail, from userid") == 0));
        CHECK(envelope.recipients.size() >= refused.size());
        bounced_messages.push_back(message);
        for (const auto& r : refused) bounced.push_back(r.recipient.address.str() + " " + std::to_string(r.reply.code));
    }
    std::string maildrop() const { return config.paths.spool_dir + "/maildrop"; }
    std::string corrupt() const { return config.paths.spool_dir + "/corrupt"; }
    std::string bob() const { return mailstore::maildir_path(config.paths.mail_root, "example.test", "bob"); }
    // bob's Maildir cannot be made (a file is in its way): his delivery fails temporarily.
    void block_bob() const {
        fs::create_directories(fs::path(bob()).parent_path());
        std::ofstream(bob()) << "in the way";
    }
    // The spool's tmp/ is a file: the queue can take nothing.
    void block_spool() const {
        fs::remove_all(config.paths.spool_dir + "/tmp");
        std::ofstream(config.paths.spool_dir + "/tmp") << "in the way";
    }
    std::vector<std::string> bob_mail() const {
        return files_in(mailstore::maildir_path(config.paths.mail_root, "example.test", "bob") + "/new");
    }
    std::size_t pickup(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) { return pickups->run(now); }
    std::string write(const MaildropEntry& e) { return server::write_maildrop(config.paths.spool_dir, e, config.limits); }
};

}  // namespace

TEST_CASE("maildrop files round-trip and are validated", "[server][maildrop]") {
    MaildropEntry e = entry({"bob@example.test", "root", "x%y@remote.test"});
    MaildropEntry back = server::parse_maildrop(server::format_maildrop(e));
    CHECK(back.created == e.created);
    CHECK(back.sender == e.sender);
    CHECK(back.recipients == e.recipients);
    CHECK(back.message == e.message);
    // Who submitted is the file's owner: the text names nobody.
    CHECK(server::format_maildrop(e).find("uid") == std::string::npos);
    // An older writer's uid and user lines are read and ignored.
    CHECK(server::parse_maildrop("vpsmail-maildrop 1\ncreated 1\nuid 0\nuser root\nsender a@b.test\nrcpt b@c.test\nend\nx\r\n")
              .recipients == std::vector<std::string>{"b@c.test"});

    struct Case {
        std::string text;
        const char* why;
    };
    const std::string head = "vpsmail-maildrop 1\ncreated 1\nsender a@b.test\n";
    const Case cases[] = {
        {"vpsmail-maildrop 2\n", "not a vpsmail maildrop"},
        {head + "rcpt b@c.test\n", "no end line"},
        {head + "end\nx", "no recipient"},
        {head + "rcpt a@@b\nend\n", "invalid address"},
        {"vpsmail-maildrop 1\ncreated 1\nsender bad\nrcpt b@c.test\nend\n", "invalid address"},
        {head + "sender c@d.test\nrcpt b@c.test\nend\n", "repeated"},
        {head + "color red\nend\n", "unknown"},
        // A local user cannot hand the server a program or file part to run (only the spool,
        // which serve alone writes, carries one), nor a \\mailbox or program recipient.
        {head + "rcpt b@c.test\npart program:/bin/sh -c id\nend\n", "unknown"},
        {head + "rcpt |/bin/sh\nend\n", "invalid address"},
        {head + "rcpt \\\\bob@c.test\nend\n", "invalid address"},
        {"vpsmail-maildrop 1\ncreated x\n", "not a time"},
        {"vpsmail-maildrop 1\ncreated 1\nrcpt b@c.test\nend\n", "missing"},
    };
    for (const auto& c : cases) {
        SECTION(c.why) {
            std::string message = error_of([&] { server::parse_maildrop(c.text); }, ErrorKind::bad_data);
            INFO("got " << message << " want " << c.why);
            CHECK(message.find(c.why) != std::string::npos);
        }
    }
}

TEST_CASE("check_local_message refuses what the pickup could not deliver", "[server][maildrop]") {
    Config::Limits limits;
    limits.max_message_size = 100;
    limits.max_recipients = 2;
    struct Case {
        std::string message;
        std::size_t recipients;
        int code;  // 0: fit
        const char* why;
    };
    const Case cases[] = {
        {"Subject: x\r\n\r\nhi\r\n", 2, 0, ""},
        {"Subject: x\r\n\r\nphp\r\r\n", 1, 554, "bare CR (line 3)"},  // PHP's mail() writes \r\r\n
        {"Subject: x\r\n\r\nlone\rcr\r\n", 1, 554, "bare CR"},
        {"Subject: x\n", 1, 554, "bare LF (line 1)"},
        {std::string("a\0b\r\n", 5), 1, 554, "NUL byte"},
        {std::string(99, 'x') + "\r\n", 1, 552, "101 bytes"},
        {"x\r\n", 3, 554, "[limits] max_recipients"},
    };
    for (const auto& c : cases) {
        auto got = server::check_local_message(c.message, c.recipients, limits);
        INFO("case " << c.why << " got " << (got ? got->text : "fit"));
        if (c.code == 0) {
            CHECK_FALSE(got);
            continue;
        }
        REQUIRE(got);
        CHECK(got->code == c.code);
        CHECK(got->status.rfind("5.", 0) == 0);
        CHECK(got->text.find(c.why) != std::string::npos);
    }
}

TEST_CASE("the spool makes the maildrop writable by all, listable by none, and setgid", "[server][maildrop]") {
    World w;
    struct stat st {};
    REQUIRE(::stat(w.maildrop().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 03733);
    REQUIRE(::stat(w.config.paths.spool_dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0711);
    CHECK(files_in(w.maildrop()).empty());  // no folder of ours inside it
}

TEST_CASE("pickup delivers a maildrop file to the Maildir and removes it", "[server][maildrop]") {
    World w;
    std::string name = w.write(entry({"bob@example.test"}));
    CHECK(name == std::to_string(::geteuid()) + "-0");
    struct stat st {};
    REQUIRE(::stat((w.maildrop() + "/" + name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    CHECK(w.pickup() == 1);
    CHECK(files_in(w.maildrop()).empty());
    auto mail = w.bob_mail();
    REQUIRE(mail.size() == 1);
    std::string text = slurp(mailstore::maildir_path(w.config.paths.mail_root, "example.test", "bob") + "/new/" + mail[0]);
    CHECK(text.find("Return-Path: <cron@mx.example.test>\r\nReceived: by mx.example.test (vpsmail, from userid " +
                    std::to_string(::geteuid()) + " ") == 0);
    CHECK(text.find("id " + name + ";") != std::string::npos);
    CHECK(text.find("Subject: hi\r\n\r\nbody\r\n") != std::string::npos);
    CHECK(w.bounced.empty());
    CHECK(w.pickup() == 0);  // nothing left
}

TEST_CASE("pickup spools remote recipients and bounces refused ones", "[server][maildrop]") {
    World w;
    w.write(entry({"nobody@example.test", "carl@remote.test", "bob"}));
    CHECK(w.pickup() == 1);
    CHECK(w.bounced == std::vector<std::string>{"nobody@example.test 550"});
    auto queued = w.server->spool().list();
    REQUIRE(queued.size() == 1);
    REQUIRE(queued[0].envelope.recipients.size() == 1);
    CHECK(queued[0].envelope.recipients[0].address == "carl@remote.test");
    CHECK(queued[0].envelope.return_path == "cron@mx.example.test");
    CHECK(w.bob_mail().size() == 1);  // the bare name resolves in the primary domain
    CHECK(files_in(w.maildrop()).empty());
}

TEST_CASE("pickup hands local recipients that fail for now to the queue", "[server][maildrop]") {
    World w;
    w.block_bob();
    w.write(entry({"bob@example.test"}));
    CHECK(w.pickup() == 1);
    CHECK(files_in(w.maildrop()).empty());  // no retry file: the queue retries, with its backoff
    auto queued = w.server->spool().list();
    REQUIRE(queued.size() == 1);
    REQUIRE(queued[0].envelope.recipients.size() == 1);
    CHECK(queued[0].envelope.recipients[0].address == "bob@example.test");
    CHECK(queued[0].envelope.recipients[0].local);
    CHECK(w.bounced.empty());
}

TEST_CASE("a file the spool cannot take waits the queue's backoff", "[server][maildrop]") {
    World w;
    w.block_bob();
    w.block_spool();
    const std::string name = w.write(entry({"bob@example.test"}));
    const auto t0 = std::chrono::system_clock::now();
    CHECK(w.pickup(t0) == 0);
    CHECK(files_in(w.maildrop()) == std::vector<std::string>{name});
    fs::remove(w.bob());
    fs::remove(w.config.paths.spool_dir + "/tmp");
    fs::create_directory(w.config.paths.spool_dir + "/tmp");
    CHECK(w.pickup(t0 + std::chrono::seconds(1)) == 0);  // not every second: it waits
    CHECK(w.pickup(t0 + std::chrono::seconds(299)) == 0);
    CHECK(w.bob_mail().empty());
    CHECK(w.pickup(t0 + std::chrono::seconds(300)) == 1);
    CHECK(w.bob_mail().size() == 1);
    CHECK(files_in(w.maildrop()).empty());
}

TEST_CASE("pickup bounces temporary failures older than the queue's max_age", "[server][maildrop]") {
    World w;
    w.block_bob();
    w.block_spool();
    MaildropEntry e = entry({"bob@example.test"});
    e.created -= w.config.queue.max_age.count() + 1;
    w.write(e);
    CHECK(w.pickup() == 0);
    REQUIRE(w.bounced.size() == 1);
    CHECK(w.bounced[0].rfind("bob@example.test 4", 0) == 0);
    CHECK(files_in(w.maildrop()).empty());
}

TEST_CASE("pickup bounces what check_local_message refuses, and quarantines nothing", "[server][maildrop]") {
    World w;  // max_message_size 4096, max_recipients 5
    struct Case {
        const char* what;
        std::function<void(const std::string& path)> make;
        std::string want;
    };
    const Case cases[] = {
        {"a bare CR", [](const std::string& p) {
             MaildropEntry e = entry({"bob@example.test"});
             e.message = "Subject: php\r\n\r\nline\r\r\n";
             std::ofstream(p) << server::format_maildrop(e);
         }, "bob@example.test 554"},
        {"too many recipients", [](const std::string& p) {
             std::ofstream(p) << server::format_maildrop(entry({"bob", "bob", "bob", "bob", "bob", "bob"}));
         }, "bob 554"},
        {"too big", [](const std::string& p) {
             MaildropEntry e = entry({"bob@example.test"});
             e.message = std::string(5000, 'x') + "\r\n";
             std::ofstream(p) << server::format_maildrop(e);
         }, "bob@example.test 552"},
        {"too big to read", [](const std::string& p) {
             MaildropEntry e = entry({"bob@example.test"});
             e.message = std::string(2 << 20, 'x') + "\r\n";
             std::ofstream(p) << server::format_maildrop(e);
         }, "bob@example.test 552"},
    };
    for (const auto& c : cases) {
        SECTION(c.what) {
            c.make(w.maildrop() + "/" + std::to_string(::geteuid()) + "-0");
            CHECK(w.pickup() == 0);
            CHECK(files_in(w.maildrop()).empty());
            CHECK(files_in(w.corrupt()).empty());
            REQUIRE_FALSE(w.bounced.empty());
            CHECK(w.bounced[0] == c.want);
            CHECK(w.bob_mail().empty());
        }
    }
}

TEST_CASE("pickup quarantines malformed files in the spool's own corrupt folder", "[server][maildrop]") {
    World w;
    const std::string mine = std::to_string(::geteuid()) + "-0";
    struct Case {
        const char* what;
        std::string name;
        std::function<void(const std::string& path)> make;
    };
    const Case cases[] = {
        {"garbage", mine, [](const std::string& p) { std::ofstream(p) << "hello\n"; }},
        {"a symbolic link", mine, [&](const std::string& p) { fs::create_symlink(w.db, p); }},
        {"a hard link", mine, [&](const std::string& p) {
             std::string other = w.dir.file("other");
             std::ofstream(other) << server::format_maildrop(entry({"bob@example.test"}));
             fs::create_hard_link(other, p);
         }},
        {"a name that write_maildrop does not make", "Evil.Name",
         [](const std::string& p) { std::ofstream(p) << server::format_maildrop(entry({"bob@example.test"})); }},
        {"another uid's slot", std::to_string(::geteuid() + 1) + "-0",
         [](const std::string& p) { std::ofstream(p) << server::format_maildrop(entry({"bob@example.test"})); }},
    };
    for (const auto& c : cases) {
        SECTION(c.what) {
            c.make(w.maildrop() + "/" + c.name);
            CHECK(w.pickup() == 0);
            CHECK(files_in(w.maildrop()).empty());
            auto quarantined = files_in(w.corrupt());
            REQUIRE(quarantined.size() == 1);
            CHECK(quarantined[0].rfind("maildrop.", 0) == 0);
            CHECK(w.bob_mail().empty());
            CHECK(w.bounced.empty());
        }
    }
}

TEST_CASE("a symbolic link at maildrop/corrupt leads nothing out of the spool", "[server][maildrop]") {
    World w;
    // A local user's trap: the older quarantine folder, pointing at a folder of theirs.
    const std::string trap = w.dir.file("trap");
    fs::create_directories(trap);
    fs::create_symlink(trap, w.maildrop() + "/corrupt");
    std::ofstream(w.maildrop() + "/" + std::to_string(::geteuid()) + "-0") << "garbage\n";
    CHECK(w.pickup() == 0);
    CHECK(files_in(trap).empty());
    CHECK(files_in(w.corrupt()).size() == 1);
    CHECK(files_in(w.maildrop()) == std::vector<std::string>{"corrupt"});  // the link itself is the user's
}

TEST_CASE("pickup takes the submitter from the file's owner, not from its text", "[server][maildrop]") {
    if (::geteuid() != 0) {
        WARN("not root: cannot give a maildrop file to another owner");
        return;
    }
    World w;
    // An older writer's text claims root; the file belongs to nobody.
    const std::string path = w.maildrop() + "/65534-0";
    std::ofstream(path) << "vpsmail-maildrop 1\ncreated " << now_seconds()
                        << "\nuid 0\nuser root\nsender cron@mx.example.test\nrcpt bob@example.test\nend\nSubject: x\r\n\r\nhi\r\n";
    REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
    CHECK(w.pickup() == 1);
    auto mail = w.bob_mail();
    REQUIRE(mail.size() == 1);
    std::string text = slurp(mailstore::maildir_path(w.config.paths.mail_root, "example.test", "bob") + "/new/" + mail[0]);
    CHECK(text.find("(vpsmail, from userid 65534 ") != std::string::npos);
    CHECK(text.find("userid 0 root") == std::string::npos);
}

TEST_CASE("write_maildrop bounds what one user has waiting", "[server][maildrop]") {
    World w;
    w.config.limits.max_maildrop_messages = 2;
    CHECK(w.write(entry({"bob"})) == std::to_string(::geteuid()) + "-0");
    CHECK(w.write(entry({"bob"})) == std::to_string(::geteuid()) + "-1");
    std::string message = error_of([&] { w.write(entry({"bob"})); }, ErrorKind::temporary);
    CHECK(message.find("2 messages waiting") != std::string::npos);
    CHECK(message.find("[limits] max_maildrop_messages") != std::string::npos);
    CHECK(files_in(w.maildrop()).size() == 2);

    CHECK(w.pickup() == 2);  // once picked up, there is room again
    w.config.limits.max_maildrop_size = 1024;
    MaildropEntry big = entry({"bob"});
    big.message = std::string(600, 'x') + "\r\n";
    w.write(big);
    message = error_of([&] { w.write(big); }, ErrorKind::temporary);
    CHECK(message.find("[limits] max_maildrop_size") != std::string::npos);
    CHECK(files_in(w.maildrop()).size() == 1);
}

TEST_CASE("write_maildrop says when the server never made the maildrop", "[server][maildrop]") {
    test::TempDir dir;
    std::string message = error_of([&] { server::write_maildrop(dir.file("spool"), entry({"bob"}), Config::Limits{}); },
                                   ErrorKind::temporary);
    CHECK(message.find("vpsmail serve") != std::string::npos);
}

TEST_CASE("format_local_received names the user and the id", "[server][maildrop]") {
    auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1704164645));
    CHECK(server::format_local_received("mx.test", 1000, "ann", "abc", when) ==
          "Received: by mx.test (vpsmail, from userid 1000 ann)\r\n\tid abc; Tue, 02 Jan 2024 03:04:05 +0000\r\n");
}
