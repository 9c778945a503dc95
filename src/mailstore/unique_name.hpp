// Maildir file names: the unique name of a new message (Maildir spec, in Dovecot's form) and
// the Maildir++ ",S=<size>" field that spares readers a stat. Owns the format only: creating,
// linking and fsyncing the files is delivery.hpp's, flags (":2,") belong to cur/'s readers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vpsmail::mailstore {

/// What a unique name is made of.
struct UniqueNameParts {
    std::int64_t seconds = 0;       ///< the delivery time, seconds since the epoch
    std::uint32_t microseconds = 0; ///< and its microseconds, 0-999999
    std::int64_t pid = 0;           ///< the delivering process
    std::uint64_t counter = 0;      ///< deliveries by this process so far, from 1
    std::string_view host;          ///< the host name, unescaped
};

/// "<secs>.M<usecs>P<pid>Q<counter>.<host>", the host escaped by escape_host. Pure.
std::string format_unique_name(const UniqueNameParts& parts);

/// The host name as a Maildir name carries it. Pure.
std::string escape_host(std::string_view host);

/// A new unique name: the time now, getpid(), a process-wide atomic counter (unique across
/// threads) and gethostname() (read once). Never returns the same name twice in one process,
/// nor, while clocks do not go back, on one host. Thread-safe.
std::string make_unique_name();

/// The name a message takes in new/: base + ",S=<size>", size its exact byte count
/// (Maildir++; Dovecot reads it instead of a stat). Nothing follows it: no ":2," in new/. Pure.
std::string format_new_name(std::string_view base, std::uint64_t size);

/// The size a Maildir file name carries in its ",S=" field (before any ":2," info), or
/// nullopt when it has none or a malformed one. Pure.
std::optional<std::uint64_t> find_message_size(std::string_view file_name);

}  // namespace vpsmail::mailstore
