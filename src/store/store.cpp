#include "store/store.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "store/database.hpp"
#include "store/internal.hpp"
#include "store/migrations.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::store {
namespace {

// A store path that cannot exist is a configuration error; the rest as everywhere.
ErrorKind store_errno_kind(int err) {
    switch (err) {
    case ENOENT: case ENOTDIR: case ELOOP: case ENAMETOOLONG: case EISDIR: return ErrorKind::config;
    default: return errno_kind(err);
    }
}

[[noreturn]] void fail_errno(const std::string& message, const std::string& path, int err) {
    throw Error(store_errno_kind(err), fmt::format("{}: {}", message, std::strerror(err)), errno_text(path, err));
}

// Creates `folder` and its missing parents, each 0700 (chmod'ed, so a umask cannot narrow it
// to something unusable either).
void make_folders(const std::filesystem::path& folder, const std::string& store) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            throw Error(ErrorKind::config, fmt::format("cannot create store {}: {} is not a folder", store, folder.string()));
        return;
    }
    if (errno != ENOENT) fail_errno(fmt::format("cannot create store {}", store), folder.string(), errno);
    std::filesystem::path parent = folder.parent_path();
    if (!parent.empty() && parent != folder) make_folders(parent, store);
    if (::mkdir(folder.c_str(), 0700) != 0) {
        if (errno == EEXIST) return;  // another process made it meanwhile
        fail_errno(fmt::format("cannot create folder {} for store {}", folder.string(), store), folder.string(), errno);
    }
    if (::chmod(folder.c_str(), 0700) != 0)
        fail_errno(fmt::format("cannot set the mode of folder {}", folder.string()), folder.string(), errno);
}

// The file is created here, 0600, before SQLite sees it: SQLite would create it with 0644 & ~umask.
void create_file(const std::string& path) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) make_folders(parent, path);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return;
        fail_errno(fmt::format("cannot create store {}", path), path, errno);
    }
    int rc = ::fchmod(fd, 0600);
    int err = errno;
    ::close(fd);
    if (rc != 0) fail_errno(fmt::format("cannot set the mode of store {}", path), path, err);
}

void check_exists(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return;
    if (errno == ENOENT)
        throw Error(ErrorKind::config,
                    fmt::format("store {} does not exist; a command that writes to the store creates it", path));
    fail_errno(fmt::format("cannot open store {}", path), path, errno);
}

}  // namespace

namespace detail {

std::int64_t unix_now() noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace detail

std::unique_ptr<Store> Store::open(const std::string& path, OpenMode mode) {
    if (path.empty()) throw Error(ErrorKind::config, "the store path is empty");
    const bool read_only = mode == OpenMode::read_only;
    if (read_only) check_exists(path);
    else create_file(path);
    auto db = std::make_unique<Database>(path, read_only);
    migrate(*db);
    return std::unique_ptr<Store>(new Store(path, std::move(db)));
}

Store::Store(std::string path, std::unique_ptr<Database> db)
    : path_(std::move(path)), db_(std::move(db)), cache_(std::make_unique<Cache>()) {}

Store::~Store() = default;

int Store::schema_version() { return store::schema_version(*db_); }

int Store::latest_schema_version() noexcept { return store::latest_schema_version(); }

ReadSnapshot::ReadSnapshot(std::unique_ptr<Transaction> tx) noexcept : tx_(std::move(tx)) {}

ReadSnapshot::ReadSnapshot(ReadSnapshot&& other) noexcept = default;

ReadSnapshot::~ReadSnapshot() {
    if (!tx_) return;
    try {
        tx_->commit();
    } catch (...) {
        // ~Transaction rolls back, which ends a read transaction just as well.
    }
}

ReadSnapshot Store::read_snapshot() {
    return ReadSnapshot(std::make_unique<Transaction>(*db_, TransactionKind::read));
}

void Store::write_batch(const std::function<void()>& work) {
    Transaction tx(*db_, TransactionKind::write);
    try {
        work();
    } catch (...) {
        invalidate_cache();
        throw;
    }
    tx.commit();
    invalidate_cache();
}

void Store::refresh_cache() {
    auto q = db_->query("PRAGMA data_version");
    q.step();
    const std::int64_t data_version = q.int64(0);
    if (cache_->valid && cache_->commits == db_->commits() && cache_->data_version == data_version) return;
    // An entry read after this point may be newer than data_version says; the next call then
    // finds the version changed and drops it: never stale, at worst read twice.
    cache_->domains.clear();
    cache_->data_version = data_version;
    cache_->commits = db_->commits();
    cache_->valid = true;
}

const Store::CachedDomain* Store::cached_domain(std::string_view domain) {
    refresh_cache();
    std::string name = lower_ascii(domain);
    auto it = cache_->domains.find(name);
    if (it == cache_->domains.end()) {
        if (cache_->domains.size() >= Cache::max_entries) cache_->domains.clear();
        std::optional<CachedDomain> entry;
        auto q = db_->query("SELECT d.id, c.target FROM domains d LEFT JOIN catchalls c ON c.domain_id = d.id"
                            " WHERE d.name = ?1");
        q.bind(1, name);
        if (q.step()) {
            entry = CachedDomain{q.int64(0), std::nullopt};
            if (!q.is_null(1)) entry->catchall = q.text(1);
        }
        it = cache_->domains.emplace(std::move(name), std::move(entry)).first;
    }
    return it->second ? &*it->second : nullptr;
}

void Store::invalidate_cache() noexcept { cache_->valid = false; }

}  // namespace vpsmail::store
