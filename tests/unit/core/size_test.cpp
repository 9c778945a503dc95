#include "core/error.hpp"
#include "core/size.hpp"

#include <catch2/catch.hpp>

TEST_CASE("parse_size", "[core][size]") {
    struct Case {
        const char* input;
        std::uint64_t want;
    };
    const Case cases[] = {
        {"0", 0},           {"1234", 1234},          {"500K", 500ull << 10}, {"500M", 500ull << 20},
        {"2G", 2ull << 30}, {"2g", 2ull << 30},      {"1T", 1ull << 40},     {"10MB", 10ull << 20},
        {"10MiB", 10ull << 20}, {"7B", 7},
    };
    for (const auto& c : cases) {
        SECTION(c.input) { CHECK(vpsmail::parse_size(c.input) == c.want); }
    }
    for (const char* bad : {"", "M", "-5M", "5X", "1.5G", "99999999999999999999", "20000000T", "5 M"}) {
        SECTION(std::string("refuses ") + bad) {
            try {
                vpsmail::parse_size(bad);
                FAIL("accepted " << bad);
            } catch (const vpsmail::Error& e) {
                CHECK(e.kind() == vpsmail::ErrorKind::bad_data);
                CHECK_THAT(e.what(), Catch::Contains(std::string("'") + bad + "'"));
            }
        }
    }
}

TEST_CASE("format_size is the shortest exact form", "[core][size]") {
    CHECK(vpsmail::format_size(0) == "0");
    CHECK(vpsmail::format_size(2ull << 30) == "2G");
    CHECK(vpsmail::format_size(500ull << 20) == "500M");
    CHECK(vpsmail::format_size(1000) == "1000");
    CHECK(vpsmail::parse_size(vpsmail::format_size(123456789)) == 123456789);
}
