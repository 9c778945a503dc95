// Program and file targets (mailstore/external.hpp).
#include "mailstore/external.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <fstream>
#include <pwd.h>
#include <sstream>
#include <sys/resource.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace vpsmail::mailstore;
using Kind = ExternalResult::Kind;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("program: the message on stdin, exit codes mapped per sysexits", "[mailstore][external]") {
    vpsmail::test::TempDir dir;
    ::chmod(dir.path().c_str(), 0777);  // the program may run as nobody
    const std::string out = dir.file("out");
    ProgramOptions o;
    o.sender = "ann@example.org";
    o.recipient = "bob@example.test";
    auto ok = run_program("cat > " + out + "; echo \"$SENDER $RECIPIENT\" >> " + out, "Subject: x\r\n\r\nhi\r\n", o);
    CHECK(ok.ok());
    CHECK(slurp(out) == "Subject: x\r\n\r\nhi\r\nann@example.org bob@example.test\n");

    auto temp = run_program("exit 75", "x", o);
    CHECK(temp.kind == Kind::temporary);
    CHECK(temp.code == 451);

    auto perm = run_program("echo 'no such list'; exit 67", "x", o);
    CHECK(perm.kind == Kind::permanent);
    CHECK(perm.code == 554);
    CHECK(perm.status == "5.3.0");
    CHECK_THAT(perm.text, Catch::Contains("67") && Catch::Contains("no such list"));

    auto early = run_program("true", std::string(1 << 20, 'x'), o);  // stops reading at once: still delivered
    CHECK(early.ok());
}

TEST_CASE("program: the timeout kills it and is temporary", "[mailstore][external]") {
    ProgramOptions o;
    o.timeout = std::chrono::seconds(1);
    auto r = run_program("sleep 30", "x", o);
    CHECK(r.kind == Kind::temporary);
    CHECK_THAT(r.text, Catch::Contains("1 s"));
}

namespace {

// The descriptors a program has open, one per line: 0, 1 and 2, and 3, which ls opens for
// the listing itself (an inherited descriptor would move it up).
std::string program_descriptors(const ProgramOptions& o, const std::string& dir) {
    const std::string out = dir + "/fds";
    auto r = run_program("exec ls /proc/self/fd > " + out, "x", o);
    REQUIRE(r.ok());
    return slurp(out);
}

}  // namespace

TEST_CASE("program: no descriptor of ours reaches it, however high", "[mailstore][external]") {
    vpsmail::test::TempDir dir;
    ::chmod(dir.path().c_str(), 0777);
    // A descriptor above 1023 (the store's, a socket's on a busy server) must be closed too.
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    const rlimit saved = limit;
    if (limit.rlim_cur < 4096 && limit.rlim_max >= 4096) limit.rlim_cur = 4096;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
    const int high = limit.rlim_cur >= 4096 ? 3000 : static_cast<int>(limit.rlim_cur) - 1;
    const int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);  // not O_CLOEXEC
    REQUIRE(fd >= 0);
    REQUIRE(::dup2(fd, high) == high);
    const int low = ::dup(fd);  // no O_CLOEXEC either
    CHECK(program_descriptors(ProgramOptions{}, dir.path()) == "0\n1\n2\n3\n");
    ::close(low);
    ::close(high);
    ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &saved);
}

TEST_CASE("program: through the launcher, as program_user, in parallel, with the timeout", "[mailstore][external]") {
    if (::geteuid() != 0) {
        WARN("not root: the launcher cannot switch users (tests run as root in CI)");
        return;
    }
    vpsmail::test::TempDir dir;
    ::chmod(dir.path().c_str(), 0777);
    const struct passwd* daemon_user = ::getpwnam("daemon");
    REQUIRE(daemon_user != nullptr);
    const std::string want_uid = std::to_string(daemon_user->pw_uid);
    CHECK_THROWS_WITH(start_program_launcher("no-such-user-here"), Catch::Contains("no-such-user-here") &&
                                                                     Catch::Contains("program_user"));
    CHECK_THROWS_WITH(start_program_launcher("root"), Catch::Contains("root"));
    start_program_launcher("daemon");
    ProgramOptions o;
    o.sender = "ann@example.org";
    o.recipient = "bob@example.test";
    o.run_as = "nobody";  // what the direct path would use; the launcher's user wins
    const std::string out = dir.file("id");
    auto r = run_program("cat > /dev/null; echo \"$(id -u) $(id -g) $(id -G) $SENDER\" > " + out, "Subject: x\r\n\r\nhi\r\n", o);
    CHECK(r.ok());
    const std::string daemon_gid = std::to_string(daemon_user->pw_gid);
    CHECK(slurp(out) == want_uid + " " + daemon_gid + " " + daemon_gid + " ann@example.org\n");
    CHECK(program_descriptors(o, dir.path()) == "0\n1\n2\n3\n");

    auto perm = run_program("echo 'no such list'; exit 67", "x", o);
    CHECK(perm.code == 554);
    CHECK_THAT(perm.text, Catch::Contains("no such list"));

    o.timeout = std::chrono::seconds(1);
    auto slow = run_program("sleep 30", "x", o);
    CHECK(slow.kind == Kind::temporary);
    CHECK_THAT(slow.text, Catch::Contains("1 s"));
    o.timeout = std::chrono::seconds(60);

    // Several threads at once, each answered on its own.
    std::vector<std::thread> threads;
    std::vector<int> codes(8, -1);
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] { codes[i] = run_program(i % 2 ? "exit 67" : "true", "x", o).code; });
    for (auto& t : threads) t.join();
    for (int i = 0; i < 8; ++i) CHECK(codes[i] == (i % 2 ? 554 : 250));

    stop_program_launcher();
    // Without it, as root, the program is forked here as options.run_as.
    const struct passwd* nobody = ::getpwnam("nobody");
    REQUIRE(nobody != nullptr);
    const std::string direct = dir.file("id-direct");  // `out` is daemon's, not writable for nobody
    CHECK(run_program("id -u > " + direct, "x", o).ok());
    CHECK(slurp(direct) == std::to_string(nobody->pw_uid) + "\n");
}

TEST_CASE("file: mboxrd append under a lock; bad paths are permanent", "[mailstore][external]") {
    vpsmail::test::TempDir dir;
    const std::string box = dir.file("box");
    REQUIRE(append_to_file(box, "Subject: one\r\n\r\nFrom here\r\n>From there\r\n", "ann@example.org").ok());
    REQUIRE(append_to_file(box, "Subject: two\r\n\r\nbody\r\n", "").ok());
    const std::string text = slurp(box);
    CHECK(text.rfind("From ann@example.org ", 0) == 0);
    CHECK_THAT(text, Catch::Contains("\nSubject: one\n\n>From here\n>>From there\n\n"));
    CHECK_THAT(text, Catch::Contains("\nFrom MAILER-DAEMON "));
    CHECK(text.find('\r') == std::string::npos);
    struct stat st {};
    REQUIRE(::stat(box.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    auto dir_target = append_to_file(dir.path(), "x", "");
    CHECK(dir_target.kind == Kind::permanent);
    CHECK(dir_target.code == 550);
    auto missing = append_to_file(dir.file("no/such/folder/box"), "x", "");
    CHECK_FALSE(missing.ok());
}
