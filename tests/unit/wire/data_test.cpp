#include "wire/data.hpp"

#include <catch2/catch.hpp>

#include <string>

using vpsmail::wire::DotDecoder;
using vpsmail::wire::NewlineCheck;
using vpsmail::wire::stuff_data;

namespace {

struct Decoded {
    std::string message;
    std::size_t consumed = 0;  ///< of the whole input
    bool done = false;
    bool bare_cr = false;
    bool bare_lf = false;
    bool too_big = false;
    bool nul = false;
};

Decoded decode(const std::string& input, std::size_t piece, std::uint64_t max = 0) {
    DotDecoder decoder(max);
    Decoded d;
    std::size_t step = piece == 0 ? input.size() : piece;
    for (std::size_t i = 0; i < input.size() && !d.done; i += step) {
        auto part = std::string_view(input).substr(i, step);
        auto progress = decoder.decode(part, d.message);
        d.consumed += progress.consumed;
        d.done = progress.done;
        if (!d.done) CHECK(progress.consumed == part.size());
    }
    d.bare_cr = decoder.bare_cr();
    d.bare_lf = decoder.bare_lf();
    d.too_big = decoder.too_big();
    d.nul = decoder.nul();
    return d;
}

}  // namespace

TEST_CASE("DotDecoder unstuffs and finds CRLF.CRLF across every split", "[wire][data]") {
    struct Case {
        std::string input;
        std::string message;
        std::size_t consumed;  ///< npos: not done
        bool bare_cr;
        bool bare_lf;
    };
    const std::size_t open = std::string::npos;
    const Case cases[] = {
        {"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", "Subject: x\r\n\r\nbody\r\n", 23, false, false},
        {".\r\n", "", 3, false, false},                                  // empty message
        {"..\r\n.\r\n", ".\r\n", 7, false, false},                       // a lone dot, stuffed
        {"..x\r\n.y\r\n.\r\n", ".x\r\ny\r\n", 12, false, false},         // leading dots removed
        {"a.\r\n.\r\n", "a.\r\n", 7, false, false},                      // a dot inside a line stays
        {"a\r\n.\r\n", "a\r\n", 6, false, false},
        {"a\r\n.\r", "a\r\n", open, false, false},                      // mark not complete
        {"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", 10, false, true},            // LF.LF is no end: smuggling
        {"a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", 10, true, false},           // CR.CR is no end either
        {"a\r\n.\nMAIL\r\n.\r\n", "a\r\n\nMAIL\r\n", 14, false, true},  // CRLF.LF is no end
        {"a\n.\r\nz\r\n.\r\n", "a\n.\r\nz\r\n", 11, false, true},        // LF.CRLF is no end
        {"a\r\r\n.\r\n", "a\r\r\n", 7, true, false},
    };
    for (const auto& c : cases) {
        for (std::size_t piece : {0, 1, 2, 3, 5}) {
            INFO("input " << c.input << " piece " << piece);
            auto d = decode(c.input, piece);
            CHECK(d.message == c.message);
            CHECK(d.done == (c.consumed != open));
            if (c.consumed != open) CHECK(d.consumed == c.consumed);
            CHECK(d.bare_cr == c.bare_cr);
            CHECK(d.bare_lf == c.bare_lf);
        }
    }
}

TEST_CASE("DotDecoder marks NUL bytes wherever they are, across every split", "[wire][data]") {
    using namespace std::string_literals;
    struct Case {
        std::string input;
        std::string message;
        bool nul;
    };
    const Case cases[] = {
        {"a\r\n\0.\r\nb\r\n.\r\n"s, "a\r\n\0.\r\nb\r\n"s, true},  // a smuggling scanner's probes
        {"a\r\n.\0\r\nb\r\n.\r\n"s, "a\r\n\0\r\nb\r\n"s, true},
        {"\0\r\n.\r\n"s, "\0\r\n"s, true},                            // at the very start
        {"abc\0def\r\n.\r\n"s, "abc\0def\r\n"s, true},                // inside a run
        {"a\r\0\r\n.\r\n"s, "a\r\0\r\n"s, true},                    // after a bare CR
        {"a\r\n.\r\n\0"s, "a\r\n"s, false},                           // after the end: not the message's
        {"a\r\nb\r\n.\r\n"s, "a\r\nb\r\n"s, false},
    };
    for (const auto& c : cases) {
        for (std::size_t piece : {0, 1, 2, 3, 5}) {
            INFO("case " << &c - cases << " piece " << piece);
            auto d = decode(c.input, piece);
            CHECK(d.done);
            CHECK(d.message == c.message);
            CHECK(d.nul == c.nul);
        }
    }
    // Past the size limit a NUL is still seen, though not stored.
    auto big = decode(std::string(20, 'x') + "\0\r\n.\r\n"s, 3, 10);
    CHECK(big.too_big);
    CHECK(big.nul);
}

TEST_CASE("DotDecoder counts past the size limit without storing", "[wire][data]") {
    std::string input = std::string(30, 'x') + "\r\n.\r\n";
    auto small = decode(input, 4, 10);
    CHECK(small.done);
    CHECK(small.too_big);
    CHECK(small.message == std::string(10, 'x'));
    auto exact = decode(input, 4, 32);
    CHECK(exact.done);
    CHECK_FALSE(exact.too_big);
    CHECK(exact.message.size() == 32);
}

TEST_CASE("stuff_data is undone by DotDecoder", "[wire][data]") {
    const std::pair<std::string, std::string> cases[] = {
        {"", ".\r\n"},
        {"a\r\n", "a\r\n.\r\n"},
        {".\r\n", "..\r\n.\r\n"},
        {"x\r\n.y\r\n..\r\n", "x\r\n..y\r\n...\r\n.\r\n"},
        {"no end", "no end\r\n.\r\n"},
    };
    for (const auto& [message, stuffed] : cases) {
        INFO(message);
        CHECK(stuff_data(message) == stuffed);
        auto d = decode(stuffed, 1);
        CHECK(d.done);
        CHECK(d.consumed == stuffed.size());
        std::string want = message.empty() || message.ends_with("\r\n") ? message : message + "\r\n";
        CHECK(d.message == want);
    }
}

TEST_CASE("stuff_data doubles a dot after any CR or LF, so no reading finds an early end", "[wire][data]") {
    // Text with bare CR or LF never goes over DATA (the client sends it with BDAT or bounces
    // it), but the stuffing must not depend on that: a receiver that takes a bare CR or LF as a
    // line end must still see no "." line before the real end.
    const std::pair<std::string, std::string> cases[] = {
        {"a\r.\r\nb\r\n", "a\r..\r\nb\r\n.\r\n"},
        {"a\n.\nb\r\n", "a\n..\nb\r\n.\r\n"},
        {"a\r\n.\r.\n", "a\r\n..\r..\n\r\n.\r\n"},
        {".", "..\r\n.\r\n"},
    };
    for (const auto& [message, stuffed] : cases) {
        INFO(message);
        CHECK(stuff_data(message) == stuffed);
        // Split at every CR, LF or CRLF, no line but the last is a lone ".".
        std::size_t dots = 0;
        for (std::size_t i = 0, start = 0; i <= stuffed.size(); ++i) {
            if (i < stuffed.size() && stuffed[i] != '\r' && stuffed[i] != '\n') continue;
            if (stuffed.substr(start, i - start) == ".") ++dots;
            start = i + 1;
        }
        CHECK(dots == 1);
        CHECK(stuffed.ends_with("\r\n.\r\n"));
        auto d = decode(stuffed, 1);  // and our own reading ends at the end, not before
        CHECK(d.done);
        CHECK(d.consumed == stuffed.size());
    }
}

TEST_CASE("NewlineCheck finds bare CR, bare LF and NUL across pieces", "[wire][data]") {
    using namespace std::string_literals;
    struct Case {
        std::string text;
        bool bare_cr;
        bool bare_lf;
        bool nul = false;
    };
    const Case cases[] = {
        {"a\r\nb\r\n", false, false}, {"a\nb", false, true},      {"a\rb", true, false},
        {"a\r", true, false},         {"\r\r\n", true, false},    {"", false, false},
        {"a\0b\r\n"s, false, false, true}, {"\r\n\0"s, false, false, true},
    };
    for (const auto& c : cases) {
        for (std::size_t piece : {1, 2, 100}) {
            INFO(c.text << " piece " << piece);
            NewlineCheck check;
            for (std::size_t i = 0; i < c.text.size(); i += piece) check.scan(std::string_view(c.text).substr(i, piece));
            check.finish();
            CHECK(check.bare_cr() == c.bare_cr);
            CHECK(check.bare_lf() == c.bare_lf);
            CHECK(check.nul() == c.nul);
            CHECK(check.lines_only() == (!c.bare_cr && !c.bare_lf && !c.nul));
        }
    }
}
