#include "commands.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "print.hpp"
#include "route/targets.hpp"

#include <fmt/format.h>

namespace vpsmail::cli {

int catchall_set(Context& ctx, const std::string& domain, const std::string& target) {
    std::string name = normalize_domain(domain);
    const std::string stored = route::check_vuser_target(target);  // normalised (A-labels)
    ctx.store().set_catchall(name, stored);
    ctx.note(fmt::format("catch-all of {} -> {}", name, stored));
    warn_dead_targets(ctx, fmt::format("the catch-all of {}", name), {target}, name, true);
    // Any address that nothing else takes reaches the catch-all: a probe stands for it.
    warn_loops(ctx, "vpsmail-loop-probe@" + name, "*@" + name);
    return 0;
}

int catchall_unset(Context& ctx, const std::string& domain) {
    std::string name = normalize_domain(domain);
    ctx.store().unset_catchall(name);
    ctx.note(fmt::format("removed the catch-all of {}", name));
    return 0;
}

int catchall_show(Context& ctx, const std::string& domain) {
    std::vector<store::Catchall> rows;
    if (domain.empty()) {
        rows = ctx.store().list_catchalls();
    } else {
        std::string name = ctx.get_domain(domain).name;
        auto target = ctx.store().find_catchall(name);
        if (!target)
            throw Error(ErrorKind::not_found, fmt::format("domain '{}' has no catch-all", name));
        rows.push_back(store::Catchall{name, *target});
    }
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& c : rows) j.begin_object().field("domain", c.domain).field("target", c.target).end_object();
        j.end_array();
        print(j.str());
        return 0;
    }
    Table t({"DOMAIN", "TARGET"});
    for (const auto& c : rows) t.add({c.domain, c.target});
    print(t.str());
    return 0;
}

}  // namespace vpsmail::cli
