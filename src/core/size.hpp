// Byte sizes as admins write them: 500M, 2G, 1024K, 0 (none). Binary multiples (1K = 1024).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vpsmail {

/// Parses "0", "1234", "500K", "500M", "2G", "1T" (case-insensitive, optional trailing "B"
/// or "iB"). Throws Error(bad_data) naming the value.
std::uint64_t parse_size(std::string_view text);

/// The shortest exact form: 2147483648 -> "2G", 1000 -> "1000", 0 -> "0".
std::string format_size(std::uint64_t bytes);

}  // namespace vpsmail
