// libFuzzer target: the spool envelope parser (queue/spool.hpp). The spool is the server's own,
// but a damaged or hand-edited file must be quarantined, never crash the queue runner. A text
// that parses must format to a text that parses to the same envelope (the formatted texts
// agree), and check_queue_id must judge any bytes without failing.
#include "core/error.hpp"
#include "queue/spool.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vpsmail;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    try {
        queue::check_queue_id(input.substr(0, input.find('\n')));
    } catch (const Error&) {
    }
    queue::Envelope envelope;
    try {
        envelope = queue::parse_envelope(input);
    } catch (const Error&) {
        return 0;
    }
    const std::string text = queue::format_envelope(envelope);
    const queue::Envelope again = queue::parse_envelope(text);
    if (queue::format_envelope(again) != text) __builtin_trap();
    if (again.recipients.size() != envelope.recipients.size()) __builtin_trap();
    return 0;
}
