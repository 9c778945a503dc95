#include "mailstore/unique_name.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <unistd.h>
#include <unordered_set>
#include <vector>

using vpsmail::mailstore::escape_host;
using vpsmail::mailstore::find_message_size;
using vpsmail::mailstore::format_new_name;
using vpsmail::mailstore::format_unique_name;
using vpsmail::mailstore::make_unique_name;
using vpsmail::mailstore::UniqueNameParts;

TEST_CASE("unique names have Dovecot's form, the host escaped", "[mailstore][unique_name]") {
    struct Case {
        UniqueNameParts parts;
        std::string want;
    };
    const Case cases[] = {
        {{1700000000, 42, 1234, 7, "mx.example.org"}, "1700000000.M42P1234Q7.mx.example.org"},
        {{1, 999999, 1, 18446744073709551615u, "h"}, "1.M999999P1Q18446744073709551615.h"},
        // Maildir spec: "/" -> \057, ":" -> \072.
        {{5, 0, 2, 1, "a/b:c"}, "5.M0P2Q1.a\\057b\\072c"},
        {{5, 0, 2, 1, "::"}, "5.M0P2Q1.\\072\\072"},
    };
    for (const Case& c : cases) {
        std::string got = format_unique_name(c.parts);
        INFO("host " << c.parts.host << ": got " << got << ", want " << c.want);
        CHECK(got == c.want);
    }
    CHECK(escape_host("plain.example") == "plain.example");
    CHECK(format_new_name("1.M2P3Q4.h", 4096) == "1.M2P3Q4.h,S=4096");
    CHECK(format_new_name("1.M2P3Q4.h", 0) == "1.M2P3Q4.h,S=0");
}

TEST_CASE("a made name carries this process and no '/' or ':'", "[mailstore][unique_name]") {
    std::string name = make_unique_name();
    INFO("got " << name);
    std::regex shape("^[0-9]+\\.M[0-9]{1,6}P" + std::to_string(::getpid()) + "Q[0-9]+\\.[^/:]+$");
    CHECK(std::regex_match(name, shape));
}

TEST_CASE("names are unique across 8 threads x 10,000", "[mailstore][unique_name]") {
    constexpr int threads = 8;
    constexpr int per_thread = 10000;
    std::vector<std::vector<std::string>> made(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&made, t] {
            made[t].reserve(per_thread);
            for (int i = 0; i < per_thread; ++i) made[t].push_back(make_unique_name());
        });
    for (auto& w : workers) w.join();
    std::unordered_set<std::string> seen;
    for (const auto& names : made) seen.insert(names.begin(), names.end());
    CHECK(seen.size() == static_cast<std::size_t>(threads * per_thread));
}

TEST_CASE("the size field is read from a name, before the info part", "[mailstore][unique_name]") {
    struct Case {
        std::string name;
        std::optional<std::uint64_t> want;
    };
    const Case cases[] = {
        {"1.M2P3Q4.host,S=1234", 1234},
        {"1.M2P3Q4.host,S=0", 0},
        {"1.M2P3Q4.host,S=1234:2,S", 1234},         // cur/ with flags
        {"1.M2P3Q4.host,S=1234,W=1290:2,RS", 1234}, // Dovecot's W= after it
        {"1.M2P3Q4.h,S=9,S=77", 77},                // the last one: a host could hold ",S="
        {"1.M2P3Q4.host,S=9999999999999999999", 9999999999999999999u},
        {"1.M2P3Q4.host", std::nullopt},
        {"1.M2P3Q4.host:2,S", std::nullopt},        // the S flag is not a size
        {"1.M2P3Q4.host:2,S=12", std::nullopt},     // after ":" is info, not fields
        {"1.M2P3Q4.host,S=", std::nullopt},
        {"1.M2P3Q4.host,S=12a", std::nullopt},
        {"1.M2P3Q4.host,S=-1", std::nullopt},
        {"1.M2P3Q4.host,S=99999999999999999999", std::nullopt},  // 20 digits
        {"", std::nullopt},
    };
    for (const Case& c : cases) {
        auto got = find_message_size(c.name);
        INFO(c.name << ": got " << (got ? std::to_string(*got) : "none") << ", want "
                    << (c.want ? std::to_string(*c.want) : "none"));
        CHECK(got == c.want);
    }
}
