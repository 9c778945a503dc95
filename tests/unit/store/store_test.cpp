#include "store/store.hpp"

#include "core/error.hpp"
#include "support/checks.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using vpsmail::Error;
using vpsmail::ErrorKind;
using vpsmail::kind_name;
using vpsmail::store::OpenMode;
using vpsmail::store::Store;
using vpsmail::test::TempDir;
using vpsmail::test::error_of;
using vpsmail::test::raw_sql;

namespace {

unsigned mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

vpsmail::store::NewUser new_user(const std::string& local, const std::string& domain) {
    vpsmail::store::NewUser u;
    u.local = local;
    u.domain = domain;
    u.password_hash = "$y$j9T$salt$hash";
    return u;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
    return out;
}

}  // namespace

TEST_CASE("open creates missing folders 0700 and the file 0600 whatever the umask", "[store]") {
    TempDir tmp;
    const std::string path = tmp.file("a/b/store.db");
    const mode_t old_umask = ::umask(0);  // the widest umask: modes must still be ours
    auto store = Store::open(path);
    ::umask(old_umask);
    store->create_domain("example.org");  // the WAL file exists while the store is open

    struct Want {
        std::string path;
        unsigned mode;
    };
    for (const Want& w : {Want{tmp.file("a"), 0700}, Want{tmp.file("a/b"), 0700}, Want{path, 0600},
                          Want{path + "-wal", 0600}}) {
        INFO(w.path << ": got mode " << std::oct << mode_of(w.path) << ", want " << w.mode);
        CHECK(mode_of(w.path) == w.mode);
    }
    CHECK(store->schema_version() == Store::latest_schema_version());
    CHECK(store->path() == path);
}

TEST_CASE("reopening keeps the data; read-only opens read but never write or create", "[store]") {
    TempDir tmp;
    const std::string path = tmp.file("store.db");
    Store::open(path)->create_domain("example.org");

    auto ro = Store::open(path, OpenMode::read_only);  // the only connection: no -wal, no -shm yet
    CHECK(ro->is_local_domain("example.org"));
    CHECK(ro->schema_version() == Store::latest_schema_version());
    auto again = Store::open(path);
    CHECK(again->find_domain("example.org").has_value());
    again->create_domain("example.net");
    CHECK(ro->is_local_domain("example.net"));
    std::string msg = error_of([&] { ro->create_domain("example.com"); }, ErrorKind::permission);
    CHECK_THAT(msg, Catch::Contains(path) && Catch::Contains("read-only"));

    const std::string missing = tmp.file("nowhere/store.db");
    error_of([&] { Store::open(missing, OpenMode::read_only); }, ErrorKind::config);
    CHECK(::access(tmp.file("nowhere").c_str(), F_OK) != 0);
}

TEST_CASE("read-only open of an empty file is a config error", "[store]") {
    TempDir tmp;
    const std::string path = tmp.file("empty.db");
    std::ofstream(path).close();
    std::string msg = error_of([&] { Store::open(path, OpenMode::read_only); }, ErrorKind::config);
    CHECK_THAT(msg, Catch::Contains(path));
}

TEST_CASE("files that are not our store are config errors", "[store]") {
    TempDir tmp;

    SECTION("garbage bytes") {
        const std::string path = tmp.file("garbage.db");
        std::ofstream(path) << std::string(4096, 'x');
        std::string msg = error_of([&] { Store::open(path); }, ErrorKind::config);
        CHECK_THAT(msg, Catch::Contains(path) && Catch::Contains("not a vpsmail database or is corrupt"));
        error_of([&] { Store::open(path, OpenMode::read_only); }, ErrorKind::config);
    }
    SECTION("a newer schema") {
        const std::string path = tmp.file("newer.db");
        Store::open(path).reset();
        raw_sql(path, "PRAGMA user_version = 999");
        std::string msg = error_of([&] { Store::open(path); }, ErrorKind::config);
        CHECK_THAT(msg, Catch::Contains("999") && Catch::Contains(std::to_string(Store::latest_schema_version())) &&
                            Catch::Contains("upgrade vpsmail"));
    }
    SECTION("another application's SQLite database") {
        const std::string path = tmp.file("other.db");
        raw_sql(path, "PRAGMA application_id = 1234; CREATE TABLE t (x)");
        std::string msg = error_of([&] { Store::open(path); }, ErrorKind::config);
        CHECK_THAT(msg, Catch::Contains("not a vpsmail database"));
    }
    SECTION("an SQLite database without application_id but with tables") {
        const std::string path = tmp.file("plain.db");
        raw_sql(path, "CREATE TABLE t (x)");
        error_of([&] { Store::open(path); }, ErrorKind::config);
        // and it was left alone: still in its own journal mode, no tables of ours
        raw_sql(path, "SELECT x FROM t");
    }
}

TEST_CASE("eight processes opening a fresh file and adding users at once all succeed", "[store]") {
    TempDir tmp;
    const std::string path = tmp.file("fresh/store.db");
    constexpr int processes = 8;
    std::vector<pid_t> children;
    for (int i = 0; i < processes; ++i) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int code = 0;
            try {
                auto store = Store::open(path);
                try {
                    store->create_domain("example.org");
                } catch (const Error& e) {
                    if (e.kind() != ErrorKind::exists) throw;
                }
                for (int j = 0; j < 20; ++j) store->create_user(new_user("u" + std::to_string(i * 100 + j), "example.org"));
            } catch (const Error& e) {
                std::fprintf(stderr, "child %d: %s (%s)\n", i, e.what(), e.detail().c_str());
                code = 1;
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child %d: %s\n", i, e.what());
                code = 1;
            }
            ::_exit(code);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    CHECK(Store::open(path)->list_users("example.org").size() == processes * 20);
}

TEST_CASE("domains: create, find, list, remove, case-insensitively", "[store][domain]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));

    CHECK_FALSE(store->first_domain().has_value());
    store->create_domain("b.example");
    store->create_domain("A.Example");
    std::string msg = error_of([&] { store->create_domain("B.EXAMPLE"); }, ErrorKind::exists);
    CHECK_THAT(msg, Catch::Contains("b.example"));

    auto domains = store->list_domains();
    REQUIRE(domains.size() == 2);
    CHECK(domains[0].name == "a.example");
    CHECK(domains[1].name == "b.example");
    CHECK(domains[0].created > 0);
    CHECK(store->first_domain() == "b.example");

    store->create_user(new_user("bob", "b.example"));
    store->map_vuser("info@b.example", "b.example", "bob");
    store->set_catchall("b.example", "bob");
    auto b = store->find_domain("B.Example");
    REQUIRE(b.has_value());
    CHECK(b->users == 1);
    CHECK(b->vusers == 1);
    CHECK(b->catchall == "bob");
    CHECK_FALSE(store->find_domain("c.example").has_value());

    for (auto [name, want] : std::vector<std::pair<std::string, bool>>{
             {"a.example", true}, {"A.EXAMPLE", true}, {"sub.a.example", false}, {"example", false}, {"", false}}) {
        INFO("is_local_domain(" << name << "): want " << want);
        CHECK(store->is_local_domain(name) == want);
    }

    store->remove_domain("A.example", false);
    CHECK_FALSE(store->is_local_domain("a.example"));
    error_of([&] { store->remove_domain("a.example", false); }, ErrorKind::no_such_domain);
    error_of([&] { store->domain_use("a.example"); }, ErrorKind::no_such_domain);
}

TEST_CASE("remove_domain refuses a domain in use and, forced, removes everything in one transaction",
          "[store][domain]") {
    TempDir tmp;
    const std::string path = tmp.file("store.db");
    auto store = Store::open(path);
    store->create_domain("example.org");
    store->create_domain("sub.example.org");
    store->create_domain("other.test");
    store->create_user(new_user("bob", "example.org"));
    store->create_user(new_user("ann", "example.org"));
    store->create_user(new_user("carl", "other.test"));
    store->set_forward("bob", "example.org", {"x@remote.test"});
    store->map_vuser("info@example.org", "example.org", "bob");
    store->set_catchall("example.org", "bob");
    store->set_catchall("other.test", "carl");
    store->add_alias("staff", {"Bob@Example.ORG", "carl@other.test", "x@sub.example.org"});
    store->add_alias("only", {"ann@example.org"});
    store->add_alias("prog", {"|/bin/cat x@example.org", "bob"});

    auto use = store->domain_use("EXAMPLE.org");
    CHECK(use.users == 2);
    CHECK(use.alias_targets == 2);
    CHECK(use.vusers == 1);
    CHECK(use.catchall);

    std::string msg = error_of([&] { store->remove_domain("example.org", false); }, ErrorKind::bad_data);
    CHECK_THAT(msg, Catch::Contains("example.org") && Catch::Contains("2 users") && Catch::Contains("2 alias entries") &&
                        Catch::Contains("1 virtusertable entry") && Catch::Contains("catch-all"));
    CHECK(store->is_local_domain("example.org"));

    SECTION("a failure half-way leaves the store unchanged") {
        raw_sql(path, "CREATE TRIGGER no_catchall_delete BEFORE DELETE ON catchalls BEGIN SELECT RAISE(ABORT, 'no'); END");
        CHECK_THROWS_AS(store->remove_domain("example.org", true), Error);
        CHECK(store->is_local_domain("example.org"));
        CHECK(store->list_users("example.org").size() == 2);
        CHECK(store->find_alias("only").has_value());
        CHECK(store->find_alias("staff")->targets.size() == 3);
        CHECK(store->domain_use("example.org").alias_targets == 2);
    }
    SECTION("forced") {
        store->remove_domain("example.org", true);
        CHECK_FALSE(store->is_local_domain("example.org"));
        CHECK(store->is_local_domain("sub.example.org"));
        CHECK(store->list_users("example.org").empty());
        CHECK(store->list_users().size() == 1);
        CHECK(store->list_forwards().empty());
        CHECK(store->list_vusers().empty());
        CHECK_FALSE(store->find_catchall("example.org").has_value());
        CHECK(store->find_catchall("other.test") == "carl");
        auto staff = store->find_alias("staff");
        REQUIRE(staff.has_value());
        CHECK(join(staff->targets) == "carl@other.test,x@sub.example.org");
        CHECK_FALSE(store->find_alias("only").has_value());  // left empty: gone
        CHECK(join(store->find_alias("prog")->targets) == "|/bin/cat x@example.org,bob");
    }
}

TEST_CASE("remove_domain counts and removes alias entries stored with the domain's U-labels", "[store][domain]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));
    store->create_domain("xn--bcher-kva.example");  // bücher.example
    store->create_domain("xn--caf-dma.test");       // café.test
    // Earlier builds stored alias targets as typed; these are what such a store holds.
    store->add_alias("old", {"bob@bücher.example", "ann@BÜCHER.example", "x@café.test", "y@sub.bücher.example"});
    store->add_alias("new", {"carl@xn--bcher-kva.example"});
    store->add_alias("odd", {"z@b\xff" "cher.example", "|/bin/cat bob@bücher.example"});

    CHECK(store->domain_use("xn--bcher-kva.example").alias_targets == 3);
    std::string msg = error_of([&] { store->remove_domain("xn--bcher-kva.example", false); }, ErrorKind::bad_data);
    CHECK_THAT(msg, Catch::Contains("3 alias entries"));

    store->remove_domain("xn--bcher-kva.example", true);
    CHECK(join(store->find_alias("old")->targets) == "x@café.test,y@sub.bücher.example");
    CHECK_FALSE(store->find_alias("new").has_value());
    CHECK(store->find_alias("odd")->targets.size() == 2);
    CHECK(store->domain_use("xn--caf-dma.test").alias_targets == 1);
}

TEST_CASE("users: create, find, list, set, remove", "[store][user]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));
    store->create_domain("example.org");
    store->create_domain("a.test");

    auto bob = new_user("Bob", "Example.org");
    bob.name = "Bob Builder";
    bob.quota = 5'000'000'000ULL;
    store->create_user(bob);
    store->create_user(new_user("ann", "example.org"));
    store->create_user(new_user("zed", "a.test"));

    error_of([&] { store->create_user(new_user("BOB", "example.org")); }, ErrorKind::exists);
    error_of([&] { store->create_user(new_user("bob", "nowhere.test")); }, ErrorKind::no_such_domain);

    auto found = store->find_user("BOB", "EXAMPLE.ORG");
    REQUIRE(found.has_value());
    CHECK(found->local == "bob");
    CHECK(found->domain == "example.org");
    CHECK(found->address() == "bob@example.org");
    CHECK(found->name == "Bob Builder");
    CHECK(found->quota == 5'000'000'000ULL);
    CHECK(found->enabled);
    CHECK(found->password_hash == "$y$j9T$salt$hash");
    CHECK(found->created > 0);
    CHECK(found->updated == found->created);

    std::vector<std::string> all;
    for (const auto& u : store->list_users()) all.push_back(u.address());
    CHECK(join(all) == "zed@a.test,ann@example.org,bob@example.org");
    CHECK(store->list_users("a.test").size() == 1);
    CHECK(store->list_users("nowhere.test").empty());

    store->set_password_hash("bob", "example.org", "$6$new");
    store->set_enabled("BOB", "example.org", false);
    store->set_quota("bob", "example.org", 0);
    found = store->find_user("bob", "example.org");
    CHECK(found->password_hash == "$6$new");
    CHECK_FALSE(found->enabled);
    CHECK(found->quota == 0);
    CHECK(found->updated >= found->created);

    error_of([&] { store->set_password_hash("nobody", "example.org", "x"); }, ErrorKind::no_such_user);
    error_of([&] { store->set_enabled("bob", "nowhere.test", true); }, ErrorKind::no_such_user);
    error_of([&] { store->set_quota("nobody", "example.org", 1); }, ErrorKind::no_such_user);

    store->set_forward("bob", "example.org", {"a@remote.test"});
    store->remove_user("Bob", "example.org");
    CHECK_FALSE(store->find_user("bob", "example.org").has_value());
    CHECK(store->list_forwards().empty());
    std::string msg = error_of([&] { store->remove_user("bob", "example.org"); }, ErrorKind::no_such_user);
    CHECK_THAT(msg, Catch::Contains("bob@example.org"));
}

TEST_CASE("store: send-as lists, and a schema 2 store gets the table", "[store]") {
    TempDir dir;
    const std::string path = dir.file("vpsmail.db");
    {
        auto store = Store::open(path);
        store->create_domain("example.org");
        store->create_user(new_user("bob", "example.org"));
    }
    raw_sql(path, "DROP TABLE send_as; PRAGMA user_version = 2;");  // what schema 2 had
    auto store = Store::open(path);
    CHECK(store->schema_version() == Store::latest_schema_version());
    CHECK(store->list_send_as("bob", "example.org").empty());
    store->add_send_as("BOB", "example.org", "Team@example.org");
    store->add_send_as("bob", "example.org", "bob@remote.test");
    CHECK(join(store->list_send_as("bob", "example.org")) == "bob@remote.test,team@example.org");
    CHECK(store->may_send_as("bob", "EXAMPLE.org", "TEAM@example.org"));
    CHECK_FALSE(store->may_send_as("ann", "example.org", "team@example.org"));
    error_of([&] { store->add_send_as("bob", "example.org", "team@example.org"); }, ErrorKind::exists);
    error_of([&] { store->add_send_as("ann", "example.org", "x@example.org"); }, ErrorKind::no_such_user);
    error_of([&] { store->remove_send_as("bob", "example.org", "other@example.org"); }, ErrorKind::not_found);
    error_of([&] { store->list_send_as("ann", "example.org"); }, ErrorKind::no_such_user);
    store->remove_send_as("bob", "example.org", "team@example.org");
    CHECK(join(store->list_send_as("bob", "example.org")) == "bob@remote.test");
    store->remove_user("bob", "example.org");  // the list goes with the account
    store->create_user(new_user("bob", "example.org"));
    CHECK(store->list_send_as("bob", "example.org").empty());
}

TEST_CASE("store: upgrade_password_hash replaces only the hash it was given", "[store]") {
    TempDir dir;
    auto store = Store::open(dir.file("vpsmail.db"));
    store->create_domain("example.org");
    auto u = new_user("bob", "example.org");
    u.password_hash = "$1$old";
    store->create_user(u);
    CHECK(store->upgrade_password_hash("BOB", "example.org", "$1$old", "$y$new"));
    CHECK(store->find_user("bob", "example.org")->password_hash == "$y$new");
    // A `user passwd` happened between the login's read and its rehash: it stays.
    store->set_password_hash("bob", "example.org", "$6$admin");
    CHECK_FALSE(store->upgrade_password_hash("bob", "example.org", "$y$new", "$y$other"));
    CHECK(store->find_user("bob", "example.org")->password_hash == "$6$admin");
    CHECK_FALSE(store->upgrade_password_hash("nobody", "example.org", "$6$admin", "$y$x"));
}

TEST_CASE("find_account gives enabled, quota and the forward in order", "[store][user]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));
    store->create_domain("example.org");
    auto ann = new_user("ann", "example.org");
    ann.quota = 1024;
    ann.enabled = false;
    store->create_user(ann);
    store->create_user(new_user("bob", "example.org"));
    store->set_forward("bob", "example.org", {"\\bob", "Z@remote.test", "a@remote.test"});

    auto a = store->find_account("ANN", "Example.org");
    REQUIRE(a.has_value());
    CHECK_FALSE(a->enabled);
    CHECK(a->quota == 1024);
    CHECK(a->forward.empty());

    auto b = store->find_account("bob", "example.org");
    REQUIRE(b.has_value());
    CHECK(b->enabled);
    CHECK(join(b->forward) == "\\bob,Z@remote.test,a@remote.test");

    CHECK_FALSE(store->find_account("carl", "example.org").has_value());
    CHECK_FALSE(store->find_account("bob", "other.test").has_value());
}

TEST_CASE("aliases: add, find, list, remove; duplicates compared case-insensitively", "[store][alias]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));

    store->add_alias("Staff", {"bob", "Ann@Example.org"});
    store->add_alias("staff", {"carl"});
    store->add_alias("abuse", {"|/usr/bin/logger"});

    auto staff = store->find_alias("STAFF");
    REQUIRE(staff.has_value());
    CHECK(staff->name == "staff");
    CHECK(join(staff->targets) == "bob,Ann@Example.org,carl");

    std::string msg = error_of([&] { store->add_alias("staff", {"dave", "ann@example.ORG"}); }, ErrorKind::exists);
    CHECK_THAT(msg, Catch::Contains("ann@example.ORG"));
    CHECK(join(store->find_alias("staff")->targets) == "bob,Ann@Example.org,carl");  // dave not added either
    error_of([&] { store->add_alias("new", {"x", "X"}); }, ErrorKind::exists);
    CHECK_FALSE(store->find_alias("new").has_value());
    error_of([&] { store->add_alias("new", {}); }, ErrorKind::bad_data);

    auto aliases = store->list_aliases();
    REQUIRE(aliases.size() == 2);
    CHECK(aliases[0].name == "abuse");
    CHECK(aliases[1].name == "staff");
    CHECK(aliases[1].targets.size() == 3);

    store->remove_alias("staff", {"ANN@example.org"});
    CHECK(join(store->find_alias("staff")->targets) == "bob,carl");
    error_of([&] { store->remove_alias("staff", {"nobody"}); }, ErrorKind::not_found);
    error_of([&] { store->remove_alias("nobody", {}); }, ErrorKind::not_found);
    store->add_alias("staff", {"ann"});
    CHECK(join(store->find_alias("staff")->targets) == "bob,carl,ann");  // appended after the others

    store->remove_alias("staff", {"bob", "carl", "ann"});  // emptied: the alias goes
    CHECK_FALSE(store->find_alias("staff").has_value());
    store->remove_alias("abuse", {});
    CHECK(store->list_aliases().empty());
}

TEST_CASE("virtusertable: map, find, list, unmap", "[store][vuser]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));
    store->create_domain("example.org");
    store->create_domain("a.test");

    store->map_vuser("Info@Example.org", "example.org", "Bob");
    store->map_vuser("@example.org", "example.org", "%1@other.test");
    store->map_vuser("x@a.test", "a.test", "error:5.1.1:550 gone");
    std::string msg = error_of([&] { store->map_vuser("INFO@example.org", "example.org", "ann"); }, ErrorKind::exists);
    CHECK_THAT(msg, Catch::Contains("info@example.org"));
    error_of([&] { store->map_vuser("y@nowhere.test", "nowhere.test", "ann"); }, ErrorKind::no_such_domain);

    CHECK(store->find_vuser("INFO@example.org") == "Bob");
    CHECK_FALSE(store->find_vuser("nobody@example.org").has_value());

    auto all = store->list_vusers();
    REQUIRE(all.size() == 3);
    CHECK(all[0].key == "x@a.test");
    CHECK(all[1].key == "@example.org");
    CHECK(all[2].key == "info@example.org");
    CHECK(all[2].domain == "example.org");
    CHECK(all[2].target == "Bob");
    CHECK(store->list_vusers("a.test").size() == 1);

    store->unmap_vuser("Info@example.org");
    CHECK_FALSE(store->find_vuser("info@example.org").has_value());
    error_of([&] { store->unmap_vuser("info@example.org"); }, ErrorKind::not_found);
}

TEST_CASE("find_first_vuser returns the earliest key of the list that is mapped", "[store][vuser]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));
    store->create_domain("d.test");
    store->map_vuser("user+*@d.test", "d.test", "star");
    store->map_vuser("user@d.test", "d.test", "plain");
    store->map_vuser("@d.test", "d.test", "domain");
    store->map_vuser("a@d.test", "d.test", "a");

    struct Case {
        std::vector<std::string> keys;
        std::optional<std::size_t> index;
        std::string target;
    };
    std::vector<std::string> many;
    for (int i = 0; i < 12; ++i) many.push_back("k" + std::to_string(i) + "@d.test");
    many.push_back("a@d.test");
    many.push_back("@d.test");
    const std::vector<Case> cases = {
        {{"user+x@d.test", "user++@d.test", "user+*@d.test", "user@d.test", "++@d.test", "+*@d.test", "@d.test"}, 2, "star"},
        {{"user@d.test", "@d.test"}, 0, "plain"},
        {{"@d.test", "user@d.test"}, 0, "domain"},
        {{"nobody@d.test", "@d.test"}, 1, "domain"},
        {{"nobody@d.test"}, std::nullopt, ""},
        {{}, std::nullopt, ""},
        {{"a@d.test", "a@d.test"}, 0, "a"},
        {many, 12, "a"},
    };
    for (const Case& c : cases) {
        auto got = store->find_first_vuser(c.keys);
        INFO("keys " << join(c.keys) << ": got " << (got ? std::to_string(got->first) + " " + got->second : "none")
                     << ", want " << (c.index ? std::to_string(*c.index) + " " + c.target : "none"));
        REQUIRE(got.has_value() == c.index.has_value());
        if (got) {
            CHECK(got->first == *c.index);
            CHECK(got->second == c.target);
        }
    }
}

TEST_CASE("forwards: set, replace, find, list, clear", "[store][forward]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));
    store->create_domain("example.org");
    store->create_user(new_user("bob", "example.org"));
    store->create_user(new_user("ann", "example.org"));

    store->set_forward("Bob", "example.org", {"x@remote.test", "\\bob"});
    CHECK(join(store->find_forward("bob", "Example.org")->targets) == "x@remote.test,\\bob");
    CHECK(store->find_forward("bob", "example.org")->address == "bob@example.org");
    store->set_forward("bob", "example.org", {"y@remote.test"});
    CHECK(join(store->find_forward("bob", "example.org")->targets) == "y@remote.test");
    CHECK_FALSE(store->find_forward("ann", "example.org").has_value());

    store->set_forward("ann", "example.org", {"z@remote.test"});
    auto all = store->list_forwards();
    REQUIRE(all.size() == 2);
    CHECK(all[0].address == "ann@example.org");
    CHECK(all[1].address == "bob@example.org");

    error_of([&] { store->set_forward("bob", "example.org", {}); }, ErrorKind::bad_data);
    error_of([&] { store->set_forward("nobody", "example.org", {"a"}); }, ErrorKind::no_such_user);
    store->clear_forward("BOB", "example.org");
    CHECK_FALSE(store->find_forward("bob", "example.org").has_value());
    error_of([&] { store->clear_forward("bob", "example.org"); }, ErrorKind::not_found);
    error_of([&] { store->clear_forward("nobody", "example.org"); }, ErrorKind::no_such_user);
}

TEST_CASE("catch-alls: set, replace, find, list, unset", "[store][catchall]") {
    TempDir tmp;
    auto store = Store::open(tmp.file("store.db"));
    store->create_domain("example.org");
    store->create_domain("a.test");

    CHECK_FALSE(store->find_catchall("example.org").has_value());
    store->set_catchall("Example.org", "bob");
    CHECK(store->find_catchall("EXAMPLE.ORG") == "bob");
    store->set_catchall("example.org", "%1@other.test");
    CHECK(store->find_catchall("example.org") == "%1@other.test");
    store->set_catchall("a.test", "ann");

    auto all = store->list_catchalls();
    REQUIRE(all.size() == 2);
    CHECK(all[0].domain == "a.test");
    CHECK(all[1].domain == "example.org");
    CHECK(all[1].target == "%1@other.test");

    error_of([&] { store->set_catchall("nowhere.test", "x"); }, ErrorKind::no_such_domain);
    store->unset_catchall("example.org");
    CHECK_FALSE(store->find_catchall("example.org").has_value());
    error_of([&] { store->unset_catchall("example.org"); }, ErrorKind::not_found);
    error_of([&] { store->unset_catchall("nowhere.test"); }, ErrorKind::no_such_domain);
    CHECK_FALSE(store->find_catchall("nowhere.test").has_value());
}

TEST_CASE("the domain cache follows this connection's writes and other connections' commits", "[store][cache]") {
    TempDir tmp;
    const std::string path = tmp.file("store.db");
    auto reader = Store::open(path);
    auto writer = Store::open(path);

    CHECK_FALSE(reader->is_local_domain("example.org"));  // loads the (empty) cache

    SECTION("own writes") {
        reader->create_domain("example.org");
        CHECK(reader->is_local_domain("example.org"));
        reader->set_catchall("example.org", "bob");
        CHECK(reader->find_catchall("example.org") == "bob");
        reader->unset_catchall("example.org");
        CHECK_FALSE(reader->find_catchall("example.org").has_value());
        reader->remove_domain("example.org", false);
        CHECK_FALSE(reader->is_local_domain("example.org"));
    }
    SECTION("another connection's writes") {
        writer->create_domain("example.org");
        CHECK(reader->is_local_domain("example.org"));
        writer->set_catchall("example.org", "bob");
        CHECK(reader->find_catchall("example.org") == "bob");
        writer->set_catchall("example.org", "ann");
        CHECK(reader->find_catchall("example.org") == "ann");
        writer->remove_domain("example.org", true);
        CHECK_FALSE(reader->is_local_domain("example.org"));
        CHECK_FALSE(reader->find_catchall("example.org").has_value());
    }
    SECTION("a read-only connection sees other connections' writes") {
        auto ro = Store::open(path, OpenMode::read_only);
        CHECK_FALSE(ro->is_local_domain("example.org"));
        writer->create_domain("example.org");
        CHECK(ro->is_local_domain("example.org"));
    }
}

TEST_CASE("a read snapshot reads one consistent state and refuses writes", "[store][snapshot]") {
    TempDir tmp;
    const std::string path = tmp.file("store.db");
    auto reader = Store::open(path);
    auto writer = Store::open(path);
    writer->create_domain("example.org");
    writer->map_vuser("a@example.org", "example.org", "bob");
    {
        auto snapshot = reader->read_snapshot();
        CHECK(reader->is_local_domain("example.org"));
        writer->create_domain("example.net");
        writer->unmap_vuser("a@example.org");
        CHECK_FALSE(reader->is_local_domain("example.net"));  // committed after the snapshot began
        CHECK(reader->find_vuser("a@example.org") == "bob");
        std::string msg = error_of([&] { reader->create_domain("example.com"); }, ErrorKind::internal);
        CHECK_THAT(msg, Catch::Contains("read snapshot"));
        auto nested = reader->read_snapshot();
        CHECK(reader->list_domains().size() == 1);
    }
    CHECK(reader->is_local_domain("example.net"));
    CHECK_FALSE(reader->find_vuser("a@example.org").has_value());
    reader->create_domain("example.com");  // writes work again
    CHECK(writer->is_local_domain("example.com"));
}
