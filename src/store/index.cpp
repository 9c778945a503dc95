#include "store/index.hpp"

#include "core/error.hpp"
#include "store/database.hpp"
#include "store/string_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

namespace vpsmail::store {
namespace {

struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, Hash, std::equal_to<>>;

void lower_into(std::string& out, std::string_view text) {
    out.assign(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
}

// Lists and accounts are kept in StringTable values: each string as a 4-byte length and its bytes.
void append_list(std::string& out, const std::vector<std::string>& items) {
    for (const auto& item : items) {
        const auto length = static_cast<std::uint32_t>(item.size());
        out.append(reinterpret_cast<const char*>(&length), sizeof length);
        out += item;
    }
}

std::vector<std::string> read_list(std::string_view in) {
    std::vector<std::string> items;
    while (in.size() >= sizeof(std::uint32_t)) {
        std::uint32_t length = 0;
        std::memcpy(&length, in.data(), sizeof length);
        in.remove_prefix(sizeof length);
        items.emplace_back(in.substr(0, length));
        in.remove_prefix(std::min<std::size_t>(length, in.size()));
    }
    return items;
}

// enabled (1 byte), quota (8 bytes), the forward targets.
std::string encode_account(const Account& a) {
    std::string out(1, a.enabled ? '\1' : '\0');
    out.append(reinterpret_cast<const char*>(&a.quota), sizeof a.quota);
    append_list(out, a.forward);
    return out;
}

Account decode_account(std::string_view in) {
    Account a;
    a.enabled = in[0] != '\0';
    std::memcpy(&a.quota, in.data() + 1, sizeof a.quota);
    a.forward = read_list(in.substr(1 + sizeof a.quota));
    return a;
}

std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct RoutingIndex::Data {
    struct DomainEntry {
        std::int64_t id = 0;
        std::optional<std::string> catchall;
    };
    StringMap<DomainEntry> domains;                    // name -> id, catch-all
    std::map<std::int64_t, std::string> domain_names;  // id -> name; begin() is the first domain
    StringTable accounts;                              // "local@domain" -> encode_account()
    std::unordered_map<std::int64_t, std::string> account_keys;  // users.id -> "local@domain"
    StringTable aliases;                               // name -> targets in order, append_list()
    std::unordered_map<std::int64_t, std::string> alias_names;  // aliases.id -> name
    StringTable vusers;                                // key -> target

    // Each reads one object from `db` (inside the caller's read transaction) and puts it in,
    // or takes it out when it is gone; the id maps catch renames. read_domain returns false when
    // a domain was renamed: the account keys that name it are stale, so everything is reloaded.
    bool read_domain(Database& db, std::int64_t id);
    void read_account(Database& db, std::int64_t id);
    void read_alias(Database& db, std::int64_t id);
    void read_vuser(Database& db, const std::string& key);
};

bool RoutingIndex::Data::read_domain(Database& db, std::int64_t id) {
    auto q = db.query("SELECT d.name, c.target FROM domains d LEFT JOIN catchalls c ON c.domain_id = d.id WHERE d.id = ?1");
    q.bind(1, id);
    const bool found = q.step();
    std::string name = found ? q.text(0) : std::string();
    if (auto old = domain_names.find(id); old != domain_names.end()) {
        if (found && old->second != name) return false;
        domains.erase(old->second);
        domain_names.erase(old);
    }
    if (!found) return true;
    DomainEntry entry{id, std::nullopt};
    if (!q.is_null(1)) entry.catchall = q.text(1);
    domain_names.emplace(id, name);
    domains.insert_or_assign(std::move(name), std::move(entry));
    return true;
}

void RoutingIndex::Data::read_account(Database& db, std::int64_t id) {
    if (auto old = account_keys.find(id); old != account_keys.end()) {
        accounts.erase(old->second);
        account_keys.erase(old);
    }
    auto q = db.query(
        "SELECT u.local, d.name, u.enabled, u.quota, f.target FROM users u JOIN domains d ON d.id = u.domain_id"
        " LEFT JOIN forward_targets f ON f.user_id = u.id WHERE u.id = ?1 ORDER BY f.position");
    q.bind(1, id);
    if (!q.step()) return;
    std::string key = q.text(0) + "@" + q.text(1);
    Account account;
    account.enabled = q.int64(2) != 0;
    account.quota = static_cast<std::uint64_t>(q.int64(3));
    do {
        if (!q.is_null(4)) account.forward.push_back(q.text(4));
    } while (q.step());
    accounts.put(key, encode_account(account));
    account_keys.emplace(id, std::move(key));
}

void RoutingIndex::Data::read_alias(Database& db, std::int64_t id) {
    if (auto old = alias_names.find(id); old != alias_names.end()) {
        aliases.erase(old->second);
        alias_names.erase(old);
    }
    auto q = db.query(
        "SELECT a.name, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id"
        " WHERE a.id = ?1 ORDER BY t.position");
    q.bind(1, id);
    if (!q.step()) return;  // gone, or no target left (Store::find_alias finds no such alias either)
    std::string name = q.text(0);
    std::vector<std::string> targets;
    do targets.push_back(q.text(1));
    while (q.step());
    std::string value;
    append_list(value, targets);
    aliases.put(name, value);
    alias_names.emplace(id, std::move(name));
}

void RoutingIndex::Data::read_vuser(Database& db, const std::string& key) {
    auto q = db.query("SELECT target FROM vusers WHERE key = ?1");
    q.bind(1, key);
    if (q.step()) vusers.put(key, q.text_view(0));
    else vusers.erase(key);
}

// --- RoutingIndex ------------------------------------------------------------------------

std::unique_ptr<RoutingIndex> RoutingIndex::open(const std::string& path, std::chrono::milliseconds poll) {
    auto store = Store::open(path, OpenMode::read_only);
    std::unique_ptr<RoutingIndex> index(new RoutingIndex(std::move(store), poll));
    std::lock_guard refresh_lock(index->refresh_mutex_);
    index->load_all();
    return index;
}

RoutingIndex::RoutingIndex(std::unique_ptr<Store> store, std::chrono::milliseconds poll)
    // Created when missing, so that later writers bump it; without it every view asks SQLite.
    : store_(std::move(store)), generation_(Generation::open(store_->path(), true)), poll_(poll),
      data_(std::make_unique<Data>()) {}

RoutingIndex::~RoutingIndex() = default;

// Under refresh_mutex_. Reads everything in one read transaction, then swaps it in.
void RoutingIndex::load_all() {
    Database& db = *store_->db_;
    const std::uint64_t generation = generation_ ? generation_->load() : 0;  // before reading: a later bump is seen
    auto data = std::make_unique<Data>();
    std::int64_t seq = 0;
    {
        Transaction tx(db, TransactionKind::read);
        {
            auto q = db.query("SELECT coalesce(max(seq), 0) FROM changes");
            q.step();
            seq = q.int64(0);
        }
        {
            auto q = db.query("SELECT d.id, d.name, c.target FROM domains d LEFT JOIN catchalls c ON c.domain_id = d.id");
            while (q.step()) {
                Data::DomainEntry entry{q.int64(0), std::nullopt};
                if (!q.is_null(2)) entry.catchall = q.text(2);
                data->domain_names.emplace(entry.id, q.text(1));
                data->domains.emplace(q.text(1), std::move(entry));
            }
        }
        {
            auto q = db.query("SELECT count(*) FROM users");
            q.step();
            data->accounts.reserve(static_cast<std::size_t>(q.int64(0)));
        }
        {
            auto q = db.query("SELECT count(*) FROM aliases");
            q.step();
            data->aliases.reserve(static_cast<std::size_t>(q.int64(0)));
        }
        {
            auto q = db.query(
                "SELECT u.id, u.local, d.name, u.enabled, u.quota, f.target FROM users u"
                " JOIN domains d ON d.id = u.domain_id LEFT JOIN forward_targets f ON f.user_id = u.id"
                " ORDER BY u.id, f.position");
            std::int64_t current = -1;
            std::string key;
            Account account;
            auto flush = [&] {
                if (current < 0) return;
                data->accounts.put(key, encode_account(account));
                data->account_keys.emplace(current, key);
            };
            while (q.step()) {
                const std::int64_t id = q.int64(0);
                if (id != current) {
                    flush();
                    current = id;
                    key = q.text(1) + "@" + q.text(2);
                    account = Account{};
                    account.enabled = q.int64(3) != 0;
                    account.quota = static_cast<std::uint64_t>(q.int64(4));
                }
                if (!q.is_null(5)) account.forward.push_back(q.text(5));
            }
            flush();
        }
        {
            auto q = db.query(
                "SELECT a.id, a.name, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id"
                " ORDER BY a.id, t.position");
            std::int64_t current = -1;
            std::string name;
            std::vector<std::string> targets;
            auto flush = [&] {
                if (current < 0) return;
                std::string value;
                append_list(value, targets);
                data->aliases.put(name, value);
                data->alias_names.emplace(current, name);
            };
            while (q.step()) {
                const std::int64_t id = q.int64(0);
                if (id != current) {
                    flush();
                    current = id;
                    name = q.text(1);
                    targets.clear();
                }
                targets.push_back(q.text(2));
            }
            flush();
        }
        {
            auto q = db.query("SELECT count(*) FROM vusers");
            q.step();
            data->vusers.reserve(static_cast<std::size_t>(q.int64(0)));
        }
        {
            auto q = db.query("SELECT key, target FROM vusers");
            while (q.step()) data->vusers.put(q.text_view(0), q.text_view(1));
        }
        tx.commit();
    }
    {
        std::unique_lock lock(data_mutex_);
        data_.swap(data);
    }
    last_seq_ = seq;
    seen_generation_.store(generation, std::memory_order_release);
    next_poll_ns_.store(now_ns() + std::chrono::nanoseconds(poll_).count(), std::memory_order_release);
    loads_.fetch_add(1, std::memory_order_relaxed);
    // `data` (the old tables) is freed here, outside the lock.
}

bool RoutingIndex::maybe_stale() const noexcept {
    if (!generation_) return true;
    if (generation_->load() != seen_generation_.load(std::memory_order_acquire)) return true;
    return now_ns() >= next_poll_ns_.load(std::memory_order_acquire);
}

// Under refresh_mutex_: what changed since last_seq_, read in one transaction, applied under
// the exclusive lock.
void RoutingIndex::refresh() {
    Database& db = *store_->db_;
    const std::uint64_t generation = generation_ ? generation_->load() : 0;
    std::set<std::int64_t> domains, accounts, aliases;
    std::set<std::string> vusers;
    std::int64_t newest = last_seq_;
    bool reload = false;
    {
        Transaction tx(db, TransactionKind::read);
        std::int64_t oldest = 0;
        {
            auto q = db.query("SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM changes");
            q.step();
            oldest = q.int64(0);
            newest = q.int64(1);
        }
        // Pruned past us, or another file at the same path: start again.
        reload = newest != last_seq_ && (newest < last_seq_ || oldest > last_seq_ + 1);
        if (newest != last_seq_ && !reload) {
            auto q = db.query("SELECT object, id, key FROM changes WHERE seq > ?1 ORDER BY seq");
            q.bind(1, last_seq_);
            while (q.step()) {
                std::string_view object = q.text_view(0);
                if (object == "domain") domains.insert(q.int64(1));
                else if (object == "user") accounts.insert(q.int64(1));
                else if (object == "alias") aliases.insert(q.int64(1));
                else if (object == "vuser") vusers.insert(q.text(2));
            }
            // An exception below leaves last_seq_ where it was: the next view re-reads the same
            // objects, which is harmless.
            std::unique_lock lock(data_mutex_);
            for (std::int64_t id : domains)
                if (!data_->read_domain(db, id)) reload = true;
            if (!reload) {
                for (std::int64_t id : accounts) data_->read_account(db, id);
                for (std::int64_t id : aliases) data_->read_alias(db, id);
                for (const std::string& key : vusers) data_->read_vuser(db, key);
                updates_.fetch_add(1, std::memory_order_relaxed);
            }
        }
        tx.commit();
    }
    if (reload) {
        load_all();
        return;
    }
    last_seq_ = newest;
    seen_generation_.store(generation, std::memory_order_release);
    next_poll_ns_.store(now_ns() + std::chrono::nanoseconds(poll_).count(), std::memory_order_release);
}

RoutingIndex::View RoutingIndex::view() {
    if (maybe_stale()) {
        std::lock_guard refresh_lock(refresh_mutex_);
        if (maybe_stale()) refresh();  // another thread may have caught up meanwhile
    }
    return View(std::shared_lock(data_mutex_), *data_);
}

RoutingIndex::Stats RoutingIndex::stats() {
    std::shared_lock lock(data_mutex_);
    return Stats{data_->domains.size(), data_->accounts.size(), data_->aliases.size(), data_->vusers.size(),
                 loads_.load(), updates_.load()};
}

// --- View --------------------------------------------------------------------------------

const std::string& RoutingIndex::View::lower(std::string_view text) {
    lower_into(scratch_, text);
    return scratch_;
}

bool RoutingIndex::View::is_local_domain(std::string_view domain) {
    return data_->domains.find(lower(domain)) != data_->domains.end();
}

std::optional<std::string> RoutingIndex::View::first_domain() {
    if (data_->domain_names.empty()) return std::nullopt;
    return data_->domain_names.begin()->second;
}

std::optional<std::pair<std::size_t, std::string>> RoutingIndex::View::find_first_vuser(
    const std::vector<std::string>& keys) {
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (auto target = data_->vusers.find(keys[i])) return std::pair{i, std::string(*target)};
    return std::nullopt;
}

std::optional<Alias> RoutingIndex::View::find_alias(std::string_view name) {
    const std::string& key = lower(name);
    auto targets = data_->aliases.find(key);
    if (!targets) return std::nullopt;
    return Alias{key, read_list(*targets)};
}

std::optional<Account> RoutingIndex::View::find_account(std::string_view local, std::string_view domain) {
    lower_into(scratch_, local);
    scratch_ += '@';
    for (char c : domain) scratch_ += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    auto account = data_->accounts.find(scratch_);
    if (!account) return std::nullopt;
    return decode_account(*account);
}

std::optional<std::string> RoutingIndex::View::find_catchall(std::string_view domain) {
    auto it = data_->domains.find(lower(domain));
    if (it == data_->domains.end()) return std::nullopt;
    return it->second.catchall;
}

}  // namespace vpsmail::store
