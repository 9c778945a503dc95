#include "auth/throttle.hpp"

#include <catch2/catch.hpp>

using vpsmail::auth::Throttle;
using namespace std::chrono_literals;

TEST_CASE("throttle: max_failures failures lock an address out for the lockout time", "[auth][throttle]") {
    Throttle t(3, 60s);
    const auto t0 = Throttle::Clock::time_point{} + 1000s;
    CHECK(t.allowed("192.0.2.1", t0));
    CHECK_FALSE(t.failed("192.0.2.1", t0));
    CHECK_FALSE(t.failed("192.0.2.1", t0 + 1s));
    CHECK(t.allowed("192.0.2.1", t0 + 2s));
    CHECK(t.failed("192.0.2.1", t0 + 2s));  // the third starts the lockout
    CHECK_FALSE(t.allowed("192.0.2.1", t0 + 3s));
    CHECK(t.allowed("192.0.2.2", t0 + 3s));  // others are not affected
    CHECK_FALSE(t.allowed("192.0.2.1", t0 + 61s));
    CHECK(t.allowed("192.0.2.1", t0 + 63s));  // the window ended 60 s after the last failure
}

TEST_CASE("throttle: a success clears the count; old failures are forgotten", "[auth][throttle]") {
    Throttle t(2, 10s);
    const auto t0 = Throttle::Clock::time_point{} + 1000s;
    t.failed("a", t0);
    t.succeeded("a");
    CHECK_FALSE(t.failed("a", t0 + 1s));
    CHECK(t.allowed("a", t0 + 1s));
    CHECK_FALSE(t.failed("a", t0 + 30s));  // the first one expired: this is number one again
    CHECK(t.allowed("a", t0 + 30s));
}

TEST_CASE("throttle: client_key is the IPv4 address or the IPv6 /64", "[auth][throttle]") {
    using vpsmail::auth::client_key;
    struct Case {
        const char* address;
        const char* want;
    };
    for (const Case& c : {Case{"192.0.2.1", "192.0.2.1"}, Case{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
                          Case{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
                          Case{"2001:DB8:1:2:0:0:0:7", "2001:db8:1:2::/64"}, Case{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
                          Case{"::1", "::/64"}, Case{"::ffff:192.0.2.7", "192.0.2.7"}, Case{"sendmail", "sendmail"}}) {
        INFO("address " << c.address);
        CHECK(client_key(c.address) == c.want);
    }
}

TEST_CASE("throttle: account_key is the canonical account", "[auth][throttle]") {
    using vpsmail::auth::account_key;
    struct Case {
        const char* username;
        const char* want;
    };
    for (const Case& c : {Case{"bob@example.test", "account bob@example.test"},
                          Case{"BOB@Example.TEST.", "account bob@example.test"},
                          Case{"\"bob\"@example.test", "account bob@example.test"},
                          Case{"hans@B\xc3\xbc" "cher.example", "account hans@xn--bcher-kva.example"},
                          Case{"Not An Address", "account not an address"}}) {
        INFO("username " << c.username);
        CHECK(account_key(c.username) == c.want);
    }
}

TEST_CASE("throttle: failures from one IPv6 /64 and for respelt accounts add up", "[auth][throttle]") {
    using vpsmail::auth::account_key;
    using vpsmail::auth::client_key;
    Throttle t(2, 60s);
    const auto t0 = Throttle::Clock::time_point{} + 1000s;
    CHECK_FALSE(t.failed(client_key("2001:db8::1"), t0));
    CHECK(t.failed(client_key("2001:db8::2"), t0));  // another host of the same /64
    CHECK_FALSE(t.allowed(client_key("2001:db8::3"), t0 + 1s));
    CHECK(t.allowed(client_key("2001:db8:0:1::3"), t0 + 1s));  // the next /64 is another client
    CHECK_FALSE(t.failed(account_key("BOB@Example.TEST."), t0));
    CHECK(t.failed(account_key("bob@example.test"), t0));
    CHECK_FALSE(t.allowed(account_key("Bob@example.test"), t0 + 1s));
}
