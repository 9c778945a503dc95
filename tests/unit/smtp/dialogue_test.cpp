// Runs every tests/dialogues/smtp/**/*.dlg over fake ports and every tests/dialogues/smtp-real/
// **/*.dlg over the real services, in every split (support/dialogue.hpp). VPSMAIL_DIALOGUE names
// the one file to run: CTest runs each file as its own case, once (the two suites are hidden
// from test discovery).
#include "support/dialogue.hpp"
#include "support/real_dialogue.hpp"
#include "support/smtp_dialogue.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

using vpsmail::test::Dialogue;
using vpsmail::test::Split;
using vpsmail::test::parse_dialogue;
using vpsmail::test::run_dialogue;

namespace {

std::filesystem::path dialogue_root(const char* protocol) {
    return std::filesystem::path(VPSMAIL_SOURCE_DIR) / "tests" / "dialogues" / protocol;
}

void run_all(const char* protocol, const vpsmail::test::AdapterFactory& adapter, std::size_t at_least) {
    const char* only = std::getenv("VPSMAIL_DIALOGUE");
    auto files = vpsmail::test::find_dialogues(dialogue_root(protocol));
    REQUIRE(files.size() >= at_least);
    int ran = 0;
    for (const auto& file : files) {
        if (only != nullptr && *only != '\0' && std::filesystem::path(only) != file) continue;
        Dialogue dialogue = vpsmail::test::load_dialogue(file, dialogue_root(protocol));
        for (Split split : vpsmail::test::all_splits) {
            INFO(dialogue.name << " (" << dialogue.purpose << ")");
            CHECK(run_dialogue(dialogue, split, adapter) == "");
        }
        ++ran;
    }
    CHECK(ran > 0);
}

std::string run_fake(const std::string& script, Split split) {
    return run_dialogue(parse_dialogue(script, "self-test.dlg"), split, vpsmail::test::make_smtp_adapter);
}

}  // namespace

TEST_CASE("SMTP dialogues", "[.][smtp][dialogue]") { run_all("smtp", vpsmail::test::make_smtp_adapter, 40); }

TEST_CASE("SMTP dialogues on the real services", "[.][smtp][dialogue]") { run_all("smtp-real", vpsmail::test::make_real_adapter, 3); }

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
        {head + "C: NOOP\nC: HELP\nS~ 250 2.0.0 Ok\nS~ 250 2.0.0 Ok\n", "which no S~ line left matches"},
        {head + "C: NOOP\nS: $CODE 2.0.0 Ok\nC: NOOP\nS: 251 *\n", "want '251 *', got '250 2.0.0 Ok'"},
        {head + "C: NOOP\nS: $CODE *\nC: NOOP\nS: 1$CODE *\n", "want '1$CODE *', got '250 2.0.0 Ok'"},
        {head + "S2: 250 *\n", "want '250 *', got '220 mx.example.org ESMTP vpsmail'"},
    };
    for (const auto& c : cases) {
        INFO(c.script);
        for (Split split : vpsmail::test::all_splits) CHECK_THAT(run_fake(c.script, split), Catch::Contains(c.want));
    }
    CHECK_THROWS(parse_dialogue("S: 220 *\n", "x.dlg"));          // no purpose line
    CHECK_THROWS(parse_dialogue(head + "X: what\n", "x.dlg"));     // unknown line
    CHECK_THROWS(parse_dialogue(head + "C=\\q\n", "x.dlg"));        // unknown escape
    CHECK_THROWS(parse_dialogue(head + "S~x\n", "x.dlg"));          // no space after the mark
    CHECK(run_fake(head + "C: NOOP\nS: 250 2.0.0 Ok\n", Split::bytes) == "");
}

TEST_CASE("the dialogue runner: any-order lines, captures and a second connection", "[smtp][dialogue]") {
    const std::string head = "# runner self-test\n@store domain example.org\n@store user alice@example.org\n";
    for (Split split : vpsmail::test::all_splits) {
        INFO(split_name(split));
        // HELP's line and NOOP's, pipelined, in either order.
        CHECK(run_fake(head + "S: 220 *\nC: EHLO c\nS+ 250 *\nC: HELP\nC: NOOP\nS~ 250 2.0.0 Ok\nS~ 214 *\n", split) == "");
        // A captured queue id stands for itself afterwards, in S and C lines.
        CHECK(run_fake(head + "S: 220 $HOST ESMTP vpsmail\nC: HELO $HOST\nS: 250 mx.example.org\nC: MAIL FROM:<>\nS: 250 *\n"
                              "C: RCPT TO:<alice@example.org>\nS: 250 *\nC: DATA\nS: 354 *\nC: x\nC: .\nS: 250 2.0.0 Ok: queued as $ID\n"
                              "@envelope * id=$ID\n",
                       split) == "");
        // Two connections over the same ports, each with its own session id.
        CHECK(run_fake(head + "S: 220 *\nS2: 220 *\nC2: HELO b\nS2: 250 *\nC2: MAIL FROM:<>\nS2: 250 *\nC2: RCPT TO:<alice@example.org>\n"
                              "S2: 250 *\nC2: DATA\nS2: 354 *\nC2: .\nS2: 250 2.0.0 Ok: queued as S2.1\n@deliveries 1\nC: NOOP\nS: 250 *\n",
                       split) == "");
    }
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
