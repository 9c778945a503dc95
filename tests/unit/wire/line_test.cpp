#include "wire/line.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using vpsmail::wire::Line;
using vpsmail::wire::LineReader;

namespace {

// Each line as one comparable word: the text, then flags in brackets.
std::string describe(const Line& line) {
    std::string out = line.text;
    if (line.too_long) out += "[long]";
    if (line.bare_lf) out += "[lf]";
    if (line.bare_cr) out += "[cr]";
    return out;
}

// Feeds `input` in pieces of `piece` bytes (0 = all at once), reading lines after each piece.
std::vector<std::string> frame(const std::string& input, std::size_t piece, std::size_t max) {
    LineReader reader;
    std::vector<std::string> lines;
    std::size_t step = piece == 0 ? input.size() : piece;
    for (std::size_t i = 0; i < input.size(); i += step) {
        std::string_view part = std::string_view(input).substr(i, step);
        reader.append(part);
        while (auto line = reader.read_line(max)) lines.push_back(describe(*line));
    }
    return lines;
}

}  // namespace

TEST_CASE("LineReader frames CRLF lines the same for every split", "[wire][line]") {
    struct Case {
        std::string input;
        std::size_t max;
        std::vector<std::string> want;
    };
    const Case cases[] = {
        {"EHLO a\r\nMAIL FROM:<>\r\n", 512, {"EHLO a", "MAIL FROM:<>"}},
        {"\r\n\r\n", 512, {"", ""}},
        {"NOOP\nQUIT\r\n", 512, {"NOOP[lf]", "QUIT"}},
        {"NO\rOP\r\n", 512, {"NO\rOP[cr]"}},
        {"partial", 512, {}},
        {"NOOP\r", 512, {}},
        // 10 octets with CRLF is the limit: 8 text bytes pass, 9 do not.
        {"12345678\r\n123456789\r\nok\r\n", 10, {"12345678", "[long]", "ok"}},
        {"123456789\nok\r\n", 10, {"[long][lf]", "ok"}},
        // Found by tests/fuzz/line_fuzz.cpp: a long line ended by a bare LF says so even when
        // its bytes were dropped before the LF came (pieces of 11 octets and more).
        {std::string(30, 'x') + "\nok\r\n", 10, {"[long][lf]", "ok"}},
        {std::string(30, 'x') + "\r\nok\r\n", 10, {"[long]", "ok"}},
        {std::string(29, 'x') + "\r" + std::string(20, 'y') + "\nok\r\n", 10, {"[long][lf]", "ok"}},
        // A line far over the limit is reported once, after its LF, and framing goes on.
        {std::string(100, 'x') + "\r\nnext\r\n", 10, {"[long]", "next"}},
    };
    for (const auto& c : cases) {
        for (std::size_t piece : {0, 1, 2, 3, 7, 11, 30, 31}) {
            INFO("input " << c.input << " piece " << piece);
            CHECK(frame(c.input, piece, c.max) == c.want);
        }
    }
}

TEST_CASE("LineReader drops a line without end as it comes", "[wire][line]") {
    LineReader reader;
    std::string chunk(1000, 'a');
    for (int i = 0; i < 100; ++i) {
        reader.append(chunk);
        CHECK_FALSE(reader.read_line(512));
        CHECK(reader.size() < 1000);  // nothing accumulates while skipping
    }
    reader.append(std::string_view("a\r\nQUIT\r\n"));
    auto first = reader.read_line(512);
    REQUIRE(first);
    CHECK(first->too_long);
    auto second = reader.read_line(512);
    REQUIRE(second);
    CHECK(second->text == "QUIT");
}

TEST_CASE("LineReader hands out raw bytes between lines", "[wire][line]") {
    LineReader reader;
    reader.append(std::string_view("BDAT 5\r\nab\r\ncNOOP\r\n"));
    auto line = reader.read_line(512);
    REQUIRE(line);
    CHECK(line->text == "BDAT 5");
    CHECK(reader.peek().substr(0, 5) == "ab\r\nc");
    reader.consume(5);
    line = reader.read_line(512);
    REQUIRE(line);
    CHECK(line->text == "NOOP");
    CHECK(reader.size() == 0);
    reader.append(std::string_view("MAIL FROM:<>\r\n"));
    reader.clear();
    CHECK_FALSE(reader.read_line(512));
    CHECK(reader.size() == 0);
}
