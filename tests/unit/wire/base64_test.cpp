#include "wire/base64.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>

using vpsmail::wire::decode_base64;
using vpsmail::wire::encode_base64;

TEST_CASE("base64 encodes the RFC 4648 test vectors", "[wire][base64]") {
    // RFC 4648 10
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        INFO(plain);
        CHECK(encode_base64(plain) == encoded);
        CHECK(decode_base64(encoded) == std::optional<std::string>(plain));
    }
    CHECK(encode_base64(std::string("\0user\0pass", 10)) == "AHVzZXIAcGFzcw==");
    CHECK(decode_base64("/+8=") == std::optional<std::string>("\xff\xef"));
}

TEST_CASE("base64 round-trips every byte value", "[wire][base64]") {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t len = 0; len <= all.size(); len += 17) {
        auto part = all.substr(all.size() - len);
        CHECK(decode_base64(encode_base64(part)) == std::optional<std::string>(part));
    }
}

TEST_CASE("base64 decoding is strict", "[wire][base64]") {
    const char* bad[] = {
        "Zg",        // length not a multiple of 4
        "Zg=",       // same
        "Zm9v\r\n",  // line break
        "Zm 9v",     // space
        "Zm9v====",  // padding group
        "Z===",      // three padding characters
        "Zg==Zg==",  // padding in the middle
        "Zm=v",      // '=' before data
        "Zh==",      // non-zero bits under the padding (RFC 4648 3.5)
        "Zm9=",      // same, one padding character
        "Zm9v*A==",  // outside the alphabet
    };
    for (const char* text : bad) {
        INFO(text);
        CHECK_FALSE(decode_base64(text));
    }
}
