// Runs every tests/dialogues/smtp/**/*.dlg in every split (support/dialogue.hpp). With
// VPSMAIL_DIALOGUE set to a file, only that one: CTest runs each file as its own case.
#include "support/dialogue.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

using vpsmail::test::Dialogue;
using vpsmail::test::Split;
using vpsmail::test::parse_dialogue;
using vpsmail::test::run_dialogue;

namespace {

std::filesystem::path dialogue_root() { return std::filesystem::path(VPSMAIL_SOURCE_DIR) / "tests" / "dialogues" / "smtp"; }

}  // namespace

TEST_CASE("SMTP dialogues", "[smtp][dialogue]") {
    const char* only = std::getenv("VPSMAIL_DIALOGUE");
    auto files = vpsmail::test::find_dialogues(dialogue_root());
    REQUIRE(files.size() >= 40);
    int ran = 0;
    for (const auto& file : files) {
        if (only != nullptr && *only != '\0' && std::filesystem::path(only) != file) continue;
        Dialogue dialogue = vpsmail::test::load_dialogue(file, dialogue_root());
        for (Split split : vpsmail::test::all_splits) {
            INFO(dialogue.name << " (" << dialogue.purpose << ")");
            CHECK(run_dialogue(dialogue, split) == "");
        }
        ++ran;
    }
    CHECK(ran > 0);
}

TEST_CASE("the dialogue runner reports every kind of difference", "[smtp][dialogue]") {
    const std::string head = "# runner self-test\nS: 220 mx.example.org ESMTP vpsmail\n";
    struct Case {
        std::string script;
        std::string want;  ///< part of the failure
    };
    const Case cases[] = {
        {head + "C: NOOP\nS: 250 2.0.0 Okay\n", "want '250 2.0.0 Okay', got '250 2.0.0 Ok'"},
        {head + "C: NOOP\n", "the server said more than the script expects: '250 2.0.0 Ok'"},
        {head + "C: NOOP\nS: 250 *\nS: 250 *\n", "want '250 *', got nothing"},
        {head + "C: EHLO c\nS: 250-mx.example.org\nC: QUIT\n", "the client speaks while the server line '250-PIPELINING' was not expected"},
        {head + "C: NOOP\nS+ 221 *\n", "want a line '221 *', none came"},
        {head + "@closed\n", "want wants_close()"},
        {head + "C: QUIT\nS: 221 *\n@open\n", "want an open session"},
        {head + "@starttls\n", "want wants_starttls()"},
        {head + "@deliveries 1\n", "want 1 deliveries, got 0"},
        {head + "@body x\n", "nothing was delivered"},
        {head + "@frobnicate\n", "unknown directive @frobnicate"},
        {head + "@mode mx\n", "must come before the first C: or S: line"},
    };
    for (const auto& c : cases) {
        INFO(c.script);
        for (Split split : vpsmail::test::all_splits) {
            auto failure = run_dialogue(parse_dialogue(c.script, "self-test.dlg"), split);
            CHECK_THAT(failure, Catch::Contains(c.want));
        }
    }
    CHECK_THROWS(parse_dialogue("S: 220 *\n", "x.dlg"));          // no purpose line
    CHECK_THROWS(parse_dialogue(head + "X: what\n", "x.dlg"));     // unknown line
    CHECK_THROWS(parse_dialogue(head + "C=\\q\n", "x.dlg"));        // unknown escape
    CHECK(run_dialogue(parse_dialogue(head + "C: NOOP\nS: 250 2.0.0 Ok\n", "ok.dlg"), Split::bytes) == "");
}

TEST_CASE("glob_match", "[smtp][dialogue]") {
    using vpsmail::test::glob_match;
    CHECK(glob_match("250 *", "250 2.0.0 Ok"));
    CHECK(glob_match("*Ok", "250 2.0.0 Ok"));
    CHECK(glob_match("250 * Ok", "250 2.0.0 Ok"));
    CHECK(glob_match("a*b*c", "aXbYbZc"));
    CHECK_FALSE(glob_match("250 *", "251 x"));
    CHECK_FALSE(glob_match("250", "250 "));
    CHECK_FALSE(glob_match("a*b", "a"));
}
