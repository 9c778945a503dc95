// StringTable (store/string_table.hpp) against std::unordered_map, through many random puts,
// replacements and erases: growth, deleted slots, arena compaction.
#include "store/string_table.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <unordered_map>

using vpsmail::store::StringTable;

TEST_CASE("string table: empty table finds nothing", "[string_table]") {
    StringTable t;
    CHECK_FALSE(t.find("x").has_value());
    CHECK_FALSE(t.erase("x"));
    CHECK(t.size() == 0);
    t.put("", "");
    CHECK(t.find("") == std::string_view());
    CHECK(t.size() == 1);
}

TEST_CASE("string table: agrees with unordered_map through random operations", "[string_table]") {
    StringTable t;
    std::unordered_map<std::string, std::string> reference;
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> key_of(0, 20000), op_of(0, 9), length_of(0, 300);
    for (int i = 0; i < 300000; ++i) {
        std::string key = "k" + std::to_string(key_of(rng)) + "@d.test";
        int op = op_of(rng);
        if (op < 6) {
            std::string value(static_cast<std::size_t>(length_of(rng)), static_cast<char>('a' + i % 26));
            value += std::to_string(i);
            t.put(key, value);
            reference[key] = value;
        } else if (op < 9) {
            CHECK(t.erase(key) == (reference.erase(key) == 1));
        } else {
            auto found = t.find(key);
            auto it = reference.find(key);
            REQUIRE(found.has_value() == (it != reference.end()));
            if (found) CHECK(*found == it->second);
        }
    }
    REQUIRE(t.size() == reference.size());
    for (const auto& [key, value] : reference) REQUIRE(t.find(key) == std::string_view(value));
    // Erase everything: lookups still end (deleted slots never fill the table).
    for (const auto& [key, value] : reference) REQUIRE(t.erase(key));
    CHECK(t.size() == 0);
    CHECK_FALSE(t.find("k1@d.test").has_value());
    t.put("again", "yes");
    CHECK(t.find("again") == std::string_view("yes"));
}

TEST_CASE("string table: reserve then a million entries", "[string_table]") {
    StringTable t;
    t.reserve(1000000);
    for (int i = 0; i < 1000000; ++i) t.put("v" + std::to_string(i) + "@d0001.bench", "u" + std::to_string(i % 100));
    CHECK(t.size() == 1000000);
    CHECK(t.find("v999999@d0001.bench") == std::string_view("u99"));
    CHECK_FALSE(t.find("v1000000@d0001.bench").has_value());
}

TEST_CASE("string table: replacing values over and over reclaims the old ones", "[string_table]") {
    StringTable t;
    const std::string big(1000, 'x');
    for (int i = 0; i < 20000; ++i) t.put("k" + std::to_string(i % 10), big + std::to_string(i));
    CHECK(t.size() == 10);
    for (int k = 0; k < 10; ++k) CHECK(t.find("k" + std::to_string(k)) == std::string_view(big + std::to_string(19990 + k)));
    CHECK(t.arena_bytes() < (4u << 20));  // 20 MB were written; most of it was given back
}
