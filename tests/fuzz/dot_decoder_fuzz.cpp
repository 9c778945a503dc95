// libFuzzer target: the DATA decoder (dot-unstuffing, end of data, bare CR/LF and NUL
// detection) fed the input in pieces whose sizes the input's first byte chooses. Besides not
// crashing, the decoder must agree with itself: the same bytes in one piece give the same
// message and the same findings.
#include "wire/data.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

struct Decoded {
    std::string message;
    bool done = false, bare_cr = false, bare_lf = false, nul = false;
    bool operator==(const Decoded&) const = default;
};

Decoded decode(std::string_view input, std::size_t piece) {
    vpsmail::wire::DotDecoder decoder(1 << 20);
    Decoded d;
    while (!input.empty() && !decoder.done()) {
        const std::string_view chunk = input.substr(0, piece);
        auto progress = decoder.decode(chunk, d.message);
        input.remove_prefix(progress.consumed);
        if (progress.consumed == 0 && !progress.done) break;
    }
    d.done = decoder.done();
    d.bare_cr = decoder.bare_cr();
    d.bare_lf = decoder.bare_lf();
    d.nul = decoder.nul();
    return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t piece = 1 + data[0] % 17;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (!(decode(input, input.size() + 1) == decode(input, piece))) std::abort();
    return 0;
}
