// The one parser and normaliser of mail addresses and domain names (RFC 5321/5322, RFC 6531).
// Owns syntax, length limits, case folding and IDNA; does not know which domains are local.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vpsmail {

/// A parsed address. `local` is as written, except that a quoted local part whose content is a
/// valid dot-atom is dequoted (docs/routing.md rule 3); any other quoted local part keeps its quotes.
/// `domain` is normalised (lower case, A-labels, no trailing dot); empty for a bare name.
struct Address {
    std::string local;
    std::string domain;
    bool quoted = false;  ///< the local part is a quoted-string that stayed quoted
    /// Written `\local` or `\local@domain`: the mailbox itself, skipping every routing stage
    /// but users (docs/routing.md rule 8). `local` holds the name without the backslash.
    bool backslash = false;

    bool bare() const noexcept { return domain.empty(); }
    /// local@domain (or just local for a bare name), with the leading backslash when written.
    std::string str() const;
};

/// Whether a leading backslash (`\bob@d`, docs/routing.md rule 8) is accepted: only where an
/// address is a recipient to route (route test, RCPT, routing entries), never for the name of
/// an account or a sender.
enum class Backslash { refuse, allow };

inline constexpr std::size_t max_local_part = 64;   // RFC 5321 4.5.3.1.1
inline constexpr std::size_t max_address = 254;     // RFC 5321 4.5.3.1.3 path minus <>
inline constexpr std::size_t max_domain = 253;
inline constexpr std::size_t max_label = 63;

/// Parses `local@domain`. An unquoted local part is a dot-string (RFC 5321 4.1.2): no leading,
/// trailing or doubled dot. Throws Error(bad_data) naming the value and what is wrong.
Address parse_address(std::string_view text, Backslash backslash = Backslash::refuse);

/// Parses `local@domain` or a bare local name (no `@`). Throws Error(bad_data).
Address parse_recipient(std::string_view text, Backslash backslash = Backslash::refuse);

/// Normalises a domain name: trailing dot dropped, lower case, U-labels converted to A-labels
/// (IDNA2008). Throws Error(bad_data) for empty labels, labels over 63 bytes, leading or
/// trailing hyphens, bad characters or a name over 253 bytes. A domain literal `[...]` is
/// accepted only when `allow_literal`.
std::string normalize_domain(std::string_view text, bool allow_literal = false);

/// ASCII lower case; other bytes unchanged.
std::string lower_ascii(std::string_view text);

/// True when `text` is a valid RFC 5322 dot-atom (atext and single inner dots; UTF-8 allowed).
bool is_dot_atom(std::string_view text);

/// A local part split at the first detail delimiter: `a+x+y` -> user `a`, detail `x+y`.
struct DetailSplit {
    std::string user;
    std::string detail;
    bool has_delimiter = false;
};
DetailSplit split_detail(std::string_view local, char delimiter);

}  // namespace vpsmail
