// libFuzzer target: the maildrop file parser (server/maildrop.hpp), which reads files that any
// local user may write (docs/architecture.md section 10). Besides not crashing or throwing
// anything but vpsmail::Error, a file that parses must survive format -> parse unchanged, and
// check_local_message must judge its message without failing.
#include "core/config.hpp"
#include "core/error.hpp"
#include "server/maildrop.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vpsmail;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    server::MaildropEntry entry;
    try {
        entry = server::parse_maildrop(input);
    } catch (const Error&) {
        return 0;
    }
    if (entry.recipients.empty()) __builtin_trap();
    const server::MaildropEntry again = server::parse_maildrop(server::format_maildrop(entry));
    if (again.created != entry.created || again.sender != entry.sender || again.recipients != entry.recipients ||
        again.message != entry.message)
        __builtin_trap();
    Config::Limits limits;
    limits.max_message_size = 1 << 12;
    limits.max_recipients = 4;
    (void)server::check_local_message(entry.message, entry.recipients.size(), limits);
    return 0;
}
