#include "store/database.hpp"

#include "core/error.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <cerrno>
#include <cstring>

namespace vpsmail::store {
namespace {

bool only_space(std::string_view text) {
    return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

// --- Statement --------------------------------------------------------------------------

Statement::Statement(Database& db, std::string_view sql) {
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt_, &tail);
    if (rc != SQLITE_OK) db.fail(rc, sql);
    const std::size_t used = tail != nullptr ? static_cast<std::size_t>(tail - sql.data()) : sql.size();
    if (stmt_ == nullptr || !only_space(sql.substr(used))) {
        sqlite3_finalize(stmt_);
        throw Error(ErrorKind::internal, "store: bad statement", fmt::format("not exactly one statement: {}", sql));
    }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

// --- Query ------------------------------------------------------------------------------

Query::Query(Database& db, Statement* borrowed, std::unique_ptr<Statement> owned) noexcept
    : db_(&db), stmt_(borrowed), owned_(std::move(owned)) {
    if (owned_) stmt_ = owned_.get();
    stmt_->in_use_ = true;
}

Query::Query(Query&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), owned_(std::move(other.owned_)) {
    other.stmt_ = nullptr;
}

Query::~Query() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_->stmt_);
    sqlite3_clear_bindings(stmt_->stmt_);
    stmt_->in_use_ = false;
}

Query& Query::bind(int index, std::int64_t value) {
    int rc = sqlite3_bind_int64(stmt_->stmt_, index, value);
    if (rc != SQLITE_OK) db_->fail(rc, sqlite3_sql(stmt_->stmt_));
    return *this;
}

Query& Query::bind(int index, std::string_view text) {
    // A non-null pointer even for "", so that an empty string binds as '' and not as NULL.
    const char* data = text.data() != nullptr ? text.data() : "";
    int rc = sqlite3_bind_text64(stmt_->stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) db_->fail(rc, sqlite3_sql(stmt_->stmt_));
    return *this;
}

Query& Query::bind_null(int index) {
    int rc = sqlite3_bind_null(stmt_->stmt_, index);
    if (rc != SQLITE_OK) db_->fail(rc, sqlite3_sql(stmt_->stmt_));
    return *this;
}

bool Query::step() {
    int rc = sqlite3_step(stmt_->stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    db_->fail(rc, sqlite3_sql(stmt_->stmt_));
}

void Query::run() {
    while (step()) {
    }
}

std::int64_t Query::int64(int column) const { return sqlite3_column_int64(stmt_->stmt_, column); }

std::string Query::text(int column) const { return std::string(text_view(column)); }

std::string_view Query::text_view(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_->stmt_, column));
    if (data == nullptr) return {};
    return {data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_->stmt_, column))};
}

bool Query::is_null(int column) const { return sqlite3_column_type(stmt_->stmt_, column) == SQLITE_NULL; }

// --- Database ---------------------------------------------------------------------------

Database::Database(std::string path, bool read_only) : path_(std::move(path)), read_only_(read_only) {
    // No SQLITE_OPEN_CREATE: Store::open creates the file itself with mode 0600.
    int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
    try {
        if (rc != SQLITE_OK) fail(rc, "open");
        sqlite3_extended_result_codes(db_, 1);
        sqlite3_busy_timeout(db_, busy_timeout_ms);
        // A crafted file cannot run functions from its schema or corrupt itself through us.
        sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
        sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
        sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);  // close() decides
        // After each commit: how many frames the WAL holds (for close()). The hook replaces
        // SQLite's automatic checkpoint, so it is called here too.
        sqlite3_wal_hook(
            db_,
            [](void* self, sqlite3* db, const char* name, int frames) {
                static_cast<Database*>(self)->wal_frames_ = frames;
                if (frames >= 1000) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
                return SQLITE_OK;
            },
            this);
        exec("PRAGMA foreign_keys = ON");
        // With WAL, NORMAL never corrupts the file; a power cut (not a process crash) may undo
        // the last commits. Store writes are admin commands, not acknowledged mail.
        exec("PRAGMA synchronous = NORMAL");
        // Read pages through a memory map: a lookup in a large store then costs no pread(2).
        exec("PRAGMA mmap_size = 1073741824");
        // Tells long-lived readers (RoutingIndex) that something was written; see generation.hpp.
        if (!read_only_) generation_ = Generation::open(path_, true);
    } catch (...) {
        close();
        throw;
    }
}

Database::~Database() { close(); }

void Database::close() noexcept {
    cache_.clear();  // statements first: sqlite3_close refuses while any is unfinalized
    if (db_ != nullptr && !read_only_ && wal_frames_ > wal_keep_frames) {
        // SQLite's own checkpoint at close is off (see the constructor): the WAL stays for the
        // next command while it is short. Once it is not, it is copied into the database and
        // truncated here, without waiting: while another connection uses the store this fails
        // at once (busy) and a later command does it. Truncating matters: a process that opens
        // the store first reads the whole WAL back, and a WAL only checkpointed (PASSIVE) is
        // not rewound once every connection closed, so it would grow with every command.
        sqlite3_busy_timeout(db_, 0);
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    }
    if (db_ != nullptr) sqlite3_close(db_);
    db_ = nullptr;
}

Query Database::query(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) it = cache_.emplace(std::string(sql), std::make_unique<Statement>(*this, sql)).first;
    if (it->second->in_use_) return Query(*this, nullptr, std::make_unique<Statement>(*this, sql));  // nested use
    return Query(*this, it->second.get(), nullptr);
}

void Database::exec(const char* sql) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(rc, sql);
}

bool Database::exec_unless_busy(const char* sql) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) return false;
    if (rc != SQLITE_OK) fail(rc, sql);
    return true;
}

std::int64_t Database::changes() const noexcept { return sqlite3_changes64(db_); }

std::int64_t Database::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }

void Database::fail(int rc, std::string_view what) const {
    const char* message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    int sys = db_ != nullptr ? sqlite3_system_errno(db_) : 0;
    std::string detail = fmt::format("sqlite error {} ({}): {}", rc, sqlite3_errstr(rc), message);
    if (sys != 0) detail += fmt::format("; {}", std::strerror(sys));
    if (!what.empty()) detail += fmt::format("; in: {}", what);

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        throw Error(ErrorKind::temporary,
                    fmt::format("store {} is busy: another process held its lock for too long; try again", path_),
                    detail);
    case SQLITE_IOERR:
        throw Error(ErrorKind::temporary, fmt::format("store {}: I/O error", path_), detail);
    case SQLITE_FULL:
        throw Error(ErrorKind::temporary, fmt::format("store {}: disk or quota full", path_), detail);
    case SQLITE_NOMEM:
        throw Error(ErrorKind::temporary, fmt::format("store {}: out of memory", path_), detail);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        throw Error(ErrorKind::permission,
                    fmt::format("store {} is read-only: {}", path_,
                                read_only_ ? "it was opened for reading only"
                                           : "no write permission on the file, its -wal/-shm files or its folder"),
                    detail);
    case SQLITE_CANTOPEN:
        if (sys == EACCES || sys == EPERM || sys == EROFS)
            throw Error(ErrorKind::permission,
                        fmt::format("store {} cannot be opened: {}", path_, std::strerror(sys)), detail);
        if (sys == ENOENT || sys == ENOTDIR)
            throw Error(ErrorKind::config,
                        fmt::format("store {} cannot be opened: {}", path_, std::strerror(sys)), detail);
        throw Error(ErrorKind::temporary, fmt::format("store {} cannot be opened", path_), detail);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        throw Error(ErrorKind::config, fmt::format("store {} is not a vpsmail database or is corrupt", path_),
                    detail);
    default:
        throw Error(ErrorKind::internal, fmt::format("store {}: unexpected database error", path_), detail);
    }
}

// --- Transaction ------------------------------------------------------------------------

Transaction::Transaction(Database& db, TransactionKind kind) : db_(db), kind_(kind) {
    if (db_.outer_ != nullptr) {  // joins the enclosing transaction
        if (kind == TransactionKind::write && db_.outer_->kind_ == TransactionKind::read)
            throw Error(ErrorKind::internal, fmt::format("store {}: write inside a read snapshot", db_.path_));
        return;
    }
    db_.query(kind == TransactionKind::write ? "BEGIN IMMEDIATE" : "BEGIN").run();
    db_.outer_ = this;
    outer_ = true;
}

Transaction::~Transaction() {
    if (!outer_) return;
    db_.outer_ = nullptr;
    if (done_) return;
    try {
        db_.query("ROLLBACK").run();
    } catch (...) {
        // Nothing to undo any more: SQLite rolled back itself (a failed COMMIT, an I/O error).
        // The connection is in autocommit mode again either way.
    }
}

void Transaction::commit() {
    if (!outer_ || done_) return;
    db_.query("COMMIT").run();
    done_ = true;
    if (kind_ == TransactionKind::write) {
        ++db_.commits_;
        if (db_.generation_) db_.generation_->bump();
    }
}

}  // namespace vpsmail::store
