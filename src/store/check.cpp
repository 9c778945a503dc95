// Store::integrity_check, for `vpsmail config check`.
#include "store/database.hpp"
#include "store/store.hpp"

namespace vpsmail::store {

std::string Store::integrity_check() {
    std::string problems;
    auto add = [&](std::string_view text) {
        if (!problems.empty()) problems += "; ";
        problems += text;
    };
    {
        auto q = db_->query("PRAGMA quick_check(5)");
        while (q.step())
            if (q.text_view(0) != "ok") add(q.text_view(0));
    }
    {
        auto q = db_->query("PRAGMA foreign_key_check");
        while (q.step()) add(std::string("row ") + std::to_string(q.int64(1)) + " of table " + q.text(0) +
                             " refers to a missing row of " + q.text(2));
    }
    return problems;
}

}  // namespace vpsmail::store
