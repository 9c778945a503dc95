#include "smtp/hops.hpp"

#include <catch2/catch.hpp>

#include <string>

using vpsmail::smtp::HopCounter;

namespace {

// The counts for `text` fed in two pieces split at `at`.
HopCounter scanned(const std::string& text, std::size_t at) {
    HopCounter h;
    h.scan(std::string_view(text).substr(0, at));
    h.scan(std::string_view(text).substr(at));
    h.finish();
    return h;
}

}  // namespace

TEST_CASE("HopCounter counts the header's trace fields, got X want Y at every split", "[smtp][hops]") {
    struct Case {
        const char* what;
        std::string text;
        std::size_t received;
        std::size_t delivered_to_bob;
    };
    const Case cases[] = {
        {"none", "Subject: hi\r\n\r\nbody\r\n", 0, 0},
        {"Received in any case, folded or not",
         "Received: from a by b; date\r\nRECEIVED : x\r\nreceived:\r\n\tfolded; date\r\nSubject: s\r\n\r\n", 3, 0},
        {"only the header section counts", "Subject: s\r\n\r\nReceived: in the body\r\nDelivered-To: bob@example.org\r\n", 0, 0},
        {"an empty header section", "\r\nReceived: x\r\n", 0, 0},
        {"Delivered-To naming bob, with brackets, case, folding",
         "Delivered-To: bob@example.org\r\nDelivered-To: <BOB@Example.ORG>\r\nDelivered-To:\r\n bob@example.org\r\n"
         "Delivered-To: ann@example.org\r\nX-Delivered-To: bob@example.org\r\n\r\n",
         0, 3},
        {"a last field without a line end", "Received: x\r\nDelivered-To: bob@example.org", 1, 1},
        {"bare LF lines", "Received: x\nDelivered-To: bob@example.org\n\nReceived: y\n", 1, 1},
        {"a Delivered-To too long to be an address", "Delivered-To: bob@example.org" + std::string(600, ' ') + "x\r\n\r\n", 0, 0},
    };
    for (const auto& c : cases) {
        for (std::size_t at = 0; at <= c.text.size(); ++at) {
            INFO(c.what << ", split at " << at);
            HopCounter h = scanned(c.text, at);
            CHECK(h.received() == c.received);
            CHECK(h.delivered_to("bob@example.org") == c.delivered_to_bob);
        }
    }
}

TEST_CASE("HopCounter byte by byte sees what it sees in one piece", "[smtp][hops]") {
    std::string text;
    for (int i = 0; i < 60; ++i) text += "Received: from hop" + std::to_string(i) + "\r\n\tby next; date\r\n";
    for (int i = 0; i < 5; ++i) text += "Delivered-To: bob@example.org\r\n";
    text += "\r\nbody\r\n";
    HopCounter whole, bytes;
    whole.scan(text);
    for (char c : text) bytes.scan(std::string_view(&c, 1));
    whole.finish();
    bytes.finish();
    CHECK(whole.received() == 60);
    CHECK(bytes.received() == 60);
    CHECK(whole.delivered_to("bob@example.org") == 5);
    CHECK(bytes.delivered_to("bob@example.org") == 5);
}
