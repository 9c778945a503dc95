#include "core/config.hpp"
#include "core/error.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

namespace {

std::string write(const vpsmail::test::TempDir& dir, const std::string& text) {
    std::string path = dir.file("vpsmail.toml");
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST_CASE("a missing config file gives the defaults unless required", "[core][config]") {
    vpsmail::test::TempDir dir;
    auto c = vpsmail::load_config(dir.file("absent.toml"), false);
    CHECK(c.source.empty());
    CHECK(c.routing.plus_detail);
    CHECK(c.routing.detail_delimiter == '+');
    CHECK_FALSE(c.delivery.allow_programs);
    CHECK_FALSE(c.smtp.strict_8bitmime);
    CHECK_FALSE(c.paths.state_dir.empty());
    CHECK(c.paths.mail_root == c.paths.state_dir + "/mail");
    CHECK_THROWS_AS(vpsmail::load_config(dir.file("absent.toml"), true), vpsmail::Error);
}

TEST_CASE("config keys are read", "[core][config]") {
    vpsmail::test::TempDir dir;
    auto path = write(dir,
                      "[store]\npath = \"/srv/v.db\"\n[server]\nprimary_domain = \"Example.ORG\"\n"
                      "[paths]\nstate_dir = \"/srv/state\"\n"
                      "[routing]\nplus_detail = false\ndetail_delimiter = \"-\"\npostmaster = \"root\"\n"
                      "[delivery]\nallow_programs = true\nallow_files = true\nallow_includes = true\n"
                      "[smtp]\nstrict_8bitmime = true\n"
                      "[limits]\nmax_maildrop_messages = 7\nmax_maildrop_size = \"2M\"\n");
    auto c = vpsmail::load_config(path, true);
    CHECK(c.limits.max_maildrop_messages == 7);
    CHECK(c.limits.max_maildrop_size == 2u << 20);
    CHECK(c.store.path == "/srv/v.db");
    CHECK(c.server.primary_domain == "example.org");
    CHECK(c.paths.state_dir == "/srv/state");
    CHECK(c.paths.mail_root == "/srv/state/mail");
    CHECK_FALSE(c.routing.plus_detail);
    CHECK(c.routing.detail_delimiter == '-');
    CHECK(c.routing.postmaster == "root");
    CHECK(c.delivery.allow_programs);
    CHECK(c.delivery.allow_files);
    CHECK(c.delivery.allow_includes);
    CHECK(c.smtp.strict_8bitmime);
    auto again = vpsmail::format_config(c);
    CHECK_THAT(again, Catch::Contains("detail_delimiter = \"-\""));
    CHECK_THAT(again, Catch::Contains("strict_8bitmime = true"));
}

TEST_CASE("bad config files name the key and the line", "[core][config]") {
    struct Case {
        const char* text;
        const char* want;
    };
    const Case cases[] = {
        {"[nope]\nx = 1\n", ":1: unknown section or key 'nope'"},
        {"[routing]\nplus_detail = true\ncolour = 1\n", ":3: routing.colour: unknown key"},
        {"[smtp]\nstrict_8bitmime = 1\n", ":2: smtp.strict_8bitmime: must be a boolean"},
        {"[routing]\n\nplus_detail = \"yes\"\n", ":3: routing.plus_detail: must be a boolean"},
        {"[routing]\ndetail_delimiter = \"ab\"\n", ":2: routing.detail_delimiter"},
        {"[server]\nprimary_domain = \"bad..domain\"\n", ":2: server.primary_domain"},
        {"[paths]\nstate_dir = \"relative\"\n", "must be an absolute path"},
        {"[routing\n", ":1:"},
        {"routing = 3\n", "must be a section"},
        {"[limits]\nmax_maildrop_messages = 0\n", ":2: limits.max_maildrop_messages"},
        {"[limits]\nmax_maildrop_messages = 10001\n", "must be 1 to 10000, not 10001"},
        {"[limits]\nmax_maildrop_size = \"10\"\n", ":2: limits.max_maildrop_size: must be at least 1K"},
    };
    for (const auto& c : cases) {
        SECTION(c.text) {
            vpsmail::test::TempDir dir;
            auto path = write(dir, c.text);
            try {
                vpsmail::load_config(path, true);
                FAIL("accepted");
            } catch (const vpsmail::Error& e) {
                CHECK(e.kind() == vpsmail::ErrorKind::config);
                CHECK_THAT(e.what(), Catch::Contains(c.want));
            }
        }
    }
}

TEST_CASE("the defaults follow the installation a command means, not who runs it", "[core][config]") {
    vpsmail::test::TempDir dir;
    ::setenv("XDG_STATE_HOME", dir.file("xdg").c_str(), 1);
    auto system = vpsmail::load_config(dir.file("absent.toml"), false, vpsmail::Install::system);
    CHECK(system.paths.state_dir == "/var/lib/vpsmail");
    CHECK(system.paths.spool_dir == "/var/lib/vpsmail/spool");
    CHECK(system.paths.pid_file == "/var/lib/vpsmail/vpsmail.pid");
    REQUIRE(system.smtp.listen.size() == 1);
    CHECK(system.smtp.listen[0].str() == "0.0.0.0:25");
    auto user = vpsmail::load_config(dir.file("absent.toml"), false, vpsmail::Install::user);
    CHECK(user.paths.state_dir == dir.file("xdg") + "/vpsmail");
    CHECK(user.paths.pid_file == dir.file("xdg") + "/vpsmail/vpsmail.pid");
    REQUIRE(user.smtp.listen.size() == 1);
    CHECK(user.smtp.listen[0].str() == "127.0.0.1:2525");
    CHECK(vpsmail::default_config_path(vpsmail::Install::system) == "/etc/vpsmail/vpsmail.toml");
    ::unsetenv("XDG_STATE_HOME");

    auto path = write(dir, "[paths]\nstate_dir = \"/srv/state\"\npid_file = \"/run/vpsmail.pid\"\n");
    auto given = vpsmail::load_config(path, true, vpsmail::Install::system);
    CHECK(given.paths.pid_file == "/run/vpsmail.pid");
    CHECK_THAT(vpsmail::format_config(given), Catch::Contains("pid_file = \"/run/vpsmail.pid\""));
    auto relative = write(dir, "[paths]\npid_file = \"vpsmail.pid\"\n");
    CHECK_THROWS_WITH(vpsmail::load_config(relative, true), Catch::Contains("paths.pid_file: must be an absolute path"));
}
