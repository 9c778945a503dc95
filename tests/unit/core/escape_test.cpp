// %XX escaping of one-line values (the spool's envelopes, the maildrop).
#include "core/escape.hpp"

#include "core/error.hpp"
#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <string>

using vpsmail::ErrorKind;
using vpsmail::escape_value;
using vpsmail::HexDigits;
using vpsmail::unescape_value;
using vpsmail::test::error_of;

TEST_CASE("escape_value: every byte 0..255 survives the round trip, on one line", "[core][escape]") {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    const std::string escaped = escape_value(all);
    for (unsigned char c : escaped) {
        INFO("byte " << static_cast<int>(c));
        CHECK((c >= 0x20 && c != 0x7f));
    }
    CHECK(unescape_value(escaped, "test") == all);
    CHECK(unescape_value(escaped, "test", HexDigits::upper_case) == all);
    for (int c = 0; c < 256; ++c) {
        const std::string one(1, static_cast<char>(c));
        INFO("byte " << c);
        CHECK(unescape_value(escape_value(one), "test", HexDigits::upper_case) == one);
    }
}

TEST_CASE("escape_value: '%', control bytes and DEL as upper-case %XX, the rest as it is", "[core][escape]") {
    struct Case {
        std::string in, want;
    };
    const Case cases[] = {
        {"", ""},
        {"ann@example.org", "ann@example.org"},
        {"50%", "50%25"},
        {"a\r\nb", "a%0D%0Ab"},
        {std::string("\0\x1f\x7f", 3), "%00%1F%7F"},
        {"caf\xc3\xa9 x", "caf\xc3\xa9 x"},
    };
    for (const auto& c : cases) {
        INFO("in '" << c.in << "': got '" << escape_value(c.in) << "', want '" << c.want << "'");
        CHECK(escape_value(c.in) == c.want);
    }
}

TEST_CASE("unescape_value: a bad escape names the caller and the value", "[core][escape]") {
    for (const char* bad : {"%", "a%4", "%zz", "%4g", "x%%41", "%-1", "% 1"}) {
        INFO("value '" << bad << "'");
        CHECK(error_of([&] { unescape_value(bad, "envelope"); }, ErrorKind::bad_data) ==
              std::string("envelope: bad escape in '") + bad + "'");
        CHECK(error_of([&] { unescape_value(bad, "maildrop", HexDigits::upper_case); }, ErrorKind::bad_data) ==
              std::string("maildrop: bad escape in '") + bad + "'");
    }
}

TEST_CASE("unescape_value: lower-case hex only when any case is allowed", "[core][escape]") {
    CHECK(unescape_value("a%0d%0Ab%7f", "test") == "a\r\nb\x7f");
    CHECK(unescape_value("a%0d%0Ab%7f", "test", HexDigits::any_case) == "a\r\nb\x7f");
    CHECK(error_of([] { unescape_value("a%0d", "maildrop", HexDigits::upper_case); }, ErrorKind::bad_data) ==
          "maildrop: bad escape in 'a%0d'");
    CHECK(error_of([] { unescape_value("%aB", "maildrop", HexDigits::upper_case); }, ErrorKind::bad_data) ==
          "maildrop: bad escape in '%aB'");
    CHECK(unescape_value("%AB%0D", "maildrop", HexDigits::upper_case) == "\xab\r");
}
