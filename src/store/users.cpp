// Store methods of the users table (accounts).
#include "core/address.hpp"
#include "core/error.hpp"
#include "store/database.hpp"
#include "store/internal.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

namespace vpsmail::store {
namespace {

constexpr std::string_view user_columns =
    "SELECT u.local, d.name, u.password_hash, u.name, u.quota, u.enabled, u.created, u.updated"
    " FROM users u JOIN domains d ON d.id = u.domain_id";

User read_user(const Query& q) {
    User u;
    u.local = q.text(0);
    u.domain = q.text(1);
    u.password_hash = q.text(2);
    u.name = q.text(3);
    u.quota = static_cast<std::uint64_t>(q.int64(4));
    u.enabled = q.int64(5) != 0;
    u.created = q.int64(6);
    u.updated = q.int64(7);
    return u;
}

[[noreturn]] void no_such_user(std::string_view local, std::string_view domain) {
    throw Error(ErrorKind::no_such_user, fmt::format("no such user {}@{}", local, domain));
}

}  // namespace

namespace detail {

std::int64_t get_user_id(Database& db, std::string_view local, std::string_view domain) {
    auto q = db.query("SELECT u.id FROM users u JOIN domains d ON d.id = u.domain_id WHERE d.name = ?1 AND u.local = ?2");
    q.bind(1, domain).bind(2, local);
    if (!q.step()) no_such_user(local, domain);
    return q.int64(0);
}

}  // namespace detail

void Store::create_user(const NewUser& user) {
    const std::string local = lower_ascii(user.local);
    const std::string domain = lower_ascii(user.domain);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t domain_id = detail::get_domain_id(*db_, domain);
    {
        auto q = db_->query("SELECT 1 FROM users WHERE domain_id = ?1 AND local = ?2");
        if (q.bind(1, domain_id).bind(2, local).step())
            throw Error(ErrorKind::exists, fmt::format("user {}@{} exists already", local, domain));
    }
    const std::int64_t now = detail::unix_now();
    db_->query("INSERT INTO users (domain_id, local, password_hash, name, quota, enabled, created, updated)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)")
        .bind(1, domain_id)
        .bind(2, local)
        .bind(3, user.password_hash)
        .bind(4, user.name)
        .bind(5, static_cast<std::int64_t>(user.quota))
        .bind(6, user.enabled ? 1 : 0)
        .bind(7, now)
        .run();
    tx.commit();
}

void Store::remove_user(const std::string& local, const std::string& domain) {
    const std::string l = lower_ascii(local);
    const std::string d = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::write);
    // ON DELETE CASCADE takes the forward.
    db_->query("DELETE FROM users WHERE domain_id = (SELECT id FROM domains WHERE name = ?1) AND local = ?2")
        .bind(1, d)
        .bind(2, l)
        .run();
    if (db_->changes() == 0) no_such_user(l, d);
    tx.commit();
}

std::vector<User> Store::list_users(const std::string& domain) {
    std::vector<User> out;
    if (domain.empty()) {
        auto q = db_->query(fmt::format("{} ORDER BY d.name, u.local", user_columns));
        while (q.step()) out.push_back(read_user(q));
    } else {
        auto q = db_->query(fmt::format("{} WHERE d.name = ?1 ORDER BY u.local", user_columns));
        q.bind(1, lower_ascii(domain));
        while (q.step()) out.push_back(read_user(q));
    }
    return out;
}

std::optional<User> Store::find_user(const std::string& local, const std::string& domain) {
    auto q = db_->query(fmt::format("{} WHERE d.name = ?1 AND u.local = ?2", user_columns));
    q.bind(1, lower_ascii(domain)).bind(2, lower_ascii(local));
    if (!q.step()) return std::nullopt;
    return read_user(q);
}

namespace {

// One UPDATE of one column of an account, bumping `updated`. Throws no_such_user.
template <typename Value>
void update_user(Database& db, std::string_view column, const std::string& local, const std::string& domain,
                 Value value) {
    const std::string l = lower_ascii(local);
    const std::string d = lower_ascii(domain);
    Transaction tx(db, TransactionKind::write);
    db.query(fmt::format("UPDATE users SET {} = ?3, updated = ?4"
                         " WHERE domain_id = (SELECT id FROM domains WHERE name = ?1) AND local = ?2",
                         column))
        .bind(1, d)
        .bind(2, l)
        .bind(3, value)
        .bind(4, detail::unix_now())
        .run();
    if (db.changes() == 0) no_such_user(l, d);
    tx.commit();
}

}  // namespace

void Store::set_password_hash(const std::string& local, const std::string& domain, const std::string& hash) {
    update_user(*db_, "password_hash", local, domain, std::string_view(hash));
}

bool Store::upgrade_password_hash(const std::string& local, const std::string& domain, const std::string& old_hash,
                                  const std::string& new_hash) {
    Transaction tx(*db_, TransactionKind::write);
    db_->query("UPDATE users SET password_hash = ?4"
               " WHERE domain_id = (SELECT id FROM domains WHERE name = ?1) AND local = ?2 AND password_hash = ?3")
        .bind(1, lower_ascii(domain))
        .bind(2, lower_ascii(local))
        .bind(3, std::string_view(old_hash))
        .bind(4, std::string_view(new_hash))
        .run();
    const bool changed = db_->changes() != 0;
    tx.commit();
    return changed;
}

void Store::set_enabled(const std::string& local, const std::string& domain, bool enabled) {
    update_user(*db_, "enabled", local, domain, std::int64_t{enabled ? 1 : 0});
}

void Store::set_quota(const std::string& local, const std::string& domain, std::uint64_t quota) {
    update_user(*db_, "quota", local, domain, static_cast<std::int64_t>(quota));
}

void Store::add_send_as(const std::string& local, const std::string& domain, const std::string& address) {
    const std::string a = lower_ascii(address);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t user_id = detail::get_user_id(*db_, lower_ascii(local), lower_ascii(domain));
    {
        auto q = db_->query("SELECT 1 FROM send_as WHERE user_id = ?1 AND address = ?2");
        if (q.bind(1, user_id).bind(2, a).step())
            throw Error(ErrorKind::exists,
                        fmt::format("{}@{} may send as {} already", lower_ascii(local), lower_ascii(domain), a));
    }
    db_->query("INSERT INTO send_as (user_id, address) VALUES (?1, ?2)").bind(1, user_id).bind(2, a).run();
    tx.commit();
}

void Store::remove_send_as(const std::string& local, const std::string& domain, const std::string& address) {
    const std::string a = lower_ascii(address);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t user_id = detail::get_user_id(*db_, lower_ascii(local), lower_ascii(domain));
    db_->query("DELETE FROM send_as WHERE user_id = ?1 AND address = ?2").bind(1, user_id).bind(2, a).run();
    if (db_->changes() == 0)
        throw Error(ErrorKind::not_found,
                    fmt::format("{} is not in the send-as list of {}@{}", a, lower_ascii(local), lower_ascii(domain)));
    tx.commit();
}

std::vector<std::string> Store::list_send_as(const std::string& local, const std::string& domain) {
    Transaction tx(*db_, TransactionKind::read);
    const std::int64_t user_id = detail::get_user_id(*db_, lower_ascii(local), lower_ascii(domain));
    std::vector<std::string> out;
    auto q = db_->query("SELECT address FROM send_as WHERE user_id = ?1 ORDER BY address");
    q.bind(1, user_id);
    while (q.step()) out.push_back(q.text(0));
    tx.commit();
    return out;
}

bool Store::may_send_as(const std::string& local, const std::string& domain, const std::string& address) {
    auto q = db_->query(
        "SELECT 1 FROM send_as s JOIN users u ON u.id = s.user_id JOIN domains d ON d.id = u.domain_id"
        " WHERE d.name = ?1 AND u.local = ?2 AND s.address = ?3");
    q.bind(1, lower_ascii(domain)).bind(2, lower_ascii(local)).bind(3, lower_ascii(address));
    return q.step();
}

std::optional<Account> Store::find_account(std::string_view local, std::string_view domain) {
    // The domain's id comes from the cache, so one statement reads the account and its forward
    // targets (no forward: one row with a NULL target). This is the resolver's hot path.
    const CachedDomain* domain_entry = cached_domain(domain);
    if (domain_entry == nullptr) return std::nullopt;
    auto q = db_->query(
        "SELECT u.enabled, u.quota, f.target FROM users u"
        " LEFT JOIN forward_targets f ON f.user_id = u.id"
        " WHERE u.domain_id = ?1 AND u.local = ?2"
        " ORDER BY f.position");
    q.bind(1, domain_entry->id).bind(2, lower_ascii(local));
    if (!q.step()) return std::nullopt;
    Account a;
    a.enabled = q.int64(0) != 0;
    a.quota = static_cast<std::uint64_t>(q.int64(1));
    do {
        if (!q.is_null(2)) a.forward.push_back(q.text(2));
    } while (q.step());
    return a;
}

}  // namespace vpsmail::store
