// libFuzzer target: mime/header, the header section of any message a client sends (field
// splitting with unfolding, lookup, address lists). The first byte chooses whether bare names
// are allowed in address lists; the rest is the message. Invariants: fields lie in order inside
// the header section, names are printable ASCII without ':', find() gives the first field of a
// name, and every mailbox of a list that parses is an address that parses again the same.
#include "core/address.hpp"
#include "core/error.hpp"
#include "mime/header.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vpsmail;
    if (size == 0) return 0;
    const bool allow_bare = data[0] & 1;
    const std::string_view message(reinterpret_cast<const char*>(data) + 1, size - 1);
    const mime::Header header = mime::parse_header(message);
    if (header.body_offset > message.size()) __builtin_trap();
    std::size_t end = 0;
    for (const auto& field : header.fields) {
        if (field.offset < end || field.offset + field.length > header.body_offset) __builtin_trap();
        end = field.offset + field.length;
        if (field.name.empty() || message.substr(field.offset, field.name.size()) != field.name) __builtin_trap();
        for (unsigned char c : field.name)
            if (c <= 0x20 || c >= 0x7f || c == ':') __builtin_trap();
        if (header.find(field.name) == nullptr || !mime::same_name(header.find(field.name)->name, field.name)) __builtin_trap();
        std::vector<mime::Mailbox> mailboxes;
        try {
            mailboxes = mime::parse_address_list(field.value, allow_bare);
        } catch (const Error&) {
            continue;
        }
        for (const auto& m : mailboxes) {
            const Address again = allow_bare ? parse_recipient(m.address.str()) : parse_address(m.address.str());
            if (again.local != m.address.local || again.domain != m.address.domain) __builtin_trap();
        }
    }
    if (!header.fields.empty() && header.find(header.fields.front().name) != &header.fields.front()) __builtin_trap();
    return 0;
}
