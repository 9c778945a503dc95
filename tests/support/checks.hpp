// Small checks several unit tests share: an expected vpsmail::Error, and SQL run on a store
// file through a raw SQLite connection of the test's own, bypassing Store.
#pragma once

#include "core/error.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <string>

namespace vpsmail::test {

/// Runs `f`, which must throw vpsmail::Error of `want`; returns its message.
template <typename F>
std::string error_of(F&& f, ErrorKind want) {
    try {
        f();
    } catch (const Error& e) {
        INFO("got " << kind_name(e.kind()) << " (" << e.what() << "; " << e.detail() << "), want " << kind_name(want));
        CHECK(e.kind() == want);
        return e.what();
    }
    FAIL("got no error, want " << kind_name(want));
    return {};
}

/// Runs `sql` on the database file at `path` and requires it to succeed.
inline void raw_sql(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* message = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    INFO("sql: " << sql << " error: " << (message != nullptr ? message : ""));
    sqlite3_free(message);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

}  // namespace vpsmail::test
