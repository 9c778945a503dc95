#include "queue/dsn.hpp"
#include "queue/scheduler.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace vpsmail::queue;

namespace {

// ---- a small reader for what format_dsn writes: enough to check it field by field ----

using Fields = std::multimap<std::string, std::string>;  // lower-case name -> unfolded value

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return s;
}

// Header lines (CRLF, folded) -> fields. Every line must end in CRLF.
Fields parse_fields(std::string_view block) {
    Fields out;
    std::string name, value;
    auto flush = [&] {
        if (!name.empty()) out.emplace(lower(name), value);
        name.clear();
        value.clear();
    };
    while (!block.empty()) {
        const auto end = block.find("\r\n");
        REQUIRE(end != std::string_view::npos);
        const std::string_view line = block.substr(0, end);
        block.remove_prefix(end + 2);
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            REQUIRE_FALSE(name.empty());
            value += line;  // RFC 5322 2.2.3: unfolding removes the CRLF only
            continue;
        }
        flush();
        const auto colon = line.find(':');
        REQUIRE(colon != std::string_view::npos);
        name = std::string(line.substr(0, colon));
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        value = std::string(v);
    }
    flush();
    return out;
}

std::string one(const Fields& fields, const std::string& name) {
    INFO("field " << name);
    REQUIRE(fields.count(name) == 1);
    return fields.find(name)->second;
}

struct Part {
    Fields headers;
    std::string body;
};

struct Parsed {
    Fields headers;
    std::string boundary;
    std::vector<Part> parts;
};

// Splits a header block from its body at the first empty line.
std::pair<std::string_view, std::string_view> split_entity(std::string_view entity) {
    const auto end = entity.find("\r\n\r\n");
    REQUIRE(end != std::string_view::npos);
    return {entity.substr(0, end + 2), entity.substr(end + 4)};
}

Parsed parse_report(std::string_view text) {
    Parsed out;
    auto [head, body] = split_entity(text);
    out.headers = parse_fields(head);
    const std::string type = one(out.headers, "content-type");
    const auto b = type.find("boundary=\"");
    REQUIRE(b != std::string::npos);
    out.boundary = type.substr(b + 10, type.find('"', b + 10) - b - 10);
    // RFC 2046 5.1.1: the delimiter is CRLF "--" boundary; the CRLF belongs to it.
    const std::string delimiter = "\r\n--" + out.boundary;
    std::string_view rest = body;
    auto at = rest.find(delimiter);
    REQUIRE(at != std::string_view::npos);
    rest.remove_prefix(at + delimiter.size());
    while (true) {
        if (rest.starts_with("--")) {
            CHECK(rest == "--\r\n");
            break;
        }
        REQUIRE(rest.starts_with("\r\n"));
        rest.remove_prefix(2);
        at = rest.find(delimiter);
        REQUIRE(at != std::string_view::npos);
        auto [part_head, part_body] = split_entity(rest.substr(0, at + 2));
        Part part;
        part.headers = parse_fields(part_head);
        part.body = std::string(part_body.substr(0, part_body.size() - 2));  // the delimiter's CRLF
        out.parts.push_back(std::move(part));
        rest.remove_prefix(at + delimiter.size());
    }
    return out;
}

// message/delivery-status: groups of fields separated by empty lines (RFC 3464 2.1).
std::vector<Fields> parse_status(std::string_view body) {
    std::vector<Fields> groups;
    std::string text(body);
    text += "\r\n";
    std::string_view rest = text;
    while (!rest.empty()) {
        auto end = rest.find("\r\n\r\n");
        std::string_view group = end == std::string_view::npos ? rest : rest.substr(0, end + 2);
        groups.push_back(parse_fields(group));
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 4);
    }
    return groups;
}

void check_lines(std::string_view text) {
    std::size_t start = 0, number = 0;
    while (start < text.size()) {
        const auto end = text.find("\r\n", start);
        ++number;
        INFO("line " << number);
        REQUIRE(end != std::string_view::npos);  // CRLF everywhere, the last line too
        const std::string_view line = text.substr(start, end - start);
        CHECK(line.size() <= 998);
        CHECK(line.find('\n') == std::string_view::npos);
        CHECK(line.find('\r') == std::string_view::npos);
        start = end + 2;
    }
}

const std::string original_headers =
    "Received: from client.example ([192.0.2.1]) by mx.example.org\r\n"
    "\twith ESMTP id abc; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "From: Ann <ann@example.org>\r\n"
    "To: bob@remote.test\r\n"
    "Subject: hello\r\n"
    "Message-ID: <m1@example.org>\r\n";
const std::string original = original_headers + "\r\nHello Bob,\r\n\r\n-- \r\nAnn\r\n";

constexpr std::int64_t arrival = 1700000000;
constexpr std::int64_t now = arrival + 3600;

SpooledMessage spooled() {
    SpooledMessage m;
    m.id = "0123456789abcdef";
    m.envelope.return_path = "ann@example.org";
    m.envelope.created = arrival;
    m.envelope.envid = "QQ314159";
    m.envelope.ret = "FULL";
    SpoolRecipient bob;
    bob.address = "bob@remote.test";
    bob.orcpt = "rfc822;Bob@Remote.test";
    bob.state = RecipientState::bounced;
    bob.attempts = 1;
    bob.last_attempt = arrival + 60;
    bob.code = 550;
    bob.status = "5.1.1";
    bob.remote_mta = "mx.remote.test [192.0.2.7]";
    bob.remote_reply = true;
    bob.last_error = "550 5.1.1 <bob@remote.test>: no such user";
    m.envelope.recipients.push_back(bob);
    SpoolRecipient carl;
    carl.address = "carl@remote.test";
    carl.state = RecipientState::bounced;
    carl.status = "5.4.4";
    carl.last_error = "no MX or address records for remote.test";
    carl.attempts = 2;
    carl.last_attempt = arrival + 120;
    m.envelope.recipients.push_back(carl);
    return m;
}

}  // namespace

TEST_CASE("dsn: dates in RFC 5322 form", "[queue][dsn]") {
    CHECK(format_rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
    CHECK(format_rfc5322_date(1700000000) == "Tue, 14 Nov 2023 22:13:20 +0000");
    CHECK(format_rfc5322_date(951782400) == "Tue, 29 Feb 2000 00:00:00 +0000");
}

TEST_CASE("dsn: NOTIFY rules", "[queue][dsn]") {
    struct Case {
        const char* notify;
        bool warnings;
        bool failure, delay, success;
    };
    const Case cases[] = {
        {"", true, true, true, false},
        {"", false, true, false, false},
        {"NEVER", true, false, false, false},
        {"never", true, false, false, false},
        {"SUCCESS", true, false, false, true},
        {"FAILURE", true, true, false, false},
        {"DELAY", false, false, true, false},  // asked for explicitly: sent even with warnings off
        {"SUCCESS,FAILURE,DELAY", true, true, true, true},
        {"success,delay", true, false, true, true},
    };
    for (const auto& c : cases) {
        INFO("NOTIFY '" << c.notify << "' warnings " << c.warnings);
        CHECK(notify_allows(c.notify, DsnKind::failure, c.warnings) == c.failure);
        CHECK(notify_allows(c.notify, DsnKind::delay, c.warnings) == c.delay);
        CHECK(notify_allows(c.notify, DsnKind::success, c.warnings) == c.success);
    }
}

TEST_CASE("dsn: which recipients each kind of report lists", "[queue][dsn]") {
    Envelope e;
    e.return_path = "ann@example.org";
    auto add = [&](RecipientState state, std::string notify) -> SpoolRecipient& {
        SpoolRecipient r;
        r.address = "r" + std::to_string(e.recipients.size()) + "@remote.test";
        r.state = state;
        r.notify = std::move(notify);
        e.recipients.push_back(r);
        return e.recipients.back();
    };
    add(RecipientState::bounced, "");                  // 0
    add(RecipientState::bounced, "NEVER");             // 1
    add(RecipientState::bounced, "SUCCESS");           // 2
    add(RecipientState::deferred, "");                 // 3
    add(RecipientState::deferred, "FAILURE");          // 4
    add(RecipientState::delivered, "SUCCESS");         // 5
    add(RecipientState::delivered, "SUCCESS").dsn_passed_on = true;  // 6: the next hop reports
    add(RecipientState::delivered, "");                // 7
    add(RecipientState::pending, "SUCCESS,FAILURE,DELAY");  // 8
    add(RecipientState::bounced, "FAILURE").dsn_sent.failure = true;  // 9: sent already
    using V = std::vector<std::size_t>;
    CHECK(dsn_recipients(e, DsnKind::failure, true) == V{0});
    CHECK(dsn_recipients(e, DsnKind::delay, true) == V{3});
    CHECK(dsn_recipients(e, DsnKind::delay, false).empty());
    CHECK(dsn_recipients(e, DsnKind::success, true) == V{5});

    const V failed{0};
    mark_dsn_sent(e, DsnKind::failure, failed);
    CHECK(e.recipients[0].dsn_sent.failure);
    CHECK(dsn_recipients(e, DsnKind::failure, true).empty());
    CHECK_FALSE(e.warned);
    const V delayed{3};
    mark_dsn_sent(e, DsnKind::delay, delayed);
    CHECK(e.warned);
    CHECK(dsn_recipients(e, DsnKind::delay, true).empty());

    // RFC 5321 4.5.5: never a report to the null sender.
    e.return_path.clear();
    CHECK(dsn_recipients(e, DsnKind::success, true).empty());
}

TEST_CASE("dsn: a failure report parses back field by field, with the original attached whole", "[queue][dsn]") {
    const SpooledMessage m = spooled();
    const std::vector<std::size_t> which{0, 1};
    DsnReport report = make_dsn_report(m, DsnKind::failure, which, "mx.example.org", now, "r1.dsn@mx.example.org");
    const std::string text = format_dsn(report, original);
    check_lines(text);
    Parsed p = parse_report(text);

    CHECK(one(p.headers, "from") == "Mail Delivery System <MAILER-DAEMON@mx.example.org>");
    CHECK(one(p.headers, "to") == "<ann@example.org>");
    CHECK(one(p.headers, "subject") == "Undelivered Mail Returned to Sender");
    CHECK(one(p.headers, "date") == format_rfc5322_date(now));
    CHECK(one(p.headers, "message-id") == "<r1.dsn@mx.example.org>");
    CHECK(one(p.headers, "auto-submitted") == "auto-replied");
    CHECK(one(p.headers, "mime-version") == "1.0");
    CHECK(one(p.headers, "content-type").starts_with("multipart/report; report-type=delivery-status;"));
    CHECK(original.find(p.boundary) == std::string::npos);

    REQUIRE(p.parts.size() == 3);
    CHECK(one(p.parts[0].headers, "content-type") == "text/plain; charset=us-ascii");
    CHECK(p.parts[0].body.find("bob@remote.test") != std::string::npos);
    CHECK(p.parts[0].body.find("no such user") != std::string::npos);
    CHECK(p.parts[0].body.find("no MX or address records") != std::string::npos);

    CHECK(one(p.parts[1].headers, "content-type") == "message/delivery-status");
    std::vector<Fields> groups = parse_status(p.parts[1].body);
    REQUIRE(groups.size() == 3);
    CHECK(one(groups[0], "reporting-mta") == "dns; mx.example.org");
    CHECK(one(groups[0], "original-envelope-id") == "QQ314159");
    CHECK(one(groups[0], "arrival-date") == format_rfc5322_date(arrival));
    CHECK(groups[0].size() == 3);

    const Fields& bob = groups[1];
    CHECK(one(bob, "original-recipient") == "rfc822; Bob@Remote.test");
    CHECK(one(bob, "final-recipient") == "rfc822; bob@remote.test");
    CHECK(one(bob, "action") == "failed");
    CHECK(one(bob, "status") == "5.1.1");
    CHECK(one(bob, "remote-mta") == "dns; mx.remote.test");
    CHECK(one(bob, "diagnostic-code") == "smtp; 550 5.1.1 <bob@remote.test>: no such user");
    CHECK(one(bob, "last-attempt-date") == format_rfc5322_date(arrival + 60));
    CHECK(bob.count("will-retry-until") == 0);
    CHECK(bob.size() == 7);

    const Fields& carl = groups[2];
    CHECK(carl.count("original-recipient") == 0);
    CHECK(one(carl, "final-recipient") == "rfc822; carl@remote.test");
    CHECK(one(carl, "action") == "failed");
    CHECK(one(carl, "status") == "5.4.4");
    CHECK(carl.count("remote-mta") == 0);
    CHECK(carl.count("diagnostic-code") == 0);  // our own words, not a remote server's
    CHECK(one(carl, "last-attempt-date") == format_rfc5322_date(arrival + 120));

    CHECK(one(p.parts[2].headers, "content-type") == "message/rfc822");
    CHECK(p.parts[2].body == original);
}

TEST_CASE("dsn: the original's header block is attached intact for RET=HDRS, large and binary mail", "[queue][dsn]") {
    SpooledMessage m = spooled();
    const std::vector<std::size_t> which{0};
    std::string content = original;
    SECTION("RET=HDRS") {
        m.envelope.ret = "HDRS";
    }
    SECTION("no RET but larger than the limit") {
        m.envelope.ret.clear();
        content += std::string(200 * 1024, 'x').insert(0, "\r\n").append("\r\n");
        for (std::size_t i = 900; i < content.size(); i += 900) content.insert(i, "\r\n");
    }
    SECTION("BINARYMIME") {
        m.envelope.body = "BINARYMIME";
    }
    SECTION("a line longer than 998 bytes") {
        content += std::string(1500, 'y') + "\r\n";
    }
    const std::string text = format_dsn(make_dsn_report(m, DsnKind::failure, which, "mx.example.org", now, "r2@x"), content);
    check_lines(text);
    Parsed p = parse_report(text);
    REQUIRE(p.parts.size() == 3);
    CHECK(one(p.parts[2].headers, "content-type") == "text/rfc822-headers");
    CHECK(p.parts[2].body == original_headers);
}

TEST_CASE("dsn: delay report", "[queue][dsn]") {
    SpooledMessage m = spooled();
    SpoolRecipient& bob = m.envelope.recipients[0];
    bob.state = RecipientState::deferred;
    bob.code = 451;
    bob.status = "4.3.0";
    bob.last_error = "451 4.3.0 greylisted, try later";
    const std::vector<std::size_t> which{0};
    const std::int64_t until = arrival + 5 * 86400;
    const std::string text =
        format_dsn(make_dsn_report(m, DsnKind::delay, which, "mx.example.org", now, "r3@x", until), original);
    check_lines(text);
    Parsed p = parse_report(text);
    CHECK(one(p.headers, "subject") == "Delayed Mail (still being retried)");
    REQUIRE(p.parts.size() == 3);
    std::string human = p.parts[0].body;  // wrapped at 76 columns: join the lines again
    for (auto at = human.find("\r\n"); at != std::string::npos; at = human.find("\r\n")) human.replace(at, 2, " ");
    CHECK(human.find(format_rfc5322_date(until)) != std::string::npos);
    std::vector<Fields> groups = parse_status(p.parts[1].body);
    REQUIRE(groups.size() == 2);
    CHECK(one(groups[1], "action") == "delayed");
    CHECK(one(groups[1], "status") == "4.3.0");
    CHECK(one(groups[1], "diagnostic-code") == "smtp; 451 4.3.0 greylisted, try later");
    CHECK(one(groups[1], "will-retry-until") == format_rfc5322_date(until));
    // RFC 3461 4.3: only failures return the whole message, whatever RET says.
    CHECK(one(p.parts[2].headers, "content-type") == "text/rfc822-headers");
    CHECK(p.parts[2].body == original_headers);
}

TEST_CASE("dsn: success report says delivered for local and relayed for remote recipients", "[queue][dsn]") {
    SpooledMessage m = spooled();
    for (auto& r : m.envelope.recipients) {
        r.state = RecipientState::delivered;
        r.notify = "SUCCESS";
        r.code = 250;
        r.status = "2.0.0";
        r.last_error.clear();
    }
    m.envelope.recipients[1].local = true;
    const std::vector<std::size_t> which = dsn_recipients(m.envelope, DsnKind::success, true);
    REQUIRE(which.size() == 2);
    const std::string text = format_dsn(make_dsn_report(m, DsnKind::success, which, "mx.example.org", now, "r4@x"), original);
    check_lines(text);
    Parsed p = parse_report(text);
    CHECK(one(p.headers, "subject") == "Successful Mail Delivery Report");
    std::vector<Fields> groups = parse_status(p.parts[1].body);
    REQUIRE(groups.size() == 3);
    CHECK(one(groups[1], "action") == "relayed");
    CHECK(one(groups[1], "status") == "2.0.0");
    CHECK(groups[1].count("diagnostic-code") == 0);
    CHECK(one(groups[2], "action") == "delivered");
    CHECK(one(p.parts[2].headers, "content-type") == "text/rfc822-headers");
}

TEST_CASE("dsn: SMTPUTF8 mail gets message/global-delivery-status and message/global", "[queue][dsn]") {
    SpooledMessage m = spooled();
    m.envelope.smtputf8 = true;
    m.envelope.return_path = "änn@exämple.org";
    m.envelope.recipients[0].address = "jöhn@remote.test";
    const std::string utf8_original = "Subject: =?utf-8?q?h=C3=A9llo?=\r\nFrom: änn@exämple.org\r\n\r\nhé\r\n";
    const std::vector<std::size_t> which{0};
    const std::string text = format_dsn(make_dsn_report(m, DsnKind::failure, which, "mx.example.org", now, "r5@x"), utf8_original);
    check_lines(text);
    Parsed p = parse_report(text);
    CHECK(one(p.headers, "to") == "<änn@exämple.org>");
    REQUIRE(p.parts.size() == 3);
    CHECK(one(p.parts[0].headers, "content-type") == "text/plain; charset=utf-8");
    CHECK(one(p.parts[1].headers, "content-type") == "message/global-delivery-status");
    std::vector<Fields> groups = parse_status(p.parts[1].body);
    REQUIRE(groups.size() == 2);
    CHECK(one(groups[1], "final-recipient") == "utf-8; jöhn@remote.test");
    CHECK(one(p.parts[2].headers, "content-type") == "message/global");
    CHECK(one(p.parts[2].headers, "content-transfer-encoding") == "8bit");
    CHECK(p.parts[2].body == utf8_original);
    CHECK(dsn_envelope(m.envelope, text, now).smtputf8);
    CHECK(dsn_envelope(m.envelope, text, now).body == "8BITMIME");
}

TEST_CASE("dsn: the boundary never occurs in the original", "[queue][dsn]") {
    const SpooledMessage m = spooled();
    const std::vector<std::size_t> which{0};
    const DsnReport report = make_dsn_report(m, DsnKind::failure, which, "mx.example.org", now, "same-id@x");
    const std::string first = parse_report(format_dsn(report, original)).boundary;
    // An original that holds the boundary the same report would have chosen, delimiter and all.
    const std::string hostile = original_headers + "\r\n--" + first + "\r\nContent-Type: text/plain\r\n\r\nforged\r\n--" + first + "--\r\n";
    const std::string text = format_dsn(report, hostile);
    Parsed p = parse_report(text);
    CHECK(p.boundary != first);
    CHECK(hostile.find(p.boundary) == std::string::npos);
    REQUIRE(p.parts.size() == 3);
    CHECK(p.parts[2].body == hostile);
}

TEST_CASE("dsn: long remote replies are folded, never past 998 bytes, and unfold to the same text", "[queue][dsn]") {
    SpooledMessage m = spooled();
    std::string words;
    for (int i = 0; i < 300; ++i) words += "word" + std::to_string(i) + " ";
    words.pop_back();
    const std::string unbroken(3000, 'z');
    m.envelope.recipients[0].last_error = "550 5.7.1 " + words;
    m.envelope.recipients[1].remote_reply = true;
    m.envelope.recipients[1].last_error = "550 5.7.1 " + unbroken;
    m.envelope.recipients[1].address = "carl\r\nX-Injected: yes@remote.test";
    const std::vector<std::size_t> which{0, 1};
    const std::string text = format_dsn(make_dsn_report(m, DsnKind::failure, which, "mx.example.org", now, "r6@x"), original);
    check_lines(text);
    Parsed p = parse_report(text);
    std::vector<Fields> groups = parse_status(p.parts[1].body);
    REQUIRE(groups.size() == 3);
    CHECK(one(groups[1], "diagnostic-code") == "smtp; 550 5.7.1 " + words);
    const std::string cut = one(groups[2], "diagnostic-code");
    CHECK(cut.size() >= unbroken.size());  // all of it is there, split by inserted spaces
    CHECK(groups[2].count("x-injected") == 0);
    CHECK(one(groups[2], "final-recipient") == "rfc822; carl  X-Injected: yes@remote.test");
}

TEST_CASE("dsn: the envelope of a report and unique message ids", "[queue][dsn]") {
    const SpooledMessage m = spooled();
    Envelope e = dsn_envelope(m.envelope, "Subject: x\r\n\r\nascii\r\n", now);
    CHECK(e.return_path.empty());  // RFC 5321 4.5.5: the null sender
    REQUIRE(e.recipients.size() == 1);
    CHECK(e.recipients[0].address == "ann@example.org");
    CHECK(e.recipients[0].notify == "NEVER");
    CHECK(e.recipients[0].state == RecipientState::pending);
    CHECK(e.created == now);
    CHECK(e.body == "7BIT");
    CHECK_FALSE(e.smtputf8);
    // The report about that report: none, its return path is null.
    e.recipients[0].state = RecipientState::bounced;
    CHECK(dsn_recipients(e, DsnKind::failure, true).empty());

    const std::string a = make_dsn_message_id("mx.example.org", now);
    const std::string b = make_dsn_message_id("mx.example.org", now);
    CHECK(a != b);
    CHECK(a.ends_with("@mx.example.org"));
}
