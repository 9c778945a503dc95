// Small checks several unit tests share: an expected vpsmail::Error, SQL run on a store file
// through a raw SQLite connection of the test's own, bypassing Store, polling for a state
// that other threads reach, and an fsync that holds the first caller (group commit tests).
#pragma once

#include "core/error.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>

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

/// Polls `done` every millisecond for up to ten seconds; returns whether it became true.
template <typename F>
bool eventually(F&& done) {
    for (int i = 0; i < 10000; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
}

/// An fsync replacement for group-commit tests: once armed, the first call blocks until
/// release(), so that every writer arriving meanwhile must wait for one more fsync. Give
/// `[&gate](int fd) { return gate.fsync(fd); }` where an FsyncFunction is wanted.
class FsyncGate {
public:
    explicit FsyncGate(bool armed = true) : armed_(armed) {}

    int fsync(int fd) {
        std::unique_lock lock(mutex_);
        ++calls_;
        if (armed_ && ++held_ == 1) {
            entered_ = true;
            changed_.notify_all();
            changed_.wait(lock, [&] { return released_; });
        }
        return ::fsync(fd);
    }
    void arm() {
        std::lock_guard lock(mutex_);
        armed_ = true;
    }
    /// Returns once the held call is in fsync().
    void wait_entered() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return entered_; });
    }
    void release() {
        {
            std::lock_guard lock(mutex_);
            released_ = true;
        }
        changed_.notify_all();
    }
    /// fsync() calls so far, armed or not.
    int calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool armed_, entered_ = false, released_ = false;
    int calls_ = 0, held_ = 0;
};

}  // namespace vpsmail::test
