// Store methods of the domains table.
#include "core/address.hpp"
#include "core/error.hpp"
#include "store/database.hpp"
#include "store/internal.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace vpsmail::store {
namespace {

constexpr std::string_view domain_columns =
    "SELECT d.name, d.created,"
    " (SELECT count(*) FROM users u WHERE u.domain_id = d.id),"
    " (SELECT count(*) FROM vusers v WHERE v.domain_id = d.id),"
    " c.target"
    " FROM domains d LEFT JOIN catchalls c ON c.domain_id = d.id";

Domain read_domain(const Query& q) {
    Domain d;
    d.name = q.text(0);
    d.created = q.int64(1);
    d.users = q.int64(2);
    d.vusers = q.int64(3);
    if (!q.is_null(4)) d.catchall = q.text(4);
    return d;
}

// An alias entry naming an address in the domain ?1 (given as "@domain"): ends with it,
// case-insensitively (target_lc), has a local part, and is no program, file or :include:.
// Subdomains do not match: "x@sub.example.org" does not end with "@example.org".
constexpr std::string_view alias_target_in_domain =
    " length(target_lc) > length(?1)"
    " AND substr(target_lc, length(target_lc) - length(?1) + 1) = ?1"
    " AND substr(target_lc, 1, 1) NOT IN ('|', '/', ':')";

// Alias entries naming an address in the internationalized domain `name` (A-labels) with its
// U-labels, as earlier builds stored them ("bob@bücher.example"): SQL cannot convert
// them, so the entries whose domain part is not ASCII are read and normalised here. Only
// `domain del` of an IDN domain asks, so the scan costs nothing elsewhere. Returns their rowids.
std::vector<std::int64_t> alias_targets_in_u_labels(Database& db, const std::string& name) {
    auto q = db.query(
        "SELECT rowid, target_lc FROM alias_targets WHERE instr(target_lc, '@') > 0"
        " AND substr(target_lc, 1, 1) NOT IN ('|', '/', ':')");
    std::vector<std::int64_t> rows;
    while (q.step()) {
        const std::string target = q.text(1);
        const std::string_view domain = std::string_view(target).substr(target.rfind('@') + 1);
        if (domain.empty() || std::all_of(domain.begin(), domain.end(), [](unsigned char c) { return c < 0x80; }))
            continue;  // ASCII domains were counted by the SQL suffix match
        try {
            if (normalize_domain(domain) == name) rows.push_back(q.int64(0));
        } catch (const Error&) {
            // not a domain name at all: it names no domain to keep
        }
    }
    return rows;
}

// Names an internationalized domain: one of its labels is an A-label.
bool is_idn(const std::string& name) {
    return name.starts_with("xn--") || name.find(".xn--") != std::string::npos;
}

}  // namespace

namespace detail {

std::optional<std::int64_t> find_domain_id(Database& db, std::string_view domain) {
    auto q = db.query("SELECT id FROM domains WHERE name = ?1");
    q.bind(1, domain);
    if (!q.step()) return std::nullopt;
    return q.int64(0);
}

std::int64_t get_domain_id(Database& db, std::string_view domain) {
    auto id = find_domain_id(db, domain);
    if (!id) throw Error(ErrorKind::no_such_domain, fmt::format("no such domain {}", domain));
    return *id;
}

}  // namespace detail

void Store::create_domain(const std::string& domain) {
    const std::string name = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::write);
    if (detail::find_domain_id(*db_, name))
        throw Error(ErrorKind::exists, fmt::format("domain {} exists already", name));
    db_->query("INSERT INTO domains (name, created) VALUES (?1, ?2)").bind(1, name).bind(2, detail::unix_now()).run();
    tx.commit();
}

void Store::remove_domain(const std::string& domain, bool force) {
    const std::string name = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t id = detail::get_domain_id(*db_, name);
    const DomainUse use = domain_use(name);
    if (!use.empty() && !force) {
        std::string what;
        auto add = [&what](const std::string& part) { what += (what.empty() ? "" : ", ") + part; };
        auto count = [](std::int64_t n, std::string_view one, std::string_view many) {
            return fmt::format("{} {}", n, n == 1 ? one : many);
        };
        if (use.users != 0) add(count(use.users, "user", "users"));
        if (use.alias_targets != 0) add(count(use.alias_targets, "alias entry", "alias entries") + " naming it");
        if (use.vusers != 0) add(count(use.vusers, "virtusertable entry", "virtusertable entries"));
        if (use.catchall) add("a catch-all");
        throw Error(ErrorKind::bad_data,
                    fmt::format("domain {} is in use: {}; remove them first or use --force", name, what));
    }
    if (use.alias_targets != 0) {
        db_->query(fmt::format("DELETE FROM alias_targets WHERE{}", alias_target_in_domain))
            .bind(1, "@" + name)
            .run();
        if (is_idn(name))
            for (std::int64_t row : alias_targets_in_u_labels(*db_, name))
                db_->query("DELETE FROM alias_targets WHERE rowid = ?1").bind(1, row).run();
        db_->query("DELETE FROM aliases WHERE NOT EXISTS (SELECT 1 FROM alias_targets t WHERE t.alias_id = aliases.id)")
            .run();
    }
    // ON DELETE CASCADE takes the users (and their forwards), vuser entries and catch-all.
    db_->query("DELETE FROM domains WHERE id = ?1").bind(1, id).run();
    tx.commit();
}

DomainUse Store::domain_use(const std::string& domain) {
    const std::string name = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::read);
    const std::int64_t id = detail::get_domain_id(*db_, name);
    DomainUse use;
    {
        auto q = db_->query(
            "SELECT (SELECT count(*) FROM users WHERE domain_id = ?1),"
            " (SELECT count(*) FROM vusers WHERE domain_id = ?1),"
            " (SELECT count(*) FROM catchalls WHERE domain_id = ?1)");
        q.bind(1, id).step();
        use.users = q.int64(0);
        use.vusers = q.int64(1);
        use.catchall = q.int64(2) != 0;
    }
    {
        auto q = db_->query(fmt::format("SELECT count(*) FROM alias_targets WHERE{}", alias_target_in_domain));
        q.bind(1, "@" + name).step();
        use.alias_targets = q.int64(0);
    }
    if (is_idn(name)) use.alias_targets += static_cast<std::int64_t>(alias_targets_in_u_labels(*db_, name).size());
    tx.commit();
    return use;
}

std::vector<Domain> Store::list_domains() {
    std::vector<Domain> out;
    auto q = db_->query(fmt::format("{} ORDER BY d.name", domain_columns));
    while (q.step()) out.push_back(read_domain(q));
    return out;
}

std::optional<Domain> Store::find_domain(const std::string& domain) {
    auto q = db_->query(fmt::format("{} WHERE d.name = ?1", domain_columns));
    q.bind(1, lower_ascii(domain));
    if (!q.step()) return std::nullopt;
    return read_domain(q);
}

bool Store::is_local_domain(std::string_view domain) {
    return cached_domain(domain) != nullptr;
}

std::optional<std::string> Store::first_domain() {
    auto q = db_->query("SELECT name FROM domains ORDER BY id LIMIT 1");
    if (!q.step()) return std::nullopt;
    return q.text(0);
}

}  // namespace vpsmail::store
