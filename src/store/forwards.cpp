// Store methods of the forward_targets table (one forward per account).
#include "core/address.hpp"
#include "core/error.hpp"
#include "store/database.hpp"
#include "store/internal.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

namespace vpsmail::store {

void Store::set_forward(const std::string& local, const std::string& domain, const std::vector<std::string>& targets) {
    const std::string l = lower_ascii(local);
    const std::string d = lower_ascii(domain);
    if (targets.empty()) throw Error(ErrorKind::bad_data, fmt::format("forward of {}@{}: no targets given", l, d));
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t user_id = detail::get_user_id(*db_, l, d);
    db_->query("DELETE FROM forward_targets WHERE user_id = ?1").bind(1, user_id).run();
    std::int64_t position = 0;
    for (const std::string& target : targets)
        db_->query("INSERT INTO forward_targets (user_id, position, target) VALUES (?1, ?2, ?3)")
            .bind(1, user_id)
            .bind(2, position++)
            .bind(3, target)
            .run();
    tx.commit();
}

void Store::clear_forward(const std::string& local, const std::string& domain) {
    const std::string l = lower_ascii(local);
    const std::string d = lower_ascii(domain);
    Transaction tx(*db_, TransactionKind::write);
    const std::int64_t user_id = detail::get_user_id(*db_, l, d);
    db_->query("DELETE FROM forward_targets WHERE user_id = ?1").bind(1, user_id).run();
    if (db_->changes() == 0) throw Error(ErrorKind::not_found, fmt::format("{}@{} has no forward", l, d));
    tx.commit();
}

std::optional<Forward> Store::find_forward(const std::string& local, const std::string& domain) {
    const std::string l = lower_ascii(local);
    const std::string d = lower_ascii(domain);
    auto q = db_->query(
        "SELECT f.target FROM forward_targets f"
        " JOIN users u ON u.id = f.user_id JOIN domains d ON d.id = u.domain_id"
        " WHERE d.name = ?1 AND u.local = ?2 ORDER BY f.position");
    q.bind(1, d).bind(2, l);
    if (!q.step()) return std::nullopt;
    Forward forward{l + "@" + d, {}};
    do forward.targets.push_back(q.text(0));
    while (q.step());
    return forward;
}

std::vector<Forward> Store::list_forwards() {
    std::vector<Forward> out;
    auto q = db_->query(
        "SELECT u.local || '@' || d.name AS address, f.target FROM forward_targets f"
        " JOIN users u ON u.id = f.user_id JOIN domains d ON d.id = u.domain_id"
        " ORDER BY address, f.position");
    while (q.step()) {
        if (out.empty() || out.back().address != q.text_view(0)) out.push_back(Forward{q.text(0), {}});
        out.back().targets.push_back(q.text(1));
    }
    return out;
}

}  // namespace vpsmail::store
