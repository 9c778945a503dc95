#include "commands.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "print.hpp"
#include "route/targets.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace vpsmail::cli {
namespace {

// Aliases are keyed on the local part alone and apply in every local domain (docs/routing.md rule 7).
std::string alias_name(const std::string& text) {
    Address a = parse_recipient(text);
    if (!a.bare())
        throw Error(ErrorKind::bad_data,
                    fmt::format("invalid alias name '{}': aliases are keyed on the local part alone and apply in every "
                                "local domain; for one domain use 'vpsmail vuser map {} TARGET'",
                                text, text));
    if (a.quoted) throw Error(ErrorKind::bad_data, fmt::format("invalid alias name '{}': it cannot be quoted", text));
    return lower_ascii(a.local);
}

bool names_domain(const std::string& target, const std::string& domain) {
    try {
        route::Entry e = route::parse_entry(target);
        if (e.kind != route::EntryKind::address && e.kind != route::EntryKind::backslash) return false;
        return parse_recipient(e.value).domain == domain;
    } catch (const Error&) {
        return false;
    }
}

void write_alias_json(JsonWriter& j, const store::Alias& a) {
    j.begin_object().field("name", a.name).field_strings("targets", a.targets).end_object();
}

}  // namespace

int alias_add(Context& ctx, const std::string& name, const std::vector<std::string>& targets) {
    std::string key = alias_name(name);
    std::vector<std::string> stored;  // as every lookup spells them (A-labels: `domain del` finds them)
    std::vector<std::string> seen;
    for (const auto& t : targets) {
        stored.push_back(route::check_alias_target(t));
        std::string lower = lower_ascii(stored.back());
        if (std::find(seen.begin(), seen.end(), lower) != seen.end())
            throw Error(ErrorKind::exists, fmt::format("target '{}' is given twice", t));
        seen.push_back(lower);
    }
    ctx.store().add_alias(key, stored);
    ctx.note(fmt::format("alias {}: added {}", key, join(stored)));
    if (auto primary = ctx.store().first_domain()) {
        std::string domain = ctx.config().server.primary_domain.empty() ? *primary : ctx.config().server.primary_domain;
        warn_dead_targets(ctx, fmt::format("alias {} (in {})", key, domain), targets, domain);
        warn_loops(ctx, key + "@" + domain);
    }
    return 0;
}

int alias_del(Context& ctx, const std::string& name, const std::vector<std::string>& targets) {
    std::string key = alias_name(name);
    // A target is matched as alias add stores it (normalised), or as written: stores from
    // before targets were normalised may hold it so (a U-label domain).
    std::vector<std::string> stored;
    std::vector<std::string> existing;
    if (!targets.empty())
        if (auto alias = ctx.store().find_alias(key))
            for (const auto& t : alias->targets) existing.push_back(lower_ascii(t));
    for (const auto& t : targets) {
        bool as_written = std::find(existing.begin(), existing.end(), lower_ascii(t)) != existing.end();
        if (!as_written) {
            try {
                stored.push_back(route::normalize_entry(t));
                continue;
            } catch (const Error&) {
                // no valid entry: the store says it has no such target
            }
        }
        stored.push_back(t);
    }
    ctx.store().remove_alias(key, stored);
    ctx.note(targets.empty() ? fmt::format("deleted alias {}", key) : fmt::format("alias {}: removed {}", key, join(targets)));
    return 0;
}

int alias_list(Context& ctx, const std::string& domain) {
    auto aliases = ctx.store().list_aliases();
    if (!domain.empty()) {
        // Aliases apply in every domain; --domain keeps those with an entry in that domain.
        std::string d = ctx.get_domain(domain).name;
        std::erase_if(aliases, [&](const store::Alias& a) {
            return std::none_of(a.targets.begin(), a.targets.end(), [&](const std::string& t) { return names_domain(t, d); });
        });
    }
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& a : aliases) write_alias_json(j, a);
        j.end_array();
        print(j.str());
        return 0;
    }
    Table t({"NAME", "TARGETS"});
    for (const auto& a : aliases) t.add({a.name, join(a.targets)});
    print(t.str());
    return 0;
}

int alias_show(Context& ctx, const std::string& name) {
    std::string key = alias_name(name);
    auto alias = ctx.store().find_alias(key);
    if (!alias) throw Error(ErrorKind::not_found, fmt::format("no such alias '{}' (see 'vpsmail alias list')", name));
    if (ctx.options.json) {
        JsonWriter j;
        write_alias_json(j, *alias);
        print(j.str());
        return 0;
    }
    Fields f;
    f.add("name", alias->name);
    for (const auto& t : alias->targets) f.add("target", t);
    print(f.str());
    return 0;
}

}  // namespace vpsmail::cli
