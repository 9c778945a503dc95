// libFuzzer target: wire/line, the CRLF line reader every protocol session reads through. The
// first byte chooses the line limit, the second seeds the piece sizes; the rest is the stream.
// It is read once whole and once in pieces (reading every line after each piece, as a session
// does): both must give the same lines, and what is left unread in pieces is what is left whole
// (or nothing, while a too-long line is being dropped).
#include "wire/line.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using vpsmail::wire::Line;
using vpsmail::wire::LineReader;

bool same(const Line& a, const Line& b) {
    return a.text == b.text && a.too_long == b.too_long && a.bare_lf == b.bare_lf && a.bare_cr == b.bare_cr;
}

void drain(LineReader& reader, std::size_t limit, std::vector<Line>& lines) {
    while (auto line = reader.read_line(limit)) {
        if (line->too_long ? !line->text.empty() : line->text.size() + 2 > limit) __builtin_trap();
        if (line->text.find('\n') != std::string::npos) __builtin_trap();
        if (line->bare_cr != (line->text.find('\r') != std::string::npos)) __builtin_trap();
        lines.push_back(std::move(*line));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    static constexpr std::size_t limits[] = {1, 2, 3, 4, 8, 16, 64, vpsmail::wire::max_command_line};
    const std::size_t limit = limits[data[0] % 8];
    std::uint32_t seed = data[1] | 1u;
    const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

    LineReader whole;
    std::vector<Line> expected;
    whole.append(std::span<const char>(input.data(), input.size()));
    drain(whole, limit, expected);

    LineReader pieces;
    std::vector<Line> got;
    std::string_view rest = input;
    while (!rest.empty()) {
        seed = seed * 1103515245u + 12345u;  // piece sizes 1..32 from the seed
        const std::size_t n = std::min<std::size_t>(rest.size(), 1 + (seed >> 16) % 32);
        pieces.append(std::span<const char>(rest.data(), n));
        rest.remove_prefix(n);
        drain(pieces, limit, got);
    }
    if (got.size() != expected.size()) __builtin_trap();
    for (std::size_t i = 0; i < got.size(); ++i)
        if (!same(got[i], expected[i])) __builtin_trap();
    if (!pieces.peek().empty() && pieces.peek() != whole.peek()) __builtin_trap();
    if (pieces.size() != pieces.peek().size()) __builtin_trap();
    return 0;
}
