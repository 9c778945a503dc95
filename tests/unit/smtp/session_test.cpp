// Session behaviour a dialogue file cannot show: the Action hand-off, ports that throw, and
// the exact bytes handed to Deliver.
#include "core/error.hpp"
#include "smtp/session.hpp"
#include "support/smtp_dialogue.hpp"
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

// EHLO on its own, as RFC 2920 3.1 has the client wait for its reply; returns the output so far.
std::string greet(Session& s, std::string_view name = "c.example") {
    feed(s, "EHLO " + std::string(name) + "\r\n");
    return s.take_output();
}

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

    CHECK(greet(s).ends_with("250 AUTH PLAIN LOGIN\r\n"));
    // RFC 4954 4: AUTH PLAIN with an initial response may be pipelined.
    feed(s, "AUTH PLAIN " + plain_response("alice@example.org", "pw") + "\r\nRSET\r\nMAIL FROM:<alice@example.org>\r\n");
    CHECK(s.take_output().empty());  // nothing until the password is checked
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
        greet(s);
        feed(s, "MAIL FROM:<>\r\n");
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
    // Three groups, each sent once the previous one's last reply came (RFC 2920 3.1).
    const std::string groups[] = {"EHLO client.example\r\n",
                                  "MAIL FROM:<a@remote.example> BODY=8BITMIME\r\n"
                                  "RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n",
                                  vpsmail::wire::stuff_data(body) + "QUIT\r\n"};
    std::mt19937 random(42);
    for (int round = 0; round < 5; ++round) {
        FakePorts ports;
        ports.domains.insert("example.org");
        ports.users["bob@example.org"] = "x";
        ports.users["carol@example.org"] = "x";
        Session s(mx_config(), ports);
        s.start();
        std::string output;
        for (const std::string& wire : groups) {
            for (std::size_t i = 0; i < wire.size();) {
                std::size_t n = std::uniform_int_distribution<std::size_t>(1, 3000)(random);
                feed(s, std::string_view(wire).substr(i, n));
                i += n;
                while (auto action = s.take_action()) s.complete(ports.run(*action));
            }
            output += s.take_output();
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
        CHECK(output.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as T1.1\r\n221 2.0.0 Bye\r\n"));
        CHECK_FALSE(s.take_pipelining_violation());
        CHECK(s.wants_close());
    }
}

TEST_CASE("a delivery result that does not match the envelope is a temporary failure", "[smtp][session]") {
    FakePorts ports;
    ports.domains.insert("example.org");
    ports.users["bob@example.org"] = "x";
    Session s(mx_config(), ports);
    s.start();
    greet(s);
    feed(s, "MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
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
    greet(s);
    feed(s, "AUTH PLAIN " + plain_response("alice@example.org", "pw") + "\r\n");
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
    greet(s);
    feed(s, "MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    feed(s, "hi\r\n.\r\n");
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
    greet(s);
    feed(s, "MAIL FROM:<>\r\nRCPT TO:<a@x.example>\r\nRCPT TO:<@hop.example:b@y.example>\r\n");
    CHECK(ports.seen == std::vector<std::string>{"a@x.example user=- relay=1 route=0 before=0",
                                                 "b@y.example user=- relay=1 route=1 before=1"});
}

TEST_CASE("8-bit text without BODY=8BITMIME: taken as 8BITMIME, or refused with strict_8bitmime", "[smtp][session]") {
    const std::string eight = "Subject: caf\xc3\xa9\r\n\r\nna\xefve\r\n";
    const std::string seven = "Subject: plain\r\n\r\nascii\r\n";
    struct Case {
        bool strict;
        std::string params;  ///< after MAIL FROM:<x@remote.example>
        bool bdat;
        std::string text;
        std::string want;    ///< the final reply
        Body body;           ///< the Deliver's envelope, when delivered
        bool undeclared;
    };
    const Case cases[] = {
        {false, "", false, eight, "250 2.0.0 Ok: queued as T1.1", Body::eight_bit_mime, true},
        {false, " BODY=7BIT", true, eight, "250 2.0.0 Ok: queued as T1.1", Body::eight_bit_mime, true},
        {false, " BODY=8BITMIME", false, eight, "250 2.0.0 Ok: queued as T1.1", Body::eight_bit_mime, false},
        {false, " SMTPUTF8", false, eight, "250 2.0.0 Ok: queued as T1.1", Body::eight_bit_mime, false},
        {false, "", false, seven, "250 2.0.0 Ok: queued as T1.1", Body::unspecified, false},
        {false, " BODY=7BIT", true, seven, "250 2.0.0 Ok: queued as T1.1", Body::seven_bit, false},
        {true, "", false, eight, "554 5.6.0 Message contains 8-bit data but BODY=8BITMIME was not declared", Body::unspecified, false},
        {true, " BODY=7BIT", true, eight, "554 5.6.0 Message contains 8-bit data but BODY=8BITMIME was not declared", Body::unspecified, false},
        {true, " BODY=8BITMIME", true, eight, "250 2.0.0 Ok: queued as T1.1", Body::eight_bit_mime, false},
        {true, " BODY=BINARYMIME", true, eight, "250 2.0.0 Ok: queued as T1.1", Body::binary_mime, false},
        {true, " SMTPUTF8", false, eight, "250 2.0.0 Ok: queued as T1.1", Body::eight_bit_mime, false},
        {true, "", false, seven, "250 2.0.0 Ok: queued as T1.1", Body::unspecified, false},
    };
    for (const auto& c : cases) {
        INFO("strict " << c.strict << ", MAIL" << c.params << ", " << (c.bdat ? "BDAT" : "DATA") << ", text " << c.text);
        FakePorts ports;
        ports.domains.insert("example.org");
        ports.users["bob@example.org"] = "x";
        SessionConfig config = mx_config();
        config.strict_8bitmime = c.strict;
        Session s(config, ports);
        s.start();
        greet(s);
        feed(s, "MAIL FROM:<x@remote.example>" + c.params + "\r\nRCPT TO:<bob@example.org>\r\n");
        CHECK(s.take_output() == "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n");
        if (c.bdat) {
            feed(s, "BDAT " + std::to_string(c.text.size()) + " LAST\r\n" + c.text);
        } else {
            feed(s, "DATA\r\n");
            CHECK(s.take_output() == "354 End data with <CR><LF>.<CR><LF>\r\n");
            feed(s, vpsmail::wire::stuff_data(c.text));
        }
        while (auto action = s.take_action()) s.complete(ports.run(*action));
        CHECK(s.take_output() == c.want + "\r\n");
        const bool delivered = c.want.starts_with("250");
        REQUIRE(ports.deliveries.size() == (delivered ? 1u : 0u));
        if (delivered) {
            const Deliver& d = ports.deliveries.front();
            CHECK(d.envelope.body == c.body);
            CHECK(d.undeclared_8bit == c.undeclared);
            CHECK(d.message.ends_with(c.text));
        }
        CHECK(s.state() == Session::State::greeted);  // the session goes on either way
    }
}

TEST_CASE("commands sent before a reply the client had to wait for get 503 5.5.0 (RFC 2920 3.1)", "[smtp][session]") {
    const std::string improper = "503 5.5.0 Improper use of SMTP command pipelining\r\n";
    struct Case {
        const char* name;
        bool ehlo;                        ///< EHLO first, answered on its own
        std::vector<std::string> feeds;   ///< each one receive()
        std::string want;                 ///< the output of the feeds
        std::optional<std::string> after; ///< the violation noted, if any
        bool negotiated;
    };
    const Case cases[] = {
        {"HELO, then MAIL in the same bytes", false, {"HELO c\r\nMAIL FROM:<>\r\n"}, "250 mx.example.org\r\n" + improper, "HELO", false},
        {"HELO, then MAIL after the reply", false, {"HELO c\r\n", "MAIL FROM:<>\r\n"}, "250 mx.example.org\r\n250 2.1.0 Sender ok\r\n", std::nullopt, false},
        {"without PIPELINING, MAIL ends its group", false, {"HELO c\r\n", "MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\n"},
         "250 mx.example.org\r\n250 2.1.0 Sender ok\r\n" + improper, "MAIL", false},
        {"no command before EHLO", false, {"RSET\r\nEHLO c\r\n"}, "250 2.0.0 Ok\r\n" + improper, "RSET", false},
        {"EHLO ends its group", false, {"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\n"}, "", "EHLO", false},
        {"NOOP ends its group", true, {"NOOP\r\nMAIL FROM:<>\r\n"}, "250 2.0.0 Ok\r\n" + improper, "NOOP", true},
        {"NOOP, then MAIL after the reply", true, {"NOOP\r\n", "MAIL FROM:<>\r\n"}, "250 2.0.0 Ok\r\n250 2.1.0 Sender ok\r\n", std::nullopt, true},
        {"VRFY ends its group", true, {"VRFY bob\r\nRSET\r\n"}, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n" + improper, "VRFY", true},
        {"EXPN ends its group", true, {"EXPN list\r\nRSET\r\n"}, "502 5.5.1 Command not implemented\r\n" + improper, "EXPN", true},
        {"MAIL and RCPT may be pipelined", true, {"MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nRSET\r\nHELP\r\n"},
         "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n250 2.0.0 Ok\r\n214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH\r\n",
         std::nullopt, true},
        {"an unknown command is refused as improper too", true, {"NOOP\r\nFROB\r\n"}, "250 2.0.0 Ok\r\n" + improper, "NOOP", true},
        {"QUIT: nothing after it is read", true, {"QUIT\r\nNOOP\r\n"}, "221 2.0.0 Bye\r\n", std::nullopt, true},
        {"QUIT sent too early still ends the session", true, {"NOOP\r\nRSET\r\nQUIT\r\nNOOP\r\n"},
         "250 2.0.0 Ok\r\n" + improper + "221 2.0.0 Bye\r\n", "NOOP", true},
        {"text after a refused DATA never runs", true, {"MAIL FROM:<>\r\nDATA\r\nRSET\r\nMAIL FROM:<>\r\n"},
         "250 2.1.0 Sender ok\r\n503 5.5.1 Need RCPT command\r\n" + improper + improper, "DATA", true},
        {"text before the 354 is no message", true, {"MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nNOOP\r\n"},
         "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n" + improper + "250 2.0.0 Ok\r\n",
         "DATA", true},
        {"text before the 354 in several pieces", true, {"MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: x\r\n", "\r\nhi\r\n.\r\n"},
         "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n" + improper, "DATA", true},
        {"content, then MAIL: allowed after the message", true,
         {"MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n", "hi\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\n"},
         "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as T1.1\r\n"
         "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n",
         std::nullopt, true},
        {"content, NOOP, then MAIL", true,
         {"MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n", "hi\r\n.\r\nNOOP\r\nMAIL FROM:<>\r\n"},
         "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as T1.1\r\n"
         "250 2.0.0 Ok\r\n" + improper,
         "NOOP", true},
        {"an early BDAT's chunk is read and refused", true, {"MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nNOOP\r\nBDAT 4 LAST\r\nNOOP"},
         "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n250 2.0.0 Ok\r\n" + improper, "NOOP", true},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        FakePorts ports;
        ports.domains.insert("example.org");
        ports.users["bob@example.org"] = "x";
        Session s(mx_config(), ports);
        s.start();
        s.take_output();
        if (c.ehlo) greet(s);
        std::string out;
        for (const auto& f : c.feeds) {
            feed(s, f);
            while (auto action = s.take_action()) s.complete(ports.run(*action));
            out += s.take_output();
        }
        if (std::string(c.name) == "EHLO ends its group") {
            CHECK(out.ends_with("250 DSN\r\n" + improper + improper));
        } else {
            CHECK(out == c.want);
        }
        auto violation = s.take_pipelining_violation();
        REQUIRE(violation.has_value() == c.after.has_value());
        if (violation) {
            CHECK(violation->after == *c.after);
            CHECK(violation->negotiated == c.negotiated);
        }
        CHECK_FALSE(s.take_pipelining_violation());  // taken once
        CHECK(ports.deliveries.size() == (out.find("queued as") != std::string::npos ? 1u : 0u));
    }
}

TEST_CASE("bytes after STARTTLS are discarded, never run, and noted as a violation (RFC 3207 4.2)", "[smtp][session]") {
    FakePorts ports;
    ports.domains.insert("example.org");
    ports.users["bob@example.org"] = "x";
    SessionConfig config = mx_config();
    config.tls_available = true;
    Session s(config, ports);
    s.start();
    greet(s);
    feed(s, "STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\n");
    CHECK(s.take_output() == "220 2.0.0 Ready to start TLS\r\n");
    auto violation = s.take_pipelining_violation();
    REQUIRE(violation);
    CHECK(violation->after == "STARTTLS");
    feed(s, "RCPT TO:<bob@example.org>\r\n");  // still plaintext: dropped
    CHECK(s.take_output().empty());
    s.tls_started();
    feed(s, "EHLO c\r\n");
    s.take_output();
    feed(s, "RCPT TO:<bob@example.org>\r\n");
    CHECK(s.take_output() == "503 5.5.1 Need MAIL command\r\n");  // the early MAIL never ran
}

TEST_CASE("MAIL with SIZE asks the port for room: 452 4.3.1 when there is none", "[smtp][session]") {
    class Recording : public FakePorts {
    public:
        std::vector<std::uint64_t> asked;
        Verdict check_space(std::uint64_t size) override {
            asked.push_back(size);
            return FakePorts::check_space(size);
        }
    };
    struct Case {
        const char* params;
        const char* want;
        std::vector<std::uint64_t> asked;
    };
    const Case cases[] = {
        {" SIZE=5000", "452 4.3.1 Insufficient system storage, try again later", {5000}},
        {" SIZE=1000", "250 2.1.0 Sender ok", {1000}},
        {"", "250 2.1.0 Sender ok", {}},
        {" SIZE=2000000", "552 5.3.4 Message size exceeds fixed maximum message size", {}},  // over the limit: 5xx first
    };
    for (const auto& c : cases) {
        INFO(c.params);
        Recording ports;
        ports.free_space = 1000;
        Session s(mx_config(), ports);
        s.start();
        greet(s);
        feed(s, std::string("MAIL FROM:<x@remote.example>") + c.params + "\r\n");
        CHECK(s.take_output() == std::string(c.want) + "\r\n");
        CHECK(ports.asked == c.asked);
        CHECK(s.state() == (std::string(c.want).starts_with("250") ? Session::State::mail : Session::State::greeted));
    }
}

TEST_CASE("a delivery refused for a full disk answers 452 4.3.1 and the session goes on", "[smtp][session]") {
    FakePorts ports;
    ports.domains.insert("example.org");
    ports.users["bob@example.org"] = "x";
    ports.delivery_refusals["bob@example.org"] = reply_for(Error(ErrorKind::no_space, "disk full"));
    Session s(mx_config(), ports);
    s.start();
    greet(s);
    feed(s, "MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    s.take_output();
    feed(s, "hi\r\n.\r\n");
    while (auto action = s.take_action()) s.complete(ports.run(*action));
    CHECK(s.take_output() == "452 4.3.1 Insufficient system storage, try again later\r\n");
    feed(s, "NOOP\r\n");
    CHECK(s.take_output() == "250 2.0.0 Ok\r\n");
}

namespace {

// Ports that spill big messages into memory sinks, counting the sinks alive, and failing on
// request (a full disk).
class SpillingPorts : public FakePorts {
public:
    struct Sink : BodySink {
        explicit Sink(SpillingPorts& p) : ports(p) { ++ports.alive; }
        ~Sink() override { --ports.alive; }
        void write(std::string_view bytes) override {
            if (ports.fail_writes) throw Error(ErrorKind::no_space, "disk full");
            text.append(bytes);
        }
        SpillingPorts& ports;
        std::string text;
    };
    int alive = 0;
    int opened = 0;
    bool fail_writes = false;
    std::shared_ptr<BodySink> spill_body() override {
        ++opened;
        return std::make_shared<Sink>(*this);
    }
};

SessionConfig small_memory() {
    SessionConfig c = mx_config();
    c.memory_limit = 1000;
    return c;
}

std::string lines(std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += "line " + std::to_string(i) + "\r\n";
    return out;
}

}  // namespace

TEST_CASE("a message past memory_limit goes to the port's sink, whole, in any split", "[smtp][session][spill]") {
    const std::string body = "Subject: big\r\n\r\n" + lines(500);
    std::mt19937 random(7);
    for (const bool bdat : {false, true}) {
        INFO((bdat ? "BDAT" : "DATA"));
        SpillingPorts ports;
        ports.domains.insert("example.org");
        ports.users["bob@example.org"] = "x";
        {
            Session s(small_memory(), ports);
            s.start();
            greet(s);
            std::string wire = "MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.org>\r\n";
            if (bdat) wire += "BDAT 3000\r\n" + body.substr(0, 3000) + "BDAT " + std::to_string(body.size() - 3000) + " LAST\r\n" + body.substr(3000);
            else wire += "DATA\r\n";
            feed(s, wire);
            if (!bdat) {
                const std::string text = vpsmail::wire::stuff_data(body);
                for (std::size_t i = 0; i < text.size();) {
                    std::size_t n = std::uniform_int_distribution<std::size_t>(1, 700)(random);
                    feed(s, std::string_view(text).substr(i, n));
                    i += n;
                }
            }
            auto action = s.take_action();
            REQUIRE(action);
            auto& deliver = std::get<Deliver>(*action);
            CHECK(deliver.message.empty());
            REQUIRE(deliver.spilled);
            const auto& sink = dynamic_cast<const SpillingPorts::Sink&>(*deliver.spilled);
            CHECK(sink.text.starts_with("Received: from c.example"));
            CHECK(sink.text.ends_with("\r\n" + body));
            CHECK(ports.opened == 1);
            s.complete(ports.run(*action));
            CHECK(s.take_output().ends_with("250 2.0.0 Ok: queued as T1.1\r\n"));
        }
        ports.deliveries.clear();
        CHECK(ports.alive == 0);  // the action and the session let go of it
    }
}

TEST_CASE("a small message never opens a sink", "[smtp][session][spill]") {
    SpillingPorts ports;
    ports.domains.insert("example.org");
    ports.users["bob@example.org"] = "x";
    Session s(small_memory(), ports);
    s.start();
    greet(s);
    feed(s, "MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    feed(s, "Subject: small\r\n\r\nhi\r\n.\r\n");
    auto action = s.take_action();
    REQUIRE(action);
    CHECK_FALSE(std::get<Deliver>(*action).spilled);
    CHECK(std::get<Deliver>(*action).message.ends_with("Subject: small\r\n\r\nhi\r\n"));
    CHECK(ports.opened == 0);
}

TEST_CASE("the sink is released on every path that ends a transaction", "[smtp][session][spill]") {
    const std::string big = lines(300);
    struct Case {
        const char* what;
        std::string after;  // what the client sends once the sink exists
        bool destroy;       // the session goes (a disconnect)
    };
    const Case cases[] = {
        {"RSET between chunks", "RSET\r\n", false},
        {"a refused chunk (too big)", "BDAT 2000000 LAST\r\n" + std::string(2000000, 'x'), false},
        {"a bare LF in the last chunk", "BDAT 4 LAST\r\na\nb\n", false},
        {"a timeout", "", false},
        {"a disconnect", "", true},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        SpillingPorts ports;
        ports.domains.insert("example.org");
        ports.users["bob@example.org"] = "x";
        auto s = std::make_unique<Session>(small_memory(), ports);
        s->start();
        greet(*s);
        feed(*s, "MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.org>\r\nBDAT " + std::to_string(big.size()) + "\r\n" + big);
        CHECK(ports.alive == 1);
        if (c.destroy) s.reset();
        else if (c.after.empty()) s->timeout();
        else feed(*s, c.after);
        CHECK(ports.alive == 0);
        CHECK(ports.deliveries.empty());
    }
}

TEST_CASE("a sink that fails gets the text read to its end and refused, and the session goes on", "[smtp][session][spill]") {
    SpillingPorts ports;
    ports.domains.insert("example.org");
    ports.users["bob@example.org"] = "x";
    ports.fail_writes = true;
    Session s(small_memory(), ports);
    s.start();
    greet(s);
    feed(s, "MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    s.take_output();
    feed(s, vpsmail::wire::stuff_data(lines(300)));
    CHECK(s.take_output() == "452 4.3.1 Insufficient system storage, try again later\r\n");
    CHECK_FALSE(s.take_action());
    CHECK(ports.alive == 0);
    feed(s, "NOOP\r\n");
    CHECK(s.take_output() == "250 2.0.0 Ok\r\n");
}
