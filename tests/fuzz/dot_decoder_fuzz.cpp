// libFuzzer target: the DATA decoder (dot-unstuffing, end of data, bare CR/LF detection) fed
// the input in pieces whose sizes the input's first byte chooses. Besides not crashing, the
// decoder must agree with itself: the same bytes in one piece give the same message.
#include "wire/data.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

std::string decode(std::string_view input, std::size_t piece, bool& done) {
    vpsmail::wire::DotDecoder decoder(1 << 20);
    std::string message;
    while (!input.empty() && !decoder.done()) {
        const std::string_view chunk = input.substr(0, piece);
        auto progress = decoder.decode(chunk, message);
        input.remove_prefix(progress.consumed);
        if (progress.consumed == 0 && !progress.done) break;
    }
    done = decoder.done();
    return message;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t piece = 1 + data[0] % 17;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    bool whole_done = false, split_done = false;
    const std::string whole = decode(input, input.size() + 1, whole_done);
    const std::string split = decode(input, piece, split_done);
    if (whole != split || whole_done != split_done) std::abort();
    return 0;
}
