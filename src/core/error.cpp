#include "core/error.hpp"

#include <cerrno>
#include <cstring>
#include <sysexits.h>

namespace vpsmail {

int exit_code(ErrorKind kind) noexcept {
    switch (kind) {
    case ErrorKind::usage: return EX_USAGE;
    case ErrorKind::bad_data: return EX_DATAERR;
    case ErrorKind::no_such_user: return EX_NOUSER;
    case ErrorKind::no_such_domain: return EX_NOHOST;
    case ErrorKind::not_found: return EX_NOINPUT;
    case ErrorKind::exists: return EX_CANTCREAT;
    case ErrorKind::temporary: return EX_TEMPFAIL;
    case ErrorKind::no_space: return EX_TEMPFAIL;
    case ErrorKind::over_quota: return EX_CANTCREAT;
    case ErrorKind::in_use: return EX_TEMPFAIL;
    case ErrorKind::permission: return EX_NOPERM;
    case ErrorKind::config: return EX_CONFIG;
    case ErrorKind::limit: return EX_DATAERR;
    case ErrorKind::internal: return EX_SOFTWARE;
    }
    return EX_SOFTWARE;
}

const char* kind_name(ErrorKind kind) noexcept {
    switch (kind) {
    case ErrorKind::usage: return "usage";
    case ErrorKind::bad_data: return "bad_data";
    case ErrorKind::no_such_user: return "no_such_user";
    case ErrorKind::no_such_domain: return "no_such_domain";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::exists: return "exists";
    case ErrorKind::temporary: return "temporary";
    case ErrorKind::no_space: return "no_space";
    case ErrorKind::over_quota: return "over_quota";
    case ErrorKind::in_use: return "in_use";
    case ErrorKind::permission: return "permission";
    case ErrorKind::config: return "config";
    case ErrorKind::limit: return "limit";
    case ErrorKind::internal: return "internal";
    }
    return "internal";
}

ErrorKind errno_kind(int err) noexcept {
    switch (err) {
    case EACCES: case EPERM: case EROFS: return ErrorKind::permission;
    // RFC 3463 X.3.1: the mail system's storage is full; it clears without the client's help.
    case ENOSPC: case EDQUOT: return ErrorKind::no_space;
    default: return ErrorKind::temporary;
    }
}

bool is_temporary(ErrorKind kind) noexcept {
    return kind == ErrorKind::temporary || kind == ErrorKind::no_space || kind == ErrorKind::in_use;
}

std::string errno_text(const std::string& what, int err) {
    return what + ": " + std::strerror(err);
}

}  // namespace vpsmail
