#include "store/migrations.hpp"

#include "core/error.hpp"
#include "store/database.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <thread>

namespace vpsmail::store {
namespace {

struct Migration {
    int version;
    const char* sql;
};

// Forward only; a released step is never edited, a change is a new step. Plain SQL that
// PostgreSQL also accepts, except INTEGER PRIMARY KEY meaning the rowid and WITHOUT ROWID
// (vusers: a lookup by key is one B-tree descent; PostgreSQL just drops the clause).
constexpr Migration migrations[] = {
    {1, R"sql(
CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    local TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    quota INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 1,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    UNIQUE (domain_id, local)
);
CREATE TABLE aliases (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE alias_targets (
    alias_id INTEGER NOT NULL REFERENCES aliases (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    target_lc TEXT NOT NULL,
    PRIMARY KEY (alias_id, position),
    UNIQUE (alias_id, target_lc)
);
CREATE TABLE vusers (
    key TEXT NOT NULL PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    target TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX vusers_domain ON vusers (domain_id);
CREATE TABLE forward_targets (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
);
CREATE TABLE catchalls (
    domain_id INTEGER PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
    target TEXT NOT NULL
);
)sql"},
    // The change log that lets a long-lived reader (the server's routing index, RoutingIndex)
    // catch up with other processes' writes by re-reading only what changed. Every write to a
    // routing table logs the object it touched, by triggers, so nothing that writes the file,
    // ON DELETE CASCADE included, can forget to. The log keeps the newest 65,536 entries; a
    // reader that fell further behind reloads everything.
    {2, R"sql(
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY,
    object TEXT NOT NULL,  -- 'domain' (domains.id), 'user' (users.id), 'alias' (aliases.id), 'vuser' (vusers.key)
    id INTEGER,
    key TEXT
);
CREATE TRIGGER changes_prune AFTER INSERT ON changes BEGIN
    DELETE FROM changes WHERE seq <= NEW.seq - 65536;
END;
CREATE TRIGGER domains_ins AFTER INSERT ON domains BEGIN INSERT INTO changes (object, id) VALUES ('domain', NEW.id); END;
CREATE TRIGGER domains_upd AFTER UPDATE ON domains BEGIN INSERT INTO changes (object, id) VALUES ('domain', NEW.id); END;
CREATE TRIGGER domains_del AFTER DELETE ON domains BEGIN INSERT INTO changes (object, id) VALUES ('domain', OLD.id); END;
CREATE TRIGGER catchalls_ins AFTER INSERT ON catchalls BEGIN INSERT INTO changes (object, id) VALUES ('domain', NEW.domain_id); END;
CREATE TRIGGER catchalls_upd AFTER UPDATE ON catchalls BEGIN INSERT INTO changes (object, id) VALUES ('domain', NEW.domain_id); END;
CREATE TRIGGER catchalls_del AFTER DELETE ON catchalls BEGIN INSERT INTO changes (object, id) VALUES ('domain', OLD.domain_id); END;
CREATE TRIGGER users_ins AFTER INSERT ON users BEGIN INSERT INTO changes (object, id) VALUES ('user', NEW.id); END;
CREATE TRIGGER users_upd AFTER UPDATE ON users BEGIN INSERT INTO changes (object, id) VALUES ('user', NEW.id); END;
CREATE TRIGGER users_del AFTER DELETE ON users BEGIN INSERT INTO changes (object, id) VALUES ('user', OLD.id); END;
CREATE TRIGGER forwards_ins AFTER INSERT ON forward_targets BEGIN INSERT INTO changes (object, id) VALUES ('user', NEW.user_id); END;
CREATE TRIGGER forwards_upd AFTER UPDATE ON forward_targets BEGIN INSERT INTO changes (object, id) VALUES ('user', NEW.user_id); END;
CREATE TRIGGER forwards_del AFTER DELETE ON forward_targets BEGIN INSERT INTO changes (object, id) VALUES ('user', OLD.user_id); END;
CREATE TRIGGER aliases_ins AFTER INSERT ON aliases BEGIN INSERT INTO changes (object, id) VALUES ('alias', NEW.id); END;
CREATE TRIGGER aliases_upd AFTER UPDATE ON aliases BEGIN INSERT INTO changes (object, id) VALUES ('alias', NEW.id); END;
CREATE TRIGGER aliases_del AFTER DELETE ON aliases BEGIN INSERT INTO changes (object, id) VALUES ('alias', OLD.id); END;
CREATE TRIGGER alias_targets_ins AFTER INSERT ON alias_targets BEGIN INSERT INTO changes (object, id) VALUES ('alias', NEW.alias_id); END;
CREATE TRIGGER alias_targets_upd AFTER UPDATE ON alias_targets BEGIN INSERT INTO changes (object, id) VALUES ('alias', NEW.alias_id); END;
CREATE TRIGGER alias_targets_del AFTER DELETE ON alias_targets BEGIN INSERT INTO changes (object, id) VALUES ('alias', OLD.alias_id); END;
CREATE TRIGGER vusers_ins AFTER INSERT ON vusers BEGIN INSERT INTO changes (object, key) VALUES ('vuser', NEW.key); END;
CREATE TRIGGER vusers_upd AFTER UPDATE ON vusers BEGIN
    INSERT INTO changes (object, key) VALUES ('vuser', OLD.key);
    INSERT INTO changes (object, key) VALUES ('vuser', NEW.key);
END;
CREATE TRIGGER vusers_del AFTER DELETE ON vusers BEGIN INSERT INTO changes (object, key) VALUES ('vuser', OLD.key); END;
)sql"},
    // The addresses beyond its own that an account may use as MAIL FROM after AUTH (`user
    // sendas`). Read by the server from the store at MAIL time, not through the routing
    // index: no change log entries.
    {3, R"sql(
CREATE TABLE send_as (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    PRIMARY KEY (user_id, address)
);
)sql"},
};

struct Header {
    std::int64_t application_id = 0;
    std::int64_t user_version = 0;
    std::int64_t objects = 0;  ///< tables, indexes, views, triggers
};

std::int64_t single_int(Database& db, std::string_view sql) {
    auto q = db.query(sql);
    if (!q.step()) throw Error(ErrorKind::internal, fmt::format("store {}: no result", db.path()), std::string(sql));
    return q.int64(0);
}

Header read_header(Database& db) {
    Transaction tx(db, TransactionKind::read);
    Header h;
    h.application_id = single_int(db, "PRAGMA application_id");
    h.user_version = single_int(db, "PRAGMA user_version");
    h.objects = single_int(db, "SELECT count(*) FROM sqlite_master");
    tx.commit();
    return h;
}

void check_header(const Database& db, const Header& h) {
    bool fresh = h.application_id == 0 && h.user_version == 0 && h.objects == 0;
    if (h.application_id != application_id && !fresh)
        throw Error(ErrorKind::config, fmt::format("store {} is not a vpsmail database", db.path()),
                    fmt::format("application_id {:#x}, user_version {}, {} schema objects", h.application_id,
                                h.user_version, h.objects));
    if (h.user_version > latest_schema_version())
        throw Error(ErrorKind::config,
                    fmt::format("store {} has schema version {}, newer than this vpsmail knows ({}); upgrade vpsmail",
                                db.path(), h.user_version, latest_schema_version()));
}

std::string journal_mode(Database& db) {
    auto q = db.query("PRAGMA journal_mode");
    return q.step() ? q.text(0) : std::string();
}

// SQLite does not call the busy handler when several connections of a fresh file all switch
// it to WAL at once (each holds a shared lock and wants an exclusive one), so we wait here.
void use_wal(Database& db) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(Database::busy_timeout_ms);
    auto pause = std::chrono::milliseconds(2);
    while (journal_mode(db) != "wal") {
        if (db.exec_unless_busy("PRAGMA journal_mode = WAL")) {
            if (std::string mode = journal_mode(db); mode != "wal")
                throw Error(ErrorKind::config,
                            fmt::format("store {} cannot use write-ahead logging (is it on a network file system?)",
                                        db.path()),
                            fmt::format("journal_mode is {}", mode));
            return;
        }
        if (std::chrono::steady_clock::now() > deadline) db.fail(SQLITE_BUSY, "PRAGMA journal_mode = WAL");
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
}

}  // namespace

int latest_schema_version() noexcept { return std::prev(std::end(migrations))->version; }

int schema_version(Database& db) { return static_cast<int>(single_int(db, "PRAGMA user_version")); }

void migrate(Database& db) {
    Header h = read_header(db);
    check_header(db, h);
    const int latest = latest_schema_version();
    if (db.read_only()) {
        // Read-only opens never write, so they cannot migrate: the next write command will.
        if (h.user_version == 0)
            throw Error(ErrorKind::config,
                        fmt::format("store {} is empty; a command that writes to the store creates it", db.path()));
        if (h.user_version < latest)
            throw Error(ErrorKind::config,
                        fmt::format("store {} has schema version {}, older than this vpsmail's ({}); "
                                    "a command that writes to the store upgrades it",
                                    db.path(), h.user_version, latest));
        return;
    }
    use_wal(db);  // persistent in the file; outside any transaction, as SQLite requires
    if (h.user_version == latest) return;

    Transaction tx(db, TransactionKind::write);
    h = read_header(db);  // another process may have migrated while we waited for the lock
    check_header(db, h);
    for (const Migration& m : migrations)
        if (m.version > h.user_version) db.exec(m.sql);
    db.exec(fmt::format("PRAGMA user_version = {}", latest).c_str());
    db.exec(fmt::format("PRAGMA application_id = {}", application_id).c_str());
    tx.commit();
}

}  // namespace vpsmail::store
