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
