#include "mailstore/delivery.hpp"

#include "core/error.hpp"
#include "core/sync_group.hpp"
#include "mailstore/maildir.hpp"
#include "mailstore/quota.hpp"
#include "mailstore/unique_name.hpp"
#include "support/checks.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <poll.h>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using vpsmail::Error;
using vpsmail::ErrorKind;
using vpsmail::kind_name;
using vpsmail::mailstore::DeliveredFile;
using vpsmail::mailstore::Delivery;
using vpsmail::mailstore::DeliveryHooks;
using vpsmail::mailstore::find_message_size;
using vpsmail::SyncGroup;
using vpsmail::test::TempDir;
using vpsmail::test::error_of;
namespace fs = std::filesystem;

namespace {

// The names in a folder, sorted; none when it is missing.
std::vector<std::string> list(const std::string& folder) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct stat stat_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st;
}

// A message whose bytes follow from its id: "Message-Id: <id>" and a body of pseudo-random
// letters, `size` bytes in all (at least the header line).
std::string message_bytes(const std::string& id, std::size_t size) {
    std::string out = "Message-Id: <" + id + ">\r\n\r\n";
    std::uint32_t x = static_cast<std::uint32_t>(std::hash<std::string>{}(id));
    while (out.size() < size) {
        x = x * 1103515245u + 12345u;
        out += out.size() % 80 == 78 ? '\r' : out.size() % 80 == 79 ? '\n' : static_cast<char>('a' + (x >> 16) % 26);
    }
    return out;
}

// Writes `bytes` in pieces of the sizes in `pieces`, cycling.
void write_in_pieces(Delivery& d, std::string_view bytes, const std::vector<std::size_t>& pieces) {
    for (std::size_t i = 0; !bytes.empty(); ++i) {
        std::size_t n = std::min(bytes.size(), pieces[i % pieces.size()]);
        d.write(bytes.substr(0, n));
        bytes.remove_prefix(n);
    }
}

// Every Maildir's tmp/ and new/ are empty.
void check_nothing_left(const std::vector<std::string>& maildirs) {
    for (const auto& m : maildirs)
        for (const char* sub : {"/tmp", "/new", "/cur"}) {
            INFO(m + sub);
            CHECK(list(m + sub).empty());
        }
}

const std::regex new_name("^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+\\.[^/:]+,S=([0-9]+)$");

// The checks a committed file must pass: its name, its size in the name and on disk, its bytes.
void check_delivered(const DeliveredFile& file, const std::string& want) {
    INFO(file.path());
    std::smatch m;
    REQUIRE(std::regex_match(file.name, m, new_name));
    CHECK(std::stoull(m[1].str()) == want.size());
    CHECK(static_cast<std::uint64_t>(stat_of(file.path()).st_size) == want.size());
    CHECK((stat_of(file.path()).st_mode & 07777) == 0600);
    CHECK(read_file(file.path()) == want);
}

}  // namespace

TEST_CASE("a committed message is whole in new/, named <unique>,S=<size>, and tmp/ is empty", "[mailstore][delivery]") {
    TempDir tmp;
    const std::string maildir = tmp.file("Maildir");
    struct Case {
        std::size_t size;
        std::vector<std::size_t> pieces;
    };
    const Case cases[] = {
        {0, {1}},
        {1, {1}},
        {4096, {4096}},
        {65536, {65536}},
        {65537, {1, 65535, 1}},
        {200000, {1, 7, 100, 70000, 3}},
        {1 << 20, {1 << 20}},
        {300000, {65535, 65537}},
    };
    std::vector<std::string> names;
    for (const Case& c : cases) {
        INFO("size " << c.size);
        std::string bytes = message_bytes("m" + std::to_string(c.size), c.size);
        bytes.resize(c.size);  // the smallest are shorter than the header line
        Delivery d;
        CHECK(d.add(maildir));
        write_in_pieces(d, bytes, c.pieces);
        CHECK(d.size() == c.size);
        auto delivered = d.commit();
        REQUIRE(delivered.size() == 1);
        CHECK(delivered[0].maildir == maildir);
        check_delivered(delivered[0], bytes);
        CHECK(list(maildir + "/tmp").empty());
        names.push_back(delivered[0].name);
    }
    std::sort(names.begin(), names.end());
    CHECK(list(maildir + "/new") == names);
    CHECK(list(maildir + "/cur").empty());
}

TEST_CASE("several Maildirs share one inode, written once", "[mailstore][delivery]") {
    TempDir tmp;
    const std::vector<std::string> maildirs = {tmp.file("a/Maildir"), tmp.file("b/Maildir"), tmp.file("c/Maildir")};
    const std::string bytes = message_bytes("shared", 100000);
    int file_fsyncs = 0;
    DeliveryHooks hooks;
    hooks.fsync = [&](int fd) {
        struct stat st {};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ++file_fsyncs;
        return ::fsync(fd);
    };
    Delivery d(nullptr, hooks);
    for (const auto& m : maildirs) CHECK(d.add(m));
    d.write(bytes);
    auto delivered = d.commit();
    REQUIRE(delivered.size() == 3);
    CHECK(file_fsyncs == 1);
    for (std::size_t i = 0; i < maildirs.size(); ++i) {
        CHECK(delivered[i].maildir == maildirs[i]);
        check_delivered(delivered[i], bytes);
        CHECK(list(maildirs[i] + "/tmp").empty());
        CHECK(stat_of(delivered[i].path()).st_ino == stat_of(delivered[0].path()).st_ino);
    }
    CHECK(stat_of(delivered[0].path()).st_nlink == 3);  // the tmp/ name is gone
}

TEST_CASE("a Maildir added twice, by any spelling, gets the message once", "[mailstore][delivery]") {
    TempDir tmp;
    const std::string maildir = tmp.file("Maildir");
    fs::create_directories(tmp.file("links"));
    Delivery d;
    CHECK(d.add(maildir));
    fs::create_directory_symlink(maildir, tmp.file("links/alias"));
    CHECK_FALSE(d.add(maildir));
    CHECK_FALSE(d.add(maildir + "/"));
    CHECK_FALSE(d.add(tmp.file("links/../Maildir")));
    CHECK_FALSE(d.add(tmp.file("links/alias")));
    d.write("Subject: once\r\n\r\nbody\r\n");
    CHECK(d.commit().size() == 1);
    CHECK(list(maildir + "/new").size() == 1);
}

TEST_CASE("where a hard link fails, the other Maildirs get fsync'd copies of their own", "[mailstore][delivery]") {
    for (int link_errno : {EXDEV, EMLINK}) {
        INFO("link fails with " << std::strerror(link_errno));
        TempDir tmp;
        const std::vector<std::string> maildirs = {tmp.file("a/Maildir"), tmp.file("b/Maildir"), tmp.file("c/Maildir")};
        int file_fsyncs = 0;
        DeliveryHooks hooks;
        // A link between Maildirs fails as across file systems; within one it works.
        hooks.link = [&](const char* from, const char* to) {
            auto maildir_of = [](const char* p) { return fs::path(p).parent_path().parent_path(); };
            if (maildir_of(from) != maildir_of(to)) {
                errno = link_errno;
                return -1;
            }
            return ::link(from, to);
        };
        hooks.fsync = [&](int fd) {
            struct stat st {};
            if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ++file_fsyncs;
            return ::fsync(fd);
        };
        const std::string bytes = message_bytes("copied", 150000);  // more than one copy buffer
        Delivery d(nullptr, hooks);
        for (const auto& m : maildirs) d.add(m);
        d.write(bytes);
        auto delivered = d.commit();
        REQUIRE(delivered.size() == 3);
        CHECK(file_fsyncs == 3);  // the message and its two copies
        for (std::size_t i = 0; i < maildirs.size(); ++i) {
            check_delivered(delivered[i], bytes);
            CHECK(list(maildirs[i] + "/tmp").empty());
            CHECK(stat_of(delivered[i].path()).st_nlink == 1);
        }
        CHECK(stat_of(delivered[1].path()).st_ino != stat_of(delivered[0].path()).st_ino);
        CHECK(stat_of(delivered[2].path()).st_ino != stat_of(delivered[1].path()).st_ino);
    }
}

TEST_CASE("abort leaves nothing in tmp/ or new/, and finishes the delivery", "[mailstore][delivery]") {
    TempDir tmp;
    const std::vector<std::string> maildirs = {tmp.file("a"), tmp.file("b")};
    Delivery d;
    for (const auto& m : maildirs) d.add(m);
    d.write(message_bytes("aborted", 200000));
    CHECK(list(maildirs[0] + "/tmp").size() == 1);
    d.abort();
    check_nothing_left(maildirs);
    d.abort();  // twice is fine
    error_of([&] { d.write("more"); }, ErrorKind::internal);
    error_of([&] { d.commit(); }, ErrorKind::internal);
    error_of([&] { d.add(tmp.file("c")); }, ErrorKind::internal);
}

TEST_CASE("a Delivery destroyed without commit leaves nothing; a moved one keeps the message", "[mailstore][delivery]") {
    TempDir tmp;
    const std::string maildir = tmp.file("Maildir");
    {
        Delivery d;
        d.add(maildir);
        d.write(message_bytes("dropped", 5000));
    }
    check_nothing_left({maildir});

    std::optional<Delivery> held;
    {
        Delivery d;
        d.add(maildir);
        d.write("Subject: moved\r\n\r\n");
        held.emplace(std::move(d));
    }  // the moved-from one removes nothing
    CHECK(list(maildir + "/tmp").size() == 1);
    held->write("body\r\n");
    auto delivered = held->commit();
    check_delivered(delivered.at(0), "Subject: moved\r\n\r\nbody\r\n");
    Delivery other;
    other.add(maildir);
    *held = std::move(other);  // assigning over a committed one leaves its message alone
    held.reset();              // and this one aborts
    CHECK(list(maildir + "/new").size() == 1);
    CHECK(list(maildir + "/tmp").empty());
}

TEST_CASE("write or commit before add is an internal error and leaves nothing", "[mailstore][delivery]") {
    Delivery d;
    error_of([&] { d.write("x"); }, ErrorKind::internal);
    error_of([&] { d.commit(); }, ErrorKind::internal);
}

TEST_CASE("a missing Maildir is created with its parents, every folder 0700", "[mailstore][delivery]") {
    TempDir tmp;
    const std::string maildir = tmp.file("mail/example.org/alice");
    const mode_t old_umask = ::umask(0);
    Delivery d;
    d.add(maildir);
    ::umask(old_umask);
    d.write("Subject: first\r\n\r\n");
    auto delivered = d.commit();
    check_delivered(delivered.at(0), "Subject: first\r\n\r\n");
    for (const std::string& folder : {tmp.file("mail"), tmp.file("mail/example.org"), maildir, maildir + "/cur",
                                      maildir + "/new", maildir + "/tmp"}) {
        INFO(folder);
        CHECK((stat_of(folder).st_mode & 07777) == 0700);
    }
}

namespace {

// The read-only Maildir checks, as a list of what went wrong (empty when all is well), so that
// they can run in a child without root: root ignores modes.
std::string read_only_problems(const std::string& root) {
    std::string problems;
    auto expect = [&](bool ok, const std::string& what) {
        if (!ok) problems += what + "; ";
    };
    auto kind_of = [](auto&& f) -> std::optional<ErrorKind> {
        try {
            f();
        } catch (const Error& e) {
            return e.kind();
        }
        return std::nullopt;
    };
    const std::string early = root + "/early", late = root + "/late", other = root + "/other";
    try {
        // new/ read-only before add: refused at once (SMTP refuses at RCPT time).
        vpsmail::mailstore::ensure_maildir(early);
        ::chmod((early + "/new").c_str(), 0500);
        Delivery first;
        expect(kind_of([&] { first.add(early); }) == ErrorKind::permission, "add to a read-only new/ is not permission");
        expect(list(early + "/tmp").empty() && list(early + "/new").empty(), "add to a read-only new/ left a file");

        // new/ becomes read-only after add: commit fails, and no file stays anywhere.
        Delivery second;
        second.add(other);
        second.add(late);
        second.write("Subject: read-only\r\n\r\n");
        ::chmod((late + "/new").c_str(), 0500);
        expect(kind_of([&] { second.commit(); }) == ErrorKind::permission, "commit into a read-only new/ is not permission");
        for (const auto& m : {late, other})
            expect(list(m + "/tmp").empty() && list(m + "/new").empty(), "a failed commit left a file in " + m);
    } catch (const std::exception& e) {
        problems += std::string("unexpected error: ") + e.what();
    }
    for (const auto& m : {early, late}) ::chmod((m + "/new").c_str(), 0700);
    return problems;
}

}  // namespace

TEST_CASE("a read-only new/ is a permission error and leaves no file", "[mailstore][delivery]") {
    TempDir tmp;
    if (::geteuid() != 0) {
        CHECK(read_only_problems(tmp.path().string()) == "");
        return;
    }
    // As root, run the checks in a child that has become nobody (65534), the owner of the folder.
    REQUIRE(::chown(tmp.path().c_str(), 65534, 65534) == 0);
    int report[2];
    REQUIRE(::pipe(report) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(report[0]);
        std::string problems = (::setgid(65534) == 0 && ::setuid(65534) == 0) ? read_only_problems(tmp.path().string())
                                                                             : "cannot become nobody";
        [[maybe_unused]] auto n = ::write(report[1], problems.data(), problems.size());
        ::_exit(0);
    }
    ::close(report[1]);
    std::string problems;
    char buffer[512];
    for (ssize_t n; (n = ::read(report[0], buffer, sizeof buffer)) > 0;) problems.append(buffer, static_cast<std::size_t>(n));
    ::close(report[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(problems == "");
}

TEST_CASE("a failure part-way through commit removes what it linked, then throws", "[mailstore][delivery]") {
    struct Case {
        int fail_on_call;  // the link(2) call that fails, from 1
        int err;
        ErrorKind want;
    };
    const Case cases[] = {
        {1, ENOSPC, ErrorKind::no_space},
        {3, ENOSPC, ErrorKind::no_space},
        {2, EIO, ErrorKind::temporary},
        {2, EDQUOT, ErrorKind::no_space},
        {3, EACCES, ErrorKind::permission},
        {2, EROFS, ErrorKind::permission},
    };
    for (const Case& c : cases) {
        INFO("link call " << c.fail_on_call << " fails with " << std::strerror(c.err));
        TempDir tmp;
        const std::vector<std::string> maildirs = {tmp.file("a"), tmp.file("b"), tmp.file("c")};
        int calls = 0;
        DeliveryHooks hooks;
        hooks.link = [&](const char* from, const char* to) {
            if (++calls == c.fail_on_call) {
                errno = c.err;
                return -1;
            }
            return ::link(from, to);
        };
        Delivery d(nullptr, hooks);
        for (const auto& m : maildirs) d.add(m);
        d.write(message_bytes("partial", 10000));
        std::string msg = error_of([&] { d.commit(); }, c.want);
        CHECK_THAT(msg, Catch::Contains("/new"));
        check_nothing_left(maildirs);
        error_of([&] { d.commit(); }, ErrorKind::internal);
    }
}

TEST_CASE("a message that fails fsync is a temporary error and leaves nothing", "[mailstore][delivery]") {
    for (bool folder : {false, true}) {
        INFO((folder ? "the new/ folder's fsync fails" : "the message file's fsync fails"));
        TempDir tmp;
        const std::vector<std::string> maildirs = {tmp.file("a"), tmp.file("b")};
        DeliveryHooks hooks;
        hooks.fsync = [&](int fd) {
            struct stat st {};
            if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) == folder) {
                errno = EIO;
                return -1;
            }
            return ::fsync(fd);
        };
        Delivery d(nullptr, hooks);
        for (const auto& m : maildirs) d.add(m);
        d.write(message_bytes("unsynced", 3000));
        std::string msg = error_of([&] { d.commit(); }, ErrorKind::temporary);
        CHECK_THAT(msg, Catch::Contains(tmp.path().string()));
        check_nothing_left(maildirs);
    }
}

TEST_CASE("an fsync that finds the disk full is no_space (452 4.3.1 in SMTP) and leaves nothing", "[mailstore][delivery]") {
    for (int err : {ENOSPC, EDQUOT, EIO}) {
        INFO(std::strerror(err));
        TempDir tmp;
        const std::vector<std::string> maildirs = {tmp.file("a")};
        DeliveryHooks hooks;
        hooks.fsync = [&](int) {
            errno = err;
            return -1;
        };
        Delivery d(nullptr, hooks);
        d.add(maildirs[0]);
        d.write(message_bytes("full", 3000));
        error_of([&] { d.commit(); }, err == EIO ? ErrorKind::temporary : ErrorKind::no_space);
        check_nothing_left(maildirs);
    }
}

TEST_CASE("a write that fails is temporary, aborts, and leaves nothing", "[mailstore][delivery]") {
    TempDir tmp;
    const std::string maildir = tmp.file("Maildir");
    Delivery d;
    d.add(maildir);
    // The file is full the moment it holds one byte more than RLIMIT_FSIZE allows: EFBIG. SIGXFSZ
    // would kill us first, so it is ignored meanwhile.
    struct rlimit old {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 1000;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::optional<Error> failure;
    try {
        d.write(message_bytes("too big", 100000));
    } catch (const Error& e) {
        failure = e;
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    REQUIRE(failure.has_value());
    CHECK(failure->kind() == ErrorKind::temporary);
    const std::string msg = failure->what();
    CHECK_THAT(msg, Catch::Contains(maildir + "/tmp/"));
    check_nothing_left({maildir});
    error_of([&] { d.commit(); }, ErrorKind::internal);
}

TEST_CASE("concurrent commits through a SyncGroup all land and are readable", "[mailstore][delivery][sync_group]") {
    TempDir tmp;
    const std::vector<std::string> maildirs = {tmp.file("a/Maildir"), tmp.file("b/Maildir")};
    constexpr int threads = 8;
    constexpr int per_thread = 25;
    SyncGroup group;
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                try {
                    Delivery d(&group);
                    for (const auto& m : maildirs) d.add(m);
                    std::string id = std::to_string(t) + "." + std::to_string(i);
                    d.write(message_bytes(id, 4096 + static_cast<std::size_t>(t * 100 + i)));
                    d.commit();
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    for (auto& w : workers) w.join();
    CHECK(failures == 0);
    for (const auto& m : maildirs) {
        auto names = list(m + "/new");
        CHECK(names.size() == static_cast<std::size_t>(threads * per_thread));
        std::vector<std::string> ids;
        for (const auto& name : names) {
            std::string bytes = read_file(m + "/new/" + name);
            std::smatch id;
            REQUIRE(std::regex_search(bytes, id, std::regex("^Message-Id: <([0-9]+)\\.([0-9]+)>")));
            std::size_t size = 4096 + std::stoul(id[1].str()) * 100 + std::stoul(id[2].str());
            CHECK(bytes == message_bytes(id[1].str() + "." + id[2].str(), size));
            CHECK(find_message_size(name) == bytes.size());
            ids.push_back(id[0].str());
        }
        std::sort(ids.begin(), ids.end());
        CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
        CHECK(list(m + "/tmp").empty());
    }
    auto counters = group.counters();
    CHECK(counters.requests == static_cast<std::uint64_t>(threads * per_thread * 2));
    CHECK(counters.fsyncs >= 1);
    CHECK(counters.fsyncs <= counters.requests);
}

TEST_CASE("a SyncGroup whose fsync fails fails the commit and leaves nothing", "[mailstore][delivery][sync_group]") {
    TempDir tmp;
    SyncGroup group([](int) {
        errno = EIO;
        return -1;
    });
    Delivery d(&group);
    d.add(tmp.file("Maildir"));
    d.write("Subject: lost\r\n\r\n");
    std::string msg = error_of([&] { d.commit(); }, ErrorKind::temporary);
    CHECK_THAT(msg, Catch::Contains(tmp.file("Maildir/new")));
    check_nothing_left({tmp.file("Maildir")});
}

namespace {

// The crash test's child: delivers message after message into both Maildirs, 16 KiB to 528 KiB
// each, in 4 KiB pieces with short pauses. After each commit it makes the next message's bytes,
// then writes a byte to `ready`, so that the parent's kill lands in a delivery rather than in
// the making of bytes. It never returns: the parent kills it.
[[noreturn]] void deliver_until_killed(const std::vector<std::string>& maildirs, int ready, int iteration) {
    try {
        for (int k = 0; k < 1000; ++k) {
            const std::size_t size = 16384 + static_cast<std::size_t>((iteration * 7919 + k * 104729) % (512 * 1024));
            const std::string id = std::to_string(iteration) + "." + std::to_string(k) + "." + std::to_string(size);
            const std::string bytes = message_bytes(id, size);
            if (k > 0 && ::write(ready, "c", 1) != 1) ::_exit(3);
            Delivery d;
            for (const auto& m : maildirs) d.add(m);
            std::string_view rest = bytes;
            for (int piece = 0; !rest.empty(); ++piece) {
                d.write(rest.substr(0, 4096));
                rest.remove_prefix(std::min<std::size_t>(4096, rest.size()));
                if (piece % 8 == 7) ::usleep(50);
            }
            d.commit();
        }
    } catch (...) {
        ::_exit(2);
    }
    ::_exit(0);
}

}  // namespace

TEST_CASE("a delivery killed at any point leaves only whole messages in new/", "[mailstore][delivery][crash]") {
    TempDir tmp;
    const std::vector<std::string> maildirs = {tmp.file("a/Maildir"), tmp.file("b/Maildir")};
    std::mt19937 random(20240611);  // fixed: the same kill delays every run
    std::uniform_int_distribution<int> delay_us(0, 4000);
    constexpr int iterations = 20;
    for (int i = 0; i < iterations; ++i) {
        int ready[2];
        REQUIRE(::pipe(ready) == 0);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(ready[0]);
            deliver_until_killed(maildirs, ready[1], i);
        }
        ::close(ready[1]);
        // Once the child has committed a message, kill it somewhere in the delivery of the next.
        pollfd p{ready[0], POLLIN, 0};
        const int polled = ::poll(&p, 1, 20000);
        char c = 0;
        const bool committed = polled == 1 && ::read(ready[0], &c, 1) == 1;
        ::usleep(static_cast<useconds_t>(delay_us(random)));
        ::kill(pid, SIGKILL);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        ::close(ready[0]);
        INFO("iteration " << i);
        REQUIRE(committed);
        CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    }
    for (const auto& m : maildirs) {
        INFO(m);
        auto names = list(m + "/new");
        CHECK(names.size() >= static_cast<std::size_t>(iterations));
        for (const auto& name : names) {
            INFO(name);
            const std::string bytes = read_file(m + "/new/" + name);
            auto size = find_message_size(name);
            REQUIRE(size.has_value());
            CHECK(*size == bytes.size());
            std::smatch id;
            REQUIRE(std::regex_search(bytes, id, std::regex("^Message-Id: <([0-9]+\\.[0-9]+\\.([0-9]+))>")));
            CHECK(std::stoull(id[2].str()) == bytes.size());
            CHECK(bytes == message_bytes(id[1].str(), bytes.size()));
        }
        CHECK(vpsmail::mailstore::maildir_usage(m) > 0);
    }
}

TEST_CASE("an add() that fails leaves the Delivery as it was: the other Maildirs still get the message", "[mailstore][delivery]") {
    TempDir tmp;
    const std::string a = tmp.file("a/Maildir"), b = tmp.file("b/Maildir"), c = tmp.file("c/Maildir");
    fs::create_directories(tmp.file("b"));
    std::ofstream(b) << "a file in the way";
    for (const bool first_fails : {true, false}) {
        INFO((first_fails ? "the first add fails" : "a later add fails"));
        Delivery d;
        if (first_fails) CHECK(error_of([&] { d.add(b); }, ErrorKind::temporary).find(b) != std::string::npos);
        REQUIRE(d.add(a));
        if (!first_fails) CHECK(error_of([&] { d.add(b); }, ErrorKind::temporary).find(b) != std::string::npos);
        REQUIRE(d.add(c));
        const std::string bytes = message_bytes("partial", 5000);
        d.write(bytes);
        auto files = d.commit();
        REQUIRE(files.size() == 2);
        CHECK(files[0].maildir == a);
        CHECK(files[1].maildir == c);
        for (const auto& f : files) check_delivered(f, bytes);
        CHECK(list(a + "/tmp").empty());
    }
}
