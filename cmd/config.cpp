#include "auth/password.hpp"
#include "commands.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "print.hpp"
#include "route/resolver.hpp"

#include <fmt/format.h>

#include <type_traits>
#include <variant>

namespace vpsmail::cli {

int config_check(Context& ctx) {
    const Config& config = ctx.config();  // throws Error(config) naming the key and line
    store::Store& store = ctx.store();
    std::vector<std::string> warnings;
    auto domains = store.list_domains();
    if (domains.empty()) warnings.push_back("the store has no domains yet: add one with 'vpsmail domain add DOMAIN'");
    if (!config.server.primary_domain.empty() && !store.is_local_domain(config.server.primary_domain))
        warnings.push_back(fmt::format("[server] primary_domain '{}' is not a local domain: bare names cannot be delivered",
                                       config.server.primary_domain));
    if (config.routing.postmaster.empty()) {
        warnings.push_back("[server] postmaster is not set: postmaster@DOMAIN bounces unless an alias, account or "
                           "vuser entry takes it (RFC 5321 4.5.1 requires a working postmaster)");
    } else if (!domains.empty()) {
        auto r = route::resolve(store, config.routing.postmaster, ctx.route_options());
        if (r.targets.empty())
            warnings.push_back(fmt::format("[server] postmaster '{}' does not deliver anywhere ({})",
                                           config.routing.postmaster, r.failures.empty() ? "no target" : r.failures.front().text));
    }
    if (config.delivery.allow_programs)
        warnings.push_back("[delivery] allow_programs is on: alias and forward entries can run commands");
    if (config.delivery.allow_programs && !config.server.user.empty() && config.delivery.program_user == config.server.user)
        warnings.push_back(fmt::format("[delivery] program_user is [server] user '{}': programs can read and change the "
                                       "store, the spool and every Maildir; give them a user of their own",
                                       config.server.user));
    if (config.delivery.allow_files)
        warnings.push_back("[delivery] allow_files is on: alias and forward entries can write to files");
    if (config.delivery.allow_includes)
        warnings.push_back("[delivery] allow_includes is on: :include: files are read as alias lists");
    // Legacy hashes ($1$, DES: only 8 characters of the password count) keep working for
    // imported accounts; each is replaced by yescrypt at the account's next login.
    std::int64_t legacy_hashes = 0;
    for (const auto& u : store.list_users())
        if (auth::hash_needs_upgrade(u.password_hash)) ++legacy_hashes;
    if (legacy_hashes > 0)
        warnings.push_back(fmt::format("{} account{} still {} a legacy password hash ($1$, DES, ...): rehashed with "
                                       "yescrypt at the next login, or set a new password with 'vpsmail user passwd'",
                                       legacy_hashes, legacy_hashes == 1 ? "" : "s", legacy_hashes == 1 ? "has" : "have"));
    std::string problem = store.integrity_check();
    if (!problem.empty())
        throw Error(ErrorKind::config, fmt::format("store {} failed its integrity check: {}", store.path(), problem));

    std::string config_source = config.source.empty() ? ctx.config_path() + " (absent: defaults)" : config.source;
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_object()
            .field("config", config.source.empty() ? ctx.config_path() : config.source)
            .field("config_found", !config.source.empty())
            .field("store", store.path())
            .field("schema_version", store.schema_version())
            .field("domains", static_cast<std::int64_t>(domains.size()))
            .field("legacy_password_hashes", legacy_hashes)
            .field_strings("warnings", warnings)
            .end_object();
        print(j.str());
        return 0;
    }
    Fields f;
    f.add("config", config_source);
    f.add("store", fmt::format("{} (schema {})", store.path(), store.schema_version()));
    f.add("domains", std::to_string(domains.size()));
    std::string out = f.str();
    for (const auto& w : warnings) out += "warning: " + w + "\n";
    if (warnings.empty()) out += "ok\n";
    print(out);
    return 0;
}

int config_show(Context& ctx) {
    Config config = ctx.config();
    config.store.path = ctx.db_path();  // the store in use: --db and $VPSMAIL_DB come before [store] path
    if (!ctx.options.json) {
        print(format_config(config));
        return 0;
    }
    JsonWriter j;
    j.begin_object();
    std::string_view section;
    for (const ConfigEntry& e : config_entries(config)) {
        if (e.section != section) {
            if (!section.empty()) j.end_object();
            section = e.section;
            j.key(section).begin_object();
        }
        std::visit(
            [&](const auto& v) {
                using V = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<V, std::vector<std::string>>) j.field_strings(e.name, v);
                else j.field(e.name, v);
            },
            e.value);
    }
    if (!section.empty()) j.end_object();
    j.end_object();
    print(j.str());
    return 0;
}

}  // namespace vpsmail::cli
