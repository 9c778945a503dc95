// The routing index (store/index.hpp): it must always answer what the store holds now. The
// routing rules themselves are checked through StoreFixture, which compares every resolution
// with the index's; these cases cover how the index learns of changes.
#include "store/index.hpp"
#include "support/checks.hpp"
#include "support/store_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using vpsmail::store::RoutingIndex;
using vpsmail::test::StoreFixture;
using vpsmail::test::raw_sql;


TEST_CASE("index: a change committed by another connection is seen by the next view", "[index]") {
    StoreFixture f;
    f.domain("a.test").user("bob", "a.test");
    auto index = RoutingIndex::open(f.store().path());  // the default poll: only the generation counter tells
    CHECK(index->view().find_account("bob", "a.test").has_value());
    CHECK_FALSE(index->view().find_account("ann", "a.test").has_value());

    f.user("ann", "a.test");
    CHECK(index->view().find_account("ANN", "A.test").has_value());
    f.store().set_enabled("ann", "a.test", false);
    CHECK_FALSE(index->view().find_account("ann", "a.test")->enabled);
    f.forward("ann", "a.test", {"bob", "x@remote.test"});
    CHECK(index->view().find_account("ann", "a.test")->forward == std::vector<std::string>{"bob", "x@remote.test"});
    f.store().clear_forward("ann", "a.test");
    CHECK(index->view().find_account("ann", "a.test")->forward.empty());

    f.alias("info", {"bob"});
    f.alias("info", {"ann"});
    CHECK(index->view().find_alias("INFO")->targets == std::vector<std::string>{"bob", "ann"});
    f.store().remove_alias("info", {"bob"});
    CHECK(index->view().find_alias("info")->targets == std::vector<std::string>{"ann"});
    f.store().remove_alias("info", {});
    CHECK_FALSE(index->view().find_alias("info").has_value());

    f.vuser("sales@a.test", "bob");
    CHECK(index->view().find_first_vuser({"nope@a.test", "sales@a.test"}) == std::pair<std::size_t, std::string>{1, "bob"});
    f.store().unmap_vuser("sales@a.test");
    CHECK_FALSE(index->view().find_first_vuser({"sales@a.test"}).has_value());

    f.catchall("a.test", "bob");
    CHECK(index->view().find_catchall("a.test") == "bob");
    f.catchall("a.test", "ann");
    CHECK(index->view().find_catchall("a.test") == "ann");

    // A forced domain delete cascades: every account, map and the catch-all go with it.
    f.domain("b.test").user("carl", "b.test").vuser("@b.test", "carl");
    CHECK(index->view().first_domain() == "a.test");
    f.store().remove_domain("a.test", true);
    auto view = index->view();
    CHECK_FALSE(view.is_local_domain("a.test"));
    CHECK_FALSE(view.find_account("bob", "a.test").has_value());
    CHECK_FALSE(view.find_catchall("a.test").has_value());
    CHECK(view.first_domain() == "b.test");
    CHECK(view.find_account("carl", "b.test").has_value());
    CHECK(index->stats().loads == 1);  // all of it by catching up, none by reloading
    CHECK(index->stats().accounts == 1);
}

TEST_CASE("index: a write that does not bump the generation is seen at the next poll", "[index]") {
    StoreFixture f;
    f.domain("a.test");
    auto index = RoutingIndex::open(f.store().path(), std::chrono::milliseconds(0));
    CHECK_FALSE(index->view().is_local_domain("b.test"));
    // The sqlite3 shell, say: the triggers log the change, nothing bumps the counter.
    raw_sql(f.store().path(), "INSERT INTO domains (name, created) VALUES ('b.test', 0)");
    CHECK(index->view().is_local_domain("b.test"));
}

TEST_CASE("index: falling further behind than the change log keeps means a full reload", "[index]") {
    StoreFixture f;
    f.domain("a.test");
    auto index = RoutingIndex::open(f.store().path());
    CHECK(index->stats().loads == 1);
    const int n = 70'000;  // more than the 65,536 entries the log keeps
    f.store().write_batch([&] {
        for (int i = 0; i < n; ++i) f.store().map_vuser("v" + std::to_string(i) + "@a.test", "a.test", "bob");
    });
    auto check_both_ends = [&] {
        auto view = index->view();
        CHECK(view.find_first_vuser({"v0@a.test"}).has_value());
        CHECK(view.find_first_vuser({"v69999@a.test"}).has_value());
    };
    check_both_ends();
    CHECK(index->stats().loads == 2);
    CHECK(index->stats().vusers == static_cast<std::size_t>(n));
}

TEST_CASE("index: views on several threads while the store changes", "[index]") {
    StoreFixture f;
    f.domain("a.test");
    auto index = RoutingIndex::open(f.store().path());
    std::atomic<bool> stop{false};
    std::atomic<long> lookups{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t)
        readers.emplace_back([&] {
            while (!stop.load()) {
                auto view = index->view();
                (void)view.find_account("u1", "a.test");
                (void)view.is_local_domain("a.test");
                lookups.fetch_add(1);
            }
        });
    for (int i = 0; i < 200; ++i) f.user("u" + std::to_string(i), "a.test");
    stop = true;
    for (auto& t : readers) t.join();
    CHECK(lookups.load() > 0);
    auto view = index->view();
    for (int i = 0; i < 200; ++i) CHECK(view.find_account("u" + std::to_string(i), "a.test").has_value());
}

TEST_CASE("index: a store made before the change log (schema 1) is migrated and indexed", "[index]") {
    vpsmail::test::TempDir dir;
    const std::string path = dir.file("old.db");
    {
        auto store = vpsmail::store::Store::open(path);
        store->create_domain("a.test");
        vpsmail::store::NewUser u{"bob", "a.test", "$y$j9T$abc$def", "", 0, true};
        store->create_user(u);
    }
    // What schema 1 had: no change log, no triggers, no send-as table (schema 3).
    std::string drop = "DROP TABLE changes; DROP TABLE send_as; PRAGMA user_version = 1;";
    for (const char* table : {"domains", "catchalls", "users", "forwards", "aliases", "alias_targets", "vusers"})
        for (const char* op : {"ins", "upd", "del"}) drop += std::string("DROP TRIGGER ") + table + "_" + op + ";";
    raw_sql(path, drop);
    auto store = vpsmail::store::Store::open(path);
    CHECK(store->schema_version() == vpsmail::store::Store::latest_schema_version());
    auto index = RoutingIndex::open(path);
    CHECK(index->view().find_account("bob", "a.test").has_value());
    store->map_vuser("x@a.test", "a.test", "bob");
    CHECK(index->view().find_first_vuser({"x@a.test"}).has_value());
}
