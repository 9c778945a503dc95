// Program and file targets (mailstore/external.hpp).
#include "mailstore/external.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

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
