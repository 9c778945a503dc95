#include "smtp/received.hpp"

#include <catch2/catch.hpp>

using namespace vpsmail::smtp;

namespace {

Trace base() {
    Trace t;
    t.helo = "client.example";
    t.peer_address = "192.0.2.1";
    t.hostname = "mx.example.org";
    t.id = "S1.1";
    t.when = std::chrono::system_clock::time_point(std::chrono::seconds(1704164645));
    return t;
}

}  // namespace

TEST_CASE("protocol_name follows RFC 3848 and RFC 6531", "[smtp][received]") {
    struct Case {
        bool esmtp, tls, auth, utf8;
        const char* want;
    };
    const Case cases[] = {
        {false, false, false, false, "SMTP"},     {true, false, false, false, "ESMTP"},
        {true, true, false, false, "ESMTPS"},     {true, false, true, false, "ESMTPA"},
        {true, true, true, false, "ESMTPSA"},     {true, false, false, true, "UTF8SMTP"},
        {true, true, true, true, "UTF8SMTPSA"},
    };
    for (const auto& c : cases) {
        Trace t = base();
        t.esmtp = c.esmtp;
        t.tls = c.tls;
        t.authenticated = c.auth;
        t.smtputf8 = c.utf8;
        CHECK(protocol_name(t) == c.want);
    }
}

TEST_CASE("format_received", "[smtp][received]") {
    CHECK(format_date(std::chrono::system_clock::time_point(std::chrono::seconds(0))) == "Thu, 01 Jan 1970 00:00:00 +0000");
    Trace t = base();
    t.recipient = "alice@example.org";
    CHECK(format_received(t) ==
          "Received: from client.example (unknown [192.0.2.1])\r\n"
          "\tby mx.example.org with ESMTP id S1.1\r\n"
          "\tfor <alice@example.org>;\r\n"
          "\tTue, 02 Jan 2024 03:04:05 +0000\r\n");
    t.recipient.reset();
    t.peer_name = "client.example";
    t.peer_address = "2001:db8::1";
    t.tls = true;
    CHECK(format_received(t) ==
          "Received: from client.example (client.example [IPv6:2001:db8::1])\r\n"
          "\tby mx.example.org with ESMTPS id S1.1;\r\n"
          "\tTue, 02 Jan 2024 03:04:05 +0000\r\n");
}
