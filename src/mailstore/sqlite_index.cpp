#include "mailstore/sqlite_index.hpp"

#include "core/error.hpp"
#include "core/fsync.hpp"
#include "mailstore/io.hpp"
#include "mailstore/maildir.hpp"
#include "mailstore/message_name.hpp"
#include "mailstore/unique_name.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace vpsmail::mailstore {
namespace {

using detail::FileDescriptor;
using detail::io_error;

constexpr const char* uidvalidity_file = "vpsmail-uidvalidity";
constexpr int busy_timeout_ms = 30000;
// A folder whose mtime is this recent may still change within the same timestamp tick, so a
// scan that saw it does not let the next sync skip it.
constexpr std::int64_t settled_ns = 2'000'000'000;

const char* const schema = R"sql(
CREATE TABLE IF NOT EXISTS mailbox(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL, highestmodseq INTEGER NOT NULL,
  messages INTEGER NOT NULL DEFAULT 0, unseen INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
  new_mtime INTEGER NOT NULL DEFAULT 0, cur_mtime INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS message(
  mailbox INTEGER NOT NULL, uid INTEGER NOT NULL, file TEXT NOT NULL, flags INTEGER NOT NULL,
  keywords TEXT NOT NULL, internal_date INTEGER NOT NULL, size INTEGER NOT NULL,
  crlf_size INTEGER NOT NULL, modseq INTEGER NOT NULL, PRIMARY KEY(mailbox, uid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cache(
  mailbox INTEGER NOT NULL, uid INTEGER NOT NULL, field TEXT NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY(mailbox, uid, field)) WITHOUT ROWID;
)sql";

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string join_keywords(const std::vector<std::string>& keywords) {
    std::string out;
    for (const std::string& k : keywords) {
        if (!out.empty()) out.push_back(' ');
        out += k;
    }
    return out;
}

std::vector<std::string> split_keywords(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        auto space = text.find(' ');
        if (space != 0) out.emplace_back(text.substr(0, space));
        if (space == std::string_view::npos) break;
        text.remove_prefix(space + 1);
    }
    return out;
}

std::string_view file_name_of(std::string_view file) { return file.substr(file.find('/') + 1); }

// A SQLite connection with a statement cache; throws Error(temporary) naming the file.
class Connection {
public:
    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() { close(); }

    // SQLITE_OK, or the code of the first failure (the connection is then closed).
    int open(const std::string& path) {
        path_ = path;
        int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(db_, busy_timeout_ms);
        // Connections come and go per delivery: the checkpoint (and its fsyncs) is left to
        // SQLite's automatic one every 1000 pages rather than done by every last close.
        if (rc == SQLITE_OK) rc = sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
        // Durability comes from the message files and their folder fsyncs; a power cut that
        // undoes the last index commits loses nothing (docs/architecture.md section 9).
        if (rc == SQLITE_OK) rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db_, schema, nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db_, "SELECT count(*) FROM mailbox; SELECT count(*) FROM message;", nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) {
            open_code_ = db_ != nullptr ? sqlite3_errcode(db_) : rc;
            open_errno_ = db_ != nullptr ? sqlite3_system_errno(db_) : 0;
            close();
        }
        return rc;
    }

    void close() noexcept {
        for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
        statements_.clear();
        if (db_ != nullptr) sqlite3_close_v2(db_);
        db_ = nullptr;
    }

    [[noreturn]] void fail(std::string_view what) const {
        const int code = db_ != nullptr ? sqlite3_errcode(db_) : open_code_;
        // docs/architecture.md section 6: a full disk is no_space (452), a read-only one permission.
        // SQLite reports a full disk while it grows its -shm file as an I/O error: its errno tells.
        const int err = db_ != nullptr ? sqlite3_system_errno(db_) : open_errno_;
        const ErrorKind kind = code == SQLITE_FULL ? ErrorKind::no_space
                               : code == SQLITE_READONLY || code == SQLITE_PERM ? ErrorKind::permission
                               : err != 0                                       ? errno_kind(err)
                                                                                 : ErrorKind::temporary;
        throw Error(kind, fmt::format("cannot {} the mailbox index {}", what, path_),
                    fmt::format("sqlite: {}", db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(open_code_)));
    }

    void exec(const char* sql) {
        if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail("write");
    }

    sqlite3_stmt* prepare(const char* sql) {
        auto it = statements_.find(sql);
        if (it != statements_.end()) return it->second;
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) fail("read");
        statements_.emplace(sql, stmt);
        return stmt;
    }

    sqlite3* handle() const noexcept { return db_; }

private:
    std::string path_;
    sqlite3* db_ = nullptr;
    int open_code_ = SQLITE_CANTOPEN;  // why the last open() failed
    int open_errno_ = 0;
    std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

// One use of a cached statement; reset when it goes.
class Query {
public:
    Query(Connection& c, const char* sql) : c_(c), stmt_(c.prepare(sql)) {}
    ~Query() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;

    Query& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(stmt_, i, v);
        return *this;
    }
    Query& bind(int i, std::string_view v) {
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Query& blob(int i, std::string_view v) {
        sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    bool step() {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        c_.fail("read");
    }
    void run() { step(); }
    std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
    std::string text(int col) const {
        const void* p = sqlite3_column_blob(stmt_, col);
        int n = sqlite3_column_bytes(stmt_, col);
        return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
    }

private:
    Connection& c_;
    sqlite3_stmt* stmt_;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back unless committed. Nested uses join the outer one.
class Transaction {
public:
    Transaction(Connection& c, int& depth) : c_(c), depth_(depth) {
        if (depth_++ == 0) c_.exec("BEGIN IMMEDIATE");
    }
    ~Transaction() {
        if (--depth_ == 0 && !done_) sqlite3_exec(c_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
        if (depth_ == 1) c_.exec("COMMIT");
        done_ = true;
    }

private:
    Connection& c_;
    int& depth_;
    bool done_ = false;
};

struct Box {
    std::int64_t id = 0;
    std::string path;  // absolute
    std::uint32_t uidvalidity = 0;
    std::uint32_t uidnext = 1;
    std::uint64_t highest_modseq = 0;
};

struct Entry {
    std::string file;  // "new/<name>" or "cur/<name>"
    std::string_view name() const { return file_name_of(file); }
};

// The entries of folder/sub (dot files are not messages); a missing folder has none.
void list_folder(const std::string& folder, const char* sub, std::vector<Entry>& out) {
    const std::string path = folder + "/" + sub;
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
        if (errno == ENOENT) return;
        throw io_error("read", path, "opendir", errno);
    }
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        out.push_back(Entry{fmt::format("{}/{}", sub, e->d_name)});
    }
    ::closedir(dir);
}

std::int64_t mtime_ns(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The folder's UIDVALIDITY, kept in a file written once and fsync'd so that a lost index keeps it.
std::uint32_t folder_uidvalidity(const std::string& folder) {
    const std::string path = folder + "/" + uidvalidity_file;
    if (FILE* f = std::fopen(path.c_str(), "re")) {
        unsigned long value = 0;
        const bool ok = std::fscanf(f, "%lu", &value) == 1 && value > 0 && value <= 0xffffffffUL;
        std::fclose(f);
        if (ok) return static_cast<std::uint32_t>(value);
    }
    auto value = static_cast<std::uint32_t>(std::time(nullptr));
    const std::string tmp = path + ".tmp";
    FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw io_error("create", tmp, "open", errno);
    if (int err = detail::write_all(fd.get(), fmt::format("{}\n", value)); err != 0) throw io_error("write", tmp, "write", err);
    if (::fsync(fd.get()) != 0) throw sync_error(tmp, errno);
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw io_error("rename", tmp, "rename", errno);
    if (int err = fsync_directory(folder, ::fsync); err != 0) throw sync_error(folder, err);
    return value;
}

// The bytes the file would have with CRLF line ends.
std::uint64_t crlf_size_of(const std::string& path, std::uint64_t size) {
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return size;
    std::uint64_t bare = 0;
    char last = '\0';
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] == '\n' && last != '\r') ++bare;
            last = buf[i];
        }
    }
    return size + bare;
}

class SqliteIndex final : public MailboxIndex {
public:
    explicit SqliteIndex(std::string maildir) : maildir_(std::move(maildir)), file_(maildir_ + "/" + index_file_name) {}

    void open() {
        ensure_maildir(maildir_);
        const bool existed = ::access(file_.c_str(), F_OK) == 0;
        int rc = db_.open(file_);
        bool rebuild_all = !existed;
        if (rc != SQLITE_OK && rc != SQLITE_NOTADB && rc != SQLITE_CORRUPT) db_.fail("open");  // a full disk is no corrupt file
        if (rc != SQLITE_OK) {
            // docs/architecture.md section 9: a lost or corrupt index is rebuilt from the names.
            const std::string aside = file_ + ".corrupt";
            if (::rename(file_.c_str(), aside.c_str()) != 0 && errno != ENOENT) throw io_error("move aside", file_, "rename", errno);
            for (const char* side : {"-wal", "-shm"}) ::unlink((file_ + side).c_str());
            if (db_.open(file_) != SQLITE_OK) db_.fail("open");
            rebuild_all = true;
        }
        if (rebuild_all) rebuild({});
    }

    SyncResult sync(const MailboxRef& mailbox) override {
        Transaction t(db_, depth_);
        SyncResult result;
        Box box = ensure_box(mailbox, &result);
        if (!result.added && !result.expunged) result = scan(box, false);
        t.commit();
        return result;
    }

    MailboxStatus status(const MailboxRef& mailbox) override {
        auto id = find_box_id(mailbox);
        if (!id) {
            sync(mailbox);
            id = find_box_id(mailbox);
        }
        Query q(db_, "SELECT uidvalidity, uidnext, highestmodseq, messages, unseen, bytes FROM mailbox WHERE id = ?");
        q.bind(1, *id);
        MailboxStatus s;
        if (q.step()) {
            s.uidvalidity = static_cast<std::uint32_t>(q.i64(0));
            s.uidnext = static_cast<std::uint32_t>(q.i64(1));
            s.highest_modseq = static_cast<std::uint64_t>(q.i64(2));
            s.messages = static_cast<std::uint64_t>(q.i64(3));
            s.unseen = static_cast<std::uint64_t>(q.i64(4));
            s.bytes = static_cast<std::uint64_t>(q.i64(5));
        }
        return s;
    }

    std::vector<MessageRecord> list(const MailboxRef& mailbox) override {
        std::vector<MessageRecord> out;
        auto id = find_box_id(mailbox);
        if (!id) return out;
        Query q(db_, "SELECT uid, file, flags, keywords, internal_date, size, crlf_size, modseq FROM message WHERE mailbox = ? ORDER BY uid");
        q.bind(1, *id);
        while (q.step()) out.push_back(record(q));
        return out;
    }

    std::optional<MessageRecord> find(const MailboxRef& mailbox, std::uint32_t uid) override {
        auto id = find_box_id(mailbox);
        if (!id) return std::nullopt;
        return find_row(*id, uid);
    }

    std::string read(const MailboxRef& mailbox, std::uint32_t uid, std::uint64_t offset, std::uint64_t length) override {
        for (int attempt = 0;; ++attempt) {
            auto row = find(mailbox, uid);
            if (!row) throw no_message(mailbox, uid);
            const std::string path = mailbox.path + "/" + row->file;
            FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd) {
                if (errno == ENOENT && attempt == 0) {
                    sync(mailbox);  // renamed behind our back (mutt); the scan finds its new name
                    continue;
                }
                if (errno == ENOENT) throw no_message(mailbox, uid);
                throw io_error("read", path, "open", errno);
            }
            std::string out;
            if (offset >= row->size) return out;
            out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(length, row->size - offset)));
            std::size_t got = 0;
            while (got < out.size()) {
                ssize_t n = ::pread(fd.get(), out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) throw io_error("read", path, "pread", errno);
                if (n == 0) break;
                got += static_cast<std::size_t>(n);
            }
            out.resize(got);
            return out;
        }
    }

    MessageRecord set_flags(const MailboxRef& mailbox, std::uint32_t uid, FlagChange change, std::uint32_t flags,
                            const std::vector<std::string>& keywords) override {
        Transaction t(db_, depth_);
        Box box = ensure_box(mailbox, nullptr);
        std::vector<std::string> words = keywords;
        flags |= take_forwarded(words);
        for (int attempt = 0;; ++attempt) {
            auto row = find_row(box.id, uid);
            if (!row) throw no_message(mailbox, uid);
            std::uint32_t new_flags = row->flags;
            std::vector<std::string> new_words = row->keywords;
            switch (change) {
                case FlagChange::replace:
                    new_flags = flags;
                    new_words = words;
                    break;
                case FlagChange::add:
                    new_flags |= flags;
                    for (const std::string& w : words)
                        if (std::find(new_words.begin(), new_words.end(), w) == new_words.end()) new_words.push_back(w);
                    break;
                case FlagChange::remove:
                    new_flags &= ~flags;
                    new_words.erase(std::remove_if(new_words.begin(), new_words.end(), [&](const std::string& w) {
                                        return std::find(words.begin(), words.end(), w) != words.end();
                                    }),
                                    new_words.end());
                    break;
            }
            if (new_flags == row->flags && new_words == row->keywords) return *row;
            // The flags live in the name too, so mutt and other Maildir readers agree.
            std::string file = "cur/" + cur_name(name_stem(file_name_of(row->file)), new_flags);
            if (file != row->file) {
                const std::string from = mailbox.path + "/" + row->file, to = mailbox.path + "/" + file;
                if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
                    if (errno == ENOENT && attempt == 0) {
                        scan(box, true);
                        continue;
                    }
                    if (errno == ENOENT) throw no_message(mailbox, uid);
                    throw io_error("rename", from, "renameat2", errno);
                }
            }
            const std::uint64_t modseq = bump_modseq(box.id);
            Query(db_, "UPDATE message SET file = ?, flags = ?, keywords = ?, modseq = ? WHERE mailbox = ? AND uid = ?")
                .bind(1, file).bind(2, new_flags).bind(3, join_keywords(new_words)).bind(4, static_cast<std::int64_t>(modseq))
                .bind(5, box.id).bind(6, uid).run();
            if ((new_flags & flag_seen) != (row->flags & flag_seen))
                Query(db_, "UPDATE mailbox SET unseen = unseen + ? WHERE id = ?").bind(1, (new_flags & flag_seen) ? -1 : 1).bind(2, box.id).run();
            t.commit();
            row->file = std::move(file);
            row->flags = new_flags;
            row->keywords = std::move(new_words);
            row->modseq = modseq;
            return *row;
        }
    }

    std::uint32_t copy(const MailboxRef& source, std::uint32_t uid, const MailboxRef& target) override {
        Transaction t(db_, depth_);
        Box from = ensure_box(source, nullptr);
        auto row = find_row(from.id, uid);
        if (!row) throw no_message(source, uid);
        NewMessage m;
        m.flags = row->flags;
        m.keywords = row->keywords;
        m.internal_date = row->internal_date;
        m.size = row->size;
        m.crlf_size = row->crlf_size;
        const std::string src = source.path + "/" + row->file;
        const std::string stem(name_stem(file_name_of(row->file)));
        m.link = [&](std::uint32_t new_uid) {
            std::string file = "cur/" + cur_name(with_uid(stem, new_uid), m.flags);
            const std::string dst = target.path + "/" + file;
            if (::link(src.c_str(), dst.c_str()) != 0) {
                if (errno != EXDEV && errno != EMLINK) throw io_error("copy into", target.path + "/cur", "link", errno);
                copy_file(src, dst);
            }
            const std::string folder = target.path + "/cur";
            if (int err = fsync_directory(folder, ::fsync); err != 0) {
                ::unlink(dst.c_str());
                throw sync_error(folder, err);
            }
            return file;
        };
        std::uint32_t new_uid = add_message(target, m);
        Box to = ensure_box(target, nullptr);
        Query(db_, "INSERT OR REPLACE INTO cache(mailbox, uid, field, value) SELECT ?, ?, field, value FROM cache WHERE mailbox = ? AND uid = ?")
            .bind(1, to.id).bind(2, new_uid).bind(3, from.id).bind(4, uid).run();
        t.commit();
        return new_uid;
    }

    std::uint32_t move(const MailboxRef& source, std::uint32_t uid, const MailboxRef& target) override {
        Transaction t(db_, depth_);
        std::uint32_t new_uid = copy(source, uid, target);
        expunge(source, {uid});
        t.commit();
        return new_uid;
    }

    std::vector<std::uint32_t> expunge(const MailboxRef& mailbox, const std::vector<std::uint32_t>& uids) override {
        Transaction t(db_, depth_);
        Box box = ensure_box(mailbox, nullptr);
        std::vector<std::uint32_t> removed;
        std::vector<std::uint32_t> sorted = uids;
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        for (std::uint32_t uid : sorted) {
            auto row = find_row(box.id, uid);
            if (!row) continue;
            const std::string path = mailbox.path + "/" + row->file;
            if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw io_error("expunge", path, "unlink", errno);
            delete_row(box.id, uid);
            removed.push_back(uid);
        }
        if (!removed.empty()) {
            bump_modseq(box.id);
            recount(box.id);
        }
        t.commit();
        return removed;
    }

    std::vector<std::uint32_t> expunge_deleted(const MailboxRef& mailbox) override {
        return expunge(mailbox, select_uids(mailbox, "SELECT uid FROM message WHERE mailbox = ? AND (flags & 8) != 0", 0));
    }

    std::vector<std::uint32_t> expunge_before(const MailboxRef& mailbox, std::int64_t before) override {
        return expunge(mailbox, select_uids(mailbox, "SELECT uid FROM message WHERE mailbox = ? AND internal_date < ?", before));
    }

    std::uint32_t add_message(const MailboxRef& mailbox, const NewMessage& message) override {
        Transaction t(db_, depth_);
        Box box = ensure_box(mailbox, nullptr);
        const std::uint32_t uid = box.uidnext;
        std::string file = message.link(uid);
        std::vector<std::string> words = message.keywords;
        const std::uint32_t flags = message.flags | take_forwarded(words);
        const std::uint64_t modseq = box.highest_modseq + 1;
        Query(db_, "INSERT INTO message(mailbox, uid, file, flags, keywords, internal_date, size, crlf_size, modseq) VALUES(?,?,?,?,?,?,?,?,?)")
            .bind(1, box.id).bind(2, uid).bind(3, file).bind(4, flags).bind(5, join_keywords(words)).bind(6, message.internal_date)
            .bind(7, static_cast<std::int64_t>(message.size)).bind(8, static_cast<std::int64_t>(message.crlf_size))
            .bind(9, static_cast<std::int64_t>(modseq)).run();
        Query(db_, "UPDATE mailbox SET uidnext = ?, highestmodseq = ?, messages = messages + 1, unseen = unseen + ?, bytes = bytes + ? WHERE id = ?")
            .bind(1, static_cast<std::int64_t>(uid) + 1).bind(2, static_cast<std::int64_t>(modseq)).bind(3, (flags & flag_seen) ? 0 : 1)
            .bind(4, static_cast<std::int64_t>(message.size)).bind(5, box.id).run();
        try {
            t.commit();
        } catch (...) {
            ::unlink((mailbox.path + "/" + file).c_str());
            throw;
        }
        return uid;
    }

    AccountUsage usage() override {
        Query q(db_, "SELECT coalesce(sum(messages), 0), coalesce(sum(bytes), 0) FROM mailbox");
        AccountUsage u;
        if (q.step()) {
            u.messages = static_cast<std::uint64_t>(q.i64(0));
            u.bytes = static_cast<std::uint64_t>(q.i64(1));
        }
        return u;
    }

    void rebuild(const std::vector<MailboxRef>& mailboxes) override {
        Transaction t(db_, depth_);
        db_.exec("DELETE FROM cache; DELETE FROM message; DELETE FROM mailbox;");
        std::vector<MailboxRef> all = mailboxes;
        auto known = [&](const std::string& path) {
            return std::any_of(all.begin(), all.end(), [&](const MailboxRef& m) { return relative(m.path) == relative(path); });
        };
        if (!known(maildir_)) all.push_back(MailboxRef{"INBOX", maildir_});
        if (DIR* dir = ::opendir(maildir_.c_str())) {
            while (dirent* e = ::readdir(dir)) {
                std::string name = e->d_name;
                if (name.size() < 2 || name[0] != '.' || name == "..") continue;
                const std::string path = maildir_ + "/" + name;
                struct stat st {};
                if (::stat((path + "/cur").c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || known(path)) continue;
                // Maildir++: ".A.B" is "A/B"; the caller's own names (mailbox_name) win when given.
                std::string wire = name.substr(1);
                std::replace(wire.begin(), wire.end(), '.', '/');
                all.push_back(MailboxRef{wire, path});
            }
            ::closedir(dir);
        }
        for (const MailboxRef& m : all) ensure_box(m, nullptr);
        t.commit();
    }

    void forget(const MailboxRef& mailbox) override {
        Transaction t(db_, depth_);
        if (auto id = find_box_id(mailbox)) {
            for (const char* sql : {"DELETE FROM cache WHERE mailbox = ?", "DELETE FROM message WHERE mailbox = ?", "DELETE FROM mailbox WHERE id = ?"})
                Query(db_, sql).bind(1, *id).run();
        }
        t.commit();
    }

    std::optional<std::string> cache_get(const MailboxRef& mailbox, std::uint32_t uid, std::string_view field) override {
        auto id = find_box_id(mailbox);
        if (!id) return std::nullopt;
        Query q(db_, "SELECT value FROM cache WHERE mailbox = ? AND uid = ? AND field = ?");
        q.bind(1, *id).bind(2, uid).bind(3, field);
        if (!q.step()) return std::nullopt;
        return q.text(0);
    }

    void cache_put(const MailboxRef& mailbox, std::uint32_t uid, std::string_view field, std::string_view bytes) override {
        auto id = find_box_id(mailbox);
        if (!id || !find_row(*id, uid)) return;
        Query(db_, "INSERT OR REPLACE INTO cache(mailbox, uid, field, value) VALUES(?,?,?,?)").bind(1, *id).bind(2, uid).bind(3, field).blob(4, bytes).run();
    }

private:
    static Error no_message(const MailboxRef& mailbox, std::uint32_t uid) {
        return Error(ErrorKind::no_such_user, fmt::format("no message with UID {} in {}", uid, mailbox.name));
    }

    // The folder as the index keys it: relative to the Maildir root ("" for INBOX).
    std::string relative(const std::string& path) const {
        if (path == maildir_) return "";
        if (path.size() > maildir_.size() && path.compare(0, maildir_.size(), maildir_) == 0 && path[maildir_.size()] == '/')
            return path.substr(maildir_.size() + 1);
        return path;
    }

    std::optional<std::int64_t> find_box_id(const MailboxRef& mailbox) {
        Query q(db_, "SELECT id FROM mailbox WHERE path = ?");
        q.bind(1, relative(mailbox.path));
        if (!q.step()) return std::nullopt;
        return q.i64(0);
    }

    // The mailbox's row, made (UIDVALIDITY file, full scan into *made) when missing. In a transaction.
    Box ensure_box(const MailboxRef& mailbox, SyncResult* made) {
        const std::string key = relative(mailbox.path);
        {
            Query q(db_, "SELECT id, uidvalidity, uidnext, highestmodseq FROM mailbox WHERE path = ?");
            q.bind(1, key);
            if (q.step()) {
                return Box{q.i64(0), mailbox.path, static_cast<std::uint32_t>(q.i64(1)), static_cast<std::uint32_t>(q.i64(2)),
                           static_cast<std::uint64_t>(q.i64(3))};
            }
        }
        // A missing folder is an empty mailbox; making it gives its UIDVALIDITY a home.
        ensure_maildir(mailbox.path);
        const std::uint32_t uidvalidity = folder_uidvalidity(mailbox.path);
        Query(db_, "INSERT INTO mailbox(path, name, uidvalidity, uidnext, highestmodseq) VALUES(?,?,?,1,0)")
            .bind(1, key).bind(2, mailbox.name).bind(3, uidvalidity).run();
        Box box{sqlite3_last_insert_rowid(db_.handle()), mailbox.path, uidvalidity, 1, 0};
        SyncResult r = scan(box, true);
        if (made != nullptr) *made = r;
        return reload(box);
    }

    Box reload(Box box) {
        Query q(db_, "SELECT uidnext, highestmodseq FROM mailbox WHERE id = ?");
        q.bind(1, box.id);
        if (q.step()) {
            box.uidnext = static_cast<std::uint32_t>(q.i64(0));
            box.highest_modseq = static_cast<std::uint64_t>(q.i64(1));
        }
        return box;
    }

    static MessageRecord record(const Query& q) {
        MessageRecord r;
        r.uid = static_cast<std::uint32_t>(q.i64(0));
        r.file = q.text(1);
        r.flags = static_cast<std::uint32_t>(q.i64(2));
        r.keywords = split_keywords(q.text(3));
        r.internal_date = q.i64(4);
        r.size = static_cast<std::uint64_t>(q.i64(5));
        r.crlf_size = static_cast<std::uint64_t>(q.i64(6));
        r.modseq = static_cast<std::uint64_t>(q.i64(7));
        return r;
    }

    std::optional<MessageRecord> find_row(std::int64_t box, std::uint32_t uid) {
        Query q(db_, "SELECT uid, file, flags, keywords, internal_date, size, crlf_size, modseq FROM message WHERE mailbox = ? AND uid = ?");
        q.bind(1, box).bind(2, uid);
        if (!q.step()) return std::nullopt;
        return record(q);
    }

    void delete_row(std::int64_t box, std::uint32_t uid) {
        Query(db_, "DELETE FROM message WHERE mailbox = ? AND uid = ?").bind(1, box).bind(2, uid).run();
        Query(db_, "DELETE FROM cache WHERE mailbox = ? AND uid = ?").bind(1, box).bind(2, uid).run();
    }

    // RFC 7162: every change gets a MODSEQ above all before it.
    std::uint64_t bump_modseq(std::int64_t box) {
        Query(db_, "UPDATE mailbox SET highestmodseq = highestmodseq + 1 WHERE id = ?").bind(1, box).run();
        Query q(db_, "SELECT highestmodseq FROM mailbox WHERE id = ?");
        q.bind(1, box);
        q.step();
        return static_cast<std::uint64_t>(q.i64(0));
    }

    void recount(std::int64_t box) {
        Query(db_, "UPDATE mailbox SET messages = (SELECT count(*) FROM message WHERE mailbox = ?1), "
                   "unseen = (SELECT count(*) FROM message WHERE mailbox = ?1 AND (flags & 1) = 0), "
                   "bytes = (SELECT coalesce(sum(size), 0) FROM message WHERE mailbox = ?1) WHERE id = ?1")
            .bind(1, box).run();
    }

    std::vector<std::uint32_t> select_uids(const MailboxRef& mailbox, const char* sql, std::int64_t arg) {
        std::vector<std::uint32_t> out;
        auto id = find_box_id(mailbox);
        if (!id) return out;
        Query q(db_, sql);
        q.bind(1, *id);
        if (arg != 0) q.bind(2, arg);
        while (q.step()) out.push_back(static_cast<std::uint32_t>(q.i64(0)));
        return out;
    }

    // Reconciles the rows with new/ and cur/ (docs/architecture.md section 9). In a transaction.
    SyncResult scan(const Box& box, bool force) {
        SyncResult result;
        const std::string new_dir = box.path + "/new", cur_dir = box.path + "/cur";
        const std::int64_t new_mtime = mtime_ns(new_dir), cur_mtime = mtime_ns(cur_dir);
        // A folder whose mtime is the one a scan saw settled is unchanged: only the other is read.
        bool skip_new = false, skip_cur = false;
        if (!force) {
            Query q(db_, "SELECT new_mtime, cur_mtime FROM mailbox WHERE id = ?");
            q.bind(1, box.id);
            if (q.step()) {
                skip_new = q.i64(0) != 0 && q.i64(0) == new_mtime;
                skip_cur = q.i64(1) != 0 && q.i64(1) == cur_mtime;
            }
            if (skip_new && skip_cur) return result;
        }
        std::vector<Entry> entries;
        if (!skip_new) list_folder(box.path, "new", entries);
        if (!skip_cur) list_folder(box.path, "cur", entries);

        struct Row {
            std::string file;
            std::uint32_t flags;
            bool claimed = false;
        };
        std::unordered_map<std::uint32_t, Row> rows;
        {
            Query q(db_, "SELECT uid, file, flags FROM message WHERE mailbox = ?1 AND (?2 = '' OR substr(file, 1, 4) = ?2)");
            q.bind(1, box.id).bind(2, skip_new ? "cur/" : skip_cur ? "new/" : "");
            while (q.step()) rows.emplace(static_cast<std::uint32_t>(q.i64(0)), Row{q.text(1), static_cast<std::uint32_t>(q.i64(2))});
        }
        std::uint32_t uidnext = reload(box).uidnext;
        std::vector<std::pair<std::uint32_t, const Entry*>> adopt;
        std::vector<const Entry*> renumber;
        for (const Entry& e : entries) {
            auto uid = find_uid(e.name());
            auto it = uid ? rows.find(*uid) : rows.end();
            if (it != rows.end() && !it->second.claimed && name_stem(file_name_of(it->second.file)) == name_stem(e.name())) {
                it->second.claimed = true;
                if (it->second.file != e.file) {
                    // Renamed behind our back (mutt set a flag, or moved it from new/ to cur/).
                    const std::uint32_t flags = parse_flags(e.name());
                    std::uint64_t modseq = 0;
                    if (flags != it->second.flags) modseq = bump_modseq(box.id);
                    Query(db_, "UPDATE message SET file = ?, flags = ?, modseq = CASE WHEN ? > 0 THEN ? ELSE modseq END WHERE mailbox = ? AND uid = ?")
                        .bind(1, e.file).bind(2, flags).bind(3, static_cast<std::int64_t>(modseq)).bind(4, static_cast<std::int64_t>(modseq))
                        .bind(5, box.id).bind(6, *uid).run();
                    ++result.changed;
                }
            } else if (uid && it == rows.end() && *uid >= uidnext) {
                adopt.emplace_back(*uid, &e);  // a crash lost the transaction that named it
            } else {
                renumber.push_back(&e);  // no tag, or one that belongs to another message
            }
        }
        for (auto& [uid, row] : rows) {
            if (row.claimed) continue;
            delete_row(box.id, uid);
            ++result.expunged;
        }
        if (result.expunged > 0) bump_modseq(box.id);

        std::sort(adopt.begin(), adopt.end(), [](const auto& a, const auto& b) {
            return a.first != b.first ? a.first < b.first : a.second->file < b.second->file;
        });
        std::uint32_t last = 0;
        for (auto& [uid, e] : adopt) {
            if (uid == last) {
                renumber.push_back(e);  // two files claim one UID: the first (by name) keeps it
                continue;
            }
            last = uid;
            insert_found(box, uid, e->file);
            uidnext = std::max(uidnext, uid + 1);
            ++result.added;
        }
        // Oldest first: a unique name starts with its delivery time.
        std::sort(renumber.begin(), renumber.end(), [](const Entry* a, const Entry* b) { return a->name() < b->name(); });
        for (const Entry* e : renumber) {
            const std::uint32_t uid = uidnext++;
            std::string_view name = e->name();
            std::string_view sub = std::string_view(e->file).substr(0, 3);
            std::string file = fmt::format("{}/{}{}", sub, with_uid(name_stem(name), uid), name.substr(name_stem(name).size()));
            const std::string from = box.path + "/" + e->file, to = box.path + "/" + file;
            // One atomic rename: the message is never visible under two names.
            if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
                if (errno == ENOENT) continue;  // gone meanwhile
                throw io_error("rename", from, "renameat2", errno);
            }
            insert_found(box, uid, file);
            ++result.added;
            ++result.renumbered;
        }
        const std::int64_t now = now_ns();
        auto settled = [&](std::int64_t m) { return now - m > settled_ns ? m : 0; };
        Query(db_, "UPDATE mailbox SET uidnext = max(uidnext, ?), new_mtime = ?, cur_mtime = ? WHERE id = ?")
            .bind(1, uidnext).bind(2, settled(new_mtime)).bind(3, settled(cur_mtime)).bind(4, box.id).run();
        if (result.added || result.expunged || result.changed) recount(box.id);
        return result;
    }

    // A row for a file found in the folder, its facts from its name or a stat.
    void insert_found(const Box& box, std::uint32_t uid, const std::string& file) {
        const std::string path = box.path + "/" + file;
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) throw io_error("read", path, "stat", errno);
        std::string_view name = file_name_of(file);
        const std::uint64_t size = find_message_size(name).value_or(static_cast<std::uint64_t>(st.st_size));
        const std::uint64_t crlf = find_crlf_size(name) ? *find_crlf_size(name) : crlf_size_of(path, size);
        const std::uint64_t modseq = bump_modseq(box.id);
        Query(db_, "INSERT OR REPLACE INTO message(mailbox, uid, file, flags, keywords, internal_date, size, crlf_size, modseq) VALUES(?,?,?,?,'',?,?,?,?)")
            .bind(1, box.id).bind(2, uid).bind(3, file).bind(4, parse_flags(name)).bind(5, static_cast<std::int64_t>(st.st_mtim.tv_sec))
            .bind(6, static_cast<std::int64_t>(size)).bind(7, static_cast<std::int64_t>(crlf)).bind(8, static_cast<std::int64_t>(modseq)).run();
    }

    static void copy_file(const std::string& from, const std::string& to) {
        FileDescriptor in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
        if (!in) throw io_error("read", from, "open", errno);
        FileDescriptor out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!out) throw io_error("create", to, "open", errno);
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(in.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                ::unlink(to.c_str());
                throw io_error("read", from, "read", errno);
            }
            if (n == 0) break;
            if (int err = detail::write_all(out.get(), std::string_view(buf, static_cast<std::size_t>(n))); err != 0) {
                ::unlink(to.c_str());
                throw io_error("write", to, "write", err);
            }
        }
        if (::fsync(out.get()) != 0) {
            const int err = errno;
            ::unlink(to.c_str());
            throw sync_error(to, err);
        }
    }

    std::string maildir_;
    std::string file_;
    Connection db_;
    int depth_ = 0;
};

}  // namespace

std::unique_ptr<MailboxIndex> open_sqlite_index(const std::string& maildir) {
    auto index = std::make_unique<SqliteIndex>(maildir);
    index->open();
    return index;
}

std::optional<AccountUsage> find_index_usage(const std::string& maildir) {
    const std::string path = maildir + "/" + index_file_name;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        sqlite3_close_v2(db);
        return std::nullopt;
    }
    sqlite3_busy_timeout(db, 1000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);  // no writes on a network thread
    std::optional<AccountUsage> usage;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(messages), 0), coalesce(sum(bytes), 0), count(*) FROM mailbox", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int64(stmt, 2) > 0) {
        usage = AccountUsage{static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0)), static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1))};
    }
    sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
    return usage;
}

}  // namespace vpsmail::mailstore
