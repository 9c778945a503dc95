// The queue runner against a real store, spool and Maildirs, with the test as the transport:
// it calls ready/take/report as net/ would, and checks the spool, the DSNs and the Maildirs.
#include "core/config.hpp"
#include "queue/spool.hpp"
#include "server/queue_runner.hpp"
#include "server/server.hpp"
#include "support/store_fixture.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vpsmail::test {
namespace {

using queue::RecipientOutcome;
using Kind = RecipientOutcome::Kind;

// example.test with ann; a server whose folders are in the fixture's temp folder.
struct RunnerFixture {
    StoreFixture store;
    std::unique_ptr<server::Server> server;

    explicit RunnerFixture(std::function<void(Config&)> adjust = {}) {
        store.domain("example.test").user("ann", "example.test");
        Config c;
        c.server.hostname = "mx.example.test";
        c.paths.state_dir = store.dir().file("state");
        c.paths.mail_root = store.dir().file("mail");
        c.paths.spool_dir = store.dir().file("spool");
        c.queue.max_per_destination = 2;
        if (adjust) adjust(c);
        server = std::make_unique<server::Server>(c, store.dir().file("vpsmail.db"));
        server->start_queue();
    }

    server::QueueRunner& runner() { return *server->queue_runner(); }

    std::string spool(std::vector<std::string> recipients, std::string sender = "ann@example.test",
                      std::string notify = "") {
        queue::Envelope e;
        e.return_path = std::move(sender);
        e.created = queue::to_unix(std::chrono::system_clock::now());
        for (auto& r : recipients) {
            queue::SpoolRecipient sr;
            sr.address = r;
            sr.notify = notify;
            e.recipients.push_back(sr);
        }
        return server->enqueue(e, "From: ann@example.test\r\nSubject: test\r\n\r\nbody\r\n");
    }

    std::vector<std::string> ids() {
        std::vector<std::string> out;
        for (const auto& m : server->spool().list()) out.push_back(m.id);
        return out;
    }

    std::vector<std::string> mail_of(const std::string& local) {
        std::vector<std::string> out;
        auto dir = std::filesystem::path(store.dir().file("mail")) / "example.test" / local / "new";
        if (!std::filesystem::exists(dir)) return out;
        for (const auto& f : std::filesystem::directory_iterator(dir)) {
            std::ifstream in(f.path(), std::ios::binary);
            std::stringstream s;
            s << in.rdbuf();
            out.push_back(s.str());
        }
        return out;
    }
};

RecipientOutcome outcome(Kind kind, int code, std::string status, std::string text) {
    RecipientOutcome o;
    o.kind = kind;
    o.code = code;
    o.status = std::move(status);
    o.text = std::move(text);
    o.remote_mta = "mx.remote.test [192.0.2.7]";
    o.remote_reply = true;
    return o;
}

queue::MessageOutcome all(const queue::OutboundMessage& m, const RecipientOutcome& o) {
    return queue::MessageOutcome{std::vector<RecipientOutcome>(m.recipients.size(), o)};
}

auto now() { return std::chrono::system_clock::now(); }

// One connection as net/ makes it: the single due destination, one message taken, deferred.
void try_and_defer(RunnerFixture& f) {
    auto ready = f.runner().ready(now());
    REQUIRE(ready.size() == 1);
    auto m = f.runner().take(ready[0]);
    REQUIRE(m);
    CHECK_FALSE(f.runner().take(ready[0]));
    f.runner().report(*m, all(*m, outcome(Kind::deferred, 451, "4.4.1", "connection refused")));
    f.runner().closed(ready[0]);
}

}  // namespace

TEST_CASE("the runner groups due recipients by destination and removes a delivered message", "[queue_runner]") {
    RunnerFixture f;
    const std::string id = f.spool({"bob@remote.test", "carol@remote.test", "dan@other.test"});
    auto ready = f.runner().ready(now());
    REQUIRE(ready.size() == 2);
    std::map<std::string, queue::Destination> by_key;
    for (auto& d : ready) by_key[d.key] = d;
    REQUIRE(by_key.count("mx:remote.test"));
    REQUIRE(by_key.count("mx:other.test"));
    CHECK(by_key["mx:remote.test"].domain == "remote.test");

    auto remote = f.runner().take(by_key["mx:remote.test"]);
    REQUIRE(remote);
    CHECK(remote->id == id);
    CHECK(remote->recipients.size() == 2);  // one transaction for both remote.test recipients
    CHECK(remote->content.find("Subject: test") != std::string::npos);
    CHECK_FALSE(f.runner().take(by_key["mx:remote.test"]));  // nothing else for that destination
    f.runner().report(*remote, all(*remote, outcome(Kind::delivered, 250, "2.0.0", "ok")));
    CHECK(f.ids() == std::vector<std::string>{id});  // dan is still to go

    auto other = f.runner().take(by_key["mx:other.test"]);
    REQUIRE(other);
    f.runner().report(*other, all(*other, outcome(Kind::delivered, 250, "2.0.0", "ok")));
    for (auto& d : ready) f.runner().closed(d);
    CHECK(f.ids().empty());
    CHECK(f.mail_of("ann").empty());  // no DSN was asked for
}

TEST_CASE("a bounced recipient gets its sender a DSN, delivered locally", "[queue_runner]") {
    RunnerFixture f;
    f.spool({"bob@remote.test"});
    auto ready = f.runner().ready(now());
    REQUIRE(ready.size() == 1);
    auto m = f.runner().take(ready[0]);
    REQUIRE(m);
    f.runner().report(*m, all(*m, outcome(Kind::bounced, 550, "5.1.1", "no such user here")));
    f.runner().closed(ready[0]);
    // The original is gone; the DSN (null sender, to ann) waits in the spool for local delivery.
    auto queued = f.server->spool().list();
    REQUIRE(queued.size() == 1);
    CHECK(queued[0].envelope.return_path.empty());
    REQUIRE(queued[0].envelope.recipients.size() == 1);
    CHECK(queued[0].envelope.recipients[0].address == "ann@example.test");
    CHECK(f.runner().ready(now()).empty());  // local delivery needs no connection
    CHECK(f.ids().empty());
    auto mail = f.mail_of("ann");
    REQUIRE(mail.size() == 1);
    CHECK(mail[0].starts_with("Return-Path: <>\r\n"));
    CHECK(mail[0].find("multipart/report") != std::string::npos);
    CHECK(mail[0].find("Diagnostic-Code: smtp; 550 5.1.1 no such user here") != std::string::npos);
}

TEST_CASE("a bounce of a bounce sends nothing", "[queue_runner]") {
    RunnerFixture f;
    f.spool({"bob@remote.test"}, "");
    auto ready = f.runner().ready(now());
    auto m = f.runner().take(ready.at(0));
    REQUIRE(m);
    f.runner().report(*m, all(*m, outcome(Kind::bounced, 550, "5.1.1", "no")));
    f.runner().closed(ready[0]);
    CHECK(f.ids().empty());
    f.runner().ready(now());
    CHECK(f.mail_of("ann").empty());
}

TEST_CASE("a deferral waits for its backoff, and flush makes it due", "[queue_runner]") {
    RunnerFixture f;
    const std::string id = f.spool({"bob@remote.test"});
    try_and_defer(f);
    auto stored = f.server->spool().get(id);
    CHECK(stored.envelope.recipients[0].state == queue::RecipientState::deferred);
    CHECK(stored.envelope.recipients[0].attempts == 1);
    CHECK(stored.envelope.recipients[0].next_attempt >= queue::to_unix(now()) + 299);
    CHECK(f.runner().ready(now()).empty());
    CHECK(f.runner().next_wakeup() > now() + std::chrono::seconds(250));
    CHECK(f.runner().control("flush") == "ok\n");
    CHECK(f.runner().ready(now()).size() == 1);
}

TEST_CASE("sendmail's nudge tries only what is due; a flush counts only the tries made", "[queue_runner]") {
    RunnerFixture f;
    const std::string id = f.spool({"bob@remote.test"});
    try_and_defer(f);
    const auto first = f.server->spool().get(id).envelope.recipients[0];
    REQUIRE(first.attempts == 1);

    // Four sendmail calls in a second: the deferred message is not due, so nothing is tried.
    const std::string fresh = f.spool({"carol@other.test"});
    for (int i = 0; i < 4; ++i) {
        CHECK(f.runner().control("nudge") == "ok\n");
        for (const auto& d : f.runner().ready(now())) {
            CHECK(d.key == "mx:other.test");  // the new message is looked at at once
            while (auto taken = f.runner().take(d)) {
                CHECK(taken->id == fresh);
                f.runner().report(*taken, all(*taken, outcome(Kind::delivered, 250, "2.0.0", "ok")));
            }
            f.runner().closed(d);
        }
    }
    auto stored = f.server->spool().get(id).envelope.recipients[0];
    CHECK(stored.attempts == 1);
    CHECK(stored.next_attempt == first.next_attempt);

    // The admin's flush tries it now; two flushes before the try make one try, counted once.
    CHECK(f.runner().control("flush") == "ok\n");
    CHECK(f.runner().control("flush") == "ok\n");
    try_and_defer(f);
    CHECK(f.server->spool().get(id).envelope.recipients[0].attempts == 2);
    CHECK(f.runner().ready(now()).empty());
}

TEST_CASE("a destination gets at most max_per_destination connections", "[queue_runner]") {
    RunnerFixture f;  // max_per_destination = 2
    for (int i = 0; i < 20; ++i) f.spool({"bob@remote.test"});
    auto ready = f.runner().ready(now());
    CHECK(ready.size() == 2);
    CHECK(f.runner().ready(now()).empty());  // both slots taken
    f.runner().closed(ready[0]);
    CHECK(f.runner().ready(now()).size() == 1);
    // One connection can take every message, one after another.
    int taken = 0;
    while (auto m = f.runner().take(ready[1])) {
        f.runner().report(*m, all(*m, outcome(Kind::delivered, 250, "2.0.0", "ok")));
        ++taken;
    }
    CHECK(taken == 20);
    CHECK(f.ids().empty());
}

TEST_CASE("control requests: hold, release, delete in flight, bounce, bad ids", "[queue_runner]") {
    RunnerFixture f;
    const std::string id = f.spool({"bob@remote.test"});
    CHECK(f.runner().control("hold " + id) == "ok\n");
    CHECK(f.server->spool().get(id).envelope.held);
    CHECK(f.runner().ready(now()).empty());
    CHECK(f.runner().control("release " + id) == "ok\n");
    auto ready = f.runner().ready(now());
    REQUIRE(ready.size() == 1);
    auto m = f.runner().take(ready[0]);
    REQUIRE(m);
    CHECK(f.runner().control("delete " + id) == "ok\n");
    CHECK(f.ids() == std::vector<std::string>{id});  // in flight: removed when its report comes
    f.runner().report(*m, all(*m, outcome(Kind::bounced, 550, "5.1.1", "no")));
    CHECK(f.ids().empty());
    f.runner().ready(now());
    CHECK(f.mail_of("ann").empty());  // deleted: no bounce

    const std::string other = f.spool({"carol@remote.test"});
    CHECK(f.runner().control("bounce " + other + " not wanted any more") == "ok\n");
    CHECK(f.ids().size() == 1);  // the DSN
    f.runner().ready(now());
    auto mail = f.mail_of("ann");
    REQUIRE(mail.size() == 1);
    CHECK(mail[0].find("not wanted any more") != std::string::npos);

    CHECK(f.runner().control("hold 0123456789abcdef").starts_with("error not_found "));
    CHECK(f.runner().control("hold ../x").starts_with("error bad_data "));
    CHECK(f.runner().control("frobnicate").starts_with("error usage "));
    CHECK(f.runner().control("").starts_with("error usage "));
}

TEST_CASE("with a smart host every recipient goes to one destination", "[queue_runner]") {
    RunnerFixture f([](Config& c) { c.relay.host = "smtp.relay.test:587"; });
    f.spool({"bob@remote.test", "dan@other.test"});
    auto ready = f.runner().ready(now());
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].key == "relay:smtp.relay.test:587");
    CHECK(ready[0].relay_host == "smtp.relay.test");
    CHECK(ready[0].relay_port == 587);
    auto m = f.runner().take(ready[0]);
    REQUIRE(m);
    CHECK(m->recipients.size() == 2);
}

TEST_CASE("a damaged spool entry is quarantined at start", "[queue_runner]") {
    TempDir keep;
    std::string spool_dir;
    {
        RunnerFixture f;
        spool_dir = f.store.dir().file("spool");
        std::ofstream(spool_dir + "/env/00000000000000000000000000000bad") << "vpsmail-envelope 2\nnonsense\n";
        server::QueueRunner again(*f.server);  // loads the spool as a restarted server would
        CHECK(std::filesystem::exists(spool_dir + "/corrupt/00000000000000000000000000000bad.why"));
        CHECK_FALSE(std::filesystem::exists(spool_dir + "/env/00000000000000000000000000000bad"));
    }
}

}  // namespace vpsmail::test
