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
