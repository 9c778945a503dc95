// Store methods of the aliases and alias_targets tables.
#include "core/address.hpp"
#include "core/error.hpp"
#include "store/database.hpp"
#include "store/internal.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

namespace vpsmail::store {
namespace {

std::optional<std::int64_t> find_alias_id(Database& db, std::string_view name) {
    auto q = db.query("SELECT id FROM aliases WHERE name = ?1");
    q.bind(1, name);
    if (!q.step()) return std::nullopt;
    return q.int64(0);
}

}  // namespace

void Store::add_alias(const std::string& name, const std::vector<std::string>& targets) {
    const std::string n = lower_ascii(name);
    if (targets.empty()) throw Error(ErrorKind::bad_data, fmt::format("alias {}: no targets given", n));
    Transaction tx(*db_, TransactionKind::write);
    std::int64_t id = 0;
    if (auto found = find_alias_id(*db_, n)) {
        id = *found;
    } else {
        db_->query("INSERT INTO aliases (name) VALUES (?1)").bind(1, n).run();
        id = db_->last_insert_rowid();
    }
    std::int64_t position = 0;
    {
        auto q = db_->query("SELECT coalesce(max(position), -1) + 1 FROM alias_targets WHERE alias_id = ?1");
        q.bind(1, id).step();
        position = q.int64(0);
    }
    for (const std::string& target : targets) {
        const std::string lc = lower_ascii(target);
        {
            auto q = db_->query("SELECT 1 FROM alias_targets WHERE alias_id = ?1 AND target_lc = ?2");
            if (q.bind(1, id).bind(2, lc).step())  // also catches a target given twice
                throw Error(ErrorKind::exists, fmt::format("alias {} has the target {} already", n, target));
        }
        db_->query("INSERT INTO alias_targets (alias_id, position, target, target_lc) VALUES (?1, ?2, ?3, ?4)")
            .bind(1, id)
            .bind(2, position++)
            .bind(3, target)
            .bind(4, lc)
            .run();
    }
    tx.commit();
}

void Store::remove_alias(const std::string& name, const std::vector<std::string>& targets) {
    const std::string n = lower_ascii(name);
    Transaction tx(*db_, TransactionKind::write);
    auto id = find_alias_id(*db_, n);
    if (!id) throw Error(ErrorKind::not_found, fmt::format("no such alias {}", n));
    for (const std::string& target : targets) {
        db_->query("DELETE FROM alias_targets WHERE alias_id = ?1 AND target_lc = ?2")
            .bind(1, *id)
            .bind(2, lower_ascii(target))
            .run();
        if (db_->changes() == 0)
            throw Error(ErrorKind::not_found, fmt::format("alias {} has no target {}", n, target));
    }
    bool empty = targets.empty();
    if (!empty) {
        auto q = db_->query("SELECT 1 FROM alias_targets WHERE alias_id = ?1 LIMIT 1");
        empty = !q.bind(1, *id).step();
    }
    if (empty) db_->query("DELETE FROM aliases WHERE id = ?1").bind(1, *id).run();  // cascades to its targets
    tx.commit();
}

std::vector<Alias> Store::list_aliases() {
    std::vector<Alias> out;
    auto q = db_->query(
        "SELECT a.name, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id"
        " ORDER BY a.name, t.position");
    while (q.step()) {
        if (out.empty() || out.back().name != q.text_view(0)) out.push_back(Alias{q.text(0), {}});
        out.back().targets.push_back(q.text(1));
    }
    return out;
}

std::optional<Alias> Store::find_alias(std::string_view name) {
    auto q = db_->query(
        "SELECT t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id"
        " WHERE a.name = ?1 ORDER BY t.position");
    std::string n = lower_ascii(name);
    q.bind(1, n);
    if (!q.step()) return std::nullopt;
    Alias alias{std::move(n), {}};
    do alias.targets.push_back(q.text(0));
    while (q.step());
    return alias;
}

}  // namespace vpsmail::store
