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
    e.uid = static_cast<std::uint32_t>(::geteuid());
    e.user = "cron";
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
    server::MaildropBounce bounce;

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
        bounce = [this](const smtp::Envelope& envelope, const std::string& message, const std::vector<server::Refusal>& refused) {
            record(envelope, message, refused);
        };
    }
    void record(const smtp::Envelope& envelope, const std::string& message, const std::vector<server::Refusal>& refused) {
        CHECK(message.find("Received: by mx.example.test (vpsmail, from userid") == 0);
        CHECK(envelope.recipients.size() >= refused.size());
        for (const auto& r : refused) bounced.push_back(r.recipient.address.str() + " " + std::to_string(r.reply.code));
    }
    std::string maildrop() const { return config.paths.spool_dir + "/maildrop"; }
    std::vector<std::string> bob_mail() const {
        return files_in(mailstore::maildir_path(config.paths.mail_root, "example.test", "bob") + "/new");
    }
    std::size_t pickup() { return server::pickup_maildrop(*server, bounce); }
};

}  // namespace

TEST_CASE("maildrop files round-trip and are validated", "[server][maildrop]") {
    MaildropEntry e = entry({"bob@example.test", "root", "x%y@remote.test"});
    e.user = "www-data";
    MaildropEntry back = server::parse_maildrop(server::format_maildrop(e));
    CHECK(back.created == e.created);
    CHECK(back.uid == e.uid);
    CHECK(back.user == e.user);
    CHECK(back.sender == e.sender);
    CHECK(back.recipients == e.recipients);
    CHECK(back.message == e.message);

    struct Case {
        std::string text;
        const char* why;
    };
    const std::string head = "vpsmail-maildrop 1\ncreated 1\nuid 0\nuser u\nsender a@b.test\n";
    const Case cases[] = {
        {"vpsmail-maildrop 2\n", "not a vpsmail maildrop"},
        {head + "rcpt b@c.test\n", "no end line"},
        {head + "end\nx", "no recipient"},
        {head + "rcpt a@@b\nend\n", "invalid address"},
        {"vpsmail-maildrop 1\ncreated 1\nuid 0\nuser u\nsender bad\nrcpt b@c.test\nend\n", "invalid address"},
        {head + "rcpt b@c.test\nend\nbare\nLF\r\n", "bare LF"},
        {head + "rcpt b@c.test\nend\nbare\rCR\r\n", "bare CR"},
        {head + "rcpt b@c.test\nend\nNUL\0\r\n", "NUL"},
        {head + "uid 5\nrcpt b@c.test\nend\n", "repeated"},
        {head + "color red\nend\n", "unknown"},
        {"vpsmail-maildrop 1\ncreated x\n", "not a time"},
        {"vpsmail-maildrop 1\nuid 99999999999\n", "not a uid"},
        {"vpsmail-maildrop 1\ncreated 1\nrcpt b@c.test\nend\n", "missing"},
    };
    for (const auto& c : cases) {
        SECTION(c.why) {
            std::string text = c.text;
            if (std::string(c.why) == "NUL") text = head + "rcpt b@c.test\nend\nNUL" + std::string(1, '\0') + "\r\n";
            std::string message = error_of([&] { server::parse_maildrop(text); }, ErrorKind::bad_data);
            INFO("got " << message << " want " << c.why);
            CHECK(message.find(c.why) != std::string::npos);
        }
    }
}

TEST_CASE("the spool makes the maildrop writable by all and listable by none", "[server][maildrop]") {
    World w;
    struct stat st {};
    REQUIRE(::stat(w.maildrop().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 01733);
    REQUIRE(::stat(w.config.paths.spool_dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0711);
}

TEST_CASE("pickup delivers a maildrop file to the Maildir and removes it", "[server][maildrop]") {
    World w;
    std::string name = server::write_maildrop(w.config.paths.spool_dir, entry({"bob@example.test"}));
    struct stat st {};
    REQUIRE(::stat((w.maildrop() + "/" + name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);
    CHECK(w.pickup() == 1);
    CHECK(files_in(w.maildrop()) == std::vector<std::string>{"corrupt"});
    auto mail = w.bob_mail();
    REQUIRE(mail.size() == 1);
    std::string text = slurp(mailstore::maildir_path(w.config.paths.mail_root, "example.test", "bob") + "/new/" + mail[0]);
    CHECK(text.find("Return-Path: <cron@mx.example.test>\r\nReceived: by mx.example.test (vpsmail, from userid ") == 0);
    CHECK(text.find("id " + name + ";") != std::string::npos);
    CHECK(text.find("Subject: hi\r\n\r\nbody\r\n") != std::string::npos);
    CHECK(w.bounced.empty());
    CHECK(w.pickup() == 0);  // nothing left
}

TEST_CASE("pickup spools remote recipients and bounces refused ones", "[server][maildrop]") {
    World w;
    server::write_maildrop(w.config.paths.spool_dir, entry({"nobody@example.test", "carl@remote.test", "bob"}));
    CHECK(w.pickup() == 1);
    CHECK(w.bounced == std::vector<std::string>{"nobody@example.test 550"});
    auto queued = w.server->spool().list();
    REQUIRE(queued.size() == 1);
    REQUIRE(queued[0].envelope.recipients.size() == 1);
    CHECK(queued[0].envelope.recipients[0].address == "carl@remote.test");
    CHECK(queued[0].envelope.return_path == "cron@mx.example.test");
    CHECK(w.bob_mail().size() == 1);  // the bare name resolves in the primary domain
    CHECK(files_in(w.maildrop()) == std::vector<std::string>{"corrupt"});
}

TEST_CASE("pickup retries recipients that fail temporarily, and only those", "[server][maildrop]") {
    World w;
    // bob's Maildir cannot be made (a file is in its way): his delivery fails temporarily.
    const std::string bob = mailstore::maildir_path(w.config.paths.mail_root, "example.test", "bob");
    fs::create_directories(fs::path(bob).parent_path());
    std::ofstream(bob) << "in the way";
    const std::string first = server::write_maildrop(w.config.paths.spool_dir, entry({"bob@example.test"}));
    CHECK(w.pickup() == 0);
    CHECK(files_in(w.maildrop()) == std::vector<std::string>{first, "corrupt"});  // the same file, for later

    // A remote recipient is spooled while bob still fails (one Delivery holds all Maildirs).
    std::ofstream(w.maildrop() + "/" + first, std::ios::trunc)
        << server::format_maildrop(entry({"carl@remote.test", "bob@example.test"}));
    CHECK(w.pickup() == 1);
    CHECK(w.server->spool().list().size() == 1);
    auto left = files_in(w.maildrop());
    REQUIRE(left.size() == 2);  // a new file with bob alone, and corrupt/
    CHECK(left[0] != first);
    auto retry = server::parse_maildrop(slurp(w.maildrop() + "/" + left[0]));
    CHECK(retry.recipients == std::vector<std::string>{"bob@example.test"});
    CHECK(retry.user == "cron");
    CHECK(w.bounced.empty());

    fs::remove(bob);
    CHECK(w.pickup() == 1);
    CHECK(w.bob_mail().size() == 1);
    CHECK(w.server->spool().list().size() == 1);  // carl was not queued twice
    CHECK(files_in(w.maildrop()) == std::vector<std::string>{"corrupt"});
}

TEST_CASE("pickup bounces temporary failures older than the maildrop lifetime", "[server][maildrop]") {
    World w;
    const std::string bob = mailstore::maildir_path(w.config.paths.mail_root, "example.test", "bob");
    fs::create_directories(fs::path(bob).parent_path());
    std::ofstream(bob) << "in the way";
    MaildropEntry e = entry({"bob@example.test"});
    e.created -= server::maildrop_lifetime.count() + 1;
    server::write_maildrop(w.config.paths.spool_dir, e);
    CHECK(w.pickup() == 1);
    REQUIRE(w.bounced.size() == 1);
    CHECK(w.bounced[0].rfind("bob@example.test 4", 0) == 0);
    CHECK(files_in(w.maildrop()) == std::vector<std::string>{"corrupt"});
}

TEST_CASE("pickup quarantines malformed and oversized files", "[server][maildrop]") {
    World w;
    struct Case {
        const char* what;
        std::function<void(const std::string& path)> make;
    };
    const Case cases[] = {
        {"garbage", [](const std::string& p) { std::ofstream(p) << "hello\n"; }},
        {"too big", [&](const std::string& p) {
             MaildropEntry e = entry({"bob@example.test"});
             e.message = std::string(5000, 'x') + "\r\n";
             std::ofstream(p) << server::format_maildrop(e);
         }},
        {"too many recipients", [&](const std::string& p) {
             std::ofstream(p) << server::format_maildrop(entry({"bob", "bob", "bob", "bob", "bob", "bob"}));
         }},
        {"a symbolic link", [&](const std::string& p) { fs::create_symlink(w.db, p); }},
        {"a hard link", [&](const std::string& p) {
             std::string other = w.dir.file("other");
             std::ofstream(other) << server::format_maildrop(entry({"bob@example.test"}));
             fs::create_hard_link(other, p);
         }},
    };
    for (const auto& c : cases) {
        SECTION(c.what) {
            const std::string name = "0123456789abc-00ff";
            c.make(w.maildrop() + "/" + name);
            CHECK(w.pickup() == 0);
            CHECK(files_in(w.maildrop()) == std::vector<std::string>{"corrupt"});
            CHECK(files_in(w.maildrop() + "/corrupt") == std::vector<std::string>{name});
            CHECK(w.bob_mail().empty());
        }
    }
    SECTION("a name that write_maildrop does not make") {
        std::ofstream(w.maildrop() + "/Evil.Name") << server::format_maildrop(entry({"bob@example.test"}));
        CHECK(w.pickup() == 0);
        CHECK(files_in(w.maildrop() + "/corrupt") == std::vector<std::string>{"Evil.Name"});
        CHECK(w.bob_mail().empty());
    }
}

TEST_CASE("pickup takes the submitter from the file's owner", "[server][maildrop]") {
    if (::geteuid() != 0) {
        WARN("not root: cannot give a maildrop file to another owner");
        return;
    }
    World w;
    MaildropEntry e = entry({"bob@example.test"});
    e.uid = 0;  // claims root, but the file belongs to nobody
    std::string name = server::write_maildrop(w.config.paths.spool_dir, e);
    REQUIRE(::chown((w.maildrop() + "/" + name).c_str(), 65534, 65534) == 0);
    CHECK(w.pickup() == 0);
    CHECK(files_in(w.maildrop() + "/corrupt") == std::vector<std::string>{name});
    CHECK(w.bob_mail().empty());

    e.uid = 65534;  // the truth is delivered
    name = server::write_maildrop(w.config.paths.spool_dir, e);
    REQUIRE(::chown((w.maildrop() + "/" + name).c_str(), 65534, 65534) == 0);
    CHECK(w.pickup() == 1);
    CHECK(w.bob_mail().size() == 1);
}

TEST_CASE("write_maildrop says when the server never made the maildrop", "[server][maildrop]") {
    test::TempDir dir;
    std::string message = error_of([&] { server::write_maildrop(dir.file("spool"), entry({"bob"})); }, ErrorKind::temporary);
    CHECK(message.find("vpsmail serve") != std::string::npos);
}

TEST_CASE("format_local_received names the user and the id", "[server][maildrop]") {
    auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1704164645));
    CHECK(server::format_local_received("mx.test", 1000, "ann", "abc", when) ==
          "Received: by mx.test (vpsmail, from userid 1000 ann)\r\n\tid abc; Tue, 02 Jan 2024 03:04:05 +0000\r\n");
}
