// Maildir file names of indexed messages: the ",W=<crlf size>" and ",VU=<uid>" fields and the
// ":2,<flags>" info that mutt and other Maildir readers share (docs/architecture.md section 9).
// Owns the format only; which UID a file gets and when it is renamed is the index's
// (index.hpp). ",VU=" clashes with no known tool (offlineimap/mbsync use ",U=", Dovecot ",S=" ",W=").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mailstore {

/// System flags and $Forwarded, as bits (Maildir info letters in brackets).
enum MessageFlag : std::uint32_t {
    flag_seen = 1,       ///< \Seen (S)
    flag_answered = 2,   ///< \Answered (R)
    flag_flagged = 4,    ///< \Flagged (F)
    flag_deleted = 8,    ///< \Deleted (T)
    flag_draft = 16,     ///< \Draft (D)
    flag_forwarded = 32, ///< the keyword $Forwarded (P, "passed")
};

/// Takes the keyword $Forwarded (any case) out of `keywords`; returns flag_forwarded when it
/// was there, else 0. Pure.
std::uint32_t take_forwarded(std::vector<std::string>& keywords);

/// The part of a name before the ":2," info (all of it when it has none). Pure.
std::string_view name_stem(std::string_view file_name);

/// The flags a name's ":2," info carries; letters this module does not know are ignored. Pure.
std::uint32_t parse_flags(std::string_view file_name);

/// The info letters for `flags`, in ASCII order as the Maildir spec asks ("FRS"). Pure.
std::string format_flags(std::uint32_t flags);

/// The UID a name's ",VU=" field carries, or nullopt when none or malformed (or 0). Pure.
std::optional<std::uint32_t> find_uid(std::string_view file_name);

/// The size with CRLF line ends from ",W=", or nullopt when none or malformed. Pure.
std::optional<std::uint64_t> find_crlf_size(std::string_view file_name);

/// `stem` with its ",VU=" field set to `uid` (replaced, or appended at the end). Pure.
std::string with_uid(std::string_view stem, std::uint32_t uid);

/// "<base>,S=<size>,W=<crlf_size>,VU=<uid>", the stem of an indexed message. Pure.
std::string format_indexed_name(std::string_view base, std::uint64_t size, std::uint64_t crlf_size, std::uint32_t uid);

/// stem + ":2," + format_flags(flags): the name in cur/. Pure.
std::string cur_name(std::string_view stem, std::uint32_t flags);

}  // namespace vpsmail::mailstore
