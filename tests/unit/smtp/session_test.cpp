// Session behaviour a dialogue file cannot show: the Action hand-off, ports that throw, and
// the exact bytes handed to Deliver.
#include "core/error.hpp"
#include "smtp/session.hpp"
#include "support/dialogue.hpp"
#include "wire/base64.hpp"
#include "wire/data.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <random>
#include <stdexcept>

using namespace vpsmail::smtp;
using vpsmail::Error;
using vpsmail::ErrorKind;
using vpsmail::test::FakePorts;

namespace {

SessionConfig mx_config() {
    SessionConfig c;
    c.hostname = "mx.example.org";
    c.session_id = "T1";
    c.peer_address = "192.0.2.7";
    c.max_message_size = 1 << 20;
    return c;
}

void feed(Session& s, std::string_view bytes) { s.receive(std::span<const char>(bytes.data(), bytes.size())); }

// Ports whose recipient check throws what the test asks.
class ThrowingPorts : public FakePorts {
public:
    std::function<void()> thrower;
    Verdict check_recipient(const RecipientQuery& query) override {
        thrower();
        return FakePorts::check_recipient(query);
    }
};

std::string plain_response(std::string_view user, std::string_view password) {
    std::string m;
    m += '\0';
    m += user;
    m += '\0';
    m += password;
    return vpsmail::wire::encode_base64(m);
}

}  // namespace

TEST_CASE("submissions without TLS is a configuration error", "[smtp][session]") {
    FakePorts ports;
    SessionConfig c = mx_config();
    c.mode = Mode::submissions;
    try {
        Session s(c, ports);
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::config);
    }
    c.tls_active = true;
    CHECK_NOTHROW(Session(c, ports));
}

TEST_CASE("an Action is handed out once and input waits for its result", "[smtp][session]") {
    FakePorts ports;
    ports.users["alice@example.org"] = "pw";
    SessionConfig c = mx_config();
    c.mode = Mode::submission;
    c.peer_loopback = true;
    Session s(c, ports);
    s.start();
    CHECK(s.take_output() == "220 mx.example.org ESMTP vpsmail\r\n");
    CHECK_THROWS_AS(s.complete(PasswordResult::ok), Error);  // nothing outstanding

    feed(s, "EHLO c.example\r\nAUTH PLAIN " + plain_response("alice@example.org", "pw") + "\r\nNOOP\r\nMAIL FROM:<alice@example.org>\r\n");
    std::string out = s.take_output();
    CHECK(out.ends_with("250 AUTH PLAIN LOGIN\r\n"));  // nothing after EHLO yet
    feed(s, "RSET\r\n");
    CHECK(s.take_output().empty());  // still waiting
    auto action = s.take_action();
    REQUIRE(action);
    CHECK_FALSE(s.take_action());
    auto* verify = std::get_if<VerifyPassword>(&*action);
    REQUIRE(verify);
    CHECK(verify->mechanism == vpsmail::sasl::Mechanism::plain);
    CHECK(verify->username == "alice@example.org");
    CHECK(verify->password == "pw");
    CHECK_THROWS_AS(s.complete(DeliveryResult{}), Error);  // the result of another action
    s.complete(ports.run(*action));
    CHECK(s.take_output() == "235 2.7.0 Authentication successful\r\n250 2.0.0 Ok\r\n250 2.1.0 Sender ok\r\n250 2.0.0 Ok\r\n");
    CHECK(s.authenticated());
    CHECK(s.state() == Session::State::greeted);
}

TEST_CASE("a throwing port gives a reply, not a crash", "[smtp][session]") {
    struct Case {
        std::function<void()> thrower;
        const char* want;
        bool closes;
    };
    const Case cases[] = {
        {[] { throw Error(ErrorKind::temporary, "database is busy"); }, "451 4.3.0 Temporary failure, try again later\r\n", false},
        {[] { throw Error(ErrorKind::internal, "broken"); }, "421 4.3.0 Internal error, closing connection\r\n", true},
        {[] { throw std::runtime_error("bad_alloc or worse"); }, "421 4.3.0 Internal error, closing connection\r\n", true},
    };
    for (const auto& c : cases) {
        INFO(c.want);
        ThrowingPorts ports;
        ports.domains.insert("example.org");
        ports.users["bob@example.org"] = "x";
        ports.thrower = c.thrower;
        Session s(mx_config(), ports);
        s.start();
        feed(s, "EHLO c.example\r\nMAIL FROM:<>\r\n");
        s.take_output();
        feed(s, "RCPT TO:<bob@example.org>\r\nNOOP\r\n");
        std::string want = c.want;
        if (!c.closes) want += "250 2.0.0 Ok\r\n";
        CHECK(s.take_output() == want);
        CHECK(s.wants_close() == c.closes);
    }
}

TEST_CASE("Deliver gets the Received header and the unstuffed text, for any split", "[smtp][session]") {
    std::string body;
    for (int i = 0; i < 2000; ++i) body += (i % 7 == 0 ? ".line " : "line ") + std::to_string(i) + "\r\n";
    std::string wire = "EHLO client.example\r\nMAIL FROM:<a@remote.example> BODY=8BITMIME\r\n"
                       "RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n" +
                       vpsmail::wire::stuff_data(body) + "QUIT\r\n";
    std::mt19937 random(42);
    for (int round = 0; round < 5; ++round) {
        FakePorts ports;
        ports.domains.insert("example.org");
        ports.users["bob@example.org"] = "x";
        ports.users["carol@example.org"] = "x";
        Session s(mx_config(), ports);
        s.start();
        for (std::size_t i = 0; i < wire.size();) {
            std::size_t n = std::uniform_int_distribution<std::size_t>(1, 3000)(random);
            feed(s, std::string_view(wire).substr(i, n));
            i += n;
            while (auto action = s.take_action()) s.complete(ports.run(*action));
        }
        REQUIRE(ports.deliveries.size() == 1);
        const Deliver& d = ports.deliveries.front();
        // Two recipients: no "for" clause (RFC 5321 7.2).
        std::string received = "Received: from client.example (unknown [192.0.2.7])\r\n"
                               "\tby mx.example.org with ESMTP id T1.1;\r\n"
                               "\tTue, 02 Jan 2024 03:04:05 +0000\r\n";
        CHECK(d.message == received + body);
        CHECK(d.envelope.recipients.size() == 2);
        CHECK(d.envelope.body == Body::eight_bit_mime);
        CHECK(s.take_output().ends_with("250 2.0.0 Ok: queued as T1.1\r\n221 2.0.0 Bye\r\n"));
        CHECK(s.wants_close());
    }
}

TEST_CASE("a delivery result that does not match the envelope is a temporary failure", "[smtp][session]") {
    FakePorts ports;
    ports.domains.insert("example.org");
    ports.users["bob@example.org"] = "x";
    Session s(mx_config(), ports);
    s.start();
    feed(s, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    feed(s, "hi\r\n.\r\n");
    auto action = s.take_action();
    REQUIRE(action);
    s.take_output();
    s.complete(DeliveryResult{});  // no verdict at all
    CHECK(s.take_output() == "451 4.3.0 Temporary failure, try again later\r\n");
    CHECK(s.state() == Session::State::greeted);
}

TEST_CASE("timeout while an Action is outstanding closes, and the late result is ignored", "[smtp][session]") {
    FakePorts ports;
    ports.users["alice@example.org"] = "pw";
    SessionConfig c = mx_config();
    c.mode = Mode::submissions;
    c.tls_active = true;
    Session s(c, ports);
    s.start();
    feed(s, "EHLO c\r\nAUTH PLAIN " + plain_response("alice@example.org", "pw") + "\r\n");
    auto action = s.take_action();
    REQUIRE(action);
    s.take_output();
    s.timeout();
    CHECK(s.take_output() == "421 4.4.2 Timeout exceeded, closing connection\r\n");
    CHECK(s.wants_close());
    s.complete(ports.run(*action));
    CHECK(s.take_output().empty());
    CHECK_FALSE(s.authenticated());
    feed(s, "NOOP\r\n");
    CHECK(s.take_output().empty());
}

TEST_CASE("a Deliver not yet taken when the session times out is dropped", "[smtp][session]") {
    FakePorts ports;
    ports.domains.insert("example.org");
    ports.users["bob@example.org"] = "x";
    Session s(mx_config(), ports);
    s.start();
    feed(s, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nhi\r\n.\r\n");
    s.timeout();
    CHECK_FALSE(s.take_action());  // no 250 could follow: the client will send it again
    CHECK(s.take_output().ends_with("354 End data with <CR><LF>.<CR><LF>\r\n421 4.4.2 Timeout exceeded, closing connection\r\n"));
    CHECK_THROWS_AS(s.complete(DeliveryResult{}), Error);
}

TEST_CASE("the recipient port sees the envelope, the user and the relay decision", "[smtp][session]") {
    class Recording : public FakePorts {
    public:
        std::vector<std::string> seen;
        Verdict check_recipient(const RecipientQuery& q) override {
            seen.push_back(q.recipient.str() + " user=" + (q.authenticated_user ? *q.authenticated_user : "-") +
                           " relay=" + (q.relay_allowed ? "1" : "0") + " route=" + (q.source_route ? "1" : "0") +
                           " before=" + std::to_string(q.envelope.recipients.size()));
            return Verdict::accept();
        }
    };
    Recording ports;
    ports.relay = true;
    Session s(mx_config(), ports);
    s.start();
    feed(s, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.example>\r\nRCPT TO:<@hop.example:b@y.example>\r\n");
    CHECK(ports.seen == std::vector<std::string>{"a@x.example user=- relay=1 route=0 before=0",
                                                 "b@y.example user=- relay=1 route=1 before=1"});
}
