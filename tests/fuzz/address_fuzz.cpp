// libFuzzer target: core/address, the one address parser (parse_address, parse_recipient,
// normalize_domain with IDNA, split_detail). The first byte chooses the entry point and its
// options, the rest is the text. Invariants: an address that parses, written back with str(),
// parses again to the same value; normalize_domain is idempotent; split_detail loses nothing.
#include "core/address.hpp"
#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace vpsmail;

bool same(const Address& a, const Address& b) {
    return a.local == b.local && a.domain == b.domain && a.quoted == b.quoted && a.backslash == b.backslash;
}

Address parse(std::string_view text, bool recipient, Backslash backslash) {
    return recipient ? parse_recipient(text, backslash) : parse_address(text, backslash);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const unsigned mode = data[0];
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const bool recipient = mode & 1;
    const Backslash backslash = mode & 2 ? Backslash::allow : Backslash::refuse;
    const bool literal = mode & 4;
    const char delimiter = "+-._"[(mode >> 3) & 3];

    (void)is_dot_atom(text);
    if (lower_ascii(text).size() != text.size()) __builtin_trap();

    try {
        const std::string domain = normalize_domain(text, literal);
        if (domain.empty() || domain.size() > max_domain) __builtin_trap();
        if (normalize_domain(domain, literal) != domain) __builtin_trap();
    } catch (const Error&) {
    }

    Address address;
    try {
        address = parse(text, recipient, backslash);
    } catch (const Error&) {
        return 0;
    }
    if (!recipient && address.bare()) __builtin_trap();
    if (address.backslash && backslash == Backslash::refuse) __builtin_trap();
    const std::string written = address.str();
    if (!same(parse(written, recipient, backslash), address)) __builtin_trap();

    const DetailSplit split = split_detail(address.local, delimiter);
    const std::string joined = split.has_delimiter ? split.user + delimiter + split.detail : split.user;
    if (joined != address.local) __builtin_trap();
    return 0;
}
