// The errno table and the kinds' exit codes (docs/architecture.md section 6).
#include "core/error.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <sysexits.h>

using vpsmail::ErrorKind;

TEST_CASE("errno_kind: the one errno table", "[core][error]") {
    struct Case {
        int err;
        ErrorKind want;
    };
    const Case cases[] = {
        {EACCES, ErrorKind::permission}, {EPERM, ErrorKind::permission}, {EROFS, ErrorKind::permission},
        {ENOSPC, ErrorKind::no_space},   {EDQUOT, ErrorKind::no_space},  {EIO, ErrorKind::temporary},
        {EMFILE, ErrorKind::temporary},  {EFBIG, ErrorKind::temporary},  {ENOENT, ErrorKind::temporary},
    };
    for (const auto& c : cases) {
        INFO(std::strerror(c.err) << ": got " << vpsmail::kind_name(vpsmail::errno_kind(c.err)) << ", want "
                                  << vpsmail::kind_name(c.want));
        CHECK(vpsmail::errno_kind(c.err) == c.want);
    }
}

TEST_CASE("no_space is temporary: exit 75, a retry may cure it", "[core][error]") {
    CHECK(vpsmail::exit_code(ErrorKind::no_space) == EX_TEMPFAIL);
    CHECK(std::string(vpsmail::kind_name(ErrorKind::no_space)) == "no_space");
    CHECK(vpsmail::is_temporary(ErrorKind::no_space));
    CHECK(vpsmail::is_temporary(ErrorKind::temporary));
    CHECK_FALSE(vpsmail::is_temporary(ErrorKind::permission));
    CHECK_FALSE(vpsmail::is_temporary(ErrorKind::internal));
}

TEST_CASE("the kinds of mail access: not_found 66, over_quota 73, in_use 75 and temporary", "[core][error]") {
    struct Case {
        ErrorKind kind;
        int exit;
        const char* name;
        bool temporary;
    };
    const Case cases[] = {
        {ErrorKind::not_found, EX_NOINPUT, "not_found", false},
        {ErrorKind::over_quota, EX_CANTCREAT, "over_quota", false},
        {ErrorKind::in_use, EX_TEMPFAIL, "in_use", true},
        {ErrorKind::no_such_user, EX_NOUSER, "no_such_user", false},  // an account stays 67
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(vpsmail::exit_code(c.kind) == c.exit);
        CHECK(std::string(vpsmail::kind_name(c.kind)) == c.name);
        CHECK(vpsmail::is_temporary(c.kind) == c.temporary);
    }
}
