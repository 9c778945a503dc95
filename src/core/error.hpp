// vpsmail::Error, the one error type of the library, and its kinds.
// Owns the kind -> sysexits.h table for the CLI; protocol modules keep their own tables.
// Does not print or exit: cmd/main.cpp does that.
#pragma once

#include <stdexcept>
#include <string>

namespace vpsmail {

enum class ErrorKind {
    usage,           ///< the command line is wrong (EX_USAGE)
    bad_data,        ///< a value is malformed or refused (EX_DATAERR)
    no_such_user,    ///< an account (user) that is not there (EX_NOUSER)
    no_such_domain,  ///< a domain that is not a local domain (EX_NOHOST)
    /// Something else that is not there: an alias, a virtusertable key, a forward, a catch-all,
    /// a send-as entry, a queue id; for mail access a mailbox or a message (EX_NOINPUT)
    not_found,
    exists,          ///< the thing to create is there already (EX_CANTCREAT)
    temporary,       ///< try again later: busy database, I/O (EX_TEMPFAIL)
    no_space,        ///< the file system is full (ENOSPC, EDQUOT): temporary too (EX_TEMPFAIL)
    over_quota,      ///< the account's quota would be passed (EX_CANTCREAT); not temporary
    /// A mailbox locked by another session (the POP3 maildrop lock): temporary (EX_TEMPFAIL)
    in_use,
    permission,      ///< file permissions, read-only database (EX_NOPERM)
    config,          ///< configuration file or store schema (EX_CONFIG)
    limit,           ///< a size or count limit (EX_DATAERR)
    internal,        ///< a broken invariant or unexpected library failure (EX_SOFTWARE)
};

/// The library's error: a kind, a client-safe message naming the bad value, and an
/// internal detail (errno text, SQL, path) meant only for logs and -v.
class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string message, std::string detail = {})
        : std::runtime_error(std::move(message)), kind_(kind), detail_(std::move(detail)) {}

    ErrorKind kind() const noexcept { return kind_; }
    const std::string& detail() const noexcept { return detail_; }

private:
    ErrorKind kind_;
    std::string detail_;
};

/// The sysexits.h code for a kind (the CLI's one mapping table).
int exit_code(ErrorKind kind) noexcept;

/// A stable lower-case name for a kind ("no_such_user"), for logs and JSON.
const char* kind_name(ErrorKind kind) noexcept;

/// "text: strerror(errno)" for system call failures.
std::string errno_text(const std::string& what, int err);

/// The kind of a failed file system call: permission for EACCES, EPERM and EROFS; no_space for
/// ENOSPC and EDQUOT; temporary for the rest (EIO, EMFILE, ...), which a retry may cure.
/// The one errno table.
ErrorKind errno_kind(int err) noexcept;

/// A retry may cure it: temporary, no_space and in_use.
bool is_temporary(ErrorKind kind) noexcept;

}  // namespace vpsmail
