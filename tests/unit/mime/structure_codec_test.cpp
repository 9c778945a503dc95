#include "core/error.hpp"
#include "mime/imap_form.hpp"
#include "mime/structure_codec.hpp"
#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>

using namespace vpsmail;
using vpsmail::test::error_of;

namespace {

const char* const message =
    "From: \"A\" <a@example.org>\n"
    "Subject: =?utf-8?q?x?=\n"
    "Content-Type: multipart/mixed; boundary=b\n"
    "\n"
    "--b\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Language: en, de\n"
    "\n"
    "caf\xc3\xa9\n"
    "--b\n"
    "Content-Type: message/rfc822\n"
    "Content-Disposition: inline; filename*=utf-8''a%20b\n"
    "Content-ID: <x@y>\n"
    "Content-Description: d\n"
    "Content-MD5: m\n"
    "Content-Location: l\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "From: b@example.org\n"
    "\n"
    "inner\n"
    "--b--\n";

}  // namespace

TEST_CASE("serialize and deserialize give back the structure", "[mime][codec]") {
    for (const char* m : {message, "", "x", "Subject: s\n\nbody\n"}) {
        const auto s = mime::parse_structure(m);
        const std::string bytes = mime::serialize(s);
        CHECK(static_cast<std::uint8_t>(bytes.front()) == mime::structure_format);
        const auto back = mime::deserialize(bytes);
        CHECK(back == s);
        CHECK(mime::bodystructure(back) == mime::bodystructure(s));
    }
}

TEST_CASE("deserialize refuses what serialize did not write", "[mime][codec]") {
    const std::string good = mime::serialize(mime::parse_structure(message));
    error_of([] { mime::deserialize(""); }, ErrorKind::bad_data);
    std::string other = good;
    other[0] = 2;
    CHECK(error_of([&] { mime::deserialize(other); }, ErrorKind::bad_data).find("version 2") != std::string::npos);
    for (std::size_t n = 1; n < good.size(); ++n) {
        INFO("truncated to " << n);
        error_of([&] { mime::deserialize(good.substr(0, n)); }, ErrorKind::bad_data);
    }
    error_of([&] { mime::deserialize(good + "x"); }, ErrorKind::bad_data);

    // A part listed as its own child, or a child before its parent.
    mime::Structure loop = mime::parse_structure(message);
    loop.parts[1].children.push_back(1);
    error_of([&] { mime::deserialize(mime::serialize(loop)); }, ErrorKind::bad_data);
    mime::Structure range = mime::parse_structure(message);
    range.parts[2].body_length = range.size;
    error_of([&] { mime::deserialize(mime::serialize(range)); }, ErrorKind::bad_data);
    mime::Structure deep;
    deep.parts.resize(mime::max_depth + 1);
    deep.parts[0].message_root = true;
    for (std::size_t i = 0; i + 1 < deep.parts.size(); ++i) {
        deep.parts[i].kind = mime::Part::Kind::multipart;
        deep.parts[i].children = {static_cast<std::uint32_t>(i + 1)};
    }
    error_of([&] { mime::deserialize(mime::serialize(deep)); }, ErrorKind::bad_data);
    deep.parts.pop_back();
    deep.parts.back().kind = mime::Part::Kind::leaf;
    deep.parts.back().children.clear();
    CHECK(mime::deserialize(mime::serialize(deep)) == deep);

    // Random damage either throws bad_data or gives a structure the writers can show.
    std::mt19937 random(11);
    for (int i = 0; i < 2000; ++i) {
        std::string bytes = good;
        bytes[1 + random() % (bytes.size() - 1)] = static_cast<char>(random());
        try {
            const auto s = mime::deserialize(bytes);
            CHECK(!mime::bodystructure(s).empty());
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::bad_data);
        }
    }
}
