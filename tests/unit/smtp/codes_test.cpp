#include "smtp/codes.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace vpsmail::smtp;

TEST_CASE("every 2xx/4xx/5xx reply carries a matching enhanced status", "[smtp][codes]") {
    for (int i = 0; i <= static_cast<int>(ReplyId::unknown_parameter); ++i) {
        Reply r = reply(static_cast<ReplyId>(i));
        INFO("row " << i << ": " << r.code << " " << r.status << " " << r.text);
        CHECK(r.code >= 200);
        CHECK(r.code < 600);
        bool exempt = r.code == 220 && r.status.empty();  // greeting (RFC 2034 3)
        exempt = exempt || (r.code == 250 && r.status.empty()) || r.code / 100 == 3;
        if (exempt) continue;
        REQUIRE(r.status.size() >= 5);
        // RFC 3463 2: the class digit equals the reply's first digit.
        CHECK(r.status.front() == static_cast<char>('0' + r.code / 100));
    }
}

TEST_CASE("format_reply and format_reply_lines", "[smtp][codes]") {
    CHECK(format_reply(reply(ReplyId::sender_ok)) == "250 2.1.0 Sender ok\r\n");
    CHECK(format_reply(reply(ReplyId::queued, "S1.1")) == "250 2.0.0 Ok: queued as S1.1\r\n");
    CHECK(format_reply(reply(ReplyId::auth_challenge)) == "334 \r\n");
    CHECK(format_reply(reply(ReplyId::auth_challenge, "VXNlcm5hbWU6")) == "334 VXNlcm5hbWU6\r\n");
    CHECK(format_reply(Reply{550, "5.1.1", "evil\r\n250 ok"}) == "550 5.1.1 evil??250 ok\r\n");
    CHECK(format_reply(Reply{550, "5.0.0", std::string(600, 'x')}).size() == 512);
    std::vector<std::string> lines{"mx.example.org", "PIPELINING", "SIZE 10"};
    CHECK(format_reply_lines(250, "", lines) == "250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    std::vector<std::string> help{"a", "b"};
    CHECK(format_reply_lines(214, "2.0.0", help) == "214-2.0.0 a\r\n214 2.0.0 b\r\n");
    CHECK(format_reply_lines(250, "", std::vector<std::string>{}).empty());
}

TEST_CASE("reply_for maps error kinds (the SMTP row of docs/architecture.md section 6)", "[smtp][codes]") {
    using vpsmail::Error;
    using vpsmail::ErrorKind;
    struct Case {
        ErrorKind kind;
        const char* want;
    };
    const Case cases[] = {
        {ErrorKind::temporary, "451 4.3.0"},     {ErrorKind::no_such_user, "550 5.1.1"},
        {ErrorKind::no_such_domain, "550 5.1.2"}, {ErrorKind::permission, "550 5.7.1"},
        {ErrorKind::limit, "552 5.3.4"},         {ErrorKind::bad_data, "501 5.5.4"},
        {ErrorKind::internal, "421 4.3.0"},      {ErrorKind::config, "421 4.3.0"},
        {ErrorKind::no_space, "452 4.3.1"},
        {ErrorKind::not_found, "550 5.1.1"},     {ErrorKind::in_use, "450 4.2.0"},
        {ErrorKind::over_quota, "552 5.2.2"},
    };
    for (const auto& c : cases) {
        Reply r = reply_for(Error(c.kind, "x"));
        CHECK(std::to_string(r.code) + " " + r.status == c.want);
    }
    CHECK(reply_for(Error(ErrorKind::internal, "x")).closes());
    CHECK_FALSE(reply_for(Error(ErrorKind::temporary, "x")).closes());
    CHECK_FALSE(reply_for(Error(ErrorKind::no_space, "x")).closes());
}
