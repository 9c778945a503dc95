#include "core/error.hpp"
#include "queue/dsn.hpp"
#include "queue/scheduler.hpp"
#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

using namespace vpsmail::queue;
using std::chrono::hours;
using std::chrono::seconds;
using vpsmail::ErrorKind;

namespace {

constexpr std::int64_t t0 = 1700000000;  // the message's arrival

TimePoint at(std::int64_t offset) {
    return from_unix(t0 + offset);
}

SpooledMessage message(std::vector<RecipientState> states) {
    SpooledMessage m;
    m.id = "0123456789abcdef";
    m.envelope.return_path = "ann@example.org";
    m.envelope.created = t0;
    for (std::size_t i = 0; i < states.size(); ++i) {
        SpoolRecipient r;
        r.address = "r" + std::to_string(i) + "@remote.test";
        r.state = states[i];
        m.envelope.recipients.push_back(r);
    }
    return m;
}

RecipientOutcome outcome(RecipientOutcome::Kind kind, int code, std::string status, std::string text) {
    RecipientOutcome o;
    o.kind = kind;
    o.code = code;
    o.status = std::move(status);
    o.text = std::move(text);
    o.remote_mta = "mx.remote.test [192.0.2.7]";
    o.remote_reply = true;
    return o;
}

RecipientOutcome deferral() {
    return outcome(RecipientOutcome::Kind::deferred, 451, "4.3.0", "try again later");
}

}  // namespace

TEST_CASE("scheduler: backoff doubles from retry_min up to retry_max", "[queue][scheduler]") {
    const Policy policy;  // 300 s .. 3600 s
    struct Case {
        std::uint32_t attempts;
        std::int64_t want;
    };
    const Case cases[] = {{0, 0},       {1, 300},     {2, 600},     {3, 1200},   {4, 2400},
                          {5, 3600},    {6, 3600},    {41, 3600},   {64, 3600},  {UINT32_MAX, 3600}};
    for (const auto& c : cases) {
        INFO("attempts " << c.attempts);
        CHECK(backoff(c.attempts, policy).count() == c.want);
    }
    Policy tiny;
    tiny.retry_min = seconds(1);
    tiny.retry_max = seconds(5);
    CHECK(backoff(3, tiny).count() == 4);
    CHECK(backoff(4, tiny).count() == 5);
}

TEST_CASE("scheduler: each deferral waits by the backoff; the plan follows the clock", "[queue][scheduler]") {
    Policy policy;
    policy.warn_after = seconds(0);  // no warning timer in the way of the retry timer
    SpooledMessage m = message({RecipientState::pending});
    std::int64_t now = 10;
    const std::int64_t want_waits[] = {300, 600, 1200, 2400, 3600, 3600, 3600};
    for (std::size_t n = 0; n < std::size(want_waits); ++n) {
        INFO("attempt " << n + 1 << " at +" << now);
        Plan p = plan(m, at(now), policy);
        REQUIRE(p.due == std::vector<std::size_t>{0});
        record(m, 0, deferral(), at(now), policy);
        const SpoolRecipient& r = m.envelope.recipients[0];
        CHECK(r.state == RecipientState::deferred);
        CHECK(r.attempts == n + 1);
        CHECK(r.last_attempt == t0 + now);
        CHECK(r.next_attempt == t0 + now + want_waits[n]);
        CHECK(r.code == 451);
        CHECK(r.status == "4.3.0");
        CHECK(r.last_error == "451 4.3.0 try again later");
        CHECK(r.remote_mta == "mx.remote.test [192.0.2.7]");
        CHECK(r.remote_reply);
        // One second early: nothing due, and the timer points at the retry.
        Plan early = plan(m, from_unix(r.next_attempt - 1), policy);
        CHECK(early.due.empty());
        REQUIRE(early.next.has_value());
        CHECK(to_unix(*early.next) == r.next_attempt);
        now = r.next_attempt - t0;
    }
    const auto& history = m.envelope.recipients[0].history;
    REQUIRE(history.size() == std::size(want_waits));
    CHECK(history[0].time == t0 + 10);
    CHECK(history[0].result == "451 4.3.0 try again later (mx.remote.test [192.0.2.7])");
}

TEST_CASE("scheduler: outcomes delivered and bounced are final", "[queue][scheduler]") {
    const Policy policy;
    SpooledMessage m = message({RecipientState::pending, RecipientState::deferred, RecipientState::pending});
    m.envelope.recipients[1].last_error = "451 old";
    RecipientOutcome ok = outcome(RecipientOutcome::Kind::delivered, 250, "2.0.0", "queued as X");
    ok.dsn_passed_on = true;
    record(m, 1, ok, at(60), policy);
    record(m, 0, outcome(RecipientOutcome::Kind::bounced, 550, "5.1.1", "no such user"), at(60), policy);
    const auto& rs = m.envelope.recipients;
    CHECK(rs[1].state == RecipientState::delivered);
    CHECK(rs[1].last_error.empty());
    CHECK(rs[1].dsn_passed_on);
    CHECK(rs[1].code == 250);
    CHECK(rs[0].state == RecipientState::bounced);
    CHECK(rs[0].last_error == "550 5.1.1 no such user");
    CHECK(rs[0].status == "5.1.1");
    // A final recipient is left alone by later reports.
    record(m, 0, ok, at(70), policy);
    CHECK(rs[0].state == RecipientState::bounced);
    CHECK(rs[0].attempts == 1);
    Plan p = plan(m, at(70), policy);
    CHECK(p.due == std::vector<std::size_t>{2});
    vpsmail::test::error_of([&] { record(m, 3, ok, at(70), policy); }, ErrorKind::internal);
}

TEST_CASE("scheduler: a message expires exactly at max_age", "[queue][scheduler]") {
    const Policy policy;
    const std::int64_t max_age = policy.max_age.count();
    SECTION("a deferral one second before max_age stays deferred; one at max_age bounces") {
        SpooledMessage m = message({RecipientState::pending, RecipientState::pending});
        record(m, 0, deferral(), at(max_age - 1), policy);
        CHECK(m.envelope.recipients[0].state == RecipientState::deferred);
        record(m, 1, deferral(), at(max_age), policy);
        const SpoolRecipient& r = m.envelope.recipients[1];
        CHECK(r.state == RecipientState::bounced);
        CHECK(r.status == expired_status);
        CHECK(r.last_error == "451 4.3.0 try again later");  // the Diagnostic-Code of the DSN
        CHECK(r.remote_reply);
        REQUIRE(r.history.size() == 2);
        CHECK(r.history[1].result.starts_with("4.4.7 expired: gave up after 1 attempts in 5 days"));
    }
    SECTION("plan expires a tried recipient at max_age, not a second before") {
        SpooledMessage m = message({RecipientState::pending, RecipientState::delivered});
        m.envelope.recipients[0].attempts = 5;
        record(m, 0, deferral(), at(max_age - 3000), policy);  // the next attempt would be after max_age
        CHECK(m.envelope.recipients[0].next_attempt == t0 + max_age + 600);
        Plan before = plan(m, at(max_age - 1), policy);
        CHECK(before.expired.empty());
        CHECK(before.due.empty());
        REQUIRE(before.next.has_value());
        CHECK(to_unix(*before.next) == t0 + max_age);  // the expiry comes before the retry
        Plan p = plan(m, at(max_age), policy);
        CHECK(p.expired == std::vector<std::size_t>{0});
        CHECK(p.due.empty());
        CHECK_FALSE(p.next.has_value());
        CHECK(expire(m, p.expired, at(max_age)) == 1);
        CHECK(m.envelope.recipients[0].state == RecipientState::bounced);
        CHECK(m.envelope.recipients[0].status == expired_status);
        CHECK(m.envelope.recipients[1].state == RecipientState::delivered);
        CHECK(expire(m, p.expired, at(max_age)) == 0);
    }
    SECTION("a recipient never tried gets one attempt even past max_age") {
        SpooledMessage m = message({RecipientState::pending});
        Plan p = plan(m, at(max_age + 100), policy);
        CHECK(p.due == std::vector<std::size_t>{0});
        CHECK(p.expired.empty());
        record(m, 0, deferral(), at(max_age + 100), policy);
        CHECK(m.envelope.recipients[0].state == RecipientState::bounced);
    }
}

TEST_CASE("scheduler: the delay warning is due once, after warn_after, when NOTIFY allows", "[queue][scheduler]") {
    const Policy policy;
    const std::int64_t warn_after = policy.warn_after.count();
    SpooledMessage m = message({RecipientState::pending, RecipientState::pending, RecipientState::pending});
    m.envelope.recipients[1].notify = "FAILURE";  // did not ask for delays
    m.envelope.recipients[2].notify = "SUCCESS,DELAY";
    for (std::size_t i = 0; i < 3; ++i) record(m, i, deferral(), at(warn_after - 400), policy);
    Plan early = plan(m, at(warn_after - 1), policy);
    CHECK(early.warn.empty());
    REQUIRE(early.next.has_value());
    CHECK(to_unix(*early.next) == t0 + warn_after);
    Plan p = plan(m, at(warn_after), policy);
    CHECK(p.warn == std::vector<std::size_t>{0, 2});
    mark_dsn_sent(m.envelope, DsnKind::delay, p.warn);
    CHECK(m.envelope.warned);
    CHECK(plan(m, at(warn_after), policy).warn.empty());
    CHECK(plan(m, at(warn_after + 86400), policy).warn.empty());

    SECTION("no warning with warn_after 0, NOTIFY=NEVER or a null return path") {
        Policy quiet = policy;
        quiet.warn_after = seconds(0);
        SpooledMessage n = message({RecipientState::deferred});
        n.envelope.recipients[0].next_attempt = t0 + 999999;
        CHECK(plan(n, at(warn_after), quiet).warn.empty());
        CHECK(plan(n, at(warn_after), policy).warn == std::vector<std::size_t>{0});
        n.envelope.recipients[0].notify = "NEVER";
        CHECK(plan(n, at(warn_after), policy).warn.empty());
        n.envelope.recipients[0].notify.clear();
        n.envelope.return_path.clear();
        CHECK(plan(n, at(warn_after), policy).warn.empty());
    }
}

TEST_CASE("scheduler: a held message has nothing due until released", "[queue][scheduler]") {
    const Policy policy;
    SpooledMessage m = message({RecipientState::pending, RecipientState::deferred});
    m.envelope.recipients[1].attempts = 1;
    m.envelope.recipients[1].next_attempt = t0 + 60;
    hold(m.envelope);
    for (std::int64_t offset : {std::int64_t{0}, std::int64_t{61}, policy.warn_after.count(), policy.max_age.count() + 1}) {
        INFO("at +" << offset);
        Plan p = plan(m, at(offset), policy);
        CHECK(p.due.empty());
        CHECK(p.expired.empty());
        CHECK(p.warn.empty());
        CHECK_FALSE(p.next.has_value());
    }
    release(m.envelope);
    CHECK(plan(m, at(61), policy).due == std::vector<std::size_t>{0, 1});
}

TEST_CASE("scheduler: mixed recipients", "[queue][scheduler]") {
    const Policy policy;
    SpooledMessage m = message({RecipientState::delivered, RecipientState::bounced, RecipientState::deferred,
                                RecipientState::pending, RecipientState::deferred});
    m.envelope.recipients[2].attempts = 2;
    m.envelope.recipients[2].next_attempt = t0 + 900;
    m.envelope.recipients[4].attempts = 1;
    m.envelope.recipients[4].next_attempt = t0 + 100;
    Plan p = plan(m, at(100), policy);
    CHECK(p.due == std::vector<std::size_t>{3, 4});
    CHECK(p.expired.empty());
    CHECK(p.warn.empty());
    REQUIRE(p.next.has_value());
    CHECK(to_unix(*p.next) == t0 + 900);
    // retry makes every recipient not final due now.
    retry(m.envelope);
    CHECK(plan(m, at(100), policy).due == std::vector<std::size_t>{2, 3, 4});
    // Every recipient final: nothing ever again.
    SpooledMessage done = message({RecipientState::delivered, RecipientState::bounced});
    Plan none = plan(done, at(0), policy);
    CHECK(none.due.empty());
    CHECK_FALSE(none.next.has_value());
}
