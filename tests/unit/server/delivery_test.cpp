// server::deliver (server/delivery.hpp) with the queue runner behind it: a program or file part of
// an accepted recipient that fails for now is spooled as that part alone, and the runner retries
// it without a second copy for the recipient's other parts (docs/architecture.md section 9).
#include "queue/spool.hpp"
#include "server/delivery.hpp"
#include "server/peer.hpp"
#include "server/queue_runner.hpp"
#include "server/server.hpp"
#include "support/store_fixture.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace vpsmail::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// example.test with ann; alias `team` -> ann and a program that fails for now (exit 75) until
// its marker file exists, then appends the message to out/got. Programs run as nobody when the
// test runs as root, so the folders they use are open to all.
struct PartWorld {
    StoreFixture store;
    std::unique_ptr<server::Server> server;
    std::string out;

    explicit PartWorld(const std::string& program, std::function<void(Config&)> adjust = {}) {
        ::chmod(store.dir().path().c_str(), 0755);
        out = store.dir().file("out");
        fs::create_directories(out);
        ::chmod(out.c_str(), 0777);
        std::ofstream(out + "/prog.sh") << program;
        store.domain("example.test").user("ann", "example.test").alias("team", {"ann", "|/bin/sh " + out + "/prog.sh"});
        Config c;
        c.server.hostname = "mx.example.test";
        c.server.user = "";
        c.paths.state_dir = store.dir().file("state");
        c.paths.mail_root = store.dir().file("mail");
        c.paths.spool_dir = store.dir().file("spool");
        c.delivery.allow_programs = true;
        if (adjust) adjust(c);
        server = std::make_unique<server::Server>(c, store.dir().file("vpsmail.db"));
        server->start_queue();
    }

    std::vector<server::DeliveryOutcome> deliver(const std::string& to, const std::string& from = "x@remote.test") {
        server::DeliveryRequest request;
        request.id = "s1.1";
        request.return_path = from;
        server::DeliveryRecipient r;
        r.address = parse_address(to);
        request.recipients.push_back(r);
        request.text = text;
        request.peer.address = "192.0.2.1";
        request.peer.id = "s1";
        return server::deliver(*server, request, server::OnTemporaryFailure::queue_beside_accepted);
    }

    std::size_t mail_of(const std::string& local) {
        const fs::path dir = fs::path(store.dir().file("mail")) / "example.test" / local / "new";
        if (!fs::is_directory(dir)) return 0;
        return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
    }

    const std::string text = "Received: by mx.example.test; id s1.1\r\nSubject: part\r\n\r\nhello\r\n";
};

const char* const fails_once =
    "if [ -e \"$(dirname \"$0\")/tried\" ]; then cat >> \"$(dirname \"$0\")/got\"; exit 0; fi\n"
    ": > \"$(dirname \"$0\")/tried\"; exit 75\n";

}  // namespace

TEST_CASE("a program part that fails for now is retried alone by the queue runner", "[server][delivery]") {
    PartWorld w(fails_once);
    const auto outcomes = w.deliver("team@example.test");
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].accepted());  // ann has it: the recipient is accepted
    CHECK(w.mail_of("ann") == 1);
    CHECK(fs::exists(w.out + "/tried"));
    CHECK_FALSE(fs::exists(w.out + "/got"));

    // The spool holds the program alone, for team, naming team as the original recipient.
    auto queued = w.server->spool().list();
    REQUIRE(queued.size() == 1);
    REQUIRE(queued[0].envelope.recipients.size() == 1);
    const queue::SpoolRecipient& r = queued[0].envelope.recipients[0];
    CHECK(r.address == "team@example.test");
    CHECK(r.local);
    CHECK(r.part == "program:/bin/sh " + w.out + "/prog.sh");
    CHECK(r.orcpt == "rfc822;team@example.test");
    CHECK(r.state == queue::RecipientState::pending);

    // The runner delivers locally at once: the program gets the message once, ann no second copy.
    CHECK(w.server->queue_runner()->ready(std::chrono::system_clock::now()).empty());
    const std::string got = slurp(w.out + "/got");
    CHECK(got.starts_with("Return-Path: <x@remote.test>\r\n"));
    CHECK(got.find("Subject: part") != std::string::npos);
    CHECK(got.find("Subject: part", got.find("Subject: part") + 1) == std::string::npos);
    CHECK(w.mail_of("ann") == 1);
    CHECK(w.server->spool().list().empty());  // delivered, no DSN asked for
}

TEST_CASE("a program part still failing when the queue gives up is bounced naming the recipient", "[server][delivery]") {
    PartWorld w("exit 75\n", [](Config& c) { c.queue.max_age = std::chrono::seconds(0); });
    const auto outcomes = w.deliver("team@example.test", "ann@example.test");
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].accepted());
    CHECK(w.mail_of("ann") == 1);
    // The runner tries the part, gives up at once (max_age 0) and sends ann the failure DSN,
    // delivered locally too.
    w.server->queue_runner()->ready(std::chrono::system_clock::now());
    w.server->queue_runner()->ready(std::chrono::system_clock::now());
    CHECK(w.server->spool().list().empty());
    REQUIRE(w.mail_of("ann") == 2);
    std::string dsn;
    for (const auto& f : fs::directory_iterator(fs::path(w.store.dir().file("mail")) / "example.test" / "ann" / "new")) {
        const std::string text = slurp(f.path().string());
        if (text.find("multipart/report") != std::string::npos) dsn = text;
    }
    REQUIRE_FALSE(dsn.empty());
    CHECK(dsn.find("Original-Recipient: rfc822; team@example.test") != std::string::npos);
    CHECK(dsn.find("Final-Recipient: rfc822; team@example.test") != std::string::npos);
    CHECK(dsn.find("Action: failed") != std::string::npos);
}

TEST_CASE("a part is run only while [delivery] still allows it", "[server][delivery]") {
    PartWorld w(fails_once);
    REQUIRE(w.deliver("team@example.test")[0].accepted());
    // The admin turns programs off before the retry: the part bounces, nothing runs.
    Config c = *w.server->config();
    c.delivery.allow_programs = false;
    w.server->reload(c);
    w.server->queue_runner()->ready(std::chrono::system_clock::now());
    CHECK_FALSE(fs::exists(w.out + "/got"));
    // What is left is the failure DSN to the remote sender.
    auto queued = w.server->spool().list();
    REQUIRE(queued.size() == 1);
    CHECK(queued[0].envelope.return_path.empty());
    REQUIRE(queued[0].envelope.recipients.size() == 1);
    CHECK(queued[0].envelope.recipients[0].address == "x@remote.test");
}

TEST_CASE("parts: format and parse", "[server][delivery]") {
    route::Target program{route::TargetKind::program, "|/usr/bin/x a b", ""};
    CHECK(server::format_part(program) == "program:|/usr/bin/x a b");
    const route::Target back = server::parse_part("program:|/usr/bin/x a b");
    CHECK(back.kind == route::TargetKind::program);
    CHECK(back.value == "|/usr/bin/x a b");
    CHECK(server::parse_part("file:/var/mail/archive").kind == route::TargetKind::file);
    for (const char* bad : {"mailbox:ann@example.test", "remote:x@y.test", "program:", "", "|/bin/sh"})
        CHECK_THROWS_AS(server::parse_part(bad), Error);
}

}  // namespace vpsmail::test
