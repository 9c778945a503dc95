#include "auth/password.hpp"

#include "core/error.hpp"

#include <catch2/catch.hpp>
#include <crypt.h>

#include <memory>
#include <string>
#include <vector>

using vpsmail::Error;
using vpsmail::ErrorKind;
using vpsmail::auth::hash_needs_upgrade;
using vpsmail::auth::hash_password;
using vpsmail::auth::normalize_password_hash;
using vpsmail::auth::verify_password;

namespace {

// A hash made independently of the code under test: crypt_gensalt_rn + crypt_r.
std::string make_hash(const char* prefix, const std::string& password, unsigned long count = 0) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    REQUIRE(crypt_gensalt_rn(prefix, count, nullptr, 0, setting, sizeof setting) != nullptr);
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_r(password.c_str(), setting, data.get());
    REQUIRE(out != nullptr);
    REQUIRE(out[0] != '*');
    return out;
}

std::string setting_of(const char* prefix) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    REQUIRE(crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting) != nullptr);
    return setting;
}

}  // namespace

TEST_CASE("hash_password makes a salted yescrypt hash that verify_password accepts", "[auth]") {
    const std::string h1 = hash_password("correct horse");
    const std::string h2 = hash_password("correct horse");
    INFO("got " << h1);
    CHECK(h1.rfind("$y$", 0) == 0);
    CHECK(h1 != h2);  // fresh salt each time
    CHECK(verify_password("correct horse", h1));
    CHECK(verify_password("correct horse", h2));
    CHECK_FALSE(verify_password("correct horsE", h1));
    CHECK_FALSE(verify_password("", h1));
    CHECK_FALSE(hash_needs_upgrade(h1));
    CHECK(normalize_password_hash(h1) == h1);

    CHECK_THROWS_AS(hash_password(std::string("a\0b", 3)), Error);
    CHECK_FALSE(verify_password(std::string("correct horse\0x", 15), h1));
}

TEST_CASE("verify_password accepts every crypt(3) scheme, with or without a Dovecot prefix", "[auth]") {
    struct Case {
        const char* prefix;       // crypt_gensalt method
        const char* dovecot;      // scheme label put in front, may be ""
    };
    const std::vector<Case> cases = {
        {"$y$", ""}, {"$y$", "{CRYPT}"}, {"$6$", ""}, {"$6$", "{SHA512-CRYPT}"}, {"$5$", "{sha256-crypt}"},
        {"$2b$", "{BLF-CRYPT}"}, {"$1$", "{MD5-CRYPT}"}, {"$1$", ""},
    };
    for (const Case& c : cases) {
        const std::string hash = std::string(c.dovecot) + make_hash(c.prefix, "s3cret");
        INFO("hash " << hash);
        CHECK(verify_password("s3cret", hash));
        CHECK_FALSE(verify_password("s3cret ", hash));
        CHECK_FALSE(verify_password("S3cret", hash));
        CHECK(normalize_password_hash(hash) == hash.substr(std::string(c.dovecot).size()));
    }
}

TEST_CASE("locked, empty and foreign hashes never verify", "[auth]") {
    const std::string good = make_hash("$6$", "pw");
    const std::vector<std::string> hashes = {"", "!" + good, "*" + good, "*", "!", "{PLAIN}pw", "{SSHA}" + good,
                                             "{SHA512-CRYPT", "pw", setting_of("$y$")};
    for (const std::string& hash : hashes) {
        INFO("hash '" << hash << "': got true, want false");
        CHECK_FALSE(verify_password("pw", hash));
    }
}

TEST_CASE("hash_needs_upgrade flags legacy methods", "[auth]") {
    struct Case {
        std::string hash;
        bool want;
    };
    for (const Case& c : {Case{make_hash("$y$", "pw"), false}, Case{"{CRYPT}" + make_hash("$y$", "pw"), false},
                          Case{make_hash("$1$", "pw"), true}, Case{"{PLAIN}pw", true}, Case{"", true}}) {
        INFO("hash '" << c.hash << "': want " << c.want);
        CHECK(hash_needs_upgrade(c.hash) == c.want);
    }
}

TEST_CASE("normalize_password_hash refuses what is not a full crypt(3) hash", "[auth]") {
    const std::string y = make_hash("$y$", "pw");
    const std::string six = make_hash("$6$", "pw");
    struct Case {
        std::string hash;
        std::string why;  // part of the message
    };
    const std::vector<Case> cases = {
        {"", "empty"},
        {"{PLAIN}secret", "{PLAIN} scheme is not a crypt(3) hash"},
        {"{SSHA}" + six, "{SSHA} scheme"},
        {"{SHA512-CRYPT", "unclosed"},
        {"{CRYPT}", "nothing follows"},
        {six + " ", "whitespace or control"},
        {y + "\n", "whitespace or control"},
        {std::string("$6$\0x", 5), "whitespace or control"},
        {"!" + six, "locked"},
        {"*", "locked"},
        {"plaintext-password", "not a complete hash"},
        {"$9$x", "does not know"},
        {setting_of("$y$"), "not a complete hash"},
        {setting_of("$2b$"), "not a complete hash"},
        {six.substr(0, six.size() - 5), "not a complete hash"},
        {"$2b$31$" + std::string(53, 'a'), "bcrypt cost 31 is too high"},
        {"$6$rounds=999999999$salt$" + std::string(86, 'a'), "rounds=999999999 are too many"},
        {"$6$" + std::string(500, 'a'), "too long"},
    };
    for (const Case& c : cases) {
        INFO("hash '" << c.hash << "': want refusal containing '" << c.why << "'");
        try {
            normalize_password_hash(c.hash);
            FAIL("got no error");
        } catch (const Error& e) {
            const std::string msg = e.what();
            INFO("got " << msg);
            CHECK(e.kind() == ErrorKind::bad_data);
            CHECK_THAT(msg, Catch::StartsWith("invalid password hash '") && Catch::Contains(c.why) &&
                                Catch::EndsWith("give a crypt(3) hash such as $y$..., $6$..., $2b$..."));
            CHECK(msg.size() < 200);  // a long hash is not echoed whole
        }
    }
}

TEST_CASE("normalize_password_hash accepts legacy and explicit-cost hashes", "[auth]") {
    for (const std::string& hash : {make_hash("$1$", "pw"), make_hash("$6$", "pw", 10000), make_hash("$5$", "pw"),
                                    make_hash("$2b$", "pw", 5), make_hash("$2y$", "pw", 4)}) {
        INFO("hash " << hash);
        CHECK(normalize_password_hash(hash) == hash);
    }
}
