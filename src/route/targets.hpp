// The syntax of routing entries: virtusertable right sides, alias and forward entries,
// catch-all targets, include files and vuser keys (docs/routing.md rules 4-7, 10, 12). Parses and
// validates text; does not look anything up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::route {

enum class EntryKind {
    address,    ///< local@domain
    bare,       ///< a local name without domain
    backslash,  ///< \name or \name@domain: the mailbox itself (rule 8)
    program,    ///< |command
    file,       ///< /absolute/path
    include,    ///< :include:/path
    error,      ///< error:... (virtusertable and catch-all only)
};

/// An `error:` right side as the SMTP reply it gives (rule 6).
struct ErrorReply {
    int code = 553;
    std::string status = "5.3.0";
    std::string text;
};

struct Entry {
    EntryKind kind = EntryKind::address;
    std::string text;   ///< the entry as written (quotes removed)
    std::string value;  ///< address/bare/backslash: the name without '\'; program: the
                        ///< command; file and include: the path
    ErrorReply error;   ///< kind == error
};

/// Classifies one entry. Throws Error(bad_data) naming the entry when it is malformed.
Entry parse_entry(std::string_view text);

/// Parses an `error:` right side (rule 6). Throws Error(bad_data).
ErrorReply parse_error_entry(std::string_view text);

/// Splits an include file's text into entries: separated by commas or newlines, each may be
/// double-quoted, lines starting with '#' are comments, blanks ignored.
std::vector<std::string> split_include(std::string_view text);

/// The form an entry is stored in: an address, bare name or \\name as parse_recipient
/// normalises it (domain in lower case and A-labels, no trailing dot, a dot-atom dequoted),
/// so that every lookup and `domain del` see one spelling; programs, files, includes and
/// error: entries as written. Throws Error(bad_data) like parse_entry.
std::string normalize_entry(std::string_view text);

/// Checks a virtusertable or catch-all right side: one target (no list), an address, a bare
/// name or error:; programs, files, includes and lists are refused. Returns it normalised
/// (normalize_entry). Throws Error(bad_data) saying what to use instead.
std::string check_vuser_target(std::string_view text);

/// Checks an alias entry: error: is refused (use vuser map). Returns it normalised.
/// Throws Error(bad_data).
std::string check_alias_target(std::string_view text);

/// Checks a forward entry: error: is refused. Returns it normalised. Throws Error(bad_data).
std::string check_forward_target(std::string_view text);

/// A virtusertable key, lower case, and its domain. Accepted forms (D = delimiter):
/// user@d, userDdetail@d, userD*@d, userDD@d, DD@d, D*@d, @d. Throws Error(bad_data).
struct VuserKey {
    std::string key;
    std::string domain;
};
VuserKey parse_vuser_key(std::string_view text);

}  // namespace vpsmail::route
