// A compact byte form of a parsed Structure, for the mailbox index's per-message cache (opaque
// bytes), so that IMAP answers BODYSTRUCTURE, ENVELOPE and BODY[section] without reparsing the
// message. Owns the format and its version; not where it is stored (mailstore's index).
#pragma once

#include "mime/structure.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace vpsmail::mime {

/// The format's version, its first byte. A reader that meets another version refuses it
/// (bad_data), and the index recomputes the structure from the message.
inline constexpr std::uint8_t structure_format = 1;

/// The byte form of `structure`: the version byte, then unsigned LEB128 numbers and
/// length-prefixed strings for every part's fields. Never throws but std::bad_alloc.
std::string serialize(const Structure& structure);

/// The Structure `bytes` holds. Throws Error(bad_data) naming what is wrong for anything that
/// serialize did not write: another version, a truncated or over-long input, part indexes or
/// ranges that do not fit (children before their parent, a part with two parents, nesting
/// past max_depth, a range past the message's size). deserialize(serialize(s)) == s.
Structure deserialize(std::string_view bytes);

}  // namespace vpsmail::mime
