#include "mailstore/quota.hpp"

#include "core/error.hpp"
#include "mailstore/delivery.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

using vpsmail::mailstore::Delivery;
using vpsmail::mailstore::maildir_usage;
using vpsmail::test::TempDir;
namespace fs = std::filesystem;

namespace {

void write_file(const std::string& path, std::size_t size) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << std::string(size, 'x');
}

}  // namespace

TEST_CASE("maildir usage sums the sizes in the names, and stats only names without one", "[mailstore][quota]") {
    TempDir tmp;
    const std::string m = tmp.file("Maildir");
    CHECK(maildir_usage(m) == 0);  // missing
    for (const char* sub : {"cur", "new", "tmp"}) fs::create_directories(m + "/" + sub);
    CHECK(maildir_usage(m) == 0);

    // The name is believed: a 3-byte file named S=1000 counts 1000, which proves no stat.
    write_file(m + "/new/1.M1P1Q1.h,S=1000", 3);
    write_file(m + "/cur/1.M1P1Q2.h,S=200:2,S", 5);
    write_file(m + "/cur/1.M1P1Q3.h,S=30,W=31:2,", 1);
    write_file(m + "/cur/1.M1P1Q4.h:2,S", 44);             // no size field: stat
    write_file(m + "/new/legacy-name", 5);                 // no size field: stat
    write_file(m + "/tmp/1.M1P1Q5.h", 100000);             // not delivered: not counted
    write_file(m + "/new/.hidden,S=7777", 1);              // dot files are not messages
    write_file(m + "/.Sent/cur/1.M1P1Q6.h,S=600:2,S", 1);  // Maildir++ folder
    write_file(m + "/.Sent/new/1.M1P1Q7.h", 9);
    write_file(m + "/.Sent/tmp/1.M1P1Q8.h,S=5000", 1);
    fs::create_directories(m + "/.Empty");
    write_file(m + "/.not-a-folder", 12);
    write_file(m + "/dovecot-uidlist", 50);
    CHECK(maildir_usage(m) == 1000 + 200 + 30 + 44 + 5 + 600 + 9);
}

TEST_CASE("maildir usage counts what Delivery commits, to the byte", "[mailstore][quota]") {
    TempDir tmp;
    const std::string m = tmp.file("Maildir");
    std::uint64_t want = 0;
    for (std::size_t size : {0u, 1u, 4096u, 100000u}) {
        Delivery d;
        d.add(m);
        d.write(std::string(size, 'q'));
        d.commit();
        want += size;
    }
    Delivery aborted;
    aborted.add(m);
    aborted.write(std::string(5000, 'a'));
    CHECK(maildir_usage(m) == want);  // tmp/ is not counted
}
