// The SMTP client session alone: scripted server replies in, command bytes out, outcomes per
// recipient. Every script also runs with the server's bytes fed one at a time.
#include "core/error.hpp"
#include "smtp/client_session.hpp"
#include "wire/base64.hpp"

#include <catch2/catch.hpp>

#include <functional>

using namespace vpsmail::smtp;
using vpsmail::queue::MessageOutcome;
using vpsmail::queue::OutboundMessage;
using vpsmail::queue::RecipientOutcome;
using Kind = vpsmail::queue::RecipientOutcome::Kind;
using State = ClientSession::State;

namespace {

ClientConfig config() {
    ClientConfig c;
    c.helo_name = "out.example.org";
    return c;
}

OutboundMessage message(std::vector<std::string> to = {"b@x.test", "c@x.test"}) {
    OutboundMessage m;
    m.id = "m1";
    m.return_path = "a@example.org";
    for (auto& t : to) m.recipients.push_back({t, "", ""});
    m.body = "7BIT";
    m.content = "Subject: hi\r\n\r\nhello\r\n";
    return m;
}

const std::string greeting = "220 mx.x.test ESMTP\r\n";
const std::string ehlo_plain = "250-mx.x.test\r\n250 8BITMIME\r\n";
const std::string ehlo_pipelining = "250-mx.x.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n";
const std::string ehlo_chunking = "250-mx.x.test\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250 CHUNKING\r\n";
const std::string ehlo_chunking_pipelining =
    "250-mx.x.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SIZE 1000\r\n";

// One step of a scripted exchange: the server's bytes, then an optional action on the
// session, then the client bytes expected.
struct Step {
    std::string server;
    std::string client;
    std::function<void(ClientSession&)> act = {};
};

// Runs the script; `split` feeds the server's bytes one at a time.
void run(ClientSession& s, const std::vector<Step>& steps, bool split) {
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& step = steps[i];
        if (split)
            for (char c : step.server) s.receive(std::string_view(&c, 1));
        else s.receive(step.server);
        if (step.act) step.act(s);
        INFO("step " << i << " after server " << step.server);
        CHECK(s.take_output() == step.client);
    }
}

// Greets and says EHLO with `ehlo`, leaving the session ready.
std::vector<Step> opening(const std::string& ehlo) {
    return {{greeting, "EHLO out.example.org\r\n"}, {ehlo, ""}};
}

std::vector<Step> operator+(std::vector<Step> a, const std::vector<Step>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

void check_outcome(const RecipientOutcome& o, Kind kind, int code, const std::string& status, const std::string& text) {
    CHECK(o.kind == kind);
    CHECK(o.code == code);
    CHECK(o.status == status);
    CHECK(o.text == text);
}

// Opens with `ehlo` and sends a BODY=BINARYMIME message to `to`; the commands are taken.
void send_binary(ClientSession& s, const std::string& ehlo, std::vector<std::string> to = {"b@x.test", "c@x.test"}) {
    s.receive(greeting + ehlo);
    auto m = message(std::move(to));
    m.body = "BINARYMIME";
    s.send(m);
    s.take_output();
}

}  // namespace

TEST_CASE("client: plain happy path, one command per reply", "[smtp][client]") {
    for (bool split : {false, true}) {
        ClientSession s(config());
        std::optional<MessageOutcome> outcome;
        run(s,
            opening(ehlo_plain) +
                std::vector<Step>{
                    {"", "MAIL FROM:<a@example.org>\r\n", [](ClientSession& c) {
                         CHECK(c.state() == State::ready);
                         c.send(message());
                     }},
                    {"250 2.1.0 Ok\r\n", "RCPT TO:<b@x.test>\r\n"},
                    {"250 2.1.5 Ok\r\n", "RCPT TO:<c@x.test>\r\n"},
                    {"250 2.1.5 Ok\r\n", "DATA\r\n"},
                    {"354 go ahead\r\n", "Subject: hi\r\n\r\nhello\r\n.\r\n"},
                    {"250 2.0.0 Ok: queued as X1\r\n", "", [&](ClientSession& c) { outcome = c.take_outcome(); }},
                },
            split);
        REQUIRE(outcome);
        REQUIRE(outcome->recipients.size() == 2);
        for (auto& o : outcome->recipients) {
            check_outcome(o, Kind::delivered, 250, "2.0.0", "Ok: queued as X1");
            CHECK(o.remote_reply);
            CHECK_FALSE(o.dsn_passed_on);
        }
        CHECK(s.state() == State::ready);
        CHECK_FALSE(s.take_outcome());  // handed out once
        s.quit();
        CHECK(s.take_output() == "QUIT\r\n");
        CHECK(s.phase() == ClientPhase::quit);
        s.receive(std::string_view("221 2.0.0 Bye\r\n"));
        CHECK(s.state() == State::closed);
    }
}

TEST_CASE("client: PIPELINING sends MAIL, RCPTs and DATA as one group", "[smtp][client]") {
    for (bool split : {false, true}) {
        ClientSession s(config());
        std::optional<MessageOutcome> outcome;
        run(s,
            opening(ehlo_pipelining) +
                std::vector<Step>{
                    {"", "MAIL FROM:<a@example.org> SIZE=22 BODY=8BITMIME\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n",
                     [](ClientSession& c) {
                         auto m = message();
                         m.body = "8BITMIME";
                         c.send(m);
                     }},
                    {"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n", ""},
                    {"354 go ahead\r\n", "Subject: hi\r\n\r\nhello\r\n.\r\n"},
                    {"250 2.0.0 queued\r\n", "", [&](ClientSession& c) { outcome = c.take_outcome(); }},
                },
            split);
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) check_outcome(o, Kind::delivered, 250, "2.0.0", "queued");
    }
}

TEST_CASE("client: multi-line EHLO capabilities", "[smtp][client]") {
    ClientSession s(config());
    s.receive(greeting);
    CHECK(s.phase() == ClientPhase::ehlo);
    s.receive(std::string_view("250-mx.x.test greets you\r\n250-pipelining\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
                               "250-SMTPUTF8\r\n250-STARTTLS\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
                               "250-AUTH=LOGIN\r\n250 AUTH PLAIN login XOAUTH2\r\n"));
    const Capabilities& c = s.capabilities();
    CHECK(c.esmtp);
    CHECK(c.pipelining);
    CHECK(c.size);
    CHECK(c.max_size == 35882577);
    CHECK(c.eightbitmime);
    CHECK(c.smtputf8);
    CHECK(c.starttls);
    CHECK(c.dsn);
    CHECK(c.enhanced_status_codes);
    CHECK(c.auth == std::vector<std::string>{"LOGIN", "PLAIN", "LOGIN", "XOAUTH2"});
    CHECK(s.take_output() == "EHLO out.example.org\r\nSTARTTLS\r\n");  // opportunistic TLS
}

TEST_CASE("client: SIZE without a number is no fixed limit", "[smtp][client]") {
    ClientSession s(config());
    s.receive(greeting + "250-mx\r\n250 SIZE\r\n");
    CHECK(s.capabilities().size);
    CHECK(s.capabilities().max_size == 0);
    auto m = message();
    m.content = std::string(5000, 'x') + "\r\n";
    s.send(m);
    CHECK(s.take_output().starts_with("EHLO out.example.org\r\nMAIL FROM:<a@example.org> SIZE=5002\r\n"));
}

TEST_CASE("client: STARTTLS, then EHLO again with what TLS offers", "[smtp][client]") {
    for (bool split : {false, true}) {
        ClientSession s(config());
        run(s,
            {{greeting, "EHLO out.example.org\r\n"},
             {"250-mx\r\n250-STARTTLS\r\n250 SIZE 10\r\n", "STARTTLS\r\n"},
             {"220 2.0.0 go\r\n", "EHLO out.example.org\r\n", [](ClientSession& c) {
                  CHECK(c.wants_starttls());
                  CHECK(c.phase() == ClientPhase::starttls);
                  c.receive(std::string_view("250 injected before the handshake\r\n"));  // dropped (RFC 3207 4.2)
                  c.tls_started();
                  CHECK(c.tls_active());
                  CHECK_FALSE(c.capabilities().size);  // forgotten
              }},
            },
            split);
        CHECK(s.take_output() == "");
    }
    ClientSession s(config());
    s.receive(greeting + "250-mx\r\n250 STARTTLS\r\n220 go\r\n");
    s.tls_started();
    CHECK(s.take_output() == "EHLO out.example.org\r\nSTARTTLS\r\nEHLO out.example.org\r\n");
    s.receive(std::string_view("250-mx\r\n250 PIPELINING\r\n"));
    CHECK(s.state() == State::ready);
    CHECK(s.capabilities().pipelining);
    CHECK_FALSE(s.capabilities().starttls);
}

TEST_CASE("client: STARTTLS refused or absent", "[smtp][client]") {
    SECTION("opportunistic: goes on in clear") {
        ClientSession s(config());
        s.receive(greeting + "250-mx\r\n250 STARTTLS\r\n454 4.7.0 not now\r\n");
        CHECK(s.state() == State::ready);
        CHECK_FALSE(s.tls_active());
    }
    SECTION("not wanted: not asked for") {
        ClientConfig c = config();
        c.tls_wanted = false;
        ClientSession s(c);
        s.receive(greeting + "250-mx\r\n250 STARTTLS\r\n");
        CHECK(s.take_output() == "EHLO out.example.org\r\n");
        CHECK(s.state() == State::ready);
    }
    SECTION("required and refused: fails") {
        ClientConfig c = config();
        c.tls_required = true;
        ClientSession s(c);
        s.receive(greeting + "250-mx\r\n250 STARTTLS\r\n454 4.7.0 not now\r\n");
        CHECK(s.state() == State::failed);
        REQUIRE(s.failure());
        CHECK(s.failure()->reply.status == "4.7.10");
    }
    SECTION("required and not offered: fails") {
        ClientConfig c = config();
        c.tls_required = true;
        ClientSession s(c);
        s.receive(greeting + "250 mx\r\n");
        CHECK(s.state() == State::failed);
        REQUIRE(s.failure());
        CHECK(s.failure()->reply.code == 451);
        CHECK(s.failure()->phase == ClientPhase::ehlo);
    }
    SECTION("implicit TLS: no STARTTLS") {
        ClientConfig c = config();
        c.tls_active = true;
        c.tls_required = true;
        ClientSession s(c);
        s.receive(greeting + "250-mx\r\n250 STARTTLS\r\n");
        CHECK(s.take_output() == "EHLO out.example.org\r\n");
        CHECK(s.state() == State::ready);
    }
}

TEST_CASE("client: AUTH only after TLS, PLAIN preferred, LOGIN when only LOGIN", "[smtp][client]") {
    ClientConfig c = config();
    c.username = "u@example.org";
    c.password = "pw";
    const std::string plain = vpsmail::wire::encode_base64(std::string("\0u@example.org\0pw", 17));
    SECTION("PLAIN after STARTTLS") {
        for (bool split : {false, true}) {
            ClientSession s(c);
            run(s,
                {{greeting, "EHLO out.example.org\r\n"},
                 {"250-mx\r\n250-AUTH LOGIN PLAIN\r\n250 STARTTLS\r\n", "STARTTLS\r\n"},
                 {"220 go\r\n", "EHLO out.example.org\r\n", [](ClientSession& x) { x.tls_started(); }},
                 {"250-mx\r\n250 AUTH LOGIN PLAIN\r\n", "AUTH PLAIN " + plain + "\r\n"},
                 {"235 2.7.0 ok\r\n", ""}},
                split);
            CHECK(s.state() == State::ready);
            CHECK(s.authenticated());
        }
    }
    SECTION("LOGIN") {
        c.tls_active = true;
        ClientSession s(c);
        run(s,
            {{greeting, "EHLO out.example.org\r\n"},
             {"250-mx\r\n250 AUTH LOGIN\r\n", "AUTH LOGIN\r\n"},
             {"334 VXNlcm5hbWU6\r\n", vpsmail::wire::encode_base64("u@example.org") + "\r\n"},
             {"334 UGFzc3dvcmQ6\r\n", vpsmail::wire::encode_base64("pw") + "\r\n"},
             {"235 2.7.0 ok\r\n", ""}},
            false);
        CHECK(s.authenticated());
        CHECK(s.state() == State::ready);
    }
    SECTION("no TLS: no credentials sent, the session fails") {
        ClientSession s(c);
        s.receive(greeting + "250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
        CHECK(s.take_output() == "EHLO out.example.org\r\n");
        CHECK(s.state() == State::failed);
        CHECK(s.failure()->reply.status == "4.7.10");
    }
    SECTION("refused") {
        c.tls_active = true;
        ClientSession s(c);
        s.receive(greeting + "250-mx\r\n250 AUTH PLAIN\r\n535 5.7.8 bad credentials\r\n");
        CHECK(s.state() == State::failed);
        CHECK(s.failure()->reply.code == 535);
        CHECK(s.failure()->remote);
        CHECK(s.failure()->phase == ClientPhase::auth);
    }
    SECTION("no usable mechanism") {
        c.tls_active = true;
        ClientSession s(c);
        s.receive(greeting + "250-mx\r\n250 AUTH CRAM-MD5\r\n");
        CHECK(s.state() == State::failed);
        CHECK_FALSE(s.failure()->remote);
    }
}

TEST_CASE("client: HELO when EHLO is refused", "[smtp][client]") {
    ClientSession s(config());
    run(s, {{greeting, "EHLO out.example.org\r\n"}, {"502 5.5.1 what\r\n", "HELO out.example.org\r\n"}, {"250 mx\r\n", ""}},
        false);
    CHECK(s.state() == State::ready);
    CHECK_FALSE(s.capabilities().esmtp);
    s.send(message({"b@x.test"}));
    CHECK(s.take_output() == "MAIL FROM:<a@example.org>\r\n");

    ClientSession t(config());
    t.receive(greeting + "502 no\r\n501 no either\r\n");
    CHECK(t.state() == State::failed);
    CHECK(t.failure()->reply.code == 501);
}

TEST_CASE("client: a refusing greeting fails the session before any command", "[smtp][client]") {
    struct Row {
        std::string greeting;
        int code;
        std::string status;
        std::string text;
    };
    for (const Row& row : std::vector<Row>{
             {"554 5.7.1 go away\r\n", 554, "5.7.1", "go away"},
             {"421 busy, try later\r\n", 421, "", "busy, try later"},
             {"554-no\r\n554 really not\r\n", 554, "", "no really not"},
             {"450 4.3.2 later\r\n", 450, "4.3.2", "later"},
         }) {
        ClientSession s(config());
        s.receive(row.greeting);
        INFO(row.greeting);
        CHECK(s.take_output() == "");
        CHECK(s.state() == State::failed);
        REQUIRE(s.failure());
        CHECK(s.failure()->reply.code == row.code);
        CHECK(s.failure()->reply.status == row.status);
        CHECK(s.failure()->reply.text == row.text);
        CHECK(s.failure()->remote);
        CHECK(s.failure()->phase == ClientPhase::greeting);
    }
}

TEST_CASE("client: garbage and over-long replies fail the session", "[smtp][client]") {
    for (const std::string& bad : std::vector<std::string>{"hello there\r\n", "2500 x\r\n", "25\r\n", "250x\r\n", "199 no\r\n", "600 no\r\n",
                            "250-a\r\n251 b\r\n", "220 " + std::string(3000, 'a') + "\r\n"}) {
        INFO(bad);
        ClientSession s(config());
        s.receive(bad);
        CHECK(s.state() == State::failed);
        CHECK_FALSE(s.failure()->remote);
        CHECK(s.failure()->reply.status == "4.5.0");
    }
    SECTION("during a transaction every recipient is deferred") {
        ClientSession s(config());
        s.receive(greeting + ehlo_pipelining);
        s.send(message());
        s.receive(std::string_view("250 ok\r\nHTTP/1.1 400 Bad\r\n"));
        CHECK(s.state() == State::failed);
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) {
            CHECK(o.kind == Kind::deferred);
            CHECK(o.code == 451);
            CHECK(o.status == "4.5.0");
            CHECK_FALSE(o.remote_reply);
        }
    }
    SECTION("an unsolicited reply while idle") {
        ClientSession s(config());
        s.receive(greeting + ehlo_plain + "250 surprise\r\n");
        CHECK(s.state() == State::failed);
    }
    SECTION("an unsolicited 421 while idle") {
        ClientSession s(config());
        s.receive(greeting + ehlo_plain + "421 4.4.2 idle too long\r\n");
        CHECK(s.state() == State::failed);
        CHECK(s.failure()->reply.code == 421);
        CHECK(s.failure()->remote);
    }
}

TEST_CASE("client: some recipients refused get their own outcomes", "[smtp][client]") {
    for (bool pipelining : {false, true}) {
        INFO("pipelining " << pipelining);
        ClientSession s(config());
        s.receive(greeting + (pipelining ? ehlo_pipelining : ehlo_plain));
        s.take_output();
        s.send(message({"b@x.test", "nobody@x.test", "later@x.test", "c@x.test"}));
        if (pipelining) {
            s.receive(std::string_view("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n452 4.2.2 mailbox full\r\n250 ok\r\n354 go\r\n"));
        } else {
            s.receive(std::string_view("250 ok\r\n"));
            s.receive(std::string_view("250 ok\r\n"));
            s.receive(std::string_view("550 5.1.1 no such user\r\n"));
            s.receive(std::string_view("452 4.2.2 mailbox full\r\n"));
            s.receive(std::string_view("250 ok\r\n"));
            CHECK(s.take_output().ends_with("RCPT TO:<c@x.test>\r\nDATA\r\n"));
            s.receive(std::string_view("354 go\r\n"));
        }
        CHECK(s.take_output().ends_with("hello\r\n.\r\n"));
        CHECK_FALSE(s.take_outcome());
        s.receive(std::string_view("250 2.0.0 queued\r\n"));
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        REQUIRE(outcome->recipients.size() == 4);
        check_outcome(outcome->recipients[0], Kind::delivered, 250, "2.0.0", "queued");
        check_outcome(outcome->recipients[1], Kind::bounced, 550, "5.1.1", "no such user");
        check_outcome(outcome->recipients[2], Kind::deferred, 452, "4.2.2", "mailbox full");
        check_outcome(outcome->recipients[3], Kind::delivered, 250, "2.0.0", "queued");
        CHECK(outcome->recipients[1].remote_reply);
        CHECK(s.state() == State::ready);
    }
}

TEST_CASE("client: every recipient refused: no DATA, RSET instead", "[smtp][client]") {
    SECTION("without pipelining") {
        ClientSession s(config());
        s.receive(greeting + ehlo_plain);
        s.take_output();
        s.send(message());
        s.receive(std::string_view("250 ok\r\n550 5.1.1 no\r\n"));
        s.receive(std::string_view("450 4.2.0 greylisted\r\n"));
        CHECK(s.take_output() == "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRSET\r\n");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        check_outcome(outcome->recipients[0], Kind::bounced, 550, "5.1.1", "no");
        check_outcome(outcome->recipients[1], Kind::deferred, 450, "4.2.0", "greylisted");
        CHECK(s.phase() == ClientPhase::rset);
        s.receive(std::string_view("250 2.0.0 reset\r\n"));
        CHECK(s.state() == State::ready);
    }
    SECTION("with pipelining the server refuses DATA; a 354 anyway gets an empty message") {
        ClientSession s(config());
        s.receive(greeting + ehlo_pipelining);
        s.take_output();
        s.send(message());
        s.take_output();
        s.receive(std::string_view("250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n"));
        CHECK(s.take_output() == "RSET\r\n");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) check_outcome(o, Kind::bounced, 550, "5.1.1", "no");
        s.receive(std::string_view("250 ok\r\n"));
        CHECK(s.state() == State::ready);

        s.send(message());
        s.take_output();
        s.receive(std::string_view("250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n354 go\r\n"));
        CHECK(s.take_output() == ".\r\n");  // RFC 2920 3.1
        s.receive(std::string_view("554 5.5.1 no recipients\r\n"));
        outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) check_outcome(o, Kind::bounced, 550, "5.1.1", "no");
        CHECK(s.state() == State::ready);
    }
    SECTION("MAIL refused") {
        ClientSession s(config());
        s.receive(greeting + ehlo_plain);
        s.take_output();
        s.send(message());
        s.receive(std::string_view("553 5.7.1 sender refused\r\n"));
        CHECK(s.take_output() == "MAIL FROM:<a@example.org>\r\n");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) check_outcome(o, Kind::bounced, 553, "5.7.1", "sender refused");
        CHECK(s.state() == State::ready);
    }
}

TEST_CASE("client: DATA refused and final replies", "[smtp][client]") {
    struct Row {
        std::string data_reply;
        std::string final_reply;
        Kind kind;
        int code;
        std::string status;
        bool rset;
    };
    for (const Row& row : std::vector<Row>{
             {"451 4.3.0 try later\r\n", "", Kind::deferred, 451, "4.3.0", true},
             {"554 5.6.0 no\r\n", "", Kind::bounced, 554, "5.6.0", true},
             {"354 go\r\n", "452 4.3.1 disk full\r\n", Kind::deferred, 452, "4.3.1", false},
             {"354 go\r\n", "550 5.7.1 spam\r\n", Kind::bounced, 550, "5.7.1", false},
             {"354 go\r\n", "250 ok\r\n", Kind::delivered, 250, "2.0.0", false},
         }) {
        INFO(row.data_reply << row.final_reply);
        ClientSession s(config());
        s.receive(greeting + ehlo_plain);
        s.send(message({"b@x.test"}));
        s.receive(std::string_view("250 ok\r\n250 ok\r\n"));
        s.take_output();
        s.receive(row.data_reply + row.final_reply);
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        CHECK(outcome->recipients[0].kind == row.kind);
        CHECK(outcome->recipients[0].code == row.code);
        CHECK(outcome->recipients[0].status == row.status);
        const std::string out = s.take_output();
        CHECK(out.ends_with("RSET\r\n") == row.rset);
        CHECK(s.state() == (row.rset ? State::sending : State::ready));
    }
}

TEST_CASE("client: messages the server cannot take are refused without sending", "[smtp][client]") {
    SECTION("larger than SIZE") {
        ClientSession s(config());
        s.receive(greeting + ehlo_pipelining);  // SIZE 1000
        s.take_output();
        auto m = message();
        m.content = std::string(1001, 'x');
        s.send(m);
        CHECK(s.take_output() == "");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) {
            check_outcome(o, Kind::bounced, 552, "5.3.4", "message size 1001 exceeds the server's limit of 1000");
            CHECK_FALSE(o.remote_reply);
        }
        CHECK(s.state() == State::ready);
        m.content = std::string(1000, 'x');
        s.send(m);
        CHECK(s.take_output().starts_with("MAIL FROM:<a@example.org> SIZE=1000\r\n"));
    }
    SECTION("SMTPUTF8 not offered") {
        ClientSession s(config());
        s.receive(greeting + ehlo_plain);
        s.take_output();
        auto m = message();
        m.smtputf8 = true;
        s.send(m);
        CHECK(s.take_output() == "");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) CHECK(o.status == "5.6.7");
        CHECK(outcome->recipients[0].code == 553);
    }
    SECTION("SMTPUTF8 offered") {
        ClientSession s(config());
        s.receive(greeting + "250-mx\r\n250 SMTPUTF8\r\n");
        s.take_output();
        auto m = message({"b@x.test"});
        m.smtputf8 = true;
        s.send(m);
        CHECK(s.take_output() == "MAIL FROM:<a@example.org> SMTPUTF8\r\n");
    }
    SECTION("8BITMIME message to a server without 8BITMIME goes as is") {
        ClientSession s(config());
        s.receive(greeting + "250 mx\r\n");
        auto m = message({"b@x.test"});
        m.body = "8BITMIME";
        s.take_output();
        s.send(m);
        CHECK(s.take_output() == "MAIL FROM:<a@example.org>\r\n");
    }
}

TEST_CASE("client: DSN parameters only when the server offers DSN", "[smtp][client]") {
    auto m = message({"b@x.test"});
    m.ret = "HDRS";
    m.envid = "id+1=x";
    m.recipients[0].notify = "FAILURE,DELAY";
    m.recipients[0].orcpt = "rfc822;b+tag@x.test";
    {
        ClientSession s(config());
        s.receive(greeting + "250-mx\r\n250-PIPELINING\r\n250 DSN\r\n");
        s.take_output();
        s.send(m);
        CHECK(s.take_output() ==
              "MAIL FROM:<a@example.org> RET=HDRS ENVID=id+2B1+3Dx\r\n"
              "RCPT TO:<b@x.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+2Btag@x.test\r\nDATA\r\n");
        s.receive(std::string_view("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"));
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        CHECK(outcome->recipients[0].dsn_passed_on);
    }
    {
        ClientSession s(config());
        s.receive(greeting + "250-mx\r\n250 PIPELINING\r\n");
        s.take_output();
        s.send(m);
        CHECK(s.take_output() == "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
        s.receive(std::string_view("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"));
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        CHECK_FALSE(outcome->recipients[0].dsn_passed_on);
    }
}

TEST_CASE("client: message text is dot-stuffed", "[smtp][client]") {
    ClientSession s(config());
    s.receive(greeting + ehlo_plain);
    s.take_output();
    auto m = message({"b@x.test"});
    m.content = ".starts\r\nmiddle . dot\r\n..two\r\n.\r\nno final newline";
    s.send(m);
    s.receive(std::string_view("250 ok\r\n250 ok\r\n354 go\r\n"));
    CHECK(s.take_output() ==
          "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"
          "..starts\r\nmiddle . dot\r\n...two\r\n..\r\nno final newline\r\n.\r\n");
}

TEST_CASE("client: binary text goes as one BDAT LAST chunk with BODY=BINARYMIME", "[smtp][client]") {
    using namespace std::string_literals;
    // BINARYMIME as declared, and 8BITMIME text that holds what only BINARYMIME may: each goes
    // byte for byte, "\r.\r\n" unstuffed (BDAT has no end mark), never over DATA.
    for (const auto& [body, content] : std::vector<std::pair<std::string, std::string>>{
             {"BINARYMIME", "Subject: bin\r\n\r\n\x00\x01\xff\r.\r\n.\r\n"s},
             {"BINARYMIME", "Subject: plain lines\r\n\r\nhi\r\n"s},
             {"8BITMIME", "Subject: bare\r\n\r\na\nb\r\n"s},
             {"7BIT", "Subject: nul\r\n\r\na\x00\r\n"s},
         }) {
        const std::string chunk = "BDAT " + std::to_string(content.size()) + " LAST\r\n" + content;
        auto m = message({"b@x.test"});
        m.body = body;
        m.content = content;
        for (bool split : {false, true}) {
            INFO(body << " split " << split);
            {  // without pipelining
                ClientSession s(config());
                std::optional<MessageOutcome> outcome;
                run(s,
                    opening(ehlo_chunking) +
                        std::vector<Step>{
                            {"", "MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n", [&](ClientSession& c) { c.send(m); }},
                            {"250 2.1.0 Ok\r\n", "RCPT TO:<b@x.test>\r\n"},
                            {"250 2.1.5 Ok\r\n", chunk,
                             [](ClientSession& c) { CHECK(c.phase() == ClientPhase::data_end); }},
                            {"250 2.0.0 Ok: queued as B1\r\n", "", [&](ClientSession& c) { outcome = c.take_outcome(); }},
                        },
                    split);
                REQUIRE(outcome);
                check_outcome(outcome->recipients[0], Kind::delivered, 250, "2.0.0", "Ok: queued as B1");
                CHECK(s.state() == State::ready);
            }
            {  // with pipelining the chunk waits for the RCPT replies
                ClientSession s(config());
                std::optional<MessageOutcome> outcome;
                run(s,
                    opening(ehlo_chunking_pipelining) +
                        std::vector<Step>{
                            {"",
                             "MAIL FROM:<a@example.org> SIZE=" + std::to_string(content.size()) +
                                 " BODY=BINARYMIME\r\nRCPT TO:<b@x.test>\r\n",
                             [&](ClientSession& c) { c.send(m); }},
                            {"250 2.1.0 Ok\r\n", ""},
                            {"250 2.1.5 Ok\r\n", chunk},
                            {"250 2.0.0 Ok\r\n", "", [&](ClientSession& c) { outcome = c.take_outcome(); }},
                        },
                    split);
                REQUIRE(outcome);
                check_outcome(outcome->recipients[0], Kind::delivered, 250, "2.0.0", "Ok");
            }
        }
    }
}

TEST_CASE("client: BDAT refused, or nobody to send it to", "[smtp][client]") {
    SECTION("no recipient accepted: no chunk, RSET") {
        ClientSession s(config());
        send_binary(s, ehlo_chunking_pipelining);
        s.receive(std::string_view("250 ok\r\n550 5.1.1 no\r\n"));
        CHECK(s.take_output() == "");
        s.receive(std::string_view("550 5.1.1 no\r\n"));
        CHECK(s.take_output() == "RSET\r\n");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) check_outcome(o, Kind::bounced, 550, "5.1.1", "no");
    }
    SECTION("MAIL refused with pipelining: the RCPT replies end it, nothing to reset") {
        ClientSession s(config());
        send_binary(s, ehlo_chunking_pipelining);
        s.receive(std::string_view("552 5.3.4 too big\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n"));
        CHECK(s.take_output() == "");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        for (auto& o : outcome->recipients) check_outcome(o, Kind::bounced, 552, "5.3.4", "too big");
        CHECK(s.state() == State::ready);
    }
    SECTION("the chunk refused: each accepted recipient gets the reply, then RSET") {
        ClientSession s(config());
        send_binary(s, ehlo_chunking, {"b@x.test"});
        s.receive(std::string_view("250 ok\r\n250 ok\r\n"));
        CHECK(s.take_output().ends_with("BDAT 22 LAST\r\nSubject: hi\r\n\r\nhello\r\n"));
        s.receive(std::string_view("554 5.6.0 no\r\n"));
        CHECK(s.take_output() == "RSET\r\n");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        check_outcome(outcome->recipients[0], Kind::bounced, 554, "5.6.0", "no");
        s.receive(std::string_view("250 ok\r\n"));
        CHECK(s.state() == State::ready);
    }
    SECTION("the connection lost before the chunk's reply defers") {
        ClientSession s(config());
        send_binary(s, ehlo_chunking, {"b@x.test"});
        s.receive(std::string_view("250 ok\r\n250 ok\r\n"));
        s.closed("lost connection with mx.x.test [192.0.2.1] while sending the message text");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        CHECK(outcome->recipients[0].kind == Kind::deferred);
        CHECK(outcome->recipients[0].status == "4.4.2");
    }
}

TEST_CASE("client: binary text to a server without BINARYMIME and CHUNKING is bounced 5.6.3", "[smtp][client]") {
    using namespace std::string_literals;
    for (const std::string& ehlo : {ehlo_plain, ehlo_pipelining, "250-mx.x.test\r\n250-8BITMIME\r\n250 CHUNKING\r\n"s,
                                    "250-mx.x.test\r\n250-8BITMIME\r\n250 BINARYMIME\r\n"s}) {
        for (const auto& [body, content] : std::vector<std::pair<std::string, std::string>>{
                 {"BINARYMIME", "Subject: bin\r\n\r\nlines only\r\n"s},
                 {"8BITMIME", "Subject: x\r\n\r\na\r.\r\nb\r\n"s},  // a bare CR before a dot: smuggling
                 {"7BIT", "Subject: x\r\n\r\na\n.\nb\r\n"s},
                 {"7BIT", "Subject: x\r\n\r\n\x00.\r\n"s},
                 {"7BIT", "Subject: x\r\n\r\nends in CR\r"s},
             }) {
            INFO(ehlo << body << " " << content);
            ClientSession s(config());
            s.receive(greeting + ehlo);
            s.take_output();
            auto m = message();
            m.body = body;
            m.content = content;
            s.send(m);
            CHECK(s.take_output() == "");  // not a byte: no DATA, no downgrade
            auto outcome = s.take_outcome();
            REQUIRE(outcome);
            REQUIRE(outcome->recipients.size() == 2);
            for (auto& o : outcome->recipients) {
                CHECK(o.kind == Kind::bounced);
                CHECK(o.code == 554);
                CHECK(o.status == "5.6.3");
                CHECK_THAT(o.text, Catch::Contains("conversion not allowed"));
                CHECK_FALSE(o.remote_reply);
            }
            CHECK(s.state() == State::ready);
        }
    }
}

TEST_CASE("client: two transactions on one session", "[smtp][client]") {
    ClientSession s(config());
    s.receive(greeting + ehlo_pipelining);
    s.take_output();
    for (int i = 0; i < 2; ++i) {
        auto m = message({"b@x.test"});
        m.return_path = i == 0 ? "first@example.org" : "";
        s.send(m);
        s.receive(std::string_view("250 ok\r\n250 ok\r\n354 go\r\n"));
        CHECK(s.take_output().starts_with(i == 0 ? "MAIL FROM:<first@example.org>" : "MAIL FROM:<>"));
        s.receive(std::string("250 2.0.0 queued as Q") + std::to_string(i) + "\r\n");
        auto outcome = s.take_outcome();
        REQUIRE(outcome);
        CHECK(outcome->recipients[0].kind == Kind::delivered);
        CHECK(s.state() == State::ready);
    }
    CHECK_THROWS_AS(s.tls_started(), vpsmail::Error);
}

TEST_CASE("client: connection lost in each phase", "[smtp][client]") {
    struct Row {
        std::string server;    // what the server said before the connection went
        bool send;             // a message was sent once ready
        ClientPhase phase;     // the phase when it went
        State state;           // afterwards
        bool outcome;          // the message got an outcome (all recipients deferred)
    };
    const std::string ready = greeting + ehlo_plain;
    for (const Row& row : std::vector<Row>{
             {"", false, ClientPhase::greeting, State::failed, false},
             {greeting, false, ClientPhase::ehlo, State::failed, false},
             {greeting + "250-mx\r\n250 STARTTLS\r\n", false, ClientPhase::starttls, State::failed, false},
             {greeting + "250-mx\r\n250 STARTTLS\r\n220 go\r\n", false, ClientPhase::starttls, State::failed, false},
             {ready, false, ClientPhase::ready, State::closed, false},
             {ready, true, ClientPhase::mail, State::closed, true},
             {ready + "250 ok\r\n", true, ClientPhase::rcpt, State::closed, true},
             {ready + "250 ok\r\n250 ok\r\n", true, ClientPhase::data_init, State::closed, true},
             // RFC 5321 6.1: the final dot went out, no reply came: deferred, maybe a duplicate.
             {ready + "250 ok\r\n250 ok\r\n354 go\r\n", true, ClientPhase::data_end, State::closed, true},
         }) {
        INFO(row.server);
        ClientSession s(config());
        s.receive(row.server.substr(0, row.send ? ready.size() : row.server.size()));
        if (row.send) {
            s.send(message({"b@x.test"}));
            s.receive(row.server.substr(ready.size()));
        }
        CHECK(s.phase() == row.phase);
        s.closed("lost connection with mx [192.0.2.1] " + std::string(describe(s.phase())));
        CHECK(s.state() == row.state);
        CHECK(s.phase() == ClientPhase::done);
        auto outcome = s.take_outcome();
        CHECK(outcome.has_value() == row.outcome);
        if (outcome) {
            const auto& o = outcome->recipients.at(0);
            CHECK(o.kind == Kind::deferred);
            CHECK(o.code == 451);
            CHECK(o.status == "4.4.2");
            CHECK(o.text == "lost connection with mx [192.0.2.1] " + std::string(describe(row.phase)));
            CHECK_FALSE(o.remote_reply);
        }
        if (row.state == State::failed) {
            REQUIRE(s.failure());
            CHECK(s.failure()->phase == row.phase);
        }
        s.receive(std::string_view("250 late\r\n"));  // ignored
        CHECK(s.take_output().find("late") == std::string::npos);
    }
}

TEST_CASE("client: 421 in the middle of a pipelined group defers what is open", "[smtp][client]") {
    ClientSession s(config());
    s.receive(greeting + ehlo_pipelining);
    s.send(message({"b@x.test", "c@x.test", "d@x.test"}));
    s.take_output();
    s.receive(std::string_view("250 ok\r\n550 5.1.1 unknown\r\n421 4.3.2 shutting down\r\n"));
    CHECK(s.state() == State::failed);
    auto outcome = s.take_outcome();
    REQUIRE(outcome);
    check_outcome(outcome->recipients[0], Kind::bounced, 550, "5.1.1", "unknown");
    check_outcome(outcome->recipients[1], Kind::deferred, 421, "4.3.2", "shutting down");
    check_outcome(outcome->recipients[2], Kind::deferred, 421, "4.3.2", "shutting down");
    CHECK(outcome->recipients[2].remote_reply);
    CHECK(s.take_output() == "");
}

TEST_CASE("client: send and quit only when ready", "[smtp][client]") {
    ClientSession s(config());
    CHECK_THROWS_AS(s.send(message()), vpsmail::Error);
    CHECK_THROWS_AS(s.quit(), vpsmail::Error);
    s.receive(greeting + ehlo_plain);
    s.send(message());
    CHECK_THROWS_AS(s.send(message()), vpsmail::Error);
}

TEST_CASE("client: timeouts per phase (RFC 5321 4.5.3.2)", "[smtp][client]") {
    using std::chrono::seconds;
    ClientTimeouts t;
    CHECK(timeout_for(ClientPhase::greeting, t) == seconds(300));
    CHECK(timeout_for(ClientPhase::mail, t) == seconds(300));
    CHECK(timeout_for(ClientPhase::rcpt, t) == seconds(300));
    CHECK(timeout_for(ClientPhase::data_init, t) == seconds(120));
    CHECK(timeout_for(ClientPhase::data_end, t, true) == seconds(180));
    CHECK(timeout_for(ClientPhase::data_end, t) == seconds(600));
    t.command = seconds(5);
    t.data = seconds(7);
    CHECK(timeout_for(ClientPhase::data_init, t) == seconds(5));
    CHECK(timeout_for(ClientPhase::data_end, t, true) == seconds(5));
    CHECK(timeout_for(ClientPhase::data_end, t) == seconds(7));
    CHECK(timeout_for(ClientPhase::quit, t) == seconds(5));
}

TEST_CASE("client: reply lines and enhanced status codes", "[smtp][client]") {
    struct Row {
        std::string line;
        bool ok;
        int code;
        bool last;
        std::string text;
    };
    for (const Row& r : std::vector<Row>{
             {"250", true, 250, true, ""},
             {"250 ok", true, 250, true, "ok"},
             {"250-ok", true, 250, false, "ok"},
             {"554 ", true, 554, true, ""},
             {"199 x", false, 0, true, ""},
             {"260 x", false, 0, true, ""},
             {"25", false, 0, true, ""},
             {"250x", false, 0, true, ""},
             {"", false, 0, true, ""},
         }) {
        INFO(r.line);
        auto got = parse_reply_line(r.line);
        CHECK(got.has_value() == r.ok);
        if (got) {
            CHECK(got->code == r.code);
            CHECK(got->last == r.last);
            CHECK(got->text == r.text);
        }
    }
    struct Status {
        int code;
        std::string text;
        std::string status;
        std::string rest;
    };
    for (const Status& r : std::vector<Status>{
             {250, "2.1.5 ok", "2.1.5", "ok"},
             {550, "5.1.10 null mx", "5.1.10", "null mx"},
             {550, "5.123.456", "5.123.456", ""},
             {550, "4.1.1 wrong class", "", "4.1.1 wrong class"},
             {550, "5.1 short", "", "5.1 short"},
             {550, "5.1234.1 long", "", "5.1234.1 long"},
             {550, "5.1.1x", "", "5.1.1x"},
             {550, "no status", "", "no status"},
         }) {
        std::string text = r.text;
        CHECK(take_enhanced_status(r.code, text) == r.status);
        CHECK(text == r.rest);
    }
}
