// The configuration store: domains, accounts, aliases, virtusertable, forwards, catch-alls.
// All SQL of vpsmail lives under src/store; nothing outside sees SQLite. It stores and finds
// rows; it does not interpret targets (src/route does) or hash passwords (src/auth does).
// Names passed in are already normalised by core/address (domains lower case A-labels);
// the store lower-cases local parts, alias names and vuser keys itself (ASCII only).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vpsmail::store {

class Database;
class Transaction;

struct Domain {
    std::string name;
    std::int64_t created = 0;  ///< unix seconds
    std::int64_t users = 0;    ///< accounts in the domain
    std::int64_t vusers = 0;   ///< virtusertable entries of the domain
    std::optional<std::string> catchall;
};

struct User {
    std::string local;    ///< lower case
    std::string domain;
    std::string password_hash;
    std::string name;     ///< display name, may be empty
    std::uint64_t quota = 0;  ///< bytes; 0 = no quota
    bool enabled = true;
    std::int64_t created = 0;  ///< unix seconds
    std::int64_t updated = 0;
    std::string address() const { return local + "@" + domain; }
};

struct NewUser {
    std::string local;
    std::string domain;
    std::string password_hash;
    std::string name;
    std::uint64_t quota = 0;
    bool enabled = true;
};

struct Alias {
    std::string name;                  ///< lower case local part
    std::vector<std::string> targets;  ///< in the order they were added
};

struct VuserEntry {
    std::string key;     ///< lower case: user@d, user+*@d, user+detail@d, user++@d, ++@d, +*@d, @d
    std::string domain;
    std::string target;  ///< as written
};

struct Forward {
    std::string address;               ///< local@domain of the account
    std::vector<std::string> targets;  ///< as written, in order
};

struct Catchall {
    std::string domain;
    std::string target;
};

/// What the resolver needs of an account, in one lookup.
struct Account {
    bool enabled = true;
    std::uint64_t quota = 0;
    std::vector<std::string> forward;  ///< empty: no forward
};

/// What still refers to a domain; remove_domain refuses while any count is non-zero.
struct DomainUse {
    std::int64_t users = 0;
    std::int64_t alias_targets = 0;  ///< alias entries naming an address in the domain
    std::int64_t vusers = 0;
    bool catchall = false;
    bool empty() const { return users == 0 && alias_targets == 0 && vusers == 0 && !catchall; }
};

/// What the resolver (src/route) reads, and nothing else. Two implementations: Store (SQLite,
/// inside one read snapshot per resolution: route test, the CLI) and RoutingIndex::View (the
/// same data held in memory: the server). Names are compared case-insensitively (ASCII).
class RoutingSource {
public:
    virtual bool is_local_domain(std::string_view domain) = 0;
    /// The domain added first (lowest id), for [server] primary_domain's default.
    virtual std::optional<std::string> first_domain() = 0;
    /// The first of `keys` (already lower case) that is mapped: its index in `keys` and target.
    virtual std::optional<std::pair<std::size_t, std::string>> find_first_vuser(const std::vector<std::string>& keys) = 0;
    virtual std::optional<Alias> find_alias(std::string_view name) = 0;
    /// Enabled flag, quota and forward targets of an account, or nullopt.
    virtual std::optional<Account> find_account(std::string_view local, std::string_view domain) = 0;
    virtual std::optional<std::string> find_catchall(std::string_view domain) = 0;

protected:
    RoutingSource() = default;
    RoutingSource(const RoutingSource&) = default;
    RoutingSource& operator=(const RoutingSource&) = default;
    ~RoutingSource() = default;
};

enum class OpenMode { read_write, read_only };

/// A read transaction held open by Store::read_snapshot(); ends (releasing SQLite's lock) when
/// destroyed. Move-only; must not outlive its Store.
class ReadSnapshot {
public:
    ReadSnapshot(ReadSnapshot&& other) noexcept;
    ReadSnapshot& operator=(ReadSnapshot&&) = delete;
    ~ReadSnapshot();

private:
    friend class Store;
    explicit ReadSnapshot(std::unique_ptr<Transaction> tx) noexcept;
    std::unique_ptr<Transaction> tx_;
};

/// One connection to the store. Not thread-safe: one Store per thread.
/// Every method throws vpsmail::Error: temporary (busy beyond the timeout, I/O), permission
/// (read-only file or folder), config (not a vpsmail database, corrupt, newer schema),
/// and the kinds each method names.
class Store final : public RoutingSource {
public:
    /// Opens the database at `path`, creating it (mode 0600, missing folders 0700) and applying
    /// forward migrations when `mode` is read_write. WAL, foreign keys, busy timeout.
    static std::unique_ptr<Store> open(const std::string& path, OpenMode mode = OpenMode::read_write);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::string& path() const noexcept { return path_; }
    /// The schema version (PRAGMA user_version) after migration.
    int schema_version();
    /// The newest schema version this build knows.
    static int latest_schema_version() noexcept;
    /// SQLite's quick_check and foreign_key_check: empty when the file is sound, else the
    /// first problems found, on one line.
    std::string integrity_check();

    /// Until the returned object is destroyed, every lookup on this Store reads one consistent
    /// snapshot under one SQLite read lock. Each lookup outside a snapshot is a transaction of
    /// its own, and taking and dropping the lock costs system calls that dwarf an indexed
    /// lookup: the resolver takes one snapshot per recipient. Hold it no longer than that: it
    /// hides other connections' later commits and keeps the WAL from being reset. A write
    /// method called meanwhile throws Error(internal).
    [[nodiscard]] ReadSnapshot read_snapshot();

    /// Runs `work`, which calls this Store's write methods, as one write transaction: all or
    /// nothing, and one commit for many rows (bulk imports). An exception from `work` rolls
    /// everything back and propagates.
    void write_batch(const std::function<void()>& work);

    // --- domains -------------------------------------------------------------------------
    /// Throws exists.
    void create_domain(const std::string& domain);
    /// Throws no_such_domain; bad_data naming the counts when not empty and !force. With force,
    /// removes the domain's users (and their forwards), vuser entries, catch-all and the alias
    /// entries naming an address in it (aliases left with no entry go too), in one transaction.
    void remove_domain(const std::string& domain, bool force);
    /// Throws no_such_domain.
    DomainUse domain_use(const std::string& domain);
    std::vector<Domain> list_domains();  ///< by name
    std::optional<Domain> find_domain(const std::string& domain);
    /// Cached in memory; the cache is dropped when this connection writes or another
    /// connection's commit changes PRAGMA data_version. Case-insensitive.
    bool is_local_domain(std::string_view domain) override;
    /// The domain added first (lowest id), for [server] primary_domain's default.
    std::optional<std::string> first_domain() override;

    // --- users ---------------------------------------------------------------------------
    /// Throws no_such_domain, exists.
    void create_user(const NewUser& user);
    /// Removes the account and its forward. Throws no_such_user.
    void remove_user(const std::string& local, const std::string& domain);
    /// By domain then local part; all domains when `domain` is empty.
    std::vector<User> list_users(const std::string& domain = {});
    std::optional<User> find_user(const std::string& local, const std::string& domain);
    /// Each throws no_such_user and bumps `updated`.
    void set_password_hash(const std::string& local, const std::string& domain, const std::string& hash);
    /// Replaces the account's hash by `new_hash` only while it is still `old_hash` (the rehash
    /// after a login with a legacy hash must not undo a `user passwd` made meanwhile); does not
    /// bump `updated`. Returns whether it replaced it.
    bool upgrade_password_hash(const std::string& local, const std::string& domain, const std::string& old_hash,
                               const std::string& new_hash);
    void set_enabled(const std::string& local, const std::string& domain, bool enabled);
    void set_quota(const std::string& local, const std::string& domain, std::uint64_t quota);
    /// Enabled flag, quota and forward targets of an account, or nullopt.
    std::optional<Account> find_account(std::string_view local, std::string_view domain) override;

    // --- send-as: addresses an account may use as its sender beyond its own ----------------
    /// `address` is local@domain, normalised by core/address; stored with its local part lower
    /// case. Throws no_such_user (no such account), exists (listed already).
    void add_send_as(const std::string& local, const std::string& domain, const std::string& address);
    /// Throws no_such_user when the account is not there, not_found when the entry is not.
    void remove_send_as(const std::string& local, const std::string& domain, const std::string& address);
    /// The account's send-as addresses, sorted. Throws no_such_user.
    std::vector<std::string> list_send_as(const std::string& local, const std::string& domain);
    /// True when `address` is in the account's send-as list (false for no such account).
    bool may_send_as(const std::string& local, const std::string& domain, const std::string& address);

    // --- aliases (keyed on the local part alone; they apply in every local domain) -------
    /// Adds targets to `name`, creating it. Throws exists (nothing changed) when one of the
    /// targets is in the alias already (compared case-insensitively).
    void add_alias(const std::string& name, const std::vector<std::string>& targets);
    /// With no targets removes the alias; else removes those targets (the alias goes when
    /// empty). Throws not_found when the alias or a named target is not there.
    void remove_alias(const std::string& name, const std::vector<std::string>& targets);
    std::vector<Alias> list_aliases();  ///< by name
    std::optional<Alias> find_alias(std::string_view name) override;

    // --- virtusertable -------------------------------------------------------------------
    /// Throws no_such_domain (domain not local), exists (key mapped already).
    void map_vuser(const std::string& key, const std::string& domain, const std::string& target);
    /// Throws not_found (the key is not mapped).
    void unmap_vuser(const std::string& key);
    /// By domain then key; all domains when `domain` is empty.
    std::vector<VuserEntry> list_vusers(const std::string& domain = {});
    std::optional<std::string> find_vuser(std::string_view key);
    /// The first of `keys` (already lower case) that is mapped: its index in `keys` and target.
    /// One statement (one point lookup per key), whatever the number of keys.
    std::optional<std::pair<std::size_t, std::string>> find_first_vuser(const std::vector<std::string>& keys) override;

    // --- forwards (one per account) ------------------------------------------------------
    /// Replaces the account's forward. Throws no_such_user (no such account), bad_data (no targets).
    void set_forward(const std::string& local, const std::string& domain, const std::vector<std::string>& targets);
    /// Throws no_such_user (no such account), not_found when the account has no forward.
    void clear_forward(const std::string& local, const std::string& domain);
    std::optional<Forward> find_forward(const std::string& local, const std::string& domain);
    std::vector<Forward> list_forwards();  ///< by address

    // --- catch-alls (one per domain) -----------------------------------------------------
    /// Sets or replaces. Throws no_such_domain.
    void set_catchall(const std::string& domain, const std::string& target);
    /// Throws no_such_domain, not_found (none set).
    void unset_catchall(const std::string& domain);
    /// Cached like is_local_domain.
    std::optional<std::string> find_catchall(std::string_view domain) override;
    std::vector<Catchall> list_catchalls();  ///< by domain

private:
    friend class RoutingIndex;  // reads the tables and the change log through db_
    Store(std::string path, std::unique_ptr<Database> db);
    struct Cache;
    struct CachedDomain;
    void refresh_cache();
    /// The cached id and catch-all of a local domain (any case), or nullptr.
    const CachedDomain* cached_domain(std::string_view domain);
    void invalidate_cache() noexcept;

    std::string path_;
    std::unique_ptr<Database> db_;
    std::unique_ptr<Cache> cache_;
};

}  // namespace vpsmail::store
