// The SQLite connection under Store: RAII Database, Statement, Query and Transaction, the
// prepared-statement cache and the SQLite result code -> vpsmail::Error mapping.
// Internal to src/store: nothing outside the store includes this header. It runs SQL; it knows
// no tables (migrations.cpp and the table files do).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/generation.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace vpsmail::store {

class Database;

/// One prepared statement, finalized on destruction.
class Statement {
public:
    /// Prepares `sql` on `db`. Throws like Database::fail.
    Statement(Database& db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    sqlite3_stmt* handle() const noexcept { return stmt_; }

private:
    friend class Database;
    friend class Query;
    sqlite3_stmt* stmt_ = nullptr;
    bool in_use_ = false;
};

/// A statement in use: bind, step, read columns. Borrowed from the Database's cache (or owned,
/// when the cached one is already in use); reset and unbound on destruction, so a Query never
/// keeps a read transaction open after it goes out of scope.
class Query {
public:
    Query(Query&& other) noexcept;
    Query& operator=(Query&&) = delete;
    ~Query();

    /// Parameters are 1-based. Text is copied (SQLITE_TRANSIENT), so temporaries are safe.
    Query& bind(int index, std::int64_t value);
    Query& bind(int index, std::string_view text);
    Query& bind_null(int index);

    /// True when a row is ready, false when done. Throws like Database::fail.
    bool step();
    /// Steps a statement that returns no rows (INSERT, UPDATE, DELETE, DDL).
    void run();

    std::int64_t int64(int column) const;
    std::string text(int column) const;
    /// Valid until the next step() or the end of the Query.
    std::string_view text_view(int column) const;
    bool is_null(int column) const;

private:
    friend class Database;
    Query(Database& db, Statement* borrowed, std::unique_ptr<Statement> owned) noexcept;
    Database* db_;
    Statement* stmt_;
    std::unique_ptr<Statement> owned_;
};

/// One connection. Not thread-safe (opened SQLITE_OPEN_NOMUTEX): one per thread.
class Database {
public:
    /// Opens an existing file at `path` (Store::open creates it first). WAL, foreign keys,
    /// busy timeout, synchronous=NORMAL. Throws vpsmail::Error mapped from the SQLite code.
    Database(std::string path, bool read_only);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    const std::string& path() const noexcept { return path_; }
    bool read_only() const noexcept { return read_only_; }
    sqlite3* handle() const noexcept { return db_; }

    /// A Query on the statement for `sql`, prepared once per connection and reused (the cache
    /// is keyed by the SQL text). Throws like fail().
    Query query(std::string_view sql);
    /// Runs one or more statements without caching them (DDL, PRAGMA writes).
    void exec(const char* sql);
    /// Like exec, but returns false instead of throwing when SQLite answers busy at once
    /// without calling the busy handler (it does so where waiting could deadlock).
    bool exec_unless_busy(const char* sql);
    /// How long a statement waits for another connection's lock.
    static constexpr int busy_timeout_ms = 30'000;
    /// A read-write connection that wrote, and closes with a WAL of more frames (pages) than
    /// this, checkpoints it; a shorter one is left for the next process (each process that
    /// opens the store first reads the whole WAL back).
    static constexpr int wal_keep_frames = 64;  // 8 scripts adding users at once must all get through

    /// Rows changed by the last INSERT/UPDATE/DELETE.
    std::int64_t changes() const noexcept;
    std::int64_t last_insert_rowid() const noexcept;
    /// Write transactions this connection has committed; PRAGMA data_version does not count
    /// them, so caches compare both.
    std::uint64_t commits() const noexcept { return commits_; }

    /// Throws the vpsmail::Error for SQLite result `rc`: busy, locked, I/O and full are
    /// temporary; read-only and access denied are permission; not-a-database and corrupt are
    /// config. `what` (the SQL, say) goes into the detail only.
    [[noreturn]] void fail(int rc, std::string_view what = {}) const;

private:
    friend class Transaction;
    void close() noexcept;

    std::string path_;
    bool read_only_;
    sqlite3* db_ = nullptr;
    std::uint64_t commits_ = 0;
    int wal_frames_ = 0;  ///< frames in the WAL after this connection's last commit
    std::unique_ptr<Generation> generation_;  ///< read-write connections bump it after each commit
    const class Transaction* outer_ = nullptr;  ///< the Transaction that ran BEGIN, if any

    struct SqlHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::unique_ptr<Statement>, SqlHash, std::equal_to<>> cache_;
};

enum class TransactionKind {
    read,   ///< BEGIN (deferred): one consistent snapshot for several reads
    write,  ///< BEGIN IMMEDIATE: takes the write lock now (waiting up to the busy timeout)
};

/// Begins a transaction; rolls it back on destruction unless commit() ran. Inside another
/// Transaction it joins the outer one (commit() then does nothing; the outer one decides);
/// a write inside a read transaction throws Error(internal): SQLite could only upgrade the
/// lock with a busy error that no timeout waits out.
class Transaction {
public:
    Transaction(Database& db, TransactionKind kind);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    /// Throws like Database::fail; the transaction is rolled back then.
    void commit();

private:
    Database& db_;
    TransactionKind kind_;
    bool outer_ = false;
    bool done_ = false;
};

}  // namespace vpsmail::store
