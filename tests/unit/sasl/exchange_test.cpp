#include "sasl/exchange.hpp"
#include "wire/base64.hpp"

#include <catch2/catch.hpp>

#include <string>

using vpsmail::sasl::Exchange;
using vpsmail::sasl::Mechanism;
using vpsmail::sasl::Step;
using Kind = vpsmail::sasl::Step::Kind;

namespace {

std::string b64(std::string_view text) { return vpsmail::wire::encode_base64(text); }
std::string plain(std::string_view authzid, std::string_view authcid, std::string_view password) {
    std::string m(authzid);
    m += '\0';
    m += authcid;
    m += '\0';
    m += password;
    return b64(m);
}

// One line per step: "challenge <text>", "done <user> <password>", "<kind> <reason>".
std::string describe(const Step& s) {
    switch (s.kind) {
    case Kind::challenge: return "challenge " + s.challenge;
    case Kind::done: return "done " + s.credentials.username + " " + s.credentials.password;
    case Kind::cancelled: return "cancelled";
    case Kind::malformed: return "malformed " + s.reason;
    case Kind::refused: return "refused " + s.reason;
    }
    return "?";
}

}  // namespace

TEST_CASE("find_mechanism is case-insensitive and knows PLAIN and LOGIN only", "[sasl]") {
    CHECK(vpsmail::sasl::find_mechanism("plain") == Mechanism::plain);
    CHECK(vpsmail::sasl::find_mechanism("LOGIN") == Mechanism::login);
    CHECK(vpsmail::sasl::find_mechanism("Login") == Mechanism::login);
    CHECK_FALSE(vpsmail::sasl::find_mechanism("CRAM-MD5"));
    CHECK_FALSE(vpsmail::sasl::find_mechanism(""));
    CHECK(std::string(vpsmail::sasl::mechanism_name(Mechanism::login)) == "LOGIN");
}

TEST_CASE("PLAIN with an initial response", "[sasl][plain]") {
    struct Case {
        std::string response;
        std::string want;
    };
    const Case cases[] = {
        {plain("", "alice@example.org", "s3cret"), "done alice@example.org s3cret"},
        {plain("alice@example.org", "alice@example.org", "pw"), "done alice@example.org pw"},
        {plain("bob@example.org", "alice@example.org", "pw"), "refused authorization identity differs from the username"},
        {plain("", "", "pw"), "malformed PLAIN needs a username and a password"},
        {plain("", "alice", ""), "malformed PLAIN needs a username and a password"},
        {b64("alice pw"), "malformed PLAIN needs authzid NUL authcid NUL password"},
        {b64(std::string("a\0b\0c\0d", 7)), "malformed PLAIN needs authzid NUL authcid NUL password"},
        {plain("", std::string(256, 'u'), "pw"), "malformed a PLAIN field is longer than 255 octets"},
        {plain("", "alice", std::string(255, 'p')), "done alice " + std::string(255, 'p')},
        {"AGFsaWNl!!!", "malformed the response is not valid base64"},
        {"=", "malformed PLAIN needs authzid NUL authcid NUL password"},
        {"*", "cancelled"},
    };
    for (const auto& c : cases) {
        INFO(c.response);
        Exchange x(Mechanism::plain);
        CHECK(describe(x.start(c.response)) == c.want);
        CHECK(x.respond(plain("", "a", "b")).kind == Kind::malformed);  // the exchange is over
    }
}

TEST_CASE("PLAIN without an initial response sends an empty challenge", "[sasl][plain]") {
    Exchange x(Mechanism::plain);
    CHECK(describe(x.start(std::nullopt)) == "challenge ");
    CHECK(describe(x.respond(plain("", "alice", "pw"))) == "done alice pw");

    Exchange cancelled(Mechanism::plain);
    cancelled.start(std::nullopt);
    CHECK(describe(cancelled.respond("*")) == "cancelled");
}

TEST_CASE("LOGIN asks for username then password", "[sasl][login]") {
    Exchange x(Mechanism::login);
    CHECK(describe(x.start(std::nullopt)) == "challenge VXNlcm5hbWU6");
    CHECK(describe(x.respond(b64("alice"))) == "challenge UGFzc3dvcmQ6");
    CHECK(describe(x.respond(b64("pw"))) == "done alice pw");

    Exchange initial(Mechanism::login);  // the username as initial response
    CHECK(describe(initial.start(b64("bob"))) == "challenge UGFzc3dvcmQ6");
    CHECK(describe(initial.respond(b64("secret"))) == "done bob secret");

    Exchange cancel(Mechanism::login);
    cancel.start(std::nullopt);
    cancel.respond(b64("alice"));
    CHECK(describe(cancel.respond("*")) == "cancelled");

    Exchange empty(Mechanism::login);
    empty.start(std::nullopt);
    CHECK(describe(empty.respond("")) == "malformed LOGIN needs a username of 1 to 255 octets without NUL");

    Exchange nul(Mechanism::login);
    nul.start(std::nullopt);
    nul.respond(b64("alice"));
    CHECK(describe(nul.respond(b64(std::string("p\0w", 3)))) == "malformed LOGIN needs a password of 1 to 255 octets without NUL");

    Exchange garbage(Mechanism::login);
    garbage.start(std::nullopt);
    CHECK(describe(garbage.respond("not base64")) == "malformed the response is not valid base64");
}
