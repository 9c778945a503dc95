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
    case ErrorKind::exists: return EX_CANTCREAT;
    case ErrorKind::temporary: return EX_TEMPFAIL;
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
    case ErrorKind::exists: return "exists";
    case ErrorKind::temporary: return "temporary";
    case ErrorKind::permission: return "permission";
    case ErrorKind::config: return "config";
    case ErrorKind::limit: return "limit";
    case ErrorKind::internal: return "internal";
    }
    return "internal";
}

ErrorKind errno_kind(int err) noexcept {
    return err == EACCES || err == EPERM || err == EROFS ? ErrorKind::permission : ErrorKind::temporary;
}

std::string errno_text(const std::string& what, int err) {
    return what + ": " + std::strerror(err);
}

}  // namespace vpsmail
