#include "commands.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "print.hpp"
#include "route/targets.hpp"

#include <fmt/format.h>

namespace vpsmail::cli {
namespace {

// An address that reaches `key` in the virtusertable, to look for loops the new entry makes.
std::string probe_address(const std::string& key, char delimiter) {
    auto at = key.rfind('@');
    std::string local = key.substr(0, at);
    std::string domain = key.substr(at + 1);
    const std::string d(1, delimiter);
    if (local.empty()) return "vpsmail-loop-probe@" + domain;
    if (local == d + d || local == d + "*") return "vpsmail-loop-probe" + d + "x@" + domain;
    if (local.size() >= 2 && (local.ends_with(d + d) || local.ends_with(d + "*")))
        return local.substr(0, local.size() - 2) + d + "x@" + domain;
    return key;
}

}  // namespace

int vuser_map(Context& ctx, const std::string& key, const std::string& target) {
    route::VuserKey k = route::parse_vuser_key(key);
    const std::string stored = route::check_vuser_target(target);  // normalised (A-labels)
    ctx.store().map_vuser(k.key, k.domain, stored);
    ctx.note(fmt::format("mapped {} -> {}", k.key, stored));
    warn_dead_targets(ctx, fmt::format("vuser {}", k.key), {target}, k.domain, true);
    warn_loops(ctx, probe_address(k.key, ctx.config().routing.detail_delimiter), k.key);
    return 0;
}

int vuser_unmap(Context& ctx, const std::string& key) {
    route::VuserKey k = route::parse_vuser_key(key);
    ctx.store().unmap_vuser(k.key);
    ctx.note(fmt::format("unmapped {}", k.key));
    return 0;
}

int vuser_list(Context& ctx, const std::string& domain) {
    std::string name;
    if (!domain.empty()) {
        name = ctx.get_domain(domain).name;
    }
    auto entries = ctx.store().list_vusers(name);
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& e : entries)
            j.begin_object().field("key", e.key).field("domain", e.domain).field("target", e.target).end_object();
        j.end_array();
        print(j.str());
        return 0;
    }
    Table t({"KEY", "TARGET"});
    for (const auto& e : entries) t.add({e.key, e.target});
    print(t.str());
    return 0;
}

}  // namespace vpsmail::cli
