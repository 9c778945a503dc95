// Store methods of the vusers table (the virtusertable).
#include "core/address.hpp"
#include "core/error.hpp"
#include "store/database.hpp"
#include "store/internal.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <array>

namespace vpsmail::store {
namespace {

// One point lookup per key, each arm naming its key's index. Measured faster than
// `key IN (...)`, for which SQLite fills a temporary index on every run.
std::string find_vusers_sql(std::size_t keys) {
    std::string sql;
    for (std::size_t i = 0; i < keys; ++i)
        sql += fmt::format("{}SELECT {}, target FROM vusers WHERE key = ?{}", i == 0 ? "" : " UNION ALL ", i, i + 1);
    return sql;
}

// docs/routing.md rule 4 tries at most 7 keys; the statements for 1..7 keys are built once.
constexpr std::size_t usual_keys = 7;
const std::string& usual_sql(std::size_t keys) {
    static const auto all = [] {
        std::array<std::string, usual_keys + 1> sql;
        for (std::size_t n = 1; n <= usual_keys; ++n) sql[n] = find_vusers_sql(n);
        return sql;
    }();
    return all[keys];
}

}  // namespace

void Store::map_vuser(const std::string& key, const std::string& domain, const std::string& target) {
    const std::string k = lower_ascii(key);
    const std::string d = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t domain_id = detail::get_domain_id(*db_, d);
    {
        auto q = db_->query("SELECT target FROM vusers WHERE key = ?1");
        if (q.bind(1, k).step())
            throw Error(ErrorKind::exists, fmt::format("virtusertable key {} is mapped already (to {})", k, q.text_view(0)));
    }
    db_->query("INSERT INTO vusers (domain_id, key, target) VALUES (?1, ?2, ?3)")
        .bind(1, domain_id)
        .bind(2, k)
        .bind(3, target)
        .run();
    tx.commit();
}

void Store::unmap_vuser(const std::string& key) {
    const std::string k = lower_ascii(key);
    Transaction tx(*db_, TransactionKind::write);
    db_->query("DELETE FROM vusers WHERE key = ?1").bind(1, k).run();
    if (db_->changes() == 0)
        throw Error(ErrorKind::not_found, fmt::format("virtusertable key {} is not mapped", k));
    tx.commit();
}

std::vector<VuserEntry> Store::list_vusers(const std::string& domain) {
    std::vector<VuserEntry> out;
    auto read = [&out](Query& q) {
        while (q.step()) out.push_back(VuserEntry{q.text(0), q.text(1), q.text(2)});
    };
    if (domain.empty()) {
        auto q = db_->query(
            "SELECT v.key, d.name, v.target FROM vusers v JOIN domains d ON d.id = v.domain_id ORDER BY d.name, v.key");
        read(q);
    } else {
        auto q = db_->query(
            "SELECT v.key, d.name, v.target FROM vusers v JOIN domains d ON d.id = v.domain_id"
            " WHERE d.name = ?1 ORDER BY v.key");
        q.bind(1, lower_ascii(domain));
        read(q);
    }
    return out;
}

std::optional<std::string> Store::find_vuser(std::string_view key) {
    auto q = db_->query("SELECT target FROM vusers WHERE key = ?1");
    q.bind(1, lower_ascii(key));
    if (!q.step()) return std::nullopt;
    return q.text(0);
}

std::optional<std::pair<std::size_t, std::string>> Store::find_first_vuser(const std::vector<std::string>& keys) {
    if (keys.empty()) return std::nullopt;
    std::string long_sql;
    if (keys.size() > usual_keys) long_sql = find_vusers_sql(keys.size());
    auto q = db_->query(long_sql.empty() ? usual_sql(keys.size()) : long_sql);
    for (std::size_t i = 0; i < keys.size(); ++i) q.bind(static_cast<int>(i + 1), keys[i]);

    // SQL does not promise the arms' order: keep the row whose key comes first in `keys`.
    std::optional<std::pair<std::size_t, std::string>> best;
    while (q.step()) {
        const auto index = static_cast<std::size_t>(q.int64(0));
        if (!best || index < best->first) best.emplace(index, q.text(1));
    }
    return best;
}

}  // namespace vpsmail::store
