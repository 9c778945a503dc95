// Store methods of the catchalls table (one per domain).
#include "core/address.hpp"
#include "core/error.hpp"
#include "store/database.hpp"
#include "store/internal.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

namespace vpsmail::store {

void Store::set_catchall(const std::string& domain, const std::string& target) {
    const std::string d = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t domain_id = detail::get_domain_id(*db_, d);
    db_->query("INSERT INTO catchalls (domain_id, target) VALUES (?1, ?2)"
               " ON CONFLICT (domain_id) DO UPDATE SET target = excluded.target")
        .bind(1, domain_id)
        .bind(2, target)
        .run();
    tx.commit();
}

void Store::unset_catchall(const std::string& domain) {
    const std::string d = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t domain_id = detail::get_domain_id(*db_, d);
    db_->query("DELETE FROM catchalls WHERE domain_id = ?1").bind(1, domain_id).run();
    if (db_->changes() == 0) throw Error(ErrorKind::not_found, fmt::format("domain {} has no catch-all", d));
    tx.commit();
}

std::optional<std::string> Store::find_catchall(std::string_view domain) {
    const CachedDomain* d = cached_domain(domain);
    if (d == nullptr) return std::nullopt;
    return d->catchall;
}

std::vector<Catchall> Store::list_catchalls() {
    std::vector<Catchall> out;
    auto q = db_->query("SELECT d.name, c.target FROM catchalls c JOIN domains d ON d.id = c.domain_id ORDER BY d.name");
    while (q.step()) out.push_back(Catchall{q.text(0), q.text(1)});
    return out;
}

}  // namespace vpsmail::store
