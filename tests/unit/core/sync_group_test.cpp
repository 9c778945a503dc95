#include "core/sync_group.hpp"

#include "core/error.hpp"
#include "support/checks.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

using vpsmail::Error;
using vpsmail::ErrorKind;
using vpsmail::SyncGroup;
using vpsmail::test::eventually;
using vpsmail::test::FsyncGate;
using vpsmail::test::TempDir;

TEST_CASE("callers that arrive during an fsync share the next one", "[core][sync_group]") {
    TempDir tmp;
    const std::vector<std::string> folder = {tmp.path().string()};
    // The first fsync blocks until released: everyone arriving meanwhile must wait for a second.
    FsyncGate gate;
    SyncGroup group([&gate](int fd) { return gate.fsync(fd); });
    constexpr int later = 7;
    std::thread leader([&] { group.sync(folder); });
    gate.wait_entered();
    std::atomic<int> returned{0};
    std::vector<std::thread> followers;
    for (int i = 0; i < later; ++i)
        followers.emplace_back([&] {
            group.sync(folder);
            ++returned;
        });
    const bool all_waiting = eventually([&] { return group.counters().requests == 1 + later; });
    CHECK(returned == 0);  // the fsync in progress may have started before their entries
    gate.release();
    leader.join();
    for (auto& f : followers) f.join();
    REQUIRE(all_waiting);
    CHECK(returned == later);
    CHECK(group.counters().fsyncs == 2);
    CHECK(gate.calls() == 2);
}

TEST_CASE("a failed folder fsync fails every caller it covered, and the next one succeeds", "[core][sync_group]") {
    TempDir tmp;
    const std::vector<std::string> folder = {tmp.path().string()};
    std::atomic<bool> failing{true};
    SyncGroup group([&](int fd) {
        if (failing) {
            errno = EIO;
            return -1;
        }
        return ::fsync(fd);
    });
    std::atomic<int> temporary{0};
    std::vector<std::thread> callers;
    for (int i = 0; i < 4; ++i)
        callers.emplace_back([&] {
            try {
                group.sync(folder);
            } catch (const Error& e) {
                if (e.kind() == ErrorKind::temporary && std::string(e.what()).find(folder[0]) != std::string::npos) ++temporary;
            }
        });
    for (auto& c : callers) c.join();
    CHECK(temporary == 4);
    failing = false;
    CHECK_NOTHROW(group.sync(folder));
}

TEST_CASE("a folder that cannot be opened is an error; several folders are all synced", "[core][sync_group]") {
    TempDir tmp;
    std::filesystem::create_directories(tmp.file("a"));
    std::filesystem::create_directories(tmp.file("b"));
    SyncGroup group;
    const std::vector<std::string> both = {tmp.file("a"), tmp.file("b")};
    CHECK_NOTHROW(group.sync(both));
    CHECK(group.counters().fsyncs == 2);
    const std::vector<std::string> missing = {tmp.file("a"), tmp.file("missing")};
    try {
        group.sync(missing);
        FAIL("got no error for a missing folder");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::temporary);
        CHECK(std::string(e.what()).find(tmp.file("missing")) != std::string::npos);
    }
    CHECK(group.counters().fsyncs == 4);
    CHECK(group.counters().requests == 4);
}

TEST_CASE("a folder fsync that finds the disk full is no_space, other failures temporary", "[core][sync_group]") {
    TempDir tmp;
    const std::vector<std::string> folder = {tmp.path().string()};
    for (const auto& [err, want] : {std::pair{ENOSPC, ErrorKind::no_space}, std::pair{EDQUOT, ErrorKind::no_space},
                                    std::pair{EIO, ErrorKind::temporary}, std::pair{EACCES, ErrorKind::temporary}}) {
        SyncGroup group([err = err](int) {
            errno = err;
            return -1;
        });
        try {
            group.sync(folder);
            FAIL("got no error for errno " << err);
        } catch (const Error& e) {
            INFO("errno " << err);
            CHECK(e.kind() == want);
            CHECK(std::string(e.what()) == "cannot write " + folder[0] + " to disk: " + std::strerror(err));
        }
    }
}
