#include "mailstore/maildir.hpp"
#include "queue/spool.hpp"
#include "server/body_file.hpp"
#include "server/server.hpp"
#include "server/smtp_service.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace vpsmail;
using server::OnTemporaryFailure;
namespace fs = std::filesystem;

namespace {

// example.test with ann (no quota), bob and carol (quota 1 KiB); a Server without a queue
// runner, so what deliver_message spools stays in the spool for the test to read.
struct World {
    test::TempDir dir;
    Config config;
    std::string db;
    std::unique_ptr<server::Server> server;

    World() {
        config.server.hostname = "mx.example.test";
        config.server.user = "";
        config.paths.state_dir = dir.file("state");
        config.paths.mail_root = dir.file("mail");
        config.paths.spool_dir = dir.file("state/spool");
        fs::create_directories(config.paths.state_dir);
        db = dir.file("state/vpsmail.db");
        auto store = store::Store::open(db);
        store->create_domain("example.test");
        for (const char* local : {"ann", "bob", "carol"}) {
            store::NewUser u;
            u.local = local;
            u.domain = "example.test";
            u.password_hash = "$y$j9T$abc$def";
            if (std::string(local) == "carol") u.quota = 1024;
            store->create_user(u);
        }
        server = std::make_unique<server::Server>(config, db);
    }

    std::string maildir(const std::string& local) const {
        return mailstore::maildir_path(config.paths.mail_root, "example.test", local);
    }
    std::size_t mail_of(const std::string& local) const {
        const std::string dir = maildir(local) + "/new";
        if (!fs::is_directory(dir)) return 0;
        return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
    }
    // bob's Maildir cannot be made: a file is in its way. His delivery fails for now.
    void block_bob() const {
        fs::create_directories(fs::path(maildir("bob")).parent_path());
        std::ofstream(maildir("bob")) << "in the way";
    }
    smtp::DeliveryResult deliver(const std::vector<std::string>& to, OnTemporaryFailure mode, const std::string& from = "x@remote.test") {
        smtp::Deliver action;
        action.envelope.id = "s1.1";
        if (!from.empty()) action.envelope.return_path = parse_address(from);
        for (const auto& r : to) action.envelope.recipients.push_back(smtp::Recipient{parse_address(r), std::nullopt, std::nullopt});
        // 3 KB: more than carol's whole quota.
        action.message = "Received: by mx.example.test; id s1.1\r\nSubject: hi\r\n\r\n" + std::string(3000, 'x') + "\r\n";
        server::Peer peer;
        peer.listener = "smtp";
        peer.address = "192.0.2.1";
        peer.id = "s1";
        return server::deliver_message(*server, action, peer, mode);
    }
};

std::string verdict(const smtp::Verdict& v) {
    if (v.accepted()) return "accepted";
    return std::to_string(v.refusal->code) + " " + v.refusal->status;
}

std::vector<std::string> verdicts(const smtp::DeliveryResult& r) {
    std::vector<std::string> out;
    for (const auto& v : r.recipients) out.push_back(verdict(v));
    return out;
}

// "address state" of every recipient in the spool, sorted.
std::vector<std::string> spooled(server::Server& s) {
    std::vector<std::string> out;
    for (const auto& m : s.spool().list())
        for (const auto& r : m.envelope.recipients)
            out.push_back(r.address + " " + queue::recipient_state_name(r.state) + (r.local ? " local" : "") +
                          (r.code != 0 ? " " + std::to_string(r.code) + " " + r.status : ""));
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("deliver_message: a Maildir that cannot be used fails its own mailbox only", "[server][smtp_service]") {
    World w;
    w.block_bob();
    auto result = w.deliver({"ann@example.test", "bob@example.test"}, OnTemporaryFailure::refuse);
    CHECK(verdicts(result) == std::vector<std::string>{"accepted", "451 4.3.0"});
    CHECK(w.mail_of("ann") == 1);
    CHECK(spooled(*w.server).empty());  // refuse: the caller retries bob
}

TEST_CASE("deliver_message: beside an accepted recipient, refused ones are retried or bounced", "[server][smtp_service]") {
    World w;
    w.block_bob();
    SECTION("a temporary failure is queued for the runner, a permanent one bounced with a DSN") {
        auto result = w.deliver({"ann@example.test", "bob@example.test", "carol@example.test"}, OnTemporaryFailure::queue_beside_accepted);
        CHECK(verdicts(result)[0] == "accepted");
        CHECK(w.mail_of("ann") == 1);
        CHECK(w.mail_of("carol") == 0);
        CHECK(spooled(*w.server) == std::vector<std::string>{"bob@example.test pending local", "carol@example.test bounced local 552 5.2.2"});
        auto messages = w.server->spool().list();
        REQUIRE(messages.size() == 1);
        CHECK(messages[0].envelope.return_path == "x@remote.test");
        CHECK(w.server->spool().read_content(messages[0]).find("Subject: hi\r\n") != std::string::npos);
    }
    SECTION("the null sender gets no DSN, the retry is queued all the same") {
        auto result = w.deliver({"ann@example.test", "bob@example.test", "carol@example.test"}, OnTemporaryFailure::queue_beside_accepted, "");
        CHECK(verdicts(result)[0] == "accepted");
        CHECK(spooled(*w.server) == std::vector<std::string>{"bob@example.test pending local"});
    }
    SECTION("with no recipient accepted, the client hears the refusal and nothing is spooled") {
        auto result = w.deliver({"bob@example.test", "carol@example.test"}, OnTemporaryFailure::queue_beside_accepted);
        CHECK(verdicts(result) == std::vector<std::string>{"451 4.3.0", "552 5.2.2"});
        CHECK(spooled(*w.server).empty());
    }
    SECTION("a recipient deleted since RCPT is bounced") {
        store::Store::open(w.db)->remove_user("carol", "example.test");
        auto result = w.deliver({"ann@example.test", "carol@example.test"}, OnTemporaryFailure::queue_beside_accepted);
        CHECK(verdicts(result) == std::vector<std::string>{"accepted", "550 5.1.1"});
        CHECK(spooled(*w.server) == std::vector<std::string>{"carol@example.test bounced local 550 5.1.1"});
    }
    SECTION("error: entries that appeared since RCPT: bounced with their reply, or retried") {
        auto store = store::Store::open(w.db);
        store->map_vuser("carol@example.test", "example.test", "error:5.1.6:550 moved away");
        store->map_vuser("dave@example.test", "example.test", "error:4.2.1:450 try later");
        auto result = w.deliver({"ann@example.test", "carol@example.test", "dave@example.test"}, OnTemporaryFailure::queue_beside_accepted);
        CHECK(verdicts(result) == std::vector<std::string>{"accepted", "550 5.1.6", "450 4.2.1"});
        CHECK(spooled(*w.server) == std::vector<std::string>{"carol@example.test bounced local 550 5.1.6", "dave@example.test pending local"});
    }
}

TEST_CASE("BodyFile: a spilled text reads back whole and its file goes with it", "[server][smtp_service][spill]") {
    test::TempDir dir;
    std::string path;
    std::string want;
    {
        server::BodyFile file(dir.path().string());
        path = file.path();
        CHECK(fs::exists(path));
        CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
        for (int i = 0; i < 3000; ++i) {
            std::string piece = "piece " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x') + "\r\n";
            file.write(piece);
            want += piece;
        }
        file.write(std::string(200000, 'y'));  // past the buffer at once
        want += std::string(200000, 'y');
        CHECK(file.size() == want.size());
        CHECK(file.text() == want);
        std::size_t biggest = 0;
        file.read([&](std::string_view piece) { biggest = std::max(biggest, piece.size()); });
        CHECK(biggest <= 64u * 1024);
        CHECK(fs::file_size(path) == want.size());
    }
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("deliver_message: a spilled text reaches Maildirs and the spool whole, linked, not copied", "[server][smtp_service][spill]") {
    World w;
    const std::string text = "Received: by mx.example.test; id s1.1\r\nSubject: big\r\n\r\n" + std::string(700000, 'z') + "\r\n";
    auto file = std::make_shared<server::BodyFile>(w.server->spool().dir() + "/tmp");
    file->write(text);
    const std::string spill_path = file->path();
    {
        smtp::Deliver action;
        action.envelope.id = "s1.1";
        action.envelope.return_path = parse_address("x@remote.test");
        for (const char* r : {"ann@example.test", "carl@remote.test"})
            action.envelope.recipients.push_back(smtp::Recipient{parse_address(r), std::nullopt, std::nullopt});
        action.spilled = std::move(file);
        server::Peer peer;
        peer.listener = "smtp";
        peer.id = "s1";
        auto result = server::deliver_message(*w.server, action, peer, OnTemporaryFailure::queue_beside_accepted);
        CHECK(verdicts(result) == std::vector<std::string>{"accepted", "accepted"});
        CHECK(fs::hard_link_count(spill_path) == 2);  // the spool's msg/ entry is the same file
    }
    CHECK_FALSE(fs::exists(spill_path));  // the last owner let go
    const std::string new_dir = w.maildir("ann") + "/new";
    REQUIRE(w.mail_of("ann") == 1);
    std::ifstream in(fs::directory_iterator(new_dir)->path(), std::ios::binary);
    const std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(stored == "Return-Path: <x@remote.test>\r\n" + text);
    auto queued = w.server->spool().list();
    REQUIRE(queued.size() == 1);
    CHECK(queued[0].size == text.size());
    CHECK(w.server->spool().read_content(queued[0]) == text);
    CHECK(fs::is_empty(w.server->spool().dir() + "/tmp"));
}
