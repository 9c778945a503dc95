// Quota accounting for a Maildir: the bytes its messages take, read from their names.
// Owns the sum only; the limits live in the store and the check is the caller's (the
// delivery path asks before it writes, docs/architecture.md section 8).
#pragma once

#include <cstdint>
#include <string>

namespace vpsmail::mailstore {

/// The bytes the messages of a Maildir take: cur/ and new/ of the Maildir and of its Maildir++
/// folders (".Name/"), from each file's ",S=<size>" (no I/O beyond reading the folders) or, for
/// a file whose name has none, its stat size. tmp/ and dot files are not messages. A missing
/// Maildir or folder counts 0; a message moved between new/ and cur/ while it counts may be
/// counted in either, once or (rarely) twice or not at all. Throws Error(permission/temporary)
/// naming the folder that cannot be read. Any thread.
std::uint64_t maildir_usage(const std::string& maildir);

}  // namespace vpsmail::mailstore
